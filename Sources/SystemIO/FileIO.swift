import CPlatform
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plain POSIX file descriptor, written through a small buffer.
public final class FileSink: ByteSink {
    public let path: String
    let fd: Int32
    private var buffer: [UInt8] = []
    private let capacity = 1 << 20
    private var closed = false

    public init(path: String, mode: mode_t = 0o644) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        if fd < 0 { throw SystemError.current(path: path) }
        buffer.reserveCapacity(capacity)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > capacity { try flush() }
        if bytes.count >= capacity { try writeAll(bytes); return }
        buffer.append(contentsOf: bytes)
    }

    public func flush() throws {
        if buffer.isEmpty { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < bytes.count {
            let n = retryingOnInterrupt { systemWrite(fd, bytes.baseAddress! + off, bytes.count - off) }
            if n < 0 { throw SystemError.current(path: path, "write failed") }
            off += n
        }
    }

    /// Flushes, fsyncs when asked, and closes.
    public func close(sync: Bool = false) throws {
        guard !closed else { return }
        closed = true
        defer { systemClose(fd) }
        try flush()
        if sync && fsync(fd) != 0 {
            throw SystemError.current(path: path, "fsync failed")
        }
    }

    /// Appends the whole content of another file, in the kernel where it can (`copy_file_range`).
    public func append(contentsOf sourcePath: String) throws {
        try flush()
        let src = open(sourcePath, O_RDONLY | O_CLOEXEC)
        if src < 0 { throw SystemError.current(path: sourcePath) }
        defer { systemClose(src) }
        var useCopyRange = true
        var chunk = [UInt8](repeating: 0, count: 0)
        while true {
            if useCopyRange {
                let n = apkit_copy_file_range(src, fd, 1 << 30)
                if n > 0 { continue }
                if n == 0 { return }
                if errno == EINTR { continue }
                // EXDEV, ENOSYS, EINVAL...: fall back to read/write.
                useCopyRange = false
                chunk = [UInt8](repeating: 0, count: 1 << 20)
            }
            let n = chunk.withUnsafeMutableBytes { buf in retryingOnInterrupt { systemRead(src, buf.baseAddress, buf.count) } }
            if n == 0 { return }
            if n < 0 { throw SystemError.current(path: sourcePath, "read failed") }
            try chunk.withUnsafeBytes { try writeAll(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    deinit { if !closed { systemClose(fd) } }
}

/// `directory/name` without a doubled slash when `directory` ends with one (`packages/`, `/`).
public func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// Reads a file in bounded chunks.
public final class FileSource {
    public let path: String
    /// The open descriptor (for calls on the file itself, such as its xattrs); closed on deinit.
    public let fd: Int32
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SystemError.current(path: path) }
    }
    /// Takes over `fd`, open for reading (closed on deinit); `path` names it in errors.
    init(fd: Int32, path: String) {
        self.path = path
        self.fd = fd
    }
    /// Reads up to `buffer.count` bytes; 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = retryingOnInterrupt { systemRead(fd, buffer.baseAddress, buffer.count) }
        if n < 0 { throw SystemError.current(path: path, "read failed") }
        return n
    }
    /// Streams up to `limit` bytes of the file at `path` to `body` through `buffer`; returns how
    /// many were read (less than `limit` when the file is shorter).
    public static func stream(_ path: String, buffer: inout [UInt8], limit: Int64 = .max,
                              _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        try FileSource(path: path).stream(buffer: &buffer, limit: limit, body)
    }

    /// Streams up to `limit` bytes from the current offset to `body` through `buffer`.
    public func stream(buffer: inout [UInt8], limit: Int64 = .max,
                       _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        let src = self
        var total: Int64 = 0
        while total < limit {
            let n = try buffer.withUnsafeMutableBytes { try src.read(into: $0) }
            if n == 0 { break }
            let take = Int(min(Int64(n), limit - total))
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<take])) }
            total += Int64(take)
        }
        return total
    }

    /// Back to the start of the file (to read it a second time without opening it again).
    public func rewind() throws {
        if lseek(fd, 0, SEEK_SET) < 0 { throw SystemError.current(path: path, "seek failed") }
    }

    /// Streams the whole file to `sink` in chunks of `chunkSize`.
    public func copy(to sink: ByteSink, chunkSize: Int = 1 << 20) throws -> Int64 {
        var buf = [UInt8](repeating: 0, count: chunkSize)
        var total: Int64 = 0
        while true {
            let n = try buf.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return total }
            total += Int64(n)
            try buf.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }
    deinit { systemClose(fd) }
}

/// Writes a file atomically: a temp file beside the destination, renamed into place on commit.
/// If `commit` is never called (an error was thrown), the temp file is removed.
public final class AtomicFile {
    public let destination: String
    public let tempPath: String
    public let sink: FileSink
    private var done = false

    public init(destination: String, mode: mode_t = 0o644) throws {
        self.destination = destination
        let dir = (destination as NSString).deletingLastPathComponent
        let base = (destination as NSString).lastPathComponent
        tempPath = (dir.isEmpty ? "." : dir) + "/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        sink = try FileSink(path: tempPath, mode: mode)
    }

    public func commit() throws {
        try sink.close(sync: true)
        if rename(tempPath, destination) != 0 {
            let e = SystemError.current(path: destination, "rename failed")
            unlink(tempPath)
            throw e
        }
        done = true
    }

    public func abandon() {
        guard !done else { return }
        done = true
        try? sink.close()
        unlink(tempPath)
    }

    deinit { abandon() }
}

extension AtomicFile {
    /// Writes `path` atomically through `body`: committed when it returns, removed when it throws.
    /// Returns the size of the file written.
    @discardableResult
    public static func write(to path: String, mode: mode_t = 0o644, _ body: (FileSink) throws -> Void) throws -> Int64 {
        let out = try AtomicFile(destination: path, mode: mode)
        do {
            try body(out.sink)
            try out.commit()
        } catch {
            out.abandon()
            throw error
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw SystemError.current(path: path) }
        return Int64(st.st_size)
    }
}

/// Writes `data` to `path` atomically.
public func writeFileAtomically(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
    try AtomicFile.write(to: path, mode: mode) { try $0.write(data) }
}

/// Moves a file into place atomically: a rename, or across file systems (EXDEV) a copy to a temp
/// file beside the destination (fsynced), renamed into place, and the source removed.
public func moveFileAtomically(from source: String, to destination: String, mode: mode_t = 0o644) throws {
    if rename(source, destination) == 0 { return }
    guard errno == EXDEV else { throw SystemError.current(path: destination, "cannot move \(source) here") }
    let out = try AtomicFile(destination: destination, mode: mode)
    do {
        try out.sink.append(contentsOf: source)
        try out.commit()
    } catch {
        out.abandon()
        throw error
    }
    unlink(source)
}

/// Opens the files of one tree relative to their directory, keeping the last directory open: a pass
/// over many small files in few directories then costs the kernel one path lookup per directory
/// instead of one per file (10 path components per file on the benchmark's 20,000-file tree, about
/// a third of the writer's system time). Files are best taken directory by directory, as a sorted
/// walk lists them. One opener per thread.
public final class TreeFileOpener {
    public let root: String
    private var directory: Substring? = nil
    private var directoryFD: Int32 = -1

    public init(root: String) { self.root = root }

    deinit { if directoryFD >= 0 { systemClose(directoryFD) } }

    /// The file at `relative` (no leading slash) below the root. Errors name the full path.
    public func file(_ relative: String) throws -> FileSource {
        let full = root + "/" + relative
        guard let slash = relative.lastIndex(of: "/") else { return try FileSource(path: full) }
        let dir = relative[..<slash]
        if dir != directory {
            if directoryFD >= 0 { systemClose(directoryFD) }
            directory = dir
            directoryFD = open(root + "/" + dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        // A directory that cannot be opened: open by path, for that call's own error.
        guard directoryFD >= 0 else { return try FileSource(path: full) }
        let name = relative[relative.index(after: slash)...]
        let fd = retryingOnInterrupt { openat(directoryFD, String(name), O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw SystemError.current(path: full) }
        return FileSource(fd: fd, path: full)
    }
}
