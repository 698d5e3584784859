import APKCore
import APKCrypto
import Foundation
import SystemIO

/// Tar entry types used in apk packages.
public enum TarEntryType: UInt8, Sendable {
    case regular = 0x30        // '0'
    case hardlink = 0x31       // '1'
    case symlink = 0x32        // '2'
    case characterDevice = 0x33 // '3'
    case blockDevice = 0x34    // '4'
    case directory = 0x35      // '5'
    case fifo = 0x36           // '6'
    case contiguous = 0x37     // '7'
    case paxExtended = 0x78    // 'x'
    case paxGlobal = 0x67      // 'g'
    case gnuLongName = 0x4C    // 'L'
    case gnuLongLink = 0x4B    // 'K'

    public var letter: Character { Character(UnicodeScalar(rawValue)) }
}

/// A 512-byte ustar header, written the way GNU tar's `--format=posix` writes it
/// (7-digit octal mode/uid/gid, 11-digit size/mtime, `ustar\000` magic).
public struct TarHeader {
    public static let blockSize = 512
    /// Largest size an 11-digit octal field holds (8 GiB - 1).
    public static let maxOctalSize: Int64 = 0o77777777777

    public var name: [UInt8] = []          // at most 100 bytes are stored
    public var mode: UInt32 = 0o644
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var size: Int64 = 0
    public var mtime: Int64 = 0
    public var type: TarEntryType = .regular
    public var linkName: [UInt8] = []      // at most 100 bytes are stored
    public var userName: String = ""
    public var groupName: String = ""
    public var deviceMajor: UInt32 = 0
    public var deviceMinor: UInt32 = 0
    /// GNU tar leaves the device fields of pax headers as NUL bytes; real entries get "0000000\0".
    public var zeroDeviceFields = true

    public init() {}

    public func encode() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], _ off: Int, _ len: Int) {
            for (i, c) in bytes.prefix(len).enumerated() { b[off + i] = c }
        }
        func octal(_ v: UInt64, _ off: Int, _ len: Int) {
            // len-1 digits and a NUL, zero padded.
            var s = Array(String(v, radix: 8).utf8)
            if s.count < len - 1 { s = [UInt8](repeating: 0x30, count: len - 1 - s.count) + s }
            put(s, off, len - 1)
            b[off + len - 1] = 0
        }
        put(name, 0, 100)
        octal(UInt64(mode), 100, 8)
        octal(UInt64(uid), 108, 8)
        octal(UInt64(gid), 116, 8)
        octal(UInt64(size > TarHeader.maxOctalSize ? 0 : size), 124, 12)
        octal(UInt64(max(0, min(mtime, TarHeader.maxOctalSize))), 136, 12)
        b[156] = type.rawValue
        put(linkName, 157, 100)
        put(Array("ustar\u{0}00".utf8), 257, 8)
        put(Array(userName.utf8), 265, 32)
        put(Array(groupName.utf8), 297, 32)
        if !zeroDeviceFields {
            octal(UInt64(deviceMajor), 329, 8)
            octal(UInt64(deviceMinor), 337, 8)
        }
        // Checksum: sum of all bytes with the checksum field as spaces; 6 digits, NUL, space.
        for i in 148..<156 { b[i] = 0x20 }
        let sum = b.reduce(0) { $0 + Int($1) }
        var s = Array(String(sum, radix: 8).utf8)
        if s.count < 6 { s = [UInt8](repeating: 0x30, count: 6 - s.count) + s }
        put(s, 148, 6)
        b[154] = 0
        b[155] = 0x20
        return b
    }
}

/// pax extended header records (`"<len> <key>=<value>\n"`).
public struct PaxRecords {
    public private(set) var records: [(key: String, value: [UInt8])] = []
    public init() {}
    public var isEmpty: Bool { records.isEmpty }

    public mutating func append(_ key: String, _ value: String) { records.append((key, Array(value.utf8))) }
    public mutating func append(_ key: String, bytes: [UInt8]) { records.append((key, bytes)) }

    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        for (k, v) in records {
            let body = 1 + k.utf8.count + 1 + v.count + 1 // " key=value\n"
            var len = body + String(body).count
            if String(len).count != String(body).count { len = body + String(len).count }
            out += Array(String(len).utf8) + [0x20] + Array(k.utf8) + [0x3D] + v + [0x0A]
        }
        return out
    }
}
