import APKCrypto
import Foundation
import SystemIO

/// A package's metadata, whatever the format it is written in (v2 renders it as `.PKGINFO`,
/// v3 as the ADB `info` object).
public struct PackageInfo: Equatable, Sendable {
    public var name: String
    /// Full apk version including the release, e.g. `1.2.3-r0`.
    public var version: String
    public var description: String = ""
    public var url: String = ""
    public var buildDate: Int64 = 0
    public var packager: String = ""
    /// Installed size in bytes (regular files, each inode once; 1 if 0 but the package has entries).
    public var size: Int64 = 0  // installed size
    public var arch: String = "noarch"
    public var origin: String = ""
    public var commit: String = ""
    public var maintainer: String = ""
    public var providerPriority: Int? = nil
    public var replacesPriority: Int? = nil
    public var license: String = ""
    public var replaces: [String] = []
    public var depends: [String] = []
    public var provides: [String] = []
    public var triggers: [String] = []
    public var installIf: [String] = []
    /// Provides and depends found by tracing (written after `# automatically detected:`).
    public var autoProvides: [String] = []
    public var autoDepends: [String] = []

    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }
}

public enum APKFormatVersion {
    public static let string = "0.1.0"
}
