import APKCore
import Foundation

/// The ADB value word: type in the high 4 bits, payload or offset in the low 28
/// (docs/apk-v3-format.md §4).
public struct ADBValue: Hashable, Sendable {
    public var raw: UInt32
    public init(raw: UInt32) { self.raw = raw }

    public enum Kind: UInt32, Sendable {
        case special = 0x0, int = 0x1, int32 = 0x2, int64 = 0x3
        case blob8 = 0x8, blob16 = 0x9, blob32 = 0xA
        case array = 0xD, object = 0xE, error = 0xF
    }

    public static let null = ADBValue(raw: 0)
    public var isNull: Bool { raw == 0 }
    public var kind: Kind? { Kind(rawValue: raw >> 28) }
    public var payload: UInt32 { raw & 0x0FFF_FFFF }
    init(_ kind: Kind, _ payload: UInt32) { raw = kind.rawValue << 28 | (payload & 0x0FFF_FFFF) }
}

/// Schema ids (little-endian u32 of the ASCII tags).
public enum ADBSchema: UInt32, Sendable {
    case package = 0x676B_6370  // "pckg"
    case index = 0x7864_6E69    // "indx"
}

/// Field numbers of the schemas apk-tools 3 defines (`apk_adb.h`; docs/apk-v3-format.md §5).
public enum ADBField {
    public enum Package { public static let info = 1, paths = 2, scripts = 3, triggers = 4, replacesPriority = 5 }
    public enum Info {
        public static let name = 1, version = 2, hashes = 3, description = 4, arch = 5, license = 6, origin = 7
        public static let maintainer = 8, url = 9, repoCommit = 10, buildTime = 11, installedSize = 12, fileSize = 13
        public static let providerPriority = 14, depends = 15, provides = 16, replaces = 17, installIf = 18
        public static let recommends = 19, layer = 20, tags = 21
        public static let count = 22
    }
    public enum Dependency { public static let name = 1, version = 2, match = 3 }
    public enum ACL { public static let mode = 1, user = 2, group = 3, xattrs = 4 }
    public enum File { public static let name = 1, acl = 2, size = 3, mtime = 4, hash = 5, target = 6 }
    public enum Dir { public static let name = 1, acl = 2, files = 3 }
    public enum Index { public static let description = 1, packages = 2, pkgnameSpec = 3 }
    /// Scripts by field: trigger, pre-install, post-install, pre-deinstall, post-deinstall, pre-upgrade, post-upgrade.
    public static let scriptNames = ["trigger", "pre-install", "post-install", "pre-deinstall", "post-deinstall",
                                     "pre-upgrade", "post-upgrade"]
}

/// Block types (§3).
enum ADBBlockType: UInt32 { case adb = 0, sig = 1, data = 2, ext = 3 }

/// Dependency match bits (`apk_version.h`).
enum DependencyOp {
    static let equal = 1, less = 2, greater = 4, fuzzy = 8, conflict = 16
    static let any = 7

    /// Splits `[!]name[op version]` into its parts; nil when it is not a dependency.
    static func parse(_ text: String) -> (name: String, version: String, match: Int)? {
        var s = Substring(text)
        var conflict = false
        if s.hasPrefix("!") { conflict = true; s = s.dropFirst() }
        guard let opStart = s.firstIndex(where: { "<>=~".contains($0) }) else {
            guard !s.isEmpty else { return nil }
            return (String(s), "", conflict ? any | DependencyOp.conflict : any)
        }
        let name = String(s[..<opStart])
        var i = opStart
        var op = 0
        while i < s.endIndex, let c = s[i].asciiValue, "<>=~".utf8.contains(c) {
            switch s[i] {
            case "<": op |= less
            case ">": op |= greater
            case "=": op |= equal
            default: op |= fuzzy | equal
            }
            i = s.index(after: i)
        }
        guard !name.isEmpty else { return nil }
        return (name, String(s[i...]), conflict ? op | DependencyOp.conflict : op)
    }

    static func string(_ match: Int) -> String {
        switch match & ~conflict {
        case 2: return "<"
        case 3: return "<="
        case 11: return "<~"
        case 8, 9: return "~"
        case 1: return "="
        case 5: return ">="
        case 13: return ">~"
        case 4: return ">"
        case 6: return "><"
        case 7: return ""
        default: return "?"
        }
    }
}

/// Little-endian integers, as every ADB field and block header stores them.
enum LittleEndian {
    static func bytes(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func bytes(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }
    static func bytes(_ v: UInt64) -> [UInt8] { bytes(UInt32(v & 0xffff_ffff)) + bytes(UInt32(v >> 32)) }

    /// The u32 at `offset` of `b` (the caller checks the bounds).
    static func u32<C: RandomAccessCollection>(_ b: C, at offset: Int) -> UInt32 where C.Element == UInt8, C.Index == Int {
        let i = b.startIndex + offset
        return UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }

    static func u64<C: RandomAccessCollection>(_ b: C, at offset: Int) -> UInt64 where C.Element == UInt8, C.Index == Int {
        UInt64(u32(b, at: offset)) | UInt64(u32(b, at: offset + 4)) << 32
    }
}
