import APKCrypto
import Foundation
import SystemIO

/// An apk package version, e.g. `1.2.3_rc1~abc123-r0`, with apk-tools' validation and ordering.
///
/// Grammar (apk-tools 3.x `src/version.c`):
/// `<digits>{.<digits>}*{<letter>}{_<suffix>{<digits>}}*{~<hexhash>}{-r<digits>}`, where a suffix is one of
/// `alpha beta pre rc` (sort before the bare version) or `cvs svn git hg p` (sort after it).
///
/// Ordering walks both versions token by token. Numbers compare numerically, except that a
/// dot-separated number with a leading zero on either side compares as a string (the Gentoo rule);
/// letters compare by byte, suffixes by their rank, commit hashes as strings. When one version runs
/// out of tokens (or hits an invalid character) first, the one that has a pre-release suffix next is
/// smaller; otherwise the version whose next token kind comes later in the grammar is smaller, so
/// `1.0_alpha < 1.0 < 1.0-r1 < 1.0~ab < 1.0_p1 < 1.0a < 1.0.0`, and an invalid tail sorts below
/// everything valid at that position. This is apk's fallback for invalid versions: it never fails,
/// it compares the valid prefix and then ranks "invalid" as the lowest-priority token kind.
///
/// `Dialect.apkTools2` reproduces apk-tools 2.14's older algorithm (no `~hash`, prefix-matched
/// suffixes, letter followed by digits allowed, different leading-zero rule).
public struct APKVersion: Comparable, CustomStringConvertible, Sendable {
    public let string: String

    public init(_ string: String) { self.string = string }

    public var description: String { string }

    public enum Order: Sendable, Equatable {
        case less, equal, greater

        public var comparisonResult: ComparisonResult {
            switch self {
            case .less: return .orderedAscending
            case .equal: return .orderedSame
            case .greater: return .orderedDescending
            }
        }
    }

    public enum Dialect: Sendable, Equatable {
        /// apk-tools 3.x (the default; Alpine 3.23 and later).
        case apkTools3
        /// apk-tools 2.14.
        case apkTools2
    }

    public var isValid: Bool { APKVersion.isValid(string) }

    public static func == (a: APKVersion, b: APKVersion) -> Bool { compare(a.string, b.string) == .equal }
    public static func < (a: APKVersion, b: APKVersion) -> Bool { compare(a.string, b.string) == .less }

    /// `apk version --check`: is `s` a valid apk version?
    public static func isValid(_ s: String, dialect: Dialect = .apkTools3) -> Bool {
        let bytes = Array(s.utf8)
        switch dialect {
        case .apkTools3: return V3.validate(bytes)
        case .apkTools2: return V2.validate(bytes)
        }
    }

    /// abuild's `pkgver` check: non-empty and `<pkgver>-r0` is a valid version (so a pkgver may not
    /// carry its own `-rN`).
    public static func isValidPkgver(_ pkgver: String) -> Bool {
        !pkgver.isEmpty && isValid(pkgver + "-r0")
    }

    /// abuild's `pkgrel` check: non-empty and `0-r<pkgrel>` is a valid version (digits only).
    public static func isValidPkgrel(_ pkgrel: String) -> Bool {
        !pkgrel.isEmpty && isValid("0-r" + pkgrel)
    }

    /// `apk version -t a b`: the order of two versions. Never fails; invalid versions are ordered
    /// by apk's fallback rule (see the type documentation).
    public static func compare(_ a: String, _ b: String, dialect: Dialect = .apkTools3) -> Order {
        let x = Array(a.utf8), y = Array(b.utf8)
        let r: Int
        switch dialect {
        case .apkTools3: r = V3.compare(x, y, fuzzy: false)
        case .apkTools2: r = V2.compare(x, y, fuzzy: false)
        }
        switch r {
        case less: return .less
        case greater: return .greater
        default: return .equal
        }
    }

    /// Does `a op b` hold? `op` is a dependency operator: `<`, `<=`, `=`, `>=`, `>`, `~` (fuzzy:
    /// `b` is a prefix of `a` at token level), `<~`, `>~`, or any of those prefixed with `!` (negated).
    /// Returns nil for an operator apk does not know.
    public static func matches(_ a: String, _ op: String, _ b: String, dialect: Dialect = .apkTools3) -> Bool? {
        var op = Substring(op)
        var conflict = false
        if op.hasPrefix("!") { conflict = true; op = op.dropFirst() }
        var mask = 0
        for c in op {
            switch c {
            case "<": mask |= less
            case ">": mask |= greater
            case "=": mask |= equal
            case "~": mask |= fuzzyBit | equal
            default: return nil
            }
        }
        if mask == 0 { return nil }
        let x = Array(a.utf8), y = Array(b.utf8)
        var ok: Bool
        if mask & (equal | less | greater) == (equal | less | greater) {
            ok = true
        } else {
            let fuzzy = mask & fuzzyBit != 0
            let r: Int
            switch dialect {
            case .apkTools3: r = V3.compare(x, y, fuzzy: fuzzy)
            case .apkTools2: r = V2.compare(x, y, fuzzy: fuzzy)
            }
            ok = r & mask != 0
        }
        if conflict { ok = !ok }
        return ok
    }

    // apk's result bits.
    fileprivate static let equal = 1, less = 2, greater = 4, fuzzyBit = 8
}

// MARK: - apk-tools 3.x

private enum V3 {
    // Token kinds in grammar order; the order matters for the tail rule.
    static let initialDigit = 0, digit = 1, letter = 2, suffix = 3, suffixNo = 4, commitHash = 5,
               revisionNo = 6, end = 7, invalid = 8

    // Suffix ranks: pre-release ones below `none`.
    static let suffixInvalid = 0, suffixNone = 5
    static let suffixes: [String: Int] = [
        "alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10,
    ]

    struct State {
        var token = initialDigit
        var suffix = 0
        var number: UInt64 = 0
        var value: Range<Int> = 0..<0
    }

    /// A cursor over the bytes (apk's blob).
    struct Cursor {
        let b: [UInt8]
        var pos = 0
        var isEmpty: Bool { pos >= b.count }
        var first: UInt8 { b[pos] }
    }

    static func parseDigits(_ t: inout State, _ c: inout Cursor) {
        let start = c.pos
        var v: UInt64 = 0
        while !c.isEmpty, c.first != 0, c.first >= 0x30, c.first <= 0x39 {
            v = v &* 10 &+ UInt64(c.first - 0x30)
            c.pos += 1
        }
        t.number = v
        t.value = start..<c.pos
        if t.value.isEmpty { t.token = invalid }
    }

    static func first(_ t: inout State, _ c: inout Cursor) {
        t.token = initialDigit
        parseDigits(&t, &c)
    }

    static func next(_ t: inout State, _ c: inout Cursor) {
        if c.isEmpty { t.token = end; return }
        let ch = c.first
        switch ch {
        case UInt8(ascii: "a")...UInt8(ascii: "z"):
            guard t.token <= digit else { t.token = invalid; return }
            t.value = c.pos..<(c.pos + 1)
            t.token = letter
            c.pos += 1
        case UInt8(ascii: "."), UInt8(ascii: "0")...UInt8(ascii: "9"):
            if ch == UInt8(ascii: ".") {
                guard t.token <= digit else { t.token = invalid; return }
                c.pos += 1
            }
            switch t.token {
            case initialDigit, digit: t.token = digit
            case suffix: t.token = suffixNo
            default: t.token = invalid; return
            }
            parseDigits(&t, &c)
        case UInt8(ascii: "_"):
            guard t.token <= suffixNo else { t.token = invalid; return }
            c.pos += 1
            let start = c.pos
            while !c.isEmpty, c.first >= UInt8(ascii: "a"), c.first <= UInt8(ascii: "z") { c.pos += 1 }
            t.value = start..<c.pos
            let name = String(decoding: c.b[t.value], as: UTF8.self)
            t.suffix = suffixes[name] ?? suffixInvalid
            guard t.suffix != suffixInvalid else { t.token = invalid; return }
            t.token = suffix
        case UInt8(ascii: "~"):
            guard t.token < commitHash else { t.token = invalid; return }
            c.pos += 1
            let start = c.pos
            while !c.isEmpty, isLowerHex(c.first) { c.pos += 1 }
            t.value = start..<c.pos
            guard !t.value.isEmpty else { t.token = invalid; return }
            t.token = commitHash
        case UInt8(ascii: "-"):
            guard t.token < revisionNo else { t.token = invalid; return }
            guard c.pos + 1 < c.b.count, c.b[c.pos + 1] == UInt8(ascii: "r") else { t.token = invalid; return }
            c.pos += 2
            t.token = revisionNo
            parseDigits(&t, &c)
        default:
            t.token = invalid
        }
    }

    static func isLowerHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
    }

    /// memcmp over the common length, then the shorter first (apk_blob_sort).
    static func blobSort(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    static func tokenCompare(_ ta: State, _ tb: State, _ a: [UInt8], _ b: [UInt8]) -> Int {
        let x: UInt64, y: UInt64
        switch ta.token {
        case digit where a[ta.value.lowerBound] == 0x30 || b[tb.value.lowerBound] == 0x30:
            return stringOrder(a[ta.value], b[tb.value])
        case digit, initialDigit, suffixNo, revisionNo:
            x = ta.number; y = tb.number
        case letter:
            x = UInt64(a[ta.value.lowerBound]); y = UInt64(b[tb.value.lowerBound])
        case suffix:
            x = UInt64(ta.suffix); y = UInt64(tb.suffix)
        default:
            return stringOrder(a[ta.value], b[tb.value])
        }
        return x < y ? APKVersion.less : (x > y ? APKVersion.greater : APKVersion.equal)
    }

    static func stringOrder(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
        let r = blobSort(a, b)
        return r < 0 ? APKVersion.less : (r > 0 ? APKVersion.greater : APKVersion.equal)
    }

    static func validate(_ bytes: [UInt8]) -> Bool {
        var t = State(), c = Cursor(b: bytes)
        first(&t, &c)
        while t.token < end { next(&t, &c) }
        return t.token == end
    }

    static func compare(_ a: [UInt8], _ b: [UInt8], fuzzy: Bool) -> Int {
        var ta = State(), tb = State()
        var ca = Cursor(b: a), cb = Cursor(b: b)
        first(&ta, &ca); first(&tb, &cb)
        while ta.token == tb.token && ta.token < end {
            let r = tokenCompare(ta, tb, a, b)
            if r != APKVersion.equal { return r }
            next(&ta, &ca); next(&tb, &cb)
        }
        if ta.token == tb.token { return APKVersion.equal }
        if tb.token == end && fuzzy { return APKVersion.equal }
        if ta.token == suffix && ta.suffix < suffixNone { return APKVersion.less }
        if tb.token == suffix && tb.suffix < suffixNone { return APKVersion.greater }
        if ta.token > tb.token { return APKVersion.less }
        if tb.token > ta.token { return APKVersion.greater }
        return APKVersion.equal
    }
}

// MARK: - apk-tools 2.14

private enum V2 {
    static let invalid = -1, digitOrZero = 0, digit = 1, letter = 2, suffix = 3, suffixNo = 4,
               revisionNo = 5, end = 6

    static let preSuffixes = ["alpha", "beta", "pre", "rc"].map { Array($0.utf8) }
    static let postSuffixes = ["cvs", "svn", "git", "hg", "p"].map { Array($0.utf8) }

    struct Cursor {
        let b: [UInt8]
        var pos = 0
        var count: Int { b.count - pos }
        subscript(i: Int) -> UInt8 { b[pos + i] }
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isLower(_ c: UInt8) -> Bool { c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") }

    static func nextToken(_ type: inout Int, _ c: inout Cursor) {
        var n = invalid
        if c.count == 0 || c[0] == 0 {
            n = end
        } else if (type == digit || type == digitOrZero) && isLower(c[0]) {
            n = letter
        } else if type == letter && isDigit(c[0]) {
            n = digit
        } else if type == suffix && isDigit(c[0]) {
            n = suffixNo
        } else {
            switch c[0] {
            case UInt8(ascii: "."): n = digitOrZero
            case UInt8(ascii: "_"): n = suffix
            case UInt8(ascii: "-"):
                if c.count > 1 && c[1] == UInt8(ascii: "r") {
                    n = revisionNo
                    c.pos += 1
                } else {
                    n = invalid
                }
            default: break
            }
            c.pos += 1
        }
        if n < type {
            if !((n == digitOrZero && type == digit) || (n == suffix && type == suffixNo)
                || (n == digit && type == letter)) {
                n = invalid
            }
        }
        type = n
    }

    static func hasPrefix(_ c: Cursor, _ p: [UInt8]) -> Bool {
        guard p.count <= c.count else { return false }
        for i in 0..<p.count where c[i] != p[i] { return false }
        return true
    }

    static func getToken(_ type: inout Int, _ c: inout Cursor) -> Int64 {
        var i = 0, nt = invalid
        var v: Int64 = 0
        if c.count <= 0 { type = end; return 0 }
        var kind = type
        if kind == digitOrZero {
            if c[0] == UInt8(ascii: "0") {
                while i + 1 < c.count && c[i + 1] == UInt8(ascii: "0") { i += 1 }
                nt = digit
                v = -Int64(i)
                kind = -100 // handled
            } else {
                kind = digit
            }
        }
        switch kind {
        case -100:
            break
        case digit, suffixNo, revisionNo:
            while i < c.count && isDigit(c[i]) {
                v = v &* 10 &+ Int64(c[i] - 0x30)
                i += 1
            }
            if i >= 18 { type = invalid; return -1 }
        case letter:
            v = Int64(c[i]); i += 1
        case suffix:
            var found = false
            for (k, s) in preSuffixes.enumerated() where hasPrefix(c, s) {
                v = Int64(k - preSuffixes.count); i = s.count; found = true; break
            }
            if !found {
                for (k, s) in postSuffixes.enumerated() where hasPrefix(c, s) {
                    v = Int64(k); i = s.count; found = true; break
                }
            }
            if !found { type = invalid; return -1 }
        default:
            type = invalid
            return -1
        }
        c.pos += i
        if c.count == 0 {
            type = end
        } else if nt != invalid {
            type = nt
        } else {
            nextToken(&type, &c)
        }
        return v
    }

    static func validate(_ bytes: [UInt8]) -> Bool {
        var t = digit
        var c = Cursor(b: bytes)
        while t != end && t != invalid { _ = getToken(&t, &c) }
        return t == end
    }

    static func compare(_ a: [UInt8], _ b: [UInt8], fuzzy: Bool) -> Int {
        var at = digit, bt = digit
        var av: Int64 = 0, bv: Int64 = 0
        var ca = Cursor(b: a), cb = Cursor(b: b)
        while at == bt && at != end && at != invalid && av == bv {
            av = getToken(&at, &ca)
            bv = getToken(&bt, &cb)
        }
        if av < bv { return APKVersion.less }
        if av > bv { return APKVersion.greater }
        if at == bt || fuzzy { return APKVersion.equal }
        var tt = at
        if at == suffix && getToken(&tt, &ca) < 0 { return APKVersion.less }
        tt = bt
        if bt == suffix && getToken(&tt, &cb) < 0 { return APKVersion.greater }
        if at > bt { return APKVersion.less }
        if bt > at { return APKVersion.greater }
        return APKVersion.equal
    }
}
