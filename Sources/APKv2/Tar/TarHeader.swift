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
        // Written in place, without a String or an Array per field: a tree of many small files
        // encodes two headers per file, and the temporaries were most of the writer's thread.
        b.withUnsafeMutableBufferPointer { p in
            func put<C: Collection>(_ bytes: C, _ off: Int, _ len: Int) where C.Element == UInt8 {
                var i = off
                for c in bytes {
                    if i == off + len { break }
                    p[i] = c
                    i += 1
                }
            }
            /// `value` in octal, zero padded to `digits` digits; a longer number keeps its first
            /// `digits` digits (as `String(radix:).prefix` did).
            func octalDigits(_ value: UInt64, _ off: Int, _ digits: Int) {
                var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 22 octal digits
                withUnsafeMutableBytes(of: &tmp) { t in
                    var v = value, n = 0
                    repeat {
                        t[23 - n] = 0x30 + UInt8(v & 7)
                        v >>= 3
                        n += 1
                    } while v != 0
                    let pad = max(0, digits - n)
                    for i in 0..<pad { p[off + i] = 0x30 }
                    for i in 0..<min(n, digits - pad) { p[off + pad + i] = t[24 - n + i] }
                }
            }
            func octal(_ v: UInt64, _ off: Int, _ len: Int) {
                octalDigits(v, off, len - 1)
                p[off + len - 1] = 0
            }
            put(name, 0, 100)
            octal(UInt64(mode), 100, 8)
            octal(UInt64(uid), 108, 8)
            octal(UInt64(gid), 116, 8)
            octal(UInt64(size > TarHeader.maxOctalSize ? 0 : size), 124, 12)
            octal(UInt64(max(0, min(mtime, TarHeader.maxOctalSize))), 136, 12)
            p[156] = type.rawValue
            put(linkName, 157, 100)
            put("ustar\u{0}00".utf8, 257, 8)
            put(userName.utf8, 265, 32)
            put(groupName.utf8, 297, 32)
            if !zeroDeviceFields {
                octal(UInt64(deviceMajor), 329, 8)
                octal(UInt64(deviceMinor), 337, 8)
            }
            // Checksum: sum of all bytes with the checksum field as spaces; 6 digits, NUL, space.
            for i in 148..<156 { p[i] = 0x20 }
            var sum = 0
            for c in p { sum += Int(c) }
            octalDigits(UInt64(sum), 148, 6)
            p[154] = 0
            p[155] = 0x20
        }
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
        func digits(_ n: Int) -> Int { n < 10 ? 1 : 1 + digits(n / 10) }
        var out: [UInt8] = []
        out.reserveCapacity(records.reduce(0) { $0 + $1.key.utf8.count + $1.value.count + 8 })
        for (k, v) in records {
            let body = 1 + k.utf8.count + 1 + v.count + 1 // " key=value\n"
            var len = body + digits(body)
            if digits(len) != digits(body) { len = body + digits(len) }
            let start = out.count
            var n = len
            repeat { out.append(0x30 + UInt8(n % 10)); n /= 10 } while n > 0
            out[start...].reverse()
            out.append(0x20)
            out.append(contentsOf: k.utf8)
            out.append(0x3D)
            out.append(contentsOf: v)
            out.append(0x0A)
        }
        return out
    }
}
