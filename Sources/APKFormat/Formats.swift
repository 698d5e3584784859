@_exported import APKCore
@_exported import APKCrypto
@_exported import APKv2
@_exported import APKv3
@_exported import SystemIO
import Foundation

/// The registry of package formats: look one up by name, or detect a file's by its magic.
public enum PackageFormats {
    /// Every format apkit writes and reads, v2 first (the default).
    public static let all: [any PackageFormat] = [V2Format(), V3Format()]

    public static func named(_ name: FormatName) -> any PackageFormat {
        all.first { $0.name == name }!
    }

    /// The format of the file at `path`, by its first bytes (packages and indexes alike).
    public static func detect(path: String) throws -> any PackageFormat {
        let prefix = try readPrefix(path: path, count: 8)
        guard let f = all.first(where: { $0.recognizes(prefix) }) else {
            if prefix.isEmpty { throw FormatError.malformed("\(path): empty file, not an apk package or index") }
            throw FormatError.malformed("\(path): not an apk package or index (neither gzip nor ADB)")
        }
        return f
    }

    /// Reads a package or an index of whatever format it is in. Never throws.
    public static func read(path: String, options: ReadOptions, visitor: (any PackageVisitor)? = nil) -> PackageReport {
        do {
            return try detect(path: path).read(path: path, options: options, visitor: visitor)
        } catch let e as SystemError {
            var r = PackageReport(format: .v2)
            r.problem = .unreadable(e.description)
            return r
        } catch {
            var r = PackageReport(format: .v2)
            r.problem = .malformed("\(error)")
            return r
        }
    }

    /// The one format of a set of packages: refuses a mix (a repository holds one format).
    public static func commonFormat(of paths: [String]) throws -> any PackageFormat {
        var found: [(String, any PackageFormat)] = []
        for p in paths {
            let f = try detect(path: p)
            if let first = found.first, first.1.name != f.name {
                throw IndexError.mixedFormats(source: p, reason:
                    "is a \(f.name.rawValue) package but \(first.0) is \(first.1.name.rawValue); a repository holds one format: publish v2 and v3 packages to separate repositories")
            }
            if found.isEmpty { found.append((p, f)) }
        }
        return found.first?.1 ?? named(.v2)
    }

    private static func readPrefix(path: String, count: Int) throws -> [UInt8] {
        let src = try FileSource(path: path)
        var buf = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = try buf.withUnsafeMutableBytes { try src.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
            if n == 0 { break }
            got += n
        }
        return Array(buf[0..<got])
    }
}
