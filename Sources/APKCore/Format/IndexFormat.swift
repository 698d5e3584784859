import APKCrypto
import Foundation
import SystemIO

/// One package as an index lists it, read from the package's metadata only.
public struct IndexRecord: Sendable {
    public var format: FormatName
    public var name: String
    public var version: String
    /// The arch the index lists (after any rewrite of `noarch`).
    public var arch: String
    public var buildTime: Int64
    public var fileSize: Int64
    /// See `BuiltPackage.identity`.
    public var identity: [UInt8]
    /// The format's own entry (v2 `IndexEntry`, v3 the package's ADB info object).
    public var entry: any Sendable

    public init(format: FormatName, name: String, version: String, arch: String, buildTime: Int64,
                fileSize: Int64, identity: [UInt8], entry: any Sendable) {
        self.format = format; self.name = name; self.version = version; self.arch = arch
        self.buildTime = buildTime; self.fileSize = fileSize; self.identity = identity; self.entry = entry
    }

    /// The format's own entries of `records`, for an index named `indexName` of `format`;
    /// a record of another format is refused (a repository holds one format).
    public static func entries<E>(_ records: [IndexRecord], as: E.Type, format: FormatName, indexName: String) throws -> [E] {
        try records.map { r in
            guard let e = r.entry as? E else {
                throw IndexError.mixedFormats(source: "\(r.name)-\(r.version).apk",
                    reason: "a \(r.format.rawValue) package cannot go into \(indexName) (a \(format.rawValue) index); publish v2 and v3 packages to separate repositories")
            }
            return e
        }
    }
}

/// An index held in memory: read, merged, pruned, signed and written by its format.
public protocol PackageIndex: Sendable {
    var format: FormatName { get }
    var description: String { get set }
    var records: [IndexRecord] { get }
    /// `records.count`, without building the records.
    var recordCount: Int { get }
    /// Adds `new` records; an existing record with the same key is replaced. Returns how many
    /// were replaced. Throws when a record is of another format.
    mutating func merge(_ new: [IndexRecord]) throws -> Int
    /// Keeps the newest `keep` versions of each name; returns how many records were removed.
    mutating func pruneVersions(keep: Int) -> Int
    /// Same packages and description, whatever the order.
    func hasSameContent(as other: any PackageIndex) -> Bool
    /// Signs and writes the index to `path`, atomically.
    func write(to path: String, signer: Signer) throws
    /// Sets the package file name pattern the index announces (v3 `pkgname-spec`); formats
    /// without one refuse it.
    mutating func setPackageNameSpec(_ spec: String) throws
}

extension PackageIndex {
    public mutating func setPackageNameSpec(_ spec: String) throws {
        throw IndexError.unsupported(option: "--pkgname-spec",
                                     reason: "\(format.rawValue) indexes have no package name pattern; it is for v3 indexes (packages.adb)")
    }

    public var recordCount: Int { records.count }
}

/// The index format of a repository: `APKINDEX.tar.gz` (v2) or `packages.adb` (v3).
public protocol IndexFormat: Sendable {
    var name: FormatName { get }
    /// The index's file name in `<repo>/<arch>/`.
    var fileName: String { get }
    func empty() -> any PackageIndex
    /// Reads an index, refusing it unless its signature verifies against `keyring` (or
    /// `allowUntrusted`). `source` names it in messages.
    func read(path: String, keyring: Keyring, allowUntrusted: Bool, source: String?) throws -> any PackageIndex
    /// Reads what the index needs of a package file (its metadata, signature checked).
    /// `rewriteArch` replaces the arch the entry lists (for `noarch` packages).
    func record(forPackageAt path: String, keyring: Keyring, allowUntrusted: Bool, rewriteArch: String?) throws -> (IndexRecord, PackageInfo)
}

/// The one index update of `apkit index` and `apkit publish`: merge new records into what is
/// there, set the description, prune, and tell whether anything changed. Reading (with its trust
/// check) and the final, possibly conditional, write stay with the caller.
public struct IndexUpdate: Sendable {
    public var records: [IndexRecord]
    public var description: String?
    public var prune: Int?
    /// The package file name pattern to announce (v3 only; see `PackageIndex.setPackageNameSpec`).
    public var packageNameSpec: String?

    public init(records: [IndexRecord], description: String? = nil, prune: Int? = nil, packageNameSpec: String? = nil) {
        self.records = records
        self.description = description
        self.prune = prune
        self.packageNameSpec = packageNameSpec
    }

    public struct Result: Sendable {
        public var index: any PackageIndex
        public var added = 0
        public var replaced = 0
        public var pruned = 0
        /// False when the result holds the same packages and description as before.
        public var changed = true
    }

    /// Applies the update to `current` (nil: a new index of `format`).
    public func apply(to current: (any PackageIndex)?, format: any IndexFormat) throws -> Result {
        var index = current ?? format.empty()
        let before = index.recordCount
        if let d = description { index.description = d }
        if let spec = packageNameSpec { try index.setPackageNameSpec(spec) }
        let replaced = try index.merge(records)
        let added = index.recordCount - before
        var pruned = 0
        if let n = prune { pruned = index.pruneVersions(keep: n) }
        var result = Result(index: index, added: added, replaced: replaced, pruned: pruned)
        if let current {
            // Entries added, replaced by different ones or pruned change the index for certain;
            // only a no-op update needs the whole comparison.
            result.changed = added > 0 || replaced > 0 || pruned > 0 || index.description != current.description
                || !index.hasSameContent(as: current)
        }
        return result
    }
}

/// Errors about repository indexes: one line each, naming the file and what to do.
public enum IndexError: Error, CustomStringConvertible, Equatable {
    /// The index text is not well formed (line numbers are 1-based; 0 for binary formats).
    case syntax(source: String, line: Int, reason: String)
    case limit(source: String, reason: String)
    /// The index archive is unreadable, malformed or not an index.
    case unreadable(source: String, reason: String)
    /// The index's signature does not verify against the trusted keys.
    case untrusted(source: String, reason: String)
    /// A package of one format given to an index of another.
    case mixedFormats(source: String, reason: String)
    /// An option the index format does not have.
    case unsupported(option: String, reason: String)

    public var description: String {
        switch self {
        case .syntax(let s, let l, let r): return l > 0 ? "\(s): APKINDEX line \(l): \(r)" : "\(s): \(r)"
        case .limit(let s, let r): return "\(s): index too large: \(r)"
        case .unreadable(let s, let r): return "\(s): cannot read the index: \(r)"
        case .untrusted(let s, let r), .mixedFormats(let s, let r), .unsupported(let s, let r): return "\(s): \(r)"
        }
    }
}
