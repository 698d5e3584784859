/// Walks the blocks of a raw deflate stream without producing its output: it decodes the
/// Huffman symbols only far enough to skip them. It finds where the last block starts and ends,
/// which is all `ParallelDeflateEngine` needs to clear that block's BFINAL bit — several times
/// cheaper than inflating (no output, no window). A stream it cannot walk throws.
final class DeflateBlockScanner {
    /// Lookup tables index this many bits (8 KiB each: they stay in L1 cache); longer codes,
    /// which are rare, are decoded bit by bit from `Code`.
    private static let tableBits = 11
    private let litTable: UnsafeMutablePointer<UInt32>
    private let distTable: UnsafeMutablePointer<UInt32>
    private let codeLenTable: UnsafeMutablePointer<UInt32>
    private let scratch: UnsafeMutablePointer<UInt32>
    private var litCode = Code(), distCode = Code(), codeLenCode = Code()

    /// A canonical Huffman code as counts per length and symbols sorted by (length, symbol).
    struct Code {
        var count = [Int](repeating: 0, count: 16)
        var symbols = [Int](repeating: 0, count: 288)
        /// Decodes one symbol reading bit by bit; returns (symbol, length) or nil.
        func decode(_ bits: UInt64) -> (Int, Int)? {
            var code = 0, first = 0, index = 0
            for len in 1...15 {
                code |= Int((bits >> UInt64(len - 1)) & 1)
                let c = count[len]
                if code - first < c { return (symbols[index + code - first], len) }
                index += c
                first = (first + c) << 1
                code <<= 1
            }
            return nil
        }
    }
    private var lengths = [UInt8](repeating: 0, count: 288 + 32)

    private static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    private static let codeLenOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// Extra bits: [0..<29] of length symbols 257..., [32..<62] of distance symbols.
    private let extraBits: UnsafeMutablePointer<UInt8>

    init() {
        extraBits = .allocate(capacity: 64)
        extraBits.initialize(repeating: 0, count: 64)
        for (i, v) in Self.lengthExtra.enumerated() { extraBits[i] = UInt8(v) }
        for (i, v) in Self.distExtra.enumerated() { extraBits[32 + i] = UInt8(v) }
        litTable = .allocate(capacity: 1 << Self.tableBits)
        distTable = .allocate(capacity: 1 << Self.tableBits)
        codeLenTable = .allocate(capacity: 1 << Self.tableBits)
        scratch = .allocate(capacity: 1 << Self.tableBits)
    }

    deinit {
        litTable.deallocate()
        distTable.deallocate()
        codeLenTable.deallocate()
        scratch.deallocate()
        extraBits.deallocate()
    }

    /// The next 57+ bits at bit `pos` of `p[0..<n]`, zeros past the end.
    @inline(__always)
    static func peek(_ p: UnsafePointer<UInt8>, _ n: Int, _ pos: Int) -> UInt64 {
        let byte = pos >> 3
        if byte + 8 <= n {
            return UInt64(littleEndian: UnsafeRawPointer(p + byte).loadUnaligned(as: UInt64.self)) >> UInt64(pos & 7)
        }
        var v: UInt64 = 0
        var i = 0
        while i < 8 && byte + i < n { v |= UInt64(p[byte + i]) << UInt64(8 * i); i += 1 }
        return v >> UInt64(pos & 7)
    }

    private func bad(_ what: String, _ pos: Int) -> FormatError {
        FormatError.malformed("deflate chunk: \(what) at bit \(pos)")
    }

    /// Bit offsets of the last block's header and of the end of its end-of-block code.
    func lastBlock(_ p: UnsafePointer<UInt8>, count n: Int) throws -> (header: Int, end: Int) {
        let limit = n * 8
        var pos = 0
        let peek = { (pos: Int) -> UInt64 in Self.peek(p, n, pos) }
        while true {
            guard pos + 3 <= limit else { throw bad("stream ends before its last block", pos) }
            let header = pos
            let h = peek(pos)
            let final = h & 1 == 1
            let type = (h >> 1) & 3
            pos += 3
            switch type {
            case 0:
                pos = (pos + 7) & ~7
                guard pos + 32 <= limit else { throw bad("truncated stored block", header) }
                let v = peek(pos)
                let len = Int(v & 0xffff), nlen = Int((v >> 16) & 0xffff)
                guard len ^ nlen == 0xffff else { throw bad("stored block length check fails", header) }
                pos += 32 + len * 8
            case 1:
                try fixedTables()
                try skipSymbols(&pos, p, n)
            case 2:
                try dynamicTables(&pos, limit: limit, peek: peek)
                try skipSymbols(&pos, p, n)
            default:
                throw bad("invalid block type 3", header)
            }
            guard pos <= limit else { throw bad("block runs past the end", header) }
            if final { return (header, pos) }
        }
    }

    /// Skips the Huffman-coded symbols of one block up to and including its end-of-block code.
    /// A 64-bit bit buffer refilled branch-free (as libdeflate's decoder does) keeps the input
    /// load out of the symbol-to-symbol dependency chain.
    private func skipSymbols(_ pos: inout Int, _ p: UnsafePointer<UInt8>, _ n: Int) throws {
        let limit = n * 8
        let litMask = UInt64((1 << litBits) - 1), distMask = UInt64((1 << distBits) - 1)
        let lit = litTable, dist = distTable, extra = extraBits
        // `buf` holds the `cnt` bits that start at bit `byte * 8 - cnt`.
        var byte = pos >> 3
        var buf: UInt64 = 0
        var cnt = 0
        @inline(__always) func refill() {
            if byte + 8 <= n {
                buf |= UInt64(littleEndian: UnsafeRawPointer(p + byte).loadUnaligned(as: UInt64.self)) &<< UInt64(cnt)
                byte &+= (63 &- cnt) &>> 3
                cnt |= 56
            } else {
                while cnt <= 56 {
                    if byte < n { buf |= UInt64(p[byte]) &<< UInt64(cnt) }
                    byte &+= 1
                    cnt &+= 8
                }
            }
        }
        refill()
        let skip = pos & 7
        buf &>>= UInt64(skip)
        cnt &-= skip
        while true {
            refill()
            var e = lit[Int(truncatingIfNeeded: buf & litMask)]
            if e == 0 {
                guard let (s, l) = litCode.decode(buf) else { throw bad("invalid literal/length code", byte * 8 - cnt) }
                e = UInt32(s << 4 | l)
            }
            let len = Int(e & 15)
            buf &>>= UInt64(len)
            cnt &-= len
            let sym = Int(e &>> 4)
            if sym < 256 {
                if byte > n && byte &* 8 &- cnt > limit { throw bad("block runs past the end", limit) }
                continue
            }
            if sym == 256 { break }
            guard sym <= 285 else { throw bad("invalid length symbol", byte * 8 - cnt) }
            let lx = Int(extra[sym &- 257])
            buf &>>= UInt64(lx)
            cnt &-= lx
            var d = dist[Int(truncatingIfNeeded: buf & distMask)]
            if d == 0 {
                guard let (s, l) = distCode.decode(buf) else { throw bad("invalid distance code", byte * 8 - cnt) }
                d = UInt32(s << 4 | l)
            }
            let dsym = Int(d &>> 4)
            guard dsym < 30 else { throw bad("invalid distance symbol", byte * 8 - cnt) }
            let dl = Int(d & 15) &+ Int(extra[32 &+ dsym])
            buf &>>= UInt64(dl)
            cnt &-= dl
            if byte > n && byte &* 8 &- cnt > limit { throw bad("block runs past the end", limit) }
        }
        pos = byte * 8 - cnt
    }

    private var litBits = 0
    private var distBits = 0
    private var fixedLoaded = false

    private func fixedTables() throws {
        if fixedLoaded { return }
        for i in 0..<144 { lengths[i] = 8 }
        for i in 144..<256 { lengths[i] = 9 }
        for i in 256..<280 { lengths[i] = 7 }
        for i in 280..<288 { lengths[i] = 8 }
        litBits = try build(lengths, from: 0, count: 288, into: litTable, code: &litCode)
        mergeLiterals()
        for i in 0..<30 { lengths[i] = 5 }
        distBits = try build(lengths, from: 0, count: 30, into: distTable, code: &distCode)
        fixedLoaded = true
    }

    private func dynamicTables(_ pos: inout Int, limit: Int, peek: (Int) -> UInt64) throws {
        fixedLoaded = false
        let start = pos
        let h = peek(pos)
        let hlit = Int(h & 31) + 257, hdist = Int((h >> 5) & 31) + 1, hclen = Int((h >> 10) & 15) + 4
        pos += 14
        guard hlit <= 286, hdist <= 30 else { throw bad("too many length or distance codes", start) }
        var clens = [UInt8](repeating: 0, count: 19)
        for i in 0..<hclen {
            clens[Self.codeLenOrder[i]] = UInt8(truncatingIfNeeded: peek(pos) & 7)
            pos += 3
        }
        let clBits = try build(clens, from: 0, count: 19, into: codeLenTable, code: &codeLenCode)
        let clMask = UInt64((1 << clBits) - 1)
        var i = 0
        let total = hlit + hdist
        while i < total {
            guard pos <= limit else { throw bad("truncated code lengths", start) }
            var e = codeLenTable[Int(peek(pos) & clMask)]
            if e == 0 {
                guard let (s, l) = codeLenCode.decode(peek(pos)) else { throw bad("invalid code-length code", pos) }
                e = UInt32(s << 4 | l)
            }
            pos += Int(e & 15)
            let sym = Int(e >> 4)
            switch sym {
            case 0...15:
                lengths[i] = UInt8(sym); i += 1
            case 16:
                guard i > 0 else { throw bad("repeat with no previous length", pos) }
                let r = 3 + Int(peek(pos) & 3); pos += 2
                guard i + r <= total else { throw bad("code lengths overflow", pos) }
                let prev = lengths[i - 1]
                for k in 0..<r { lengths[i + k] = prev }
                i += r
            case 17:
                let r = 3 + Int(peek(pos) & 7); pos += 3
                guard i + r <= total else { throw bad("code lengths overflow", pos) }
                for k in 0..<r { lengths[i + k] = 0 }
                i += r
            default:
                let r = 11 + Int(peek(pos) & 127); pos += 7
                guard i + r <= total else { throw bad("code lengths overflow", pos) }
                for k in 0..<r { lengths[i + k] = 0 }
                i += r
            }
        }
        guard lengths[256] != 0 else { throw bad("block has no end-of-block code", start) }
        litBits = try build(lengths, from: 0, count: hlit, into: litTable, code: &litCode)
        mergeLiterals()
        distBits = try build(lengths, from: hlit, count: hdist, into: distTable, code: &distCode)
    }

    /// Skipping needs no literal values, so an entry whose bits hold several whole literal codes
    /// becomes one "literal" entry consuming all of them: one lookup skips a run of literals.
    private func mergeLiterals() {
        let size = 1 << litBits
        scratch.update(from: litTable, count: size)
        for idx in 0..<size {
            let e = scratch[idx]
            if e == 0 || e >> 4 >= 256 { continue }
            var total = Int(e & 15)
            while total < litBits {
                let next = scratch[idx >> total]
                let l = Int(next & 15)
                if next == 0 || next >> 4 >= 256 || l > litBits - total { break }
                total += l
            }
            litTable[idx] = UInt32(total)  // symbol 0: a literal
        }
    }

    /// Fills `code` (for long codes) and a lookup table of `bits` entries (index: the next input
    /// bits; entry: symbol << 4 | code length; 0 = no code of that length fits, see `Code`) from
    /// canonical Huffman code lengths. Returns the table's bit width.
    private func build(_ lengths: [UInt8], from: Int, count: Int, into table: UnsafeMutablePointer<UInt32>,
                       code: inout Code) throws -> Int {
        for l in 0...15 { code.count[l] = 0 }
        var maxLen = 0
        for s in 0..<count {
            let l = Int(lengths[from + s])
            code.count[l] += 1
            maxLen = max(maxLen, l)
        }
        let bits = max(1, min(Self.tableBits, maxLen))
        table.update(repeating: 0, count: 1 << bits)
        if maxLen == 0 { return bits }  // No codes at all (allowed for distances when unused).
        code.count[0] = 0
        var offsets = [Int](repeating: 0, count: 16)
        var nextCode = [Int](repeating: 0, count: 16)
        var c = 0
        for l in 1...15 {
            c = (c + code.count[l - 1]) << 1
            nextCode[l] = c
            guard c + code.count[l] <= (1 << l) else {
                throw FormatError.malformed("deflate chunk: over-subscribed Huffman code")
            }
            if l < 15 { offsets[l + 1] = offsets[l] + code.count[l] }
        }
        for s in 0..<count {
            let l = Int(lengths[from + s])
            if l == 0 { continue }
            code.symbols[offsets[l]] = s
            offsets[l] += 1
            let cw = nextCode[l]
            nextCode[l] += 1
            if l > bits { continue }
            var rev = 0
            for k in 0..<l where cw & (1 << k) != 0 { rev |= 1 << (l - 1 - k) }
            let entry = UInt32(s << 4 | l)
            var idx = rev
            while idx < (1 << bits) { table[idx] = entry; idx += 1 << l }
        }
        return bits
    }
}
