import APKCore
import APKCrypto
import Foundation
import SystemIO

/// Streams a tar archive into a sink, entry by entry, as GNU tar `--format=posix` with abuild's
/// `--pax-option=exthdr.name=%d/PaxHeaders/%f,atime:=0,ctime:=0` and `abuild-tar --hash` would.
public final class TarWriter {
    let sink: ByteSink
    public private(set) var bytesWritten: Int64 = 0
    /// Add `ctime=0` / `atime=0` records to every entry (abuild's pax options).
    public var abuildPaxTimes = true

    public init(sink: ByteSink) { self.sink = sink }

    public struct Entry {
        public var path: String              // relative, no trailing slash for directories
        public var type: TarEntryType
        public var mode: UInt32
        public var size: Int64 = 0
        public var mtime: Int64
        public var userName = "root"
        public var groupName = "root"
        public var linkTarget: String = ""
        public var deviceMajor: UInt32 = 0
        public var deviceMinor: UInt32 = 0
        public var xattrs: [(name: String, value: [UInt8])] = []
        /// SHA-1 for `APK-TOOLS.checksum.SHA1` (files: content; symlinks: the target).
        public var sha1: [UInt8]? = nil

        public init(path: String, type: TarEntryType, mode: UInt32, mtime: Int64) {
            self.path = path; self.type = type; self.mode = mode; self.mtime = mtime
        }
    }

    /// Writes the entry's headers; for regular files the caller then writes exactly `size` bytes
    /// with `writeContent` and calls `finishContent`.
    public func begin(_ e: Entry) throws {
        var storedName = Array(e.path.utf8)
        if e.type == .directory { storedName.append(0x2F) }
        var pax = PaxRecords()
        // GNU tar (posix) moves a name to a `path` record when it is too long for the header or
        // not plain ASCII; link targets only when too long.
        if storedName.count > 100 || storedName.contains(where: { $0 >= 0x80 }) { pax.append("path", bytes: storedName) }
        let link = Array(e.linkTarget.utf8)
        if link.count > 100 { pax.append("linkpath", bytes: link) }
        if e.size > TarHeader.maxOctalSize { pax.append("size", String(e.size)) }
        for x in e.xattrs { pax.append("SCHILY.xattr." + x.name, bytes: x.value) }
        if abuildPaxTimes {
            pax.append("ctime", "0")
            pax.append("atime", "0")
        }
        if let sha1 = e.sha1 { pax.append("APK-TOOLS.checksum.SHA1", sha1.hexString) }

        if !pax.isEmpty {
            let body = pax.encode()
            var ph = TarHeader()
            ph.name = paxHeaderName(e.path)
            ph.mode = 0o644
            ph.size = Int64(body.count)
            ph.mtime = e.mtime
            ph.type = .paxExtended
            try emit(ph.encode())
            try emit(body)
            try pad(Int64(body.count))
        }

        var h = TarHeader()
        h.name = Array(storedName.prefix(100))
        h.mode = e.mode & 0o7777
        h.size = (e.type == .regular || e.type == .contiguous) ? e.size : 0
        h.mtime = e.mtime
        h.type = e.type
        h.linkName = Array(link.prefix(100))
        h.userName = e.userName
        h.groupName = e.groupName
        h.deviceMajor = e.deviceMajor
        h.deviceMinor = e.deviceMinor
        h.zeroDeviceFields = false
        try emit(h.encode())
    }

    public func writeContent(_ bytes: UnsafeRawBufferPointer) throws {
        try sink.write(bytes)
        bytesWritten += Int64(bytes.count)
    }

    public func finishContent(size: Int64) throws { try pad(size) }

    /// Writes a whole small entry with in-memory content.
    public func add(_ e: Entry, content: Data = Data()) throws {
        var e = e
        if e.type == .regular { e.size = Int64(content.count) }
        try begin(e)
        if e.type == .regular {
            try content.withUnsafeBytes { try writeContent($0) }
            try finishContent(size: e.size)
        }
    }

    /// Ends the archive. `cut`: no end-of-archive blocks (signature and control parts).
    /// Otherwise two zero blocks, padded to GNU tar's 10 KiB record.
    public func finish(cut: Bool) throws {
        if cut { return }
        let record: Int64 = 10240
        var end = bytesWritten + 1024
        end = (end + record - 1) / record * record
        let zeros = [UInt8](repeating: 0, count: 512)
        while bytesWritten < end { try emit(zeros) }
    }

    private func emit(_ bytes: [UInt8]) throws {
        try sink.write(bytes)
        bytesWritten += Int64(bytes.count)
    }

    private static let zeros = [UInt8](repeating: 0, count: 512)

    private func pad(_ size: Int64) throws {
        let rem = Int(size % 512)
        if rem == 0 { return }
        try Self.zeros.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<(512 - rem)])) }
        bytesWritten += Int64(512 - rem)
    }

    /// GNU tar's `%d/PaxHeaders/%f`, truncated to the 100-byte name field.
    private func paxHeaderName(_ path: String) -> [UInt8] {
        var name: [UInt8] = []
        name.reserveCapacity(path.utf8.count + 13)
        let bytes = path.utf8
        if let slash = bytes.lastIndex(of: 0x2F) {
            name.append(contentsOf: bytes[..<slash])
            name.append(contentsOf: "/PaxHeaders/".utf8)
            name.append(contentsOf: bytes[bytes.index(after: slash)...])
        } else {
            name.append(contentsOf: "./PaxHeaders/".utf8)
            name.append(contentsOf: bytes)
        }
        if name.count > 100 { name.removeLast(name.count - 100) }
        return name
    }
}
