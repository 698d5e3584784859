import APKCore
import Foundation

/// Builds one ADB block payload the way apk-tools 3 does (docs/apk-v3-format.md §4); see `ADBArena`.
public final class ADBWriter {
    private var arena = ADBArena()

    public init() {}

    /// A payload that goes on after `prefix` (an older payload's items, header included), which
    /// is kept byte for byte; its items are not looked up when new ones are written.
    init(prefix: ArraySlice<UInt8>) { arena = ADBArena(prefix: prefix) }

    public var bytes: [UInt8] { arena.bytes }

    /// Room for a payload of about `bytes` bytes holding about `items` distinct items.
    public func reserve(bytes n: Int, items: Int) { arena.reserve(bytes: n, items: items) }
    public func int(_ v: UInt64) -> ADBValue { arena.int(v) }
    public func int(_ v: Int64) -> ADBValue { arena.int(v) }
    public func int(_ v: Int) -> ADBValue { arena.int(v) }
    /// A blob; empty is NULL (apk cannot store empty blobs).
    public func blob(_ b: [UInt8], dedup: Bool = true) -> ADBValue { arena.blob(b, dedup: dedup) }
    public func string(_ s: String) -> ADBValue { arena.string(s) }
    /// An object or array slot vector: trailing NULLs trimmed; nothing left is NULL.
    public func vector(_ slots: [ADBValue], kind: ADBValue.Kind = .object) -> ADBValue { arena.vector(slots, kind: kind) }
    /// An object whose slot `i` (1-based) is field `i`.
    public func object(_ fields: [Int: ADBValue]) -> ADBValue { arena.object(fields) }
    /// The current payload, for comparisons of items already written.
    public var view: ADBView { arena.view }
    /// Sets the header's root value.
    public func setRoot(_ v: ADBValue) { arena.setRoot(v) }
    /// Overwrites bytes in place (the package unique id).
    public func patch(at offset: Int, with b: [UInt8]) { arena.patch(at: offset, with: b) }
    /// Copies `value` of `source` into this arena as mkndx does (§4.5).
    public func copy(_ value: ADBValue, from source: ADBView) throws -> ADBValue { try arena.copy(value, from: source) }
    /// Copies the non-NULL slots of object `value` of `source` into `fields` (see `ADBArena.copyFields`).
    func copyFields(of value: ADBValue, from source: ADBView, into fields: inout [ADBValue]) throws {
        try arena.copyFields(of: value, from: source, into: &fields)
    }
}

/// One ADB block payload as apk-tools 3 builds it (docs/apk-v3-format.md §4): items are appended
/// with zero padding to their alignment, and identical items are stored once (a byte string seen
/// before at an offset that suits the new item's alignment is reused).
///
/// An item is appended first and looked up where it lies (`commit`): no copy of its bytes is made
/// for the lookup, and the table of items seen holds offsets into `bytes`, not byte arrays.
/// A value held by `ADBWriter`, so that building an item (many appends and lookups) is one
/// exclusive access rather than one checked access per step.
struct ADBArena {
    private(set) var bytes: [UInt8]
    private var seen = ItemTable()
    /// Slot values of the objects `copy` is in the middle of, innermost last.
    private var pending: [UInt32] = []

    init() {
        bytes = [UInt8](repeating: 0, count: 8)   // adb_hdr: compat 0, ver 0, reserved, root
        bytes.reserveCapacity(1 << 16)
    }

    init(prefix: ArraySlice<UInt8>) {
        bytes = []
        bytes.reserveCapacity(prefix.count + (1 << 16))
        bytes.append(contentsOf: prefix)
    }

    /// Room for a payload of about `bytes` bytes holding about `items` distinct items (an index
    /// rewritten from an older one: its payload's size), so neither grows while it is built.
    mutating func reserve(bytes n: Int, items: Int) {
        bytes.reserveCapacity(n)
        seen.reserve(items)
    }

    /// The item is `bytes[mark...]`, just appended: returns the offset of an identical item
    /// already written at `alignment` (and drops the new copy), or pads the new one to
    /// `alignment` and records it.
    private mutating func commit(from mark: Int, alignment: Int, dedup: Bool) -> Int {
        let length = bytes.count - mark
        var hash: UInt32 = 0, slot = 0
        if dedup {
            let found: Int?
            (hash, slot, found) = bytes.withUnsafeBufferPointer { b in
                let item = UnsafeBufferPointer(rebasing: b[mark...])
                let h = ItemTable.hash(item)
                let (s, at) = seen.find(hash: h, item, in: b)
                return (h, s, at)
            }
            if let at = found, at % alignment == 0 {
                bytes.removeLast(length)
                return at
            }
        }
        var at = mark
        if mark % alignment != 0 {
            let pad = alignment - mark % alignment
            bytes.append(contentsOf: repeatElement(0, count: pad))
            bytes.withUnsafeMutableBufferPointer { b in
                let base = b.baseAddress!
                (base + mark + pad).update(from: base + mark, count: length)   // overlapping: memmove
                (base + mark).update(repeating: 0, count: pad)
            }
            at = mark + pad
        }
        if dedup { seen.record(slot: slot, hash: hash, offset: at, length: length) }
        return at
    }

    private mutating func append(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func int(_ v: UInt64) -> ADBValue {
        if v < 0x1000_0000 { return ADBValue(.int, UInt32(v)) }
        let mark = bytes.count
        if v <= UInt64(UInt32.max) {
            append(UInt32(v))
            return ADBValue(.int32, UInt32(commit(from: mark, alignment: 4, dedup: true)))
        }
        append(UInt32(truncatingIfNeeded: v))
        append(UInt32(v >> 32))
        return ADBValue(.int64, UInt32(commit(from: mark, alignment: 4, dedup: true)))
    }

    mutating func int(_ v: Int64) -> ADBValue { int(UInt64(max(0, v))) }
    mutating func int(_ v: Int) -> ADBValue { int(UInt64(max(0, v))) }

    /// A blob; empty is NULL (apk cannot store empty blobs).
    mutating func blob(_ b: [UInt8], dedup: Bool = true) -> ADBValue {
        let n = b.count
        if n == 0 { return .null }
        let mark = bytes.count
        let kind: ADBValue.Kind, alignment: Int
        if n <= 0xff {
            (kind, alignment) = (.blob8, 1)
            bytes.append(UInt8(n))
        } else if n <= 0xffff {
            (kind, alignment) = (.blob16, 2)
            withUnsafeBytes(of: UInt16(n).littleEndian) { bytes.append(contentsOf: $0) }
        } else {
            (kind, alignment) = (.blob32, 4)
            append(UInt32(n))
        }
        bytes.append(contentsOf: b)
        return ADBValue(kind, UInt32(commit(from: mark, alignment: alignment, dedup: dedup)))
    }

    mutating func string(_ s: String) -> ADBValue { blob(Array(s.utf8)) }

    /// An object or array slot vector: trailing NULLs trimmed; nothing left is NULL.
    mutating func vector(_ slots: [ADBValue], kind: ADBValue.Kind = .object) -> ADBValue {
        var n = slots.count
        while n > 0 && slots[n - 1].isNull { n -= 1 }
        if n == 0 { return .null }
        let mark = bytes.count
        bytes.reserveCapacity(mark + 4 * (n + 1))
        append(UInt32(n + 1))
        for s in slots[0..<n] { append(s.raw) }
        return ADBValue(kind, UInt32(commit(from: mark, alignment: 4, dedup: true)))
    }

    /// An object whose slot `i` (1-based) is field `i`.
    mutating func object(_ fields: [Int: ADBValue]) -> ADBValue {
        guard let top = fields.keys.max() else { return .null }
        var slots = [ADBValue](repeating: .null, count: top)
        for (k, v) in fields { slots[k - 1] = v }
        return vector(slots, kind: .object)
    }

    /// The current payload, for comparisons of items already written.
    var view: ADBView { ADBView(bytes) }

    /// Sets the header's root value.
    mutating func setRoot(_ v: ADBValue) {
        for i in 0..<4 { bytes[4 + i] = UInt8(v.raw >> (8 * UInt32(i)) & 0xff) }
    }

    /// Overwrites bytes in place (the package unique id).
    mutating func patch(at offset: Int, with b: [UInt8]) {
        bytes.replaceSubrange(offset..<offset + b.count, with: b)
    }

    /// How deep `copy` follows objects and arrays (apk's schemas nest a few levels; a deeper or
    /// cyclic structure is refused rather than followed until the stack runs out).
    static let maxCopyDepth = 32

    /// Copies `value` of `source` into this arena as mkndx does (§4.5): depth first, slot vectors
    /// untrimmed, blobs with the same width, INT64 8-aligned.
    mutating func copy(_ value: ADBValue, from source: ADBView) throws -> ADBValue {
        try source.bytes.withUnsafeBufferPointer { try copy(value, from: $0, depth: 0) }
    }

    /// Copies the non-NULL slots of object `value` of `source` (slot `i` is field `i + 1`) into
    /// `fields`, which is extended with NULLs to hold them.
    mutating func copyFields(of value: ADBValue, from source: ADBView, into fields: inout [ADBValue]) throws {
        try source.bytes.withUnsafeBufferPointer { src in
            guard value.kind == .object || value.kind == .array else { return }
            let (o, n) = try Self.vectorBounds(value, src)
            if fields.count < n - 1 { fields.append(contentsOf: repeatElement(.null, count: n - 1 - fields.count)) }
            for i in 1..<max(n, 1) {
                let s = ADBValue(raw: Self.u32(src, o + 4 * i))
                if !s.isNull { fields[i - 1] = try copy(s, from: src, depth: 1) }
            }
        }
    }

    private static func u32(_ b: UnsafeBufferPointer<UInt8>, _ o: Int) -> UInt32 {
        UInt32(littleEndian: UnsafeRawPointer(b.baseAddress! + o).loadUnaligned(as: UInt32.self))
    }

    /// Offset and slot count (the stored count, slot 0 included) of an object or array; checked.
    private static func vectorBounds(_ v: ADBValue, _ src: UnsafeBufferPointer<UInt8>) throws -> (Int, Int) {
        let o = Int(v.payload)
        guard o + 4 <= src.count else { throw ADBError.malformed("offset \(o) outside the block") }
        let n = Int(u32(src, o))
        guard n <= (src.count - o) / 4 else { throw ADBError.malformed("object of \(n) slots runs past the block") }
        return (o, n)
    }

    private mutating func copy(_ value: ADBValue, from src: UnsafeBufferPointer<UInt8>, depth: Int) throws -> ADBValue {
        guard let kind = value.kind else { throw ADBError.malformed("unknown value type") }
        let o = Int(value.payload)
        switch kind {
        case .special, .int: return value
        case .int32, .int64:
            let size = kind == .int32 ? 4 : 8
            guard o + size <= src.count else { throw ADBError.malformed("offset \(o) outside the block") }
            let mark = bytes.count
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: src[o..<o + size]))
            return ADBValue(kind, UInt32(commit(from: mark, alignment: size, dedup: true)))
        case .blob8, .blob16, .blob32:
            let width = kind == .blob8 ? 1 : kind == .blob16 ? 2 : 4
            guard o + width <= src.count else { throw ADBError.malformed("blob outside the block") }
            let len = width == 1 ? Int(src[o]) : width == 2 ? Int(src[o]) | Int(src[o + 1]) << 8 : Int(Self.u32(src, o))
            guard o + width + len <= src.count else { throw ADBError.malformed("blob of \(len) bytes runs past the block") }
            let mark = bytes.count
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: src[o..<o + width + len]))
            return ADBValue(kind, UInt32(commit(from: mark, alignment: width, dedup: true)))
        case .array, .object:
            guard depth < Self.maxCopyDepth else { throw ADBError.limit("objects nested more than \(Self.maxCopyDepth) deep") }
            let (_, n) = try Self.vectorBounds(value, src)
            let base = pending.count
            for i in 1..<max(n, 1) {
                pending.append(try copy(ADBValue(raw: Self.u32(src, o + 4 * i)), from: src, depth: depth + 1).raw)
            }
            let mark = bytes.count
            append(UInt32(pending.count - base + 1))
            for i in base..<pending.count { append(pending[i]) }
            pending.removeSubrange(base...)
            return ADBValue(kind, UInt32(commit(from: mark, alignment: 4, dedup: true)))
        case .error:
            throw ADBError.malformed("error value in database")
        }
    }
}

/// The items an `ADBWriter` has written, by content: an open-addressing table of (hash, offset,
/// length) into the payload, one entry per distinct byte string (the last offset it was written at).
struct ItemTable {
    private struct Slot { var hash: UInt32 = 0; var offset: UInt32 = 0; var length: UInt32 = 0 }
    /// offset 0 is the payload header, never an item: it marks a free slot.
    private var slots = [Slot](repeating: Slot(), count: 1 << 12)
    private(set) var count = 0

    /// A 64-bit multiply-mix over 8 bytes at a time, folded to 32 bits.
    static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt32 {
        let k: UInt64 = 0x9E37_79B9_7F4A_7C15
        var h = UInt64(b.count) &* k
        var i = 0
        let p = UnsafeRawPointer(b.baseAddress!)
        while i + 8 <= b.count {
            h = (h ^ UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))) &* k
            h ^= h >> 32
            i += 8
        }
        if i < b.count {
            var tail: UInt64 = 0
            for j in i..<b.count { tail |= UInt64(b[j]) << (8 * UInt64(j - i)) }
            h = (h ^ tail) &* k
            h ^= h >> 32
        }
        h = (h ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
        return UInt32(truncatingIfNeeded: h ^ (h >> 32))
    }

    mutating func reserve(_ items: Int) {
        var size = slots.count
        while size < items * 2 { size *= 2 }
        if size > slots.count { rehash(size) }
    }

    /// The slot holding `item` (and the offset it was written at), or the free slot it would go in.
    func find(hash: UInt32, _ item: UnsafeBufferPointer<UInt8>, in payload: UnsafeBufferPointer<UInt8>) -> (Int, Int?) {
        let mask = slots.count - 1
        var i = Int(hash) & mask
        return slots.withUnsafeBufferPointer { s in
            while true {
                let e = s[i]
                if e.offset == 0 { return (i, nil) }
                if e.hash == hash, Int(e.length) == item.count,
                   memcmp(payload.baseAddress! + Int(e.offset), item.baseAddress!, item.count) == 0 {
                    return (i, Int(e.offset))
                }
                i = (i + 1) & mask
            }
        }
    }

    /// Records `offset` for the item `find` returned `slot` for (replacing the older offset of
    /// the same bytes, or filling the free slot).
    mutating func record(slot: Int, hash: UInt32, offset: Int, length: Int) {
        if slots[slot].offset == 0 { count += 1 }
        slots[slot] = Slot(hash: hash, offset: UInt32(offset), length: UInt32(length))
        if count * 2 > slots.count { rehash(slots.count * 2) }
    }

    private mutating func rehash(_ size: Int) {
        let old = slots
        slots = [Slot](repeating: Slot(), count: size)
        let mask = size - 1
        for e in old where e.offset != 0 {
            var i = Int(e.hash) & mask
            while slots[i].offset != 0 { i = (i + 1) & mask }
            slots[i] = e
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

    /// Tells views of the same payload apart from views of others (while the payload is alive).
    var identity: Int { bytes.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } }

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

    /// Where the last byte of `v`'s items ends (0 for a value stored inline), following objects
    /// and arrays; malformed or too deeply nested structures throw, as `ADBWriter.copy` does.
    public func itemsEnd(_ v: ADBValue) throws -> Int {
        try bytes.withUnsafeBufferPointer { try Self.itemsEnd(v, $0, depth: 0) }
    }

    private static func itemsEnd(_ v: ADBValue, _ b: UnsafeBufferPointer<UInt8>, depth: Int) throws -> Int {
        guard let kind = v.kind else { throw ADBError.malformed("unknown value type") }
        let o = Int(v.payload)
        func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: UnsafeRawPointer(b.baseAddress! + at).loadUnaligned(as: UInt32.self))) }
        let end: Int
        switch kind {
        case .special, .int: return 0
        case .int32: end = o + 4
        case .int64: end = o + 8
        case .blob8:
            guard o < b.count else { throw ADBError.malformed("blob outside the block") }
            end = o + 1 + Int(b[o])
        case .blob16:
            guard o + 2 <= b.count else { throw ADBError.malformed("blob outside the block") }
            end = o + 2 + (Int(b[o]) | Int(b[o + 1]) << 8)
        case .blob32:
            guard o + 4 <= b.count else { throw ADBError.malformed("blob outside the block") }
            end = o + 4 + u32(o)
        case .array, .object:
            guard depth < ADBArena.maxCopyDepth else { throw ADBError.limit("objects nested more than \(ADBArena.maxCopyDepth) deep") }
            guard o + 4 <= b.count else { throw ADBError.malformed("offset \(o) outside the block") }
            let n = u32(o)
            guard n <= (b.count - o) / 4 else { throw ADBError.malformed("object of \(n) slots runs past the block") }
            var last = o + 4 * max(n, 1)
            for i in 1..<max(n, 1) { last = max(last, try itemsEnd(ADBValue(raw: UInt32(u32(o + 4 * i))), b, depth: depth + 1)) }
            return last
        case .error:
            throw ADBError.malformed("error value in database")
        }
        guard end <= b.count else { throw ADBError.malformed("item at \(o) runs past the block") }
        return end
    }

    /// Field `i` (1-based) of an object; NULL when absent.
    public func field(_ v: ADBValue, _ i: Int) throws -> ADBValue {
        guard v.kind == .object || v.kind == .array else { return .null }
        let o = Int(v.payload)
        let n = Int(try u32(at: o))
        guard n >= 1 else { return .null }
        guard n <= (bytes.count - o) / 4 else { throw ADBError.malformed("object of \(n) slots runs past the block") }
        return i >= 1 && i < n ? ADBValue(raw: LittleEndian.u32(bytes, at: o + 4 * i)) : .null
    }
}
