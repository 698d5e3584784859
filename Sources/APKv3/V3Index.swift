import APKCore
import APKCrypto
import Foundation
import SystemIO

/// One package of a `packages.adb`: its `info` object where it was read (a package's ADB block
/// or an older index), and what the index adds (file size, the identity hash).
public struct V3IndexEntry: IndexedPackage, Sendable {
    /// The package's metadata, as read from its `info` object.
    public let info: PackageInfo
    public let fileSize: Int64
    /// SHA-256 of the package's ADB block (mkndx's default `--hash sha256`).
    public let hashes: [UInt8]
    /// Where the `info` object lies (a package's ADB block or an older index), copied at write time.
    let source: ADBView
    let infoValue: ADBValue
    /// Written instead of the source's arch (noarch packages published under an arch).
    let rewriteArch: String?

    public var name: String { info.name }
    public var version: String { info.version }
    public var arch: String { rewriteArch ?? info.arch }

    public static func == (a: V3IndexEntry, b: V3IndexEntry) -> Bool {
        a.name == b.name && a.version == b.version && a.arch == b.arch && a.hashes == b.hashes && a.fileSize == b.fileSize
    }

    public var record: IndexRecord {
        IndexRecord(format: .v3, name: name, version: version, arch: arch, buildTime: info.buildDate, fileSize: fileSize,
                    identity: hashes, entry: self)
    }

    init(source: ADBView, info value: ADBValue, fileSize: Int64, hashes: [UInt8], rewriteArch: String?) throws {
        info = try PackageInfo(adb: source, info: value, root: nil)
        (self.source, infoValue) = (source, value)
        (self.fileSize, self.hashes, self.rewriteArch) = (fileSize, hashes, rewriteArch)
    }
}

/// `packages.adb` in memory.
public struct V3Index: PackageIndex {
    public var format: FormatName { .v3 }
    public var description: String = ""
    /// `--pkgname-spec`, stored only when given.
    public var pkgnameSpec: String? = nil
    public private(set) var entries: [V3IndexEntry] = []

    public init() {}

    public var records: [IndexRecord] { entries.map(\.record) }

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

    /// The ADB block payload as apk mkndx builds it (§8).
    func payload() throws -> [UInt8] {
        let a = ADBWriter()
        var packages: [(value: ADBValue, entry: V3IndexEntry)] = []
        for e in entries {
            let slots = try e.source.slots(e.infoValue)
            var fields: [Int: ADBValue] = [:]
            for (i, s) in slots.enumerated() where !s.isNull { fields[i + 1] = try a.copy(s, from: e.source) }
            if let arch = e.rewriteArch { fields[ADBField.Info.arch] = a.string(arch) }
            fields[ADBField.Info.fileSize] = a.int(e.fileSize)
            fields[ADBField.Info.hashes] = a.blob(e.hashes)
            packages.append((a.object(fields), e))
        }
        let desc = a.string(description)
        let spec = pkgnameSpec.map { a.string($0) } ?? .null
        packages.sort { x, y in
            let p = x.entry, q = y.entry
            if p.name != q.name { return p.name.utf8.lexicographicallyPrecedes(q.name.utf8) }
            switch APKVersion.compare(p.version, q.version) {
            case .less: return true
            case .greater: return false
            case .equal: break
            }
            if p.hashes != q.hashes { return p.hashes.lexicographicallyPrecedes(q.hashes) }
            return p.arch.utf8.lexicographicallyPrecedes(q.arch.utf8)
        }
        let list = a.vector(packages.map(\.value))
        a.setRoot(a.object([ADBField.Index.description: desc, ADBField.Index.packages: list, ADBField.Index.pkgnameSpec: spec]))
        return a.bytes
    }

    /// The signed file, deflated as mkndx writes it by default (`ADBd`).
    public func write(to path: String, signer: Signer) throws {
        let body = try payload()
        try AtomicFile.write(to: path) { sink in
            let stream = try ADBFile.openStream(CompressionSettings(algorithm: .deflate, level: 9), into: sink)
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
            let stream = try ADBBlockStream(path: path)
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
            // Through merge: an index that lists one name, version and arch twice keeps the last.
            _ = try index.merge(list.map(\.record))
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
