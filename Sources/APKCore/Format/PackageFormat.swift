import APKCrypto
import Foundation
import SystemIO

/// The package formats apkit knows, by the name `--format` takes.
public enum FormatName: String, Sendable, CaseIterable, Codable {
    /// apk-tools 2: three gzip members (signature, control, data tar), `APKINDEX.tar.gz`.
    case v2
    /// apk-tools 3: one ADB file (schema, signature block, data blocks), `packages.adb`.
    case v3
}

/// What a format wrote.
public struct BuiltPackage: Sendable {
    public var path: String
    public var format: FormatName
    /// The metadata as written (installed size, build date and origin filled in).
    public var info: PackageInfo
    /// Size of the package file in bytes.
    public var fileSize: Int64
    /// The package's identity as its index records it: v2 the SHA-1 of the compressed control
    /// member (`C:`), v3 the SHA-256 of its ADB block (the index's `hashes`).
    public var identity: [UInt8]

    public init(path: String, format: FormatName, info: PackageInfo, fileSize: Int64, identity: [UInt8]) {
        self.path = path
        self.format = format
        self.info = info
        self.fileSize = fileSize
        self.identity = identity
    }
}

/// What to check while reading a package or an index.
public struct ReadOptions: Sendable {
    public var keyring: Keyring
    public var allowUntrusted = false
    /// Stop after the metadata (an index needs nothing more): no per-file checks then.
    public var metadataOnly = false
    public init(keyring: Keyring, allowUntrusted: Bool = false, metadataOnly: Bool = false) {
        self.keyring = keyring
        self.allowUntrusted = allowUntrusted
        self.metadataOnly = metadataOnly
    }
}

/// One file-system entry of a package, as stored.
public struct PackageFileEntry: Sendable {
    public var path: String
    public var type: String          // file, dir, symlink, hardlink, chardev, blockdev, fifo
    public var mode: UInt32
    public var userName: String
    public var groupName: String
    public var size: Int64
    public var mtime: Int64
    public var linkTarget: String
    /// Hex digest of the content (of the link text for symlinks), as the format stores it.
    public var checksum: String?
    /// `sha1` (v2) or `sha256` (v3).
    public var checksumAlgorithm: String
    public var xattrs: [String]

    public init(path: String, type: String, mode: UInt32, userName: String, groupName: String, size: Int64,
                mtime: Int64, linkTarget: String = "", checksum: String? = nil, checksumAlgorithm: String = "sha1",
                xattrs: [String] = []) {
        self.path = path; self.type = type; self.mode = mode; self.userName = userName; self.groupName = groupName
        self.size = size; self.mtime = mtime; self.linkTarget = linkTarget; self.checksum = checksum
        self.checksumAlgorithm = checksumAlgorithm; self.xattrs = xattrs
    }
}

/// A signature found in a package or an index.
public struct SignatureSummary: Sendable {
    /// v2: `RSA`, `RSA256`, `RSA512`; v3: the hash algorithm, e.g. `SHA512`.
    public var kind: String
    /// v2: the key's file name; v3: the key id in hex.
    public var key: String
    public var signatureSize: Int
    public init(kind: String, key: String, signatureSize: Int) {
        self.kind = kind; self.key = key; self.signatureSize = signatureSize
    }
}

/// Why a file failed verification.
public enum VerificationProblem: Equatable, Sendable, CustomStringConvertible {
    case untrusted
    case badSignature
    case badDataHash
    case badChecksum(path: String)
    case malformed(String)
    case unreadable(String)

    public var description: String {
        switch self {
        case .untrusted: return "UNTRUSTED signature"
        case .badSignature: return "BAD signature"
        case .badDataHash: return "BAD datahash"
        case .badChecksum(let p): return "BAD checksum \(p)"
        case .malformed(let s): return s.hasPrefix("malformed") ? s : "malformed \(s)"
        case .unreadable(let s): return s
        }
    }
}

public enum ArchiveKind: String, Sendable, Codable { case package, index }

/// Everything a format learned from reading one package or index, in format-neutral terms.
public struct PackageReport: Sendable {
    public var format: FormatName
    public var kind: ArchiveKind = .package
    public var info: PackageInfo? = nil
    /// Install scripts present, by apk's event name (`pre-install`, ..., `trigger`).
    public var scripts: [String] = []
    public var signatures: [SignatureSummary] = []
    /// The trusted key that verified the signature, if any (file name or key id).
    public var trustedKey: String? = nil
    public var fileSize: Int64 = 0
    /// See `BuiltPackage.identity`.
    public var identity: [UInt8] = []
    /// Format-specific facts for `inspect`, in order (e.g. v2 `datahash`, v3 `compression`).
    public var details: [(String, String)] = []
    /// For an index: its description and number of packages.
    public var indexDescription: String? = nil
    public var indexPackageCount: Int? = nil
    /// The first problem found, if any.
    public var problem: VerificationProblem? = nil
    public var ok: Bool { problem == nil }

    public init(format: FormatName) { self.format = format }
}

/// Sees the entries of a package while it is read (for `inspect`).
public protocol PackageVisitor: AnyObject {
    func visit(_ entry: PackageFileEntry)
}

/// One package file format: detection, writing, reading and verifying. `pack`, `build`, `verify`,
/// `inspect`, `index` and `publish` work through this seam and never branch on the format.
public protocol PackageFormat: Sendable {
    var name: FormatName { get }
    /// The index format of repositories of this package format.
    var index: any IndexFormat { get }
    /// Whether a file whose first bytes are `prefix` (up to 8) is a package of this format.
    func recognizes(_ prefix: [UInt8]) -> Bool
    /// The conventional file name: `NAME-VERSION.apk` for both formats.
    func fileName(for info: PackageInfo) -> String
    /// Compression settings the format can write (`none`/`deflate`/`zstd` with their levels).
    func validate(_ compression: CompressionSettings) throws
    /// Writes `spec` to `path` atomically: on any error nothing is left behind.
    func write(_ spec: PackageSpec, signer: Signer, compression: CompressionSettings, to path: String) throws -> BuiltPackage
    /// Reads and verifies a package or an index. Never throws: problems go in the report.
    func read(path: String, options: ReadOptions, visitor: (any PackageVisitor)?) -> PackageReport
}

extension PackageFormat {
    public func fileName(for info: PackageInfo) -> String { "\(info.name)-\(info.version).apk" }
}

/// A format with its signer and compression: what `pack` and `build` write packages with.
public struct PackageWriter: Sendable {
    public let format: any PackageFormat
    public let signer: Signer
    public let compression: CompressionSettings

    public init(format: any PackageFormat, signer: Signer, compression: CompressionSettings) {
        self.format = format
        self.signer = signer
        self.compression = compression
    }

    public func write(_ spec: PackageSpec, to path: String) throws -> BuiltPackage {
        try format.write(spec, signer: signer, compression: compression, to: path)
    }

    public func fileName(for info: PackageInfo) -> String { format.fileName(for: info) }
}
