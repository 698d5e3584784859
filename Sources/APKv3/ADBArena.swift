import APKCore
import Foundation

/// Builds one ADB block payload the way apk-tools 3 does (docs/apk-v3-format.md §4): items are
/// appended with zero padding to their alignment, and identical items are stored once (a byte
/// string seen before at an offset that suits the new item's alignment is reused).
public final class ADBWriter {
    public private(set) var bytes: [UInt8]
    private var seen: [Item: Int] = [:]

    /// An item's bytes as a dictionary key, hashed in one call rather than byte by byte.
    private struct Item: Hashable {
        let bytes: [UInt8]
        func hash(into h: inout Hasher) { bytes.withUnsafeBytes { h.combine(bytes: $0) } }
    }

    public init() {
        bytes = [UInt8](repeating: 0, count: 8)   // adb_hdr: compat 0, ver 0, reserved, root
        bytes.reserveCapacity(1 << 16)
    }

    /// Appends `item` at `alignment`, reusing an identical aligned copy when there is one.
    private func write(_ item: [UInt8], alignment: Int, dedup: Bool = true) -> Int {
        let key = Item(bytes: item)
        if dedup, let at = seen[key], at % alignment == 0 { return at }
        while bytes.count % alignment != 0 { bytes.append(0) }
        let at = bytes.count
        bytes.append(contentsOf: item)
        if dedup { seen[key] = at }
        return at
    }


    public func int(_ v: UInt64) -> ADBValue {
        if v < 0x1000_0000 { return ADBValue(.int, UInt32(v)) }
        if v <= UInt64(UInt32.max) { return ADBValue(.int32, UInt32(write(LittleEndian.bytes(UInt32(v)), alignment: 4))) }
        return ADBValue(.int64, UInt32(write(LittleEndian.bytes(v), alignment: 4)))
    }

    public func int(_ v: Int64) -> ADBValue { int(UInt64(max(0, v))) }
    public func int(_ v: Int) -> ADBValue { int(UInt64(max(0, v))) }

    /// A blob; empty is NULL (apk cannot store empty blobs).
    public func blob(_ b: [UInt8], dedup: Bool = true) -> ADBValue {
        let n = b.count
        if n == 0 { return .null }
        if n <= 0xff { return ADBValue(.blob8, UInt32(write([UInt8(n)] + b, alignment: 1, dedup: dedup))) }
        if n <= 0xffff { return ADBValue(.blob16, UInt32(write(LittleEndian.bytes(UInt16(n)) + b, alignment: 2, dedup: dedup))) }
        return ADBValue(.blob32, UInt32(write(LittleEndian.bytes(UInt32(n)) + b, alignment: 4, dedup: dedup)))
    }

    public func string(_ s: String) -> ADBValue { blob(Array(s.utf8)) }

    /// An object or array slot vector: trailing NULLs trimmed; nothing left is NULL.
    public func vector(_ slots: [ADBValue], kind: ADBValue.Kind = .object) -> ADBValue {
        var n = slots.count
        while n > 0 && slots[n - 1].isNull { n -= 1 }
        if n == 0 { return .null }
        var item = LittleEndian.bytes(UInt32(n + 1))
        item.reserveCapacity(4 * (n + 1))
        for s in slots[0..<n] { item += LittleEndian.bytes(s.raw) }
        return ADBValue(kind, UInt32(write(item, alignment: 4)))
    }

    /// An object whose slot `i` (1-based) is field `i`.
    public func object(_ fields: [Int: ADBValue]) -> ADBValue {
        guard let top = fields.keys.max() else { return .null }
        var slots = [ADBValue](repeating: .null, count: top)
        for (k, v) in fields { slots[k - 1] = v }
        return vector(slots, kind: .object)
    }

    /// The current payload, for comparisons of items already written.
    public var view: ADBView { ADBView(bytes) }

    /// Sets the header's root value.
    public func setRoot(_ v: ADBValue) {
        for i in 0..<4 { bytes[4 + i] = UInt8(v.raw >> (8 * UInt32(i)) & 0xff) }
    }

    /// Overwrites bytes in place (the package unique id).
    public func patch(at offset: Int, with b: [UInt8]) {
        bytes.replaceSubrange(offset..<offset + b.count, with: b)
    }

    /// Copies `value` of `source` into this arena as mkndx does (§4.5): depth first, slot vectors
    /// untrimmed, blobs with the same width, INT64 8-aligned.
    public func copy(_ value: ADBValue, from source: ADBView) throws -> ADBValue {
        guard let kind = value.kind else { throw ADBError.malformed("unknown value type") }
        switch kind {
        case .special, .int: return value
        case .int32:
            let v = try source.u32(at: Int(value.payload))
            return ADBValue(.int32, UInt32(write(LittleEndian.bytes(v), alignment: 4)))
        case .int64:
            let lo = try source.u32(at: Int(value.payload)), hi = try source.u32(at: Int(value.payload) + 4)
            return ADBValue(.int64, UInt32(write(LittleEndian.bytes(lo) + LittleEndian.bytes(hi), alignment: 8)))
        case .blob8, .blob16, .blob32:
            let width = kind == .blob8 ? 1 : kind == .blob16 ? 2 : 4
            let content = try source.blob(value) ?? []
            var prefix: [UInt8]
            switch width {
            case 1: prefix = [UInt8(content.count)]
            case 2: prefix = LittleEndian.bytes(UInt16(truncatingIfNeeded: content.count))
            default: prefix = LittleEndian.bytes(UInt32(content.count))
            }
            return ADBValue(kind, UInt32(write(prefix + content, alignment: width)))
        case .array, .object:
            let slots = try source.slots(value)
            var copied: [ADBValue] = []
            for s in slots { copied.append(try copy(s, from: source)) }
            var item = LittleEndian.bytes(UInt32(slots.count + 1))
            for s in copied { item += LittleEndian.bytes(s.raw) }
            return ADBValue(kind, UInt32(write(item, alignment: 4)))
        case .error:
            throw ADBError.malformed("error value in database")
        }
    }
}

/// Problems reading ADB data: what is wrong, in one line.
public enum ADBError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case limit(String)
    public var description: String {
        switch self {
        case .malformed(let s): return "malformed ADB: \(s)"
        case .limit(let s): return "malformed ADB: \(s)"
        }
    }
}

/// Bounds-checked reads of an ADB payload. Never traps on hostile input.
public struct ADBView: Sendable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func u32(at o: Int) throws -> UInt32 {
        guard o >= 0, o + 4 <= bytes.count else { throw ADBError.malformed("offset \(o) outside the block") }
        return LittleEndian.u32(bytes, at: o)
    }

    public var root: ADBValue { get throws { ADBValue(raw: try u32(at: 4)) } }

    /// The integer a value holds; 0 for NULL or a non-integer (as apk reads them).
    public func int(_ v: ADBValue) throws -> UInt64 {
        switch v.kind {
        case .int?: return UInt64(v.payload)
        case .int32?: return UInt64(try u32(at: Int(v.payload)))
        case .int64?: return UInt64(try u32(at: Int(v.payload))) | UInt64(try u32(at: Int(v.payload) + 4)) << 32
        default: return 0
        }
    }

    /// A blob's bytes; nil for NULL or a non-blob.
    public func blob(_ v: ADBValue) throws -> [UInt8]? {
        let o = Int(v.payload)
        let (len, start): (Int, Int)
        switch v.kind {
        case .blob8?:
            guard o < bytes.count else { throw ADBError.malformed("blob outside the block") }
            (len, start) = (Int(bytes[o]), o + 1)
        case .blob16?:
            guard o + 2 <= bytes.count else { throw ADBError.malformed("blob outside the block") }
            (len, start) = (Int(bytes[o]) | Int(bytes[o + 1]) << 8, o + 2)
        case .blob32?: (len, start) = (Int(try u32(at: o)), o + 4)
        default: return nil
        }
        guard start + len <= bytes.count else { throw ADBError.malformed("blob of \(len) bytes runs past the block") }
        return Array(bytes[start..<start + len])
    }

    /// Offset of a blob's content (for patching the unique id).
    public func blobContentOffset(_ v: ADBValue) -> Int? {
        switch v.kind {
        case .blob8?: return Int(v.payload) + 1
        case .blob16?: return Int(v.payload) + 2
        case .blob32?: return Int(v.payload) + 4
        default: return nil
        }
    }

    public func string(_ v: ADBValue) throws -> String? {
        try blob(v).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Slots 1..n-1 of an object or array (empty for NULL or a non-object, as apk reads them).
    public func slots(_ v: ADBValue) throws -> [ADBValue] {
        guard v.kind == .object || v.kind == .array else { return [] }
        let o = Int(v.payload)
        let n = Int(try u32(at: o))
        guard n >= 1 else { return [] }
        guard n <= (bytes.count - o) / 4 else { throw ADBError.malformed("object of \(n) slots runs past the block") }
        var out: [ADBValue] = []
        out.reserveCapacity(n - 1)
        for i in 1..<n { out.append(ADBValue(raw: try u32(at: o + 4 * i))) }
        return out
    }

    /// Field `i` (1-based) of an object; NULL when absent.
    public func field(_ v: ADBValue, _ i: Int) throws -> ADBValue {
        let s = try slots(v)
        return i - 1 < s.count ? s[i - 1] : .null
    }
}
