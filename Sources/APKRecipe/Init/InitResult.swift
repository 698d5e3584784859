import Foundation

/// What `apkit init` produces: the text of a new `apkit.yml`, what it found, and (for a converted
/// config) every field of the source that has no apkit equivalent.
public struct InitResult: Sendable, Equatable {
    /// The config file text (YAML with comments).
    public var text: String
    /// What was detected or decided, one line each (for the user: build system, name, version).
    public var notes: [String]
    /// `key: why` for each source field that was not converted. Empty for a new project.
    public var unconverted: [String]

    public init(text: String, notes: [String] = [], unconverted: [String] = []) {
        self.text = text
        self.notes = notes
        self.unconverted = unconverted
    }

    /// Checks that `apkit build` accepts the text as written in `directory` (a converter bug or an
    /// invalid source value, such as a bad dependency, surfaces here instead of at build time).
    public func validate(file: String, directory: URL, warn: @escaping WarningSink = { _ in }) throws {
        _ = try RecipeLoader.parse(text, file: file, format: .apkit, sourceDirectory: directory, warn: warn)
    }
}

/// Shell quoting for the lines `apkit init` writes into `build.command`.
enum Shell {
    static func quote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:+@%,".contains($0)) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// `"$pkgdir"/path`: a path inside the staged package, quoted.
    static func inPkgdir(_ absolute: String) -> String {
        let rel = absolute.hasPrefix("/") ? String(absolute.dropFirst()) : absolute
        return "\"$pkgdir\"/" + quote(rel)
    }
}
