import APKCore
import APKCrypto
import Foundation
import SystemIO

/// apk-tools 3 packages: one ADB file (docs/apk-v3-format.md), indexed by `packages.adb`.
public struct V3Format: PackageFormat {
    public init() {}
    public var name: FormatName { .v3 }
    public var index: any IndexFormat { V3IndexFormat() }

    /// `ADB.`, `ADBd` or `ADBc`.
    public func recognizes(_ prefix: [UInt8]) -> Bool {
        prefix.count >= 4 && prefix[0] == 0x41 && prefix[1] == 0x44 && prefix[2] == 0x42 && ".dc".utf8.contains(prefix[3])
    }

    public func validate(_ compression: CompressionSettings) throws {
        guard compression.algorithm.levels.contains(compression.level) else {
            throw FormatError.invalidArgument("\(compression.algorithm.rawValue) takes a level in \(compression.algorithm.levels)")
        }
    }

    public func write(_ spec: PackageSpec, signer: Signer, compression: CompressionSettings, to path: String) throws -> BuiltPackage {
        try validate(compression)
        return try V3PackageWriter(signer: signer, compression: compression).build(spec, to: path)
    }

    public func read(path: String, options: ReadOptions, visitor: (any PackageVisitor)?) -> PackageReport {
        var report = PackageReport(format: .v3)
        do {
            try V3Verifier(options: options, visitor: visitor).read(path: path, into: &report)
        } catch let e as SystemError {
            if report.problem == nil { report.problem = .unreadable(e.description) }
        } catch {
            if report.problem == nil { report.problem = .malformed("\(error)") }
        }
        return report
    }
}

/// Reads a v3 package or index as apk 3 does (signature by a trusted key found by its id), plus
/// the unique id and every file's hash against its data block.
struct V3Verifier {
    let options: ReadOptions
    let visitor: (any PackageVisitor)?

    func read(path: String, into report: inout PackageReport) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw SystemError.current(path: path) }
        report.fileSize = Int64(st.st_size)
        let stream = try ADBBlockStream(path: path)
        let (doc, firstData) = try V3Document.open(stream, keyring: options.keyring)
        report.signatures = doc.signatures
        report.trustedKey = doc.trustedKey
        report.identity = Digest.hash(.sha256, doc.payload)
        report.details.append(("compression", doc.compression))
        let v = doc.view
        let root = try v.root
        if doc.schema == .index {
            report.kind = .index
            report.indexDescription = try v.string(try v.field(root, ADBField.Index.description)) ?? ""
            report.indexPackageCount = try v.slots(try v.field(root, ADBField.Index.packages)).count
            if let spec = try v.string(try v.field(root, ADBField.Index.pkgnameSpec)) { report.details.append(("pkgname-spec", spec)) }
            if firstData != nil { throw ADBError.malformed("an index holds no data blocks") }
            report.problem = trustProblem(doc)
            return
        }
        let info = try v.field(root, ADBField.Package.info)
        report.info = try PackageInfo(adb: v, info: info, root: root)
        let uid = try v.blob(try v.field(info, ADBField.Info.hashes)) ?? []
        report.details.append(("unique id", uid.hexString))
        let scripts = try v.field(root, ADBField.Package.scripts)
        for (i, name) in ADBField.scriptNames.enumerated() where !(try v.field(scripts, i + 1)).isNull {
            report.scripts.append(name)
        }
        if let p = trustProblem(doc) { report.problem = p; return }
        if let p = try doc.uniqueIDProblem() { report.problem = .malformed(p); return }
        if options.metadataOnly { return }

        // Walk paths and files; then the data blocks must come in exactly that order.
        struct Expect { var path: String; var pathIndex: UInt32; var fileIndex: UInt32; var size: Int64; var hash: [UInt8] }
        var expected: [Expect] = []
        let dirs = try v.slots(try v.field(root, ADBField.Package.paths))
        guard dirs.count < 10_000_000 else { throw ADBError.limit("too many directories") }
        for (di, d) in dirs.enumerated() {
            let dname = try v.string(try v.field(d, ADBField.Dir.name)) ?? ""
            if let visitor, !dname.isEmpty { visitor.visit(try entry(v, d, path: dname, type: "dir", aclField: ADBField.Dir.acl)) }
            for (fi, f) in try v.slots(try v.field(d, ADBField.Dir.files)).enumerated() {
                let fname = try v.string(try v.field(f, ADBField.File.name)) ?? ""
                guard !fname.isEmpty, !fname.contains("/"), fname != ".", fname != ".." else {
                    throw ADBError.malformed("bad file name '\(fname)' in \(dname.isEmpty ? "/" : dname)")
                }
                let full = dname.isEmpty ? fname : dname + "/" + fname
                let size = Int64(clamping: try v.int(try v.field(f, ADBField.File.size)))
                let hash = try v.blob(try v.field(f, ADBField.File.hash)) ?? []
                let target = try v.blob(try v.field(f, ADBField.File.target))
                var type = "file", link = ""
                if let t = target {
                    guard t.count >= 2 else { throw ADBError.malformed("\(full): bad file type") }
                    let ft = UInt16(t[0]) | UInt16(t[1]) << 8
                    switch ft {
                    case 0xA000: type = "symlink"; link = String(decoding: t[2...], as: UTF8.self)
                    case 0x8000: type = "hardlink"; link = String(decoding: t[2...], as: UTF8.self)
                    case 0x2000, 0x6000, 0x1000:
                        guard t.count == 10 else { throw ADBError.malformed("\(full): bad device number") }
                        type = ft == 0x2000 ? "chardev" : ft == 0x6000 ? "blockdev" : "fifo"
                    default: throw ADBError.malformed("\(full): unknown file type \(String(ft, radix: 16))")
                    }
                } else {
                    guard [20, 32, 64].contains(hash.count) else { throw ADBError.malformed("\(full): no valid hash") }
                    if size > 0 { expected.append(Expect(path: full, pathIndex: UInt32(di + 1), fileIndex: UInt32(fi + 1), size: size, hash: hash)) }
                }
                if let visitor {
                    var e = try entry(v, f, path: full, type: type, aclField: ADBField.File.acl)
                    e.size = size
                    e.mtime = Int64(clamping: try v.int(try v.field(f, ADBField.File.mtime)))
                    e.linkTarget = link
                    e.checksum = hash.isEmpty ? nil : hash.hexString
                    visitor.visit(e)
                }
            }
        }
        var header = firstData
        for x in expected {
            guard let h = header else { throw ADBError.malformed("truncated: no data for \(x.path)") }
            guard h.type == ADBBlockType.data.rawValue else { throw ADBError.malformed("unexpected block after data") }
            let idx = try stream.read(8)
            guard idx.count == 8 else { throw ADBError.malformed("truncated data block") }
            let pi = LittleEndian.u32(idx, at: 0), fi = LittleEndian.u32(idx, at: 4)
            guard pi == x.pathIndex, fi == x.fileIndex, h.payloadLength - 8 == x.size else {
                throw ADBError.malformed("data block out of order or of the wrong size (expected \(x.path))")
            }
            let alg: Digest.Algorithm = x.hash.count == 20 ? .sha1 : x.hash.count == 32 ? .sha256 : .sha512
            let d = Digest(alg)
            let got = try stream.read(x.size) { d.update($0) }
            guard got == x.size else { throw ADBError.malformed("truncated: the data of \(x.path) ends early") }
            try stream.skipPadding(h)
            if d.finalize() != x.hash { report.problem = .badChecksum(path: x.path); return }
            header = try stream.nextBlock()
        }
        if header != nil { throw ADBError.malformed("data blocks beyond the package's files") }
    }

    func trustProblem(_ doc: V3Document) -> VerificationProblem? {
        if doc.badSignature && doc.untrusted { return .badSignature }
        if doc.untrusted && !options.allowUntrusted { return .untrusted }
        return nil
    }

    func entry(_ v: ADBView, _ obj: ADBValue, path: String, type: String, aclField: Int) throws -> PackageFileEntry {
        let acl = try v.field(obj, aclField)
        let xattrs = try v.slots(try v.field(acl, ADBField.ACL.xattrs)).map { x -> String in
            let b = try v.blob(x) ?? []
            return String(decoding: b.prefix { $0 != 0 }, as: UTF8.self)
        }
        return PackageFileEntry(path: path, type: type, mode: UInt32(truncatingIfNeeded: try v.int(try v.field(acl, ADBField.ACL.mode))),
                                userName: try v.string(try v.field(acl, ADBField.ACL.user)) ?? "",
                                groupName: try v.string(try v.field(acl, ADBField.ACL.group)) ?? "",
                                size: 0, mtime: 0, checksumAlgorithm: "sha256", xattrs: xattrs)
    }
}
