import APKFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A repository in a local directory (served by any web server).
///
/// Writes go to a temp file in the destination directory, then are renamed into place while the
/// directory's lock file (`.apkit.lock`, `flock`) is held, after checking the precondition against
/// the current file. So concurrent publishers, threads or processes, into the same directory never
/// lose each other's index entries: the loser of a race gets `StorageError.conflict` and retries.
public final class LocalDirectoryStorage: RepositoryStorage {
    public let root: String
    public var location: String { root }
    public static let lockFileName = ".apkit.lock"

    public init(root: String, create: Bool = true) throws {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: r, isDirectory: &isDir) {
            guard isDir.boolValue else { throw StorageError.io(key: r, reason: "not a directory") }
        } else if create {
            // Created by the first write, so that a publish refused before writing leaves nothing.
        } else {
            throw StorageError.io(key: r, reason: "no such directory")
        }
    }

    func path(_ key: String) -> String { root + "/" + key }

    /// This host's name, as it goes into temporary file names.
    static let host: String = {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count - 1)
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "host" : name.replacingOccurrences(of: "/", with: "_")
    }()

    /// `.<file>.put-<host>-`: the temporary files a write of `key` makes beside it, then
    /// `<pid>-<random>`.
    static func temporaryPrefix(of key: String) -> String {
        ".\((key as NSString).lastPathComponent).put-\(host)-"
    }

    /// Removes the temporary files that writes of `key` by processes of this host that no longer
    /// run (a killed publish) left behind. Other hosts' files (a shared file system) are left
    /// alone: their processes cannot be asked. Housekeeping: never fails the caller.
    func removeStaleTemporaries(of key: String) {
        let dir = (path(key) as NSString).deletingLastPathComponent
        let prefix = Self.temporaryPrefix(of: key)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for n in names where n.hasPrefix(prefix) {
            guard let pid = Int32(n.dropFirst(prefix.count).split(separator: "-").first ?? ""), pid > 0,
                  pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink(dir + "/" + n)
        }
    }

    static func version(of st: FileStat) -> ObjectVersion {
        ObjectVersion("\(st.st_ino)-\(st.st_size)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)-\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)")
    }

    public func stat(_ key: String, wantSHA256: Bool) throws -> StoredObject? {
        try validateKey(key)
        removeStaleTemporaries(of: key)
        var st = FileStat()
        guard statFile(path(key), &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StorageError.io(key: path(key), reason: currentErrnoText())
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw StorageError.io(key: path(key), reason: "not a regular file") }
        var obj = StoredObject(key: key, size: Int64(st.st_size), version: LocalDirectoryStorage.version(of: st))
        if wantSHA256 { obj.sha256 = try sha256Hex(ofFile: path(key)) }
        return obj
    }

    public func get(_ key: String, to dest: String) throws -> StoredObject? {
        try validateKey(key)
        let fd = open(path(key), O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StorageError.io(key: path(key), reason: currentErrnoText())
        }
        defer { close(fd) }
        var st = FileStat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw StorageError.io(key: path(key), reason: "not a regular file")
        }
        try AtomicFile.write(to: dest) { sink in
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buf.withUnsafeMutableBytes { b in retryingOnInterrupt { systemRead(fd, b.baseAddress, b.count) } }
                if n < 0 { throw StorageError.io(key: path(key), reason: "read failed: \(currentErrnoText())") }
                if n == 0 { break }
                try buf.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        }
        return StoredObject(key: key, size: Int64(st.st_size), version: LocalDirectoryStorage.version(of: st))
    }

    @discardableResult
    public func put(_ key: String, from source: String, precondition: WritePrecondition, contentType: String? = nil,
                    sha256: String? = nil) throws -> ObjectVersion {
        try validateKey(key)
        let dest = path(key)
        let dir = (dest as NSString).deletingLastPathComponent
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw StorageError.io(key: dir, reason: "cannot create directory: \(error.localizedDescription)")
        }
        // 1. Copy to a temp file beside the destination (outside the lock: may be large).
        removeStaleTemporaries(of: key)
        let tmp = dir + "/" + Self.temporaryPrefix(of: key) + "\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(tmp) }
        do {
            let src = try FileSource(path: source)
            let sink = try FileSink(path: tmp, mode: 0o644)
            _ = try src.copy(to: sink)
            try sink.close(sync: true)
        } catch {
            throw StorageError.io(key: dest, reason: "cannot write: \(error)")
        }
        // 2. Under the lock: check the precondition, rename into place.
        return try withLock {
            var st = FileStat()
            let exists = statFile(dest, &st) == 0
            switch precondition {
            case .none: break
            case .mustNotExist: if exists { throw StorageError.conflict(key: key) }
            case .mustMatch(let v):
                if !exists || LocalDirectoryStorage.version(of: st) != v { throw StorageError.conflict(key: key) }
            }
            guard rename(tmp, dest) == 0 else {
                throw StorageError.io(key: dest, reason: "rename failed: \(currentErrnoText())")
            }
            let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 { fsync(dfd); close(dfd) }
            guard statFile(dest, &st) == 0 else {
                throw StorageError.io(key: dest, reason: currentErrnoText())
            }
            return LocalDirectoryStorage.version(of: st)
        }
    }

    public func list(prefix: String) throws -> [String] {
        var out: [String] = []
        let base = prefix.isEmpty ? root : path(prefix)
        guard let e = FileManager.default.enumerator(atPath: base) else { return [] }
        while let rel = e.nextObject() as? String {
            let full = base + "/" + rel
            var st = FileStat()
            guard lstat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let name = (rel as NSString).lastPathComponent
            if name.hasPrefix(".") { continue }
            out.append(prefix.isEmpty ? rel : prefix + "/" + rel)
        }
        return out.sorted()
    }

    /// Runs `body` holding the repository's exclusive lock.
    func withLock<T>(_ body: () throws -> T) throws -> T {
        let lockPath = root + "/" + LocalDirectoryStorage.lockFileName
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StorageError.io(key: lockPath, reason: "cannot open the lock file: \(currentErrnoText())")
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            throw StorageError.io(key: lockPath, reason: "cannot lock: \(currentErrnoText())")
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// `stat(2)` (the class's own `stat` method hides the C function inside it).
private func statFile(_ path: String, _ st: inout FileStat) -> Int32 { stat(path, &st) }
typealias FileStat = stat
