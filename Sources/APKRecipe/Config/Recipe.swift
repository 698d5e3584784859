import APKFormat
import Foundation

/// One build recipe, loaded from `apkit.yml` or PAKman's `instellar.yml`: both formats become
/// this model, and one engine (`RecipeBuilder`) builds it.
public struct Recipe: Sendable {
    public enum Format: String, Sendable { case apkit, pakman }

    /// What is generated around the files.
    public enum Kind: String, Sendable, CaseIterable {
        /// A service app (PAKman's default): user, `/var/lib/<name>`, OpenRC + s6 files, env scripts.
        case app
        /// A static site: depends on nginx, ships `nginx.conf` as `/etc/<name>/default.conf`.
        case `static`
        /// Only the user (`.pre-install`) and the hooks; no generated service files.
        case custom
        /// A plain package: no user, no generated files; just what the build and `files:` install.
        case plain
    }

    public struct Service: Sendable, Equatable {
        public var name: Located<String>
        public var binary: Located<String>
        /// Directory of the binary; default `/var/lib/<name>/bin`.
        public var path: Located<String>?
        /// Arguments, as shell-like words (split by `ShellWords`, never evaluated).
        public var call: Located<String>?
    }

    public struct Run: Sendable {
        /// The service name (PAKman `run.name`), also the init script's name.
        public var name: Located<String>?
        /// The user the services and commands run as; nil means root (PAKman behaviour).
        public var user: Located<String>?
        public var services: [Service] = []
        public var commands: [Service] = []
        public var line: Int?
    }

    public struct FileMapping: Sendable {
        public var source: Located<String>
        public var destination: Located<String>
        public var mode: Located<UInt32>?
        public var owner: Located<String>?
        public var group: Located<String>?
        public var line: Int?
    }

    public struct Subpackage: Sendable {
        /// The full name (`<name><suffix>`), resolved once the package name is known.
        public var suffix: Located<String>
        public var paths: [Located<String>]
        public var description: String?
        public var depends: [Located<String>] = []
        public var installIf: [Located<String>] = []
        public var arch: String?
        public var line: Int?
    }

    public var format: Format
    /// `format:`: the package format to write (v2 unless the config or `--format` says v3).
    public var packageFormat: FormatName = .v2
    /// The config file path as the user gave it (used in messages).
    public var file: String
    /// The source directory (where the config file is).
    public var sourceDirectory: URL

    public var name: Located<String>?
    public var version: Located<String>?
    public var release: Located<String>?
    public var description: String?
    public var url: String?
    public var license: String?
    public var maintainer: String?
    public var commit: String?
    public var kind: Kind = .app
    public var kindLine: Int?

    public var architectures: [Located<String>] = []
    public var runtimeDepends: [Located<String>] = []
    public var buildDepends: [Located<String>] = []
    public var provides: [Located<String>] = []
    public var replaces: [Located<String>] = []
    public var trace: Bool = true

    public var buildCommand: Located<String>?
    /// Raw `package:` shell (PAKman/abuild), run in `$pkgdir` after the build instead of copying destinations.
    public var packageScript: Located<String>?
    public var destinations: [Located<String>] = []
    public var stripBinary: Bool = true
    public var files: [FileMapping] = []

    public var run: Run?
    public var hooks: [ScriptKind: Located<String>] = [:]
    public var triggerPaths: [Located<String>] = []
    public var subpackages: [Subpackage] = []
    /// Default contents of `/etc/<name>/environment`, in file order.
    public var environment: [(key: String, value: String)] = []

    public init(format: Format, file: String, sourceDirectory: URL) {
        self.format = format
        self.file = file
        self.sourceDirectory = sourceDirectory
    }

    func error(_ line: Int?, _ message: String) -> RecipeError {
        RecipeError(file: file, line: line, message)
    }
}
