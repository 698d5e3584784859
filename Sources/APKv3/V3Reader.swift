import APKCore
import APKCrypto
import CDeflate
import Foundation
import SystemIO

/// Reads the blocks of a v3 file through its decompression, with bounded memory (only the ADB
/// block is held; data blocks are streamed through the hash).
final class ADBBlockStream {
    private let source: ByteSource
    private var buffer = [UInt8](repeating: 0, count: 256 << 10)
    private var start = 0, end = 0
    private(set) var compression = "none"
    private(set) var consumed: Int64 = 0

    /// Opens `path`, sniffing the compression magic.
    init(path: String) throws {
        let file = try FileSource(path: path)
        var magic = [UInt8](repeating: 0, count: 4)
        var got = 0
        while got < 4 {
            let n = try magic.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
            if n == 0 { break }
            got += n
        }
        guard got == 4, magic[0...2] == [0x41, 0x44, 0x42] else { throw ADBError.malformed("not an ADB file (no ADB magic)") }
        switch magic[3] {
        case UInt8(ascii: "."):
            source = PrefixedSource(prefix: magic, rest: file)
        case UInt8(ascii: "d"):
            compression = "deflate"
            source = try RawInflateSource(file)
        case UInt8(ascii: "c"):
            var spec = [UInt8](repeating: 0, count: 2)
            var g = 0
            while g < 2 {
                let n = try spec.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[g...])) }
                if n == 0 { throw ADBError.malformed("truncated compression header") }
                g += n
            }
            switch spec[0] {
            case 0: compression = "none"; source = file
            case 1: compression = "deflate:\(spec[1])"; source = try RawInflateSource(file)
            case 2: compression = "zstd:\(spec[1])"; source = try ZstdDecompressingSource(file)
            default: throw ADBError.malformed("unknown compression algorithm \(spec[0])")
            }
        default:
            throw ADBError.malformed("unknown ADB compression marker '\(Character(UnicodeScalar(magic[3])))'")
        }
    }

    /// A stream over a file's decompressed bytes already in memory (see `inflatedWhole`).
    init(decompressed: [UInt8], compression: String) {
        source = MemorySource(decompressed)
        self.compression = compression
    }

    /// A deflated (`ADBd`) file of at most `limit` bytes decompressed, inflated in one call with
    /// libdeflate (about twice as fast as zlib's streaming inflate; an index is read whole
    /// anyway). nil when the file is not `ADBd`, or does not inflate cleanly: the streaming
    /// reader then reads it and says what is wrong, as for any other file.
    static func inflatedWhole(path: String, limit: Int) -> [UInt8]? {
        guard let file = FileManager.default.contents(atPath: path), file.count > 4,
              file.prefix(4).elementsEqual("ADBd".utf8), let d = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(d) }
        return file.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [UInt8]? in
            let input = UnsafeRawBufferPointer(rebasing: raw[4...])
            var capacity = max(1 << 20, input.count * 4)
            while capacity <= limit {
                var result = LIBDEFLATE_SUCCESS
                let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                    var used = 0, made = 0
                    result = libdeflate_deflate_decompress_ex(d, input.baseAddress, input.count, buffer.baseAddress, capacity,
                                                             &used, &made)
                    if result == LIBDEFLATE_SUCCESS && used != input.count { result = LIBDEFLATE_BAD_DATA }  // data after the stream
                    count = result == LIBDEFLATE_SUCCESS ? made : 0
                }
                if result == LIBDEFLATE_SUCCESS { return out }
                guard result == LIBDEFLATE_INSUFFICIENT_SPACE else { return nil }
                capacity *= 2
            }
            return nil
        }
    }

    /// Up to `n` bytes (fewer only at the end of the stream).
    func read(_ n: Int) throws -> [UInt8] {
        if start == end, let memory = source as? MemorySource {
            // In memory: one copy of the exact size (an index's ADB block is tens of MB).
            let out = memory.take(n)
            consumed += Int64(out.count)
            return out
        }
        var out: [UInt8] = []
        out.reserveCapacity(min(n, 1 << 20))
        try read(n) { out.append(contentsOf: $0) }
        return out
    }

    /// Streams `n` bytes (fewer at the end) to `body`; returns how many.
    @discardableResult
    func read(_ n: Int64, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        var left = n
        while left > 0 {
            if start == end {
                start = 0
                end = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
                if end == 0 { break }
            }
            let take = Int(min(Int64(end - start), left))
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<start + take])) }
            start += take
            left -= Int64(take)
            consumed += Int64(take)
        }
        return n - left
    }
    func read(_ n: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws { try read(Int64(n), body) }

    struct BlockHeader { var type: UInt32; var payloadLength: Int64; var headerSize: Int64 }

    /// The next block's header; nil at a clean end of the stream.
    func nextBlock() throws -> BlockHeader? {
        let h = try read(4)
        if h.isEmpty { return nil }
        guard h.count == 4 else { throw ADBError.malformed("truncated block header") }
        let word = LittleEndian.u32(h, at: 0)
        var type = word >> 30
        var raw = Int64(word & 0x3FFF_FFFF)
        var hsize: Int64 = 4
        if type == ADBBlockType.ext.rawValue {
            let x = try read(12)
            guard x.count == 12 else { throw ADBError.malformed("truncated extended block header") }
            type = word & 0x3FFF_FFFF
            let r = LittleEndian.u64(x, at: 4)
            guard r <= UInt64(Int64.max) else { throw ADBError.malformed("block size out of range") }
            raw = Int64(r)
            hsize = 16
        }
        guard raw >= hsize else { throw ADBError.malformed("block smaller than its header") }
        return BlockHeader(type: type, payloadLength: raw - hsize, headerSize: hsize)
    }

    func skipPadding(_ h: BlockHeader) throws {
        let raw = h.headerSize + h.payloadLength
        let pad = Int((8 - raw % 8) % 8)
        if pad > 0 {
            let p = try read(pad)
            // apk tolerates a missing pad at the very end of the stream.
            guard p.isEmpty || p.count == pad else { throw ADBError.malformed("truncated block padding") }
            // apk does not look at the padding; apkit insists on zeros, so no byte goes unchecked.
            guard p.allSatisfy({ $0 == 0 }) else { throw ADBError.malformed("non-zero block padding") }
        }
    }
}

/// Bytes in memory, read in order.
final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var at = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    /// The next `n` bytes (fewer at the end).
    func take(_ n: Int) -> [UInt8] {
        let k = min(n, bytes.count - at)
        defer { at += k }
        return Array(bytes[at..<at + k])
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - at)
        if n > 0 {
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + at, byteCount: n) }
            at += n
        }
        return n
    }
}

/// A v3 file read and checked: its ADB block, signatures and (for packages) data blocks.
struct V3Document {
    var schema: ADBSchema
    var payload: [UInt8]
    var compression: String
    var signatures: [SignatureSummary] = []
    var trustedKey: String?
    var untrusted = true
    var badSignature = false

    var view: ADBView { ADBView(payload) }

    /// The largest ADB block accepted (an index of a few hundred thousand packages).
    static let maxADBBlock: Int64 = 1 << 30

    /// Reads the header, the ADB block and the signature blocks; leaves the stream at the first
    /// data block. Signatures are checked (against `keyring`) but not enforced here.
    static func open(_ stream: ADBBlockStream, keyring: Keyring) throws -> (V3Document, ADBBlockStream.BlockHeader?) {
        let fh = try stream.read(8)
        guard fh.count == 8, Array(fh[0..<4]) == ADBFile.magic else {
            throw ADBError.malformed(fh.count < 8 ? "truncated file header" : "not an ADB file (bad header after decompression)")
        }
        let schemaWord = LittleEndian.u32(fh, at: 4)
        guard let schema = ADBSchema(rawValue: schemaWord) else {
            throw ADBError.malformed(String(format: "unknown schema %08X (neither a package nor an index)", schemaWord))
        }
        guard let first = try stream.nextBlock(), first.type == ADBBlockType.adb.rawValue else {
            throw ADBError.malformed("the first block is not the ADB block")
        }
        guard first.payloadLength >= 8, first.payloadLength <= maxADBBlock else {
            throw ADBError.limit("ADB block of \(first.payloadLength) bytes")
        }
        let payload = try stream.read(Int(first.payloadLength))
        guard payload.count == Int(first.payloadLength) else { throw ADBError.malformed("truncated: the ADB block ends early") }
        guard payload[0] == 0 else { throw ADBError.malformed("ADB block of an unknown compat version \(payload[0])") }
        try stream.skipPadding(first)
        var doc = V3Document(schema: schema, payload: payload, compression: stream.compression)
        var next: ADBBlockStream.BlockHeader? = nil
        while let h = try stream.nextBlock() {
            if h.type == ADBBlockType.sig.rawValue {
                guard doc.signatures.count < 16, h.payloadLength <= 16 << 10 else { throw ADBError.limit("too many or too large signatures") }
                let sig = try stream.read(Int(h.payloadLength))
                guard sig.count == Int(h.payloadLength) else { throw ADBError.malformed("truncated signature block") }
                try stream.skipPadding(h)
                guard sig.count >= 18 else { throw ADBError.malformed("signature block too short") }
                doc.signatures.append(SignatureSummary(kind: sig[1] == 4 ? "SHA512" : sig[1] == 3 ? "SHA256" : "alg\(sig[1])",
                                                       key: Array(sig[2..<18]).hexString, signatureSize: sig.count - 18))
                if doc.untrusted, let r = try ADBSignature.verify(sig, payload: payload, schema: schema, keyring: keyring) {
                    if r.ok { doc.untrusted = false; doc.badSignature = false; doc.trustedKey = r.key.name }
                    else { doc.badSignature = true }
                }
            } else if h.type == ADBBlockType.data.rawValue {
                next = h
                break
            } else {
                throw ADBError.malformed(h.type == 0 ? "a second ADB block" : "unknown block type \(h.type)")
            }
        }
        return (doc, next)
    }

    /// Verifies the package's unique id (§7.3): SHA-256 of the block with the id zeroed.
    func uniqueIDProblem() throws -> String? {
        let info = try view.field(try view.root, ADBField.Package.info)
        let idValue = try view.field(info, ADBField.Info.hashes)
        guard let id = try view.blob(idValue) else { return "the package has no unique id" }
        guard id.count == 20, let at = view.blobContentOffset(idValue) else { return nil }  // other widths: not mkpkg's
        var copy = payload
        for i in at..<at + 20 { copy[i] = 0 }
        return Array(Digest.hash(.sha256, copy).prefix(20)) == id ? nil : "BAD unique id (the ADB block was changed after it was written)"
    }
}

extension PackageInfo {
    /// The metadata of a v3 `info` object (and the package root's triggers, replaces-priority).
    init(adb v: ADBView, info: ADBValue, root: ADBValue?) throws {
        func str(_ f: Int) throws -> String { try v.string(try v.field(info, f)) ?? "" }
        self.init(name: try str(ADBField.Info.name), version: try str(ADBField.Info.version))
        description = try str(ADBField.Info.description)
        arch = try str(ADBField.Info.arch)
        license = try str(ADBField.Info.license)
        origin = try str(ADBField.Info.origin)
        maintainer = try str(ADBField.Info.maintainer)
        url = try str(ADBField.Info.url)
        commit = (try v.blob(try v.field(info, ADBField.Info.repoCommit)))?.hexString ?? ""
        buildDate = Int64(clamping: try v.int(try v.field(info, ADBField.Info.buildTime)))
        size = Int64(clamping: try v.int(try v.field(info, ADBField.Info.installedSize)))
        let pp = try v.field(info, ADBField.Info.providerPriority)
        providerPriority = pp.isNull ? nil : Int(clamping: try v.int(pp))
        depends = try Self.dependencies(v, try v.field(info, ADBField.Info.depends))
        provides = try Self.dependencies(v, try v.field(info, ADBField.Info.provides))
        replaces = try Self.dependencies(v, try v.field(info, ADBField.Info.replaces))
        installIf = try Self.dependencies(v, try v.field(info, ADBField.Info.installIf))
        if let root {
            triggers = try v.slots(try v.field(root, ADBField.Package.triggers)).map { try v.string($0) ?? "" }
            let rp = try v.field(root, ADBField.Package.replacesPriority)
            replacesPriority = rp.isNull ? nil : Int(clamping: try v.int(rp))
        }
    }

    /// Dependency objects as apk prints them (`dependency_tostring`).
    static func dependencies(_ v: ADBView, _ array: ADBValue) throws -> [String] {
        try v.slots(array).map { d in
            let name = try v.string(try v.field(d, ADBField.Dependency.name)) ?? ""
            let version = try v.string(try v.field(d, ADBField.Dependency.version))
            let m = try v.field(d, ADBField.Dependency.match)
            let match = m.isNull ? DependencyOp.equal : Int(truncatingIfNeeded: try v.int(m))
            let bang = match & DependencyOp.conflict != 0 ? "!" : ""
            guard let version else { return bang + name }
            return bang + name + DependencyOp.string(match) + version
        }
    }
}
