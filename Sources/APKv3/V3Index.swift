import APKCore
import APKCrypto
import Foundation
import SystemIO

/// One package of a `packages.adb`: its `info` object where it was read (a package's ADB block
/// or an older index), and what the index adds (file size, the identity hash).
public struct V3IndexEntry: IndexedPackage, Sendable {
    public let name: String
    public let version: String
    /// The arch the `info` object holds (see `arch` for the one the index lists).
    let infoArch: String
    public let buildDate: Int64
    public let fileSize: Int64
    /// SHA-256 of the package's ADB block (mkndx's default `--hash sha256`).
    public let hashes: [UInt8]
    /// Where the `info` object lies (a package's ADB block or an older index), copied at write time.
    let source: ADBView
    let infoValue: ADBValue
    /// Written instead of the source's arch (noarch packages published under an arch).
    let rewriteArch: String?

    public var arch: String { rewriteArch ?? infoArch }

    /// The package's metadata, decoded from its `info` object (only what an index needs is
    /// decoded when the entry is read: an index of 100,000 packages is read to merge a few).
    public var info: PackageInfo {
        get throws { try PackageInfo(adb: source, info: infoValue, root: nil) }
    }

    public static func == (a: V3IndexEntry, b: V3IndexEntry) -> Bool {
        a.name == b.name && a.version == b.version && a.arch == b.arch && a.hashes == b.hashes && a.fileSize == b.fileSize
    }

    public var record: IndexRecord {
        IndexRecord(format: .v3, name: name, version: version, arch: arch, buildTime: buildDate, fileSize: fileSize,
                    identity: hashes, entry: self)
    }

    init(source v: ADBView, info value: ADBValue, fileSize: Int64, hashes: [UInt8], rewriteArch: String?) throws {
        name = try v.string(try v.field(value, ADBField.Info.name)) ?? ""
        version = try v.string(try v.field(value, ADBField.Info.version)) ?? ""
        infoArch = try v.string(try v.field(value, ADBField.Info.arch)) ?? ""
        buildDate = Int64(clamping: try v.int(try v.field(value, ADBField.Info.buildTime)))
        (source, infoValue) = (v, value)
        (self.fileSize, self.hashes, self.rewriteArch) = (fileSize, hashes, rewriteArch)
    }
}

/// `packages.adb` in memory.
public struct V3Index: PackageIndex {
    public var format: FormatName { .v3 }
    public var description: String = ""
    /// `--pkgname-spec`, stored only when given.
    public var pkgnameSpec: String? = nil
    public fileprivate(set) var entries: [V3IndexEntry] = []
    /// The index this one was read from, when all its entries were kept: `payload` then starts
    /// from its items as they are (see `appendedPayload`).
    fileprivate var base: Base?

    /// An older index's payload: the entries listed in it lie before `end`, where its packages
    /// vector began.
    struct Base: Sendable {
        let source: ADBView
        let end: Int
        let entries: Int
        let description: (text: String, value: ADBValue)
        let pkgnameSpec: (text: String?, value: ADBValue)
    }

    public init() {}

    public var records: [IndexRecord] { entries.map(\.record) }
    public var recordCount: Int { entries.count }

    public mutating func merge(_ new: [IndexRecord]) throws -> Int {
        IndexEditing.merge(&entries, try IndexRecord.entries(new, as: V3IndexEntry.self, format: .v3, indexName: "packages.adb"))
    }

    public mutating func pruneVersions(keep: Int) -> Int { IndexEditing.prune(&entries, keep: keep).count }

    public mutating func setPackageNameSpec(_ spec: String) throws {
        try PkgnameSpec.validate(spec)
        pkgnameSpec = spec
    }

    public func hasSameContent(as other: any PackageIndex) -> Bool {
        guard let o = other as? V3Index, o.description == description, o.pkgnameSpec == pkgnameSpec else { return false }
        func key(_ e: V3IndexEntry) -> String { e.name + "\u{0}" + e.version + "\u{0}" + e.arch + "\u{0}" + e.hashes.hexString }
        return Set(entries.map(key)) == Set(o.entries.map(key)) && entries.count == o.entries.count
    }

    /// The ADB block payload (§8): the older index's items as they are followed by the new
    /// entries when all of that index's entries are still listed, as mkndx builds it otherwise.
    func payload() throws -> [UInt8] {
        if let base, let bytes = try appendedPayload(base) { return bytes }
        return try rebuiltPayload()
    }

    /// Merging a few packages into a large index: the older index's payload up to its packages
    /// vector is kept byte for byte (its entries' `info` objects stay where they are, nothing of
    /// them is decoded or looked up again), the new entries' items follow, then the new sorted
    /// vector and root. nil when an entry of the older index was dropped (replaced or pruned: its
    /// items would stay as dead bytes) or its entries' items do not all lie before its vector.
    func appendedPayload(_ base: Base) throws -> [UInt8]? {
        let id = base.source.identity
        var kept = 0, end = 0
        for e in entries where e.source.identity == id {
            kept += 1
            end = max(end, try base.source.itemsEnd(e.infoValue))
        }
        guard kept == base.entries, end <= base.end else { return nil }
        let a = ADBWriter(prefix: base.source.bytes[..<base.end])
        var values: [ADBValue] = []
        values.reserveCapacity(entries.count)
        var fields: [ADBValue] = []
        for e in entries {
            values.append(e.source.identity == id ? e.infoValue : try copyInfo(e, into: a, fields: &fields))
        }
        func reused(_ text: String?, _ old: (text: String?, value: ADBValue)) throws -> ADBValue? {
            guard text == old.text else { return nil }
            return try base.source.itemsEnd(old.value) <= base.end ? old.value : nil
        }
        let desc = try reused(description, base.description) ?? a.string(description)
        let spec = try reused(pkgnameSpec, base.pkgnameSpec) ?? (pkgnameSpec.map { a.string($0) } ?? .null)
        return finish(a, values, description: desc, pkgnameSpec: spec)
    }

    /// `e`'s `info` object copied into `a`, with the fields the index sets.
    private func copyInfo(_ e: V3IndexEntry, into a: ADBWriter, fields: inout [ADBValue]) throws -> ADBValue {
        fields.removeAll(keepingCapacity: true)
        fields.append(contentsOf: repeatElement(.null, count: ADBField.Info.count - 1))
        try a.copyFields(of: e.infoValue, from: e.source, into: &fields)
        if let arch = e.rewriteArch { fields[ADBField.Info.arch - 1] = a.string(arch) }
        fields[ADBField.Info.fileSize - 1] = a.int(e.fileSize)
        fields[ADBField.Info.hashes - 1] = a.blob(e.hashes)
        return a.vector(fields, kind: .object)
    }

    /// The payload as apk mkndx builds it: every entry's `info` object copied depth first.
    func rebuiltPayload() throws -> [UInt8] {
        let a = ADBWriter()
        // An index rewritten from an older one is about as large as that one's payload, and holds
        // about one distinct item per 30 bytes of it (100,000 generated packages: 34 MB, 1.2 million).
        var sources = Set<Int>(), estimate = 0
        for e in entries where sources.insert(e.source.identity).inserted { estimate += e.source.bytes.count }
        a.reserve(bytes: estimate + estimate / 8 + (1 << 16), items: estimate / 24)
        var values: [ADBValue] = []
        values.reserveCapacity(entries.count)
        var fields: [ADBValue] = []
        for e in entries { values.append(try copyInfo(e, into: a, fields: &fields)) }
        let desc = a.string(description)
        let spec = pkgnameSpec.map { a.string($0) } ?? .null
        return finish(a, values, description: desc, pkgnameSpec: spec)
    }

    /// The packages vector (`values[i]` is `entries[i]`'s `info` object; sorted as mkndx sorts
    /// them) and the root, after the entries.
    private func finish(_ a: ADBWriter, _ values: [ADBValue], description desc: ADBValue,
                        pkgnameSpec spec: ADBValue) -> [UInt8] {
        var order = Array(entries.indices)
        order.sort { x, y in
            let p = entries[x], q = entries[y]
            let c = IndexEditing.bytewiseCompare(p.name, q.name)
            if c != 0 { return c < 0 }
            switch APKVersion.compare(p.version, q.version) {
            case .less: return true
            case .greater: return false
            case .equal: break
            }
            if p.hashes != q.hashes { return p.hashes.lexicographicallyPrecedes(q.hashes) }
            return p.arch.utf8.lexicographicallyPrecedes(q.arch.utf8)
        }
        let list = a.vector(order.map { values[$0] })
        a.setRoot(a.object([ADBField.Index.description: desc, ADBField.Index.packages: list, ADBField.Index.pkgnameSpec: spec]))
        return a.bytes
    }

    /// Compression of the index: raw deflate (`ADBd`, which every apk 3 release reads), libdeflate
    /// level 6. mkndx deflates at zlib's level 9; libdeflate's 6 gives the same size within 0.3 %
    /// (a 100,000-entry index: 12.77 against 12.73 MB) in about a fifth of the time of its 9
    /// (0.3 against 1.5 s, the largest part of merging a package into such an index).
    static let compression = CompressionSettings(algorithm: .deflate, level: 6)

    /// The signed file, deflated (`ADBd`).
    public func write(to path: String, signer: Signer) throws {
        let body = try payload()
        try AtomicFile.write(to: path) { sink in
            let stream = try ADBFile.openStream(Self.compression, into: sink)
            try ADBFile.writeHeader(.index, to: stream)
            try ADBFile.writeBlock(.adb, payload: body, to: stream)
            try ADBFile.writeBlock(.sig, payload: try ADBSignature.sign(body, schema: .index, signer: signer), to: stream)
            try stream.finish()
        }
    }
}

/// `packages.adb`: the v3 index.
public struct V3IndexFormat: IndexFormat {
    public init() {}
    public var name: FormatName { .v3 }
    public var fileName: String { "packages.adb" }

    public func empty() -> any PackageIndex { V3Index() }

    public func read(path: String, keyring: Keyring, allowUntrusted: Bool, source: String?) throws -> any PackageIndex {
        let name = source ?? path
        let doc: V3Document
        do {
            // An index is read whole: inflated in one call when it is deflated and sound.
            let stream = try ADBBlockStream.inflatedWhole(path: path, limit: Int(V3Document.maxADBBlock) + (16 << 20))
                .map { ADBBlockStream(decompressed: $0, compression: "deflate") } ?? ADBBlockStream(path: path)
            (doc, _) = try V3Document.open(stream, keyring: keyring)
        } catch let e as SystemError {
            throw IndexError.unreadable(source: name, reason: e.description)
        } catch {
            throw IndexError.unreadable(source: name, reason: "\(error)")
        }
        guard doc.schema == .index else { throw IndexError.unreadable(source: name, reason: "not an index (a v3 package?)") }
        if doc.badSignature && doc.untrusted {
            throw IndexError.untrusted(source: name, reason:
                "BAD signature: the index was modified after it was signed; refusing to use it")
        }
        if doc.untrusted && !allowUntrusted {
            let ids = doc.signatures.map(\.key)
            throw IndexError.untrusted(source: name, reason:
                "UNTRUSTED index: \(ids.isEmpty ? "it is not signed" : "signed by key id \(ids.joined(separator: ", "))"), which is not among the trusted keys (add the public key with --keys-dir, or pass --allow-untrusted)")
        }
        let v = doc.view
        var index = V3Index()
        do {
            let root = try v.root
            index.description = try v.string(try v.field(root, ADBField.Index.description)) ?? ""
            index.pkgnameSpec = try v.string(try v.field(root, ADBField.Index.pkgnameSpec))
            let packages = try v.slots(try v.field(root, ADBField.Index.packages))
            var list: [V3IndexEntry] = []
            list.reserveCapacity(packages.count)
            for p in packages {
                let size = Int64(clamping: try v.int(try v.field(p, ADBField.Info.fileSize)))
                let hashes = try v.blob(try v.field(p, ADBField.Info.hashes)) ?? []
                list.append(try V3IndexEntry(source: v, info: p, fileSize: size, hashes: hashes, rewriteArch: nil))
            }
            // An index that lists one name, version and arch twice keeps the last (as merge does).
            index.entries = IndexEditing.uniqued(list)
            // Kept as the base of the rewrite when the packages vector follows every item
            // before it (as apkit writes it); the entries' items are checked at write time.
            let vector = try v.field(root, ADBField.Index.packages)
            if index.entries.count == list.count, vector.kind == .array || vector.kind == .object {
                index.base = V3Index.Base(source: v, end: Int(vector.payload), entries: list.count,
                                  description: (index.description, try v.field(root, ADBField.Index.description)),
                                  pkgnameSpec: (index.pkgnameSpec, try v.field(root, ADBField.Index.pkgnameSpec)))
            }
        } catch {
            throw IndexError.unreadable(source: name, reason: "\(error)")
        }
        return index
    }

    public func record(forPackageAt path: String, keyring: Keyring, allowUntrusted: Bool,
                       rewriteArch: String?) throws -> (IndexRecord, PackageInfo) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw SystemError.current(path: path) }
        let doc: V3Document
        do {
            (doc, _) = try V3Document.open(try ADBBlockStream(path: path), keyring: keyring)
        } catch let e as SystemError { throw e } catch {
            throw FormatError.invalidArgument("\(path): \(error)")
        }
        guard doc.schema == .package else { throw FormatError.invalidArgument("\(path): not a package (a v3 index?)") }
        if doc.badSignature && doc.untrusted { throw FormatError.invalidArgument("\(path): BAD signature") }
        if doc.untrusted && !allowUntrusted {
            throw FormatError.invalidArgument("\(path): UNTRUSTED signature (add its public key with --keys-dir, or pass --allow-untrusted)")
        }
        if let p = try doc.uniqueIDProblem() { throw FormatError.invalidArgument("\(path): \(p)") }
        let v = doc.view
        let root = try v.root
        let info = try v.field(root, ADBField.Package.info)
        let meta = try PackageInfo(adb: v, info: info, root: root)
        let entry = try V3IndexEntry(source: v, info: info, fileSize: Int64(st.st_size),
                                     hashes: Digest.hash(.sha256, doc.payload), rewriteArch: rewriteArch)
        return (entry.record, meta)
    }
}

/// apk mkndx's `--pkgname-spec`: where a package lies relative to the index.
public enum PkgnameSpec {
    public static let `default` = "${name}-${version}.apk"

    /// The last path segment must start with `${name}` followed by `-`, `_` or `.` (apk's rule).
    public static func validate(_ spec: String) throws {
        let last = spec.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? spec
        guard last.hasPrefix("${name}"), let c = last.dropFirst(7).first, "-_.".contains(c) else {
            throw FormatError.invalidArgument("--pkgname-spec '\(spec)': its last part must start with ${name} and then -, _ or . (e.g. '${arch}/${name}-${version}.apk')")
        }
        var rest = Substring(spec)
        while let open = rest.range(of: "${") {
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                throw FormatError.invalidArgument("--pkgname-spec '\(spec)': unclosed ${")
            }
            let field = rest[open.upperBound..<close].split(separator: ":").first.map(String.init) ?? ""
            guard ["name", "version", "arch", "hash", "description", "license", "origin", "maintainer", "url"].contains(field) else {
                throw FormatError.invalidArgument("--pkgname-spec '\(spec)': unknown field ${\(field)}")
            }
            rest = rest[rest.index(after: close)...]
        }
    }
}
