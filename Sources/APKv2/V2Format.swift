import APKCore
import APKCrypto
import Foundation
import SystemIO

/// apk-tools 2 packages: signature, control and data gzip members (see `PackageBuilder`,
/// `ArchiveReader`), indexed by `APKINDEX.tar.gz`.
public struct V2Format: PackageFormat {
    public init() {}
    public var name: FormatName { .v2 }
    public var index: any IndexFormat { V2IndexFormat() }

    /// A gzip member starts with 1f 8b.
    public func recognizes(_ prefix: [UInt8]) -> Bool { prefix.count >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b }

    public func validate(_ compression: CompressionSettings) throws {
        guard compression.algorithm == .deflate else {
            throw FormatError.invalidArgument("v2 packages are gzip (deflate) only; \(compression.algorithm.rawValue) needs --format v3")
        }
        guard (1...12).contains(compression.level) else {
            throw FormatError.invalidArgument("v2 compression level must be 1...12, got \(compression.level)")
        }
    }

    public func write(_ spec: PackageSpec, signer: Signer, compression: CompressionSettings, to path: String) throws -> BuiltPackage {
        try validate(compression)
        var builder = PackageBuilder(signer: signer, engine: ParallelDeflateEngine(settings: compression))
        builder.readThreads = compression.threads
        return try builder.build(spec, to: path)
    }

    public func read(path: String, options: ReadOptions, visitor: (any PackageVisitor)?) -> PackageReport {
        var reader = ArchiveReader(keyring: options.keyring)
        reader.allowUntrusted = options.allowUntrusted
        reader.controlOnly = options.metadataOnly
        reader.collectFiles = visitor != nil
        let r = reader.read(path: path)
        if let visitor { for f in r.files { visitor.visit(f) } }
        return PackageReport(v2: r)
    }
}

extension PackageReport {
    /// The neutral view of a v2 read.
    public init(v2 r: ArchiveReport) {
        self.init(format: .v2)
        kind = r.kind
        info = r.info
        scripts = r.scripts.map { String($0.dropFirst()) }
        signatures = r.signatures.map { SignatureSummary(kind: $0.tag, key: $0.keyName, signatureSize: $0.signature.count) }
        trustedKey = r.trustedKey
        fileSize = r.fileSize
        identity = r.controlSHA1
        if r.kind == .package {
            details.append(("datahash", r.dataHash))
            details.append(("controlChecksum", "Q1" + Data(r.controlSHA1).base64EncodedString()))
        }
        indexDescription = r.indexDescription
        if let t = r.indexText { indexPackageCount = (try? APKIndex.parse(t))?.count }
        problem = r.problem
    }
}

/// `APKINDEX.tar.gz`: the v2 index.
public struct V2IndexFormat: IndexFormat {
    public init() {}
    public var name: FormatName { .v2 }
    public var fileName: String { "APKINDEX.tar.gz" }

    public func empty() -> any PackageIndex { APKIndex() }

    public func read(path: String, keyring: Keyring, allowUntrusted: Bool, source: String?) throws -> any PackageIndex {
        try APKIndex.read(path: path, keyring: keyring, allowUntrusted: allowUntrusted, source: source)
    }

    public func record(forPackageAt path: String, keyring: Keyring, allowUntrusted: Bool,
                       rewriteArch: String?) throws -> (IndexRecord, PackageInfo) {
        var reader = ArchiveReader(keyring: keyring)
        reader.allowUntrusted = allowUntrusted
        let (r, info, text) = try reader.readPackageControl(path: path)
        let entry = try IndexEntry.make(pkginfo: text, controlSHA1: r.controlSHA1, fileSize: r.fileSize, rewriteArch: rewriteArch)
        return (entry.record, info)
    }
}

extension IndexEntry: IndexedPackage {
    /// The neutral view of this entry.
    public var record: IndexRecord {
        IndexRecord(format: .v2, name: name, version: version, arch: arch, buildTime: buildTime,
                    fileSize: fileSize, identity: [], entry: self)
    }
}

extension APKIndex: PackageIndex {
    public var format: FormatName { .v2 }
    public var records: [IndexRecord] { entries.map(\.record) }
    public var recordCount: Int { entries.count }

    public mutating func merge(_ new: [IndexRecord]) throws -> Int {
        merge(try IndexRecord.entries(new, as: IndexEntry.self, format: .v2, indexName: "APKINDEX.tar.gz"))
    }

    public mutating func pruneVersions(keep: Int) -> Int {
        let removed: [IndexEntry] = prune(keep: keep)
        return removed.count
    }

    public func hasSameContent(as other: any PackageIndex) -> Bool {
        guard let b = other as? APKIndex, description == b.description, entries.count == b.entries.count else { return false }
        // The same entries, whatever the order: a count per entry text (the other fields are read
        // from the text), in linear time rather than two sorts of the whole index.
        var left: [[UInt8]: Int] = [:]
        left.reserveCapacity(entries.count)
        for e in entries { left[e.text, default: 0] += 1 }
        for e in b.entries {
            guard let n = left[e.text], n > 0 else { return false }
            left[e.text] = n - 1
        }
        return true
    }

    public func write(to path: String, signer: Signer) throws {
        try write(to: path, signer: signer, engine: APKIndex.defaultEngine, mtime: nil)
    }
}
