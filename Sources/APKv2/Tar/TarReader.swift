import APKCore
import APKCrypto
import Foundation
import SystemIO

/// One entry read from a tar stream, with its pax records applied.
public struct TarEntryHeader {
    public var path: String
    public var type: TarEntryType?
    public var typeFlag: UInt8
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var userName: String
    public var groupName: String
    public var size: Int64
    public var mtime: Int64
    public var linkTarget: String
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// pax records of this entry (values as raw bytes).
    public var pax: [String: [UInt8]]
    /// Decompressed stream offset of the entry's first header (pax header if any).
    public var offset: Int64
    /// Decompressed offset of the main header.
    public var headerOffset: Int64

    public var paxString: (String) -> String? {
        { key in self.pax[key].map { String(decoding: $0, as: UTF8.self) } }
    }
    /// `APK-TOOLS.checksum.SHA1` as hex, if present.
    public var sha1Checksum: String? { paxString("APK-TOOLS.checksum.SHA1") }
    public var xattrs: [(String, [UInt8])] {
        pax.filter { $0.key.hasPrefix("SCHILY.xattr.") }
            .map { (String($0.key.dropFirst("SCHILY.xattr.".count)), $0.value) }
            .sorted { $0.0 < $1.0 }
    }
}

/// Reads tar entries from a pull stream, refusing what apk refuses and bounding every allocation.
public final class TarReader {
    public static let maxPaxSize = 1 << 20
    public static let maxLongNameSize = 64 * 1024

    private let readFn: (UnsafeMutableRawBufferPointer) throws -> Int
    private var remaining: Int64 = 0     // content bytes of the current entry not read yet
    private var padding: Int64 = 0
    public private(set) var reachedEnd = false

    /// `read` fills the buffer (returns 0 at end); `position` counts what was taken from it.
    public init(read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        readFn = read
    }

    private var consumed: Int64 = 0

    /// Stream position in decompressed bytes, as this reader has consumed them.
    public var position: Int64 { consumed }

    private func readExactly(_ count: Int) throws -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = try buf.withUnsafeMutableBytes { try readFn(UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
            if n == 0 {
                if got == 0 { return nil }
                throw FormatError.malformed("tar: truncated")
            }
            got += n
        }
        consumed += Int64(count)
        return buf
    }

    private func skip(_ count: Int64) throws {
        var left = count
        var buf = [UInt8](repeating: 0, count: Int(min(left, 256 * 1024)))
        while left > 0 {
            let want = Int(min(left, Int64(buf.count)))
            let n = try buf.withUnsafeMutableBytes { try readFn(UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            if n == 0 { throw FormatError.malformed("tar: truncated entry content") }
            left -= Int64(n)
            consumed += Int64(n)
        }
    }

    /// Reads up to `out.count` bytes of the current entry's content; 0 when it is all read.
    public func readContent(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0 else { return 0 }
        let want = Int(min(Int64(out.count), remaining))
        let n = try readFn(UnsafeMutableRawBufferPointer(rebasing: out[0..<want]))
        if n == 0 { throw FormatError.malformed("tar: truncated entry content") }
        remaining -= Int64(n)
        consumed += Int64(n)
        return n
    }

    /// Reads the whole content of the current entry if it is at most `limit` bytes.
    public func readWholeContent(limit: Int, what: String) throws -> [UInt8] {
        guard remaining <= Int64(limit) else {
            throw FormatError.limitExceeded("\(what) is larger than \(limit) bytes")
        }
        let data = try readExactly(Int(remaining)) ?? []
        remaining = 0
        return data
    }

    private func finishEntry() throws {
        if remaining > 0 { try skip(remaining); remaining = 0 }
        if padding > 0 { try skip(padding); padding = 0 }
    }

    /// The next entry, or nil at the end-of-archive block or at the end of the stream.
    public func next() throws -> TarEntryHeader? {
        try finishEntry()
        if reachedEnd { return nil }
        var pax: [String: [UInt8]] = [:]
        var longName: String? = nil, longLink: String? = nil
        var entryOffset: Int64? = nil
        while true {
            let start = consumed
            guard let block = try readExactly(512) else { reachedEnd = true; return nil }
            if block.allSatisfy({ $0 == 0 }) { reachedEnd = true; return nil }
            if entryOffset == nil { entryOffset = start }
            try TarReader.checkHeaderChecksum(block)
            let magic = Array(block[257..<263])
            guard magic == Array("ustar\u{0}".utf8) || magic == Array("ustar ".utf8) else {
                throw FormatError.malformed("tar: header at offset \(start) has no ustar magic")
            }
            let size = try TarReader.octal(block[124..<136], field: "size")
            guard size >= 0 else { throw FormatError.malformed("tar: negative size") }
            let typeFlag = block[156]
            let pad = (512 - size % 512) % 512
            switch typeFlag {
            case TarEntryType.paxExtended.rawValue, TarEntryType.paxGlobal.rawValue:
                guard size <= Int64(TarReader.maxPaxSize) else { throw FormatError.limitExceeded("pax header of \(size) bytes") }
                let body = try readExactly(Int(size)) ?? []
                try skip(pad)
                if typeFlag == TarEntryType.paxExtended.rawValue {
                    for (k, v) in try TarReader.parsePax(body) { pax[k] = v }
                }
                continue
            case TarEntryType.gnuLongName.rawValue, TarEntryType.gnuLongLink.rawValue:
                guard size <= Int64(TarReader.maxLongNameSize) else { throw FormatError.limitExceeded("GNU long name of \(size) bytes") }
                let body = try readExactly(Int(size)) ?? []
                try skip(pad)
                let s = String(decoding: body.prefix { $0 != 0 }, as: UTF8.self)
                if typeFlag == TarEntryType.gnuLongName.rawValue { longName = s } else { longLink = s }
                continue
            default:
                break
            }
            func str(_ r: Range<Int>) -> String { String(decoding: block[r].prefix { $0 != 0 }, as: UTF8.self) }
            var name = str(0..<100)
            let prefix = str(345..<500)
            if !prefix.isEmpty && magic == Array("ustar\u{0}".utf8) { name = prefix + "/" + name }
            if let p = pax["path"] { name = String(decoding: p, as: UTF8.self) } else if let l = longName { name = l }
            var link = str(157..<257)
            if let l = pax["linkpath"] { link = String(decoding: l, as: UTF8.self) } else if let l = longLink { link = l }
            var realSize = size
            if let s = pax["size"] {
                guard let v = Int64(String(decoding: s, as: UTF8.self)), v >= 0 else { throw FormatError.malformed("tar: bad pax size") }
                realSize = v
            }
            let type = TarEntryType(rawValue: typeFlag == 0 ? TarEntryType.regular.rawValue : typeFlag)
            let hasContent = type == .regular || type == .contiguous || type == nil
            let header = TarEntryHeader(
                path: name, type: type, typeFlag: typeFlag,
                mode: UInt32(try TarReader.octal(block[100..<108], field: "mode") & 0o7777777),
                uid: UInt32(truncatingIfNeeded: try TarReader.octal(block[108..<116], field: "uid")),
                gid: UInt32(truncatingIfNeeded: try TarReader.octal(block[116..<124], field: "gid")),
                userName: str(265..<297), groupName: str(297..<329),
                size: hasContent ? realSize : 0,
                mtime: try TarReader.octal(block[136..<148], field: "mtime"),
                linkTarget: link,
                deviceMajor: UInt32(truncatingIfNeeded: (try? TarReader.octal(block[329..<337], field: "devmajor")) ?? 0),
                deviceMinor: UInt32(truncatingIfNeeded: (try? TarReader.octal(block[337..<345], field: "devminor")) ?? 0),
                pax: pax, offset: entryOffset ?? start, headerOffset: start)
            remaining = hasContent ? realSize : 0
            padding = hasContent ? (512 - realSize % 512) % 512 : 0
            return header
        }
    }

    static func checkHeaderChecksum(_ block: [UInt8]) throws {
        var sum = 0
        for (i, b) in block.enumerated() { sum += (148..<156).contains(i) ? 0x20 : Int(b) }
        let stored = try octal(block[148..<156], field: "checksum")
        guard stored == Int64(sum) else { throw FormatError.malformed("tar: header checksum mismatch") }
    }

    /// Parses an octal numeric field; apk rejects base-256 numbers, so do we.
    static func octal(_ field: ArraySlice<UInt8>, field name: String) throws -> Int64 {
        if let first = field.first, first & 0x80 != 0 {
            throw FormatError.malformed("tar: base-256 \(name) field (apk rejects it)")
        }
        var v: Int64 = 0
        var seenDigit = false
        for c in field {
            if c == 0 || c == 0x20 { if seenDigit { break } else { continue } }
            guard c >= 0x30 && c <= 0x37 else { throw FormatError.malformed("tar: bad octal in \(name) field") }
            seenDigit = true
            guard v < (Int64.max >> 3) else { throw FormatError.malformed("tar: \(name) field overflows") }
            v = v * 8 + Int64(c - 0x30)
        }
        return v
    }

    static func parsePax(_ body: [UInt8]) throws -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        var i = 0
        while i < body.count {
            if body[i] == 0 { break }
            var j = i, len = 0
            while j < body.count, body[j] >= 0x30, body[j] <= 0x39 {
                len = len * 10 + Int(body[j] - 0x30)
                guard len <= body.count else { throw FormatError.malformed("tar: pax record length too large") }
                j += 1
            }
            guard j < body.count, body[j] == 0x20, len > j - i + 1, i + len <= body.count, body[i + len - 1] == 0x0A else {
                throw FormatError.malformed("tar: bad pax record")
            }
            let rec = body[(j + 1)..<(i + len - 1)]
            guard let eq = rec.firstIndex(of: 0x3D) else { throw FormatError.malformed("tar: pax record without '='") }
            out.append((String(decoding: rec[rec.startIndex..<eq], as: UTF8.self), Array(rec[(eq + 1)...])))
            i += len
        }
        return out
    }
}
