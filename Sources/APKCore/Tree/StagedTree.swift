import CPlatform
import APKCrypto
import Foundation
import Synchronization
import SystemIO
#if canImport(Glibc)
import Glibc
#endif

/// One entry of a staged install tree, as found on disk (lstat), not yet mapped to tar metadata.
public struct TreeEntry: Sendable {
    public enum Kind: Sendable, Equatable { case file, directory, symlink, characterDevice, blockDevice, fifo }
    /// Relative path without leading `./` or `/`.
    public var path: String
    public var kind: Kind
    public var mode: UInt32          // permission bits incl. setuid/setgid/sticky
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    public var mtime: Int64
    public var device: UInt64
    public var inode: UInt64
    public var linkCount: UInt64
    public var linkTarget: String = ""
    public var rdevMajor: UInt32 = 0
    public var rdevMinor: UInt32 = 0
    /// For the 2nd and later paths of a hard-linked inode: the first path (in sorted order).
    public var hardlinkTo: String? = nil
}

/// One read of a staged tree that packing (either format) and dependency tracing all use: every
/// entry, sorted bytewise, taken once per package.
public struct TreeSnapshot: Sendable {
    public let root: String
    /// Every entry (dotfiles included, as apk mkpkg and the tracer see the tree).
    public let entries: [TreeEntry]

    public static func take(root: String) throws -> TreeSnapshot {
        TreeSnapshot(root: root, entries: try StagedTree.scanAll(root: root))
    }

    /// abuild's view (v2): without top-level dotfiles and what is below them, hard links
    /// resolved again within what is left.
    public var abuildEntries: [TreeEntry] {
        // Nothing to leave out (the usual case): the entries as they are, hard links already
        // linked, without a second copy of a large tree's list.
        guard entries.contains(where: { $0.path.hasPrefix(".") }) else { return entries }
        var kept = entries.filter { !$0.path.hasPrefix(".") }
        StagedTree.linkHardlinks(&kept)
        return kept
    }
}

/// Reads a staged tree the way abuild's `create_apks` does: every path below the top-level
/// entries except top-level dotfiles, sorted bytewise, directories before their contents.
public enum StagedTree {
    /// Limits protecting against pathological trees.
    public static let maxDepth = 256

    /// `includeTopLevelDotfiles`: abuild leaves top-level dotfiles out (v2); apk mkpkg keeps every
    /// entry (v3).
    public static func scan(root: String, includeTopLevelDotfiles: Bool = false) throws -> [TreeEntry] {
        let snapshot = try TreeSnapshot.take(root: root)
        return includeTopLevelDotfiles ? snapshot.entries : snapshot.abuildEntries
    }

    /// Every entry below `root`, sorted bytewise, hard links resolved.
    static func scanAll(root: String) throws -> [TreeEntry] {
        var st = stat()
        guard lstat(root, &st) == 0 else {
            throw SystemError.current(path: root, "cannot read staged tree")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw FormatError.io(path: root, reason: "not a directory")
        }
        var entries = try walk(root: root)
        // In place, comparing the paths' UTF-8 bytes: no key arrays and no second list, which on a
        // tree of 20,000 files stayed in the peak memory of the whole run.
        entries.sort { bytewiseLess($0.path, $1.path) }
        linkHardlinks(&entries)
        return entries
    }

    /// `a` before `b` by their UTF-8 bytes (memcmp on the strings' own storage when they have it).
    @inline(__always)
    static func bytewiseLess(_ a: String, _ b: String) -> Bool {
        let fast = a.utf8.withContiguousStorageIfAvailable { pa in
            b.utf8.withContiguousStorageIfAvailable { pb -> Bool in
                let n = min(pa.count, pb.count)
                let c = n == 0 ? 0 : memcmp(pa.baseAddress!, pb.baseAddress!, n)
                return c != 0 ? c < 0 : pa.count < pb.count
            }
        }
        return (fast ?? nil) ?? a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// Hard links: the first path of an inode (in `entries`' order) is stored, later ones link to it.
    static func linkHardlinks(_ entries: inout [TreeEntry]) {
        var firstPath: [String: String] = [:]
        for i in entries.indices where entries[i].kind == .file && entries[i].linkCount > 1 {
            let key = "\(entries[i].device):\(entries[i].inode)"
            entries[i].hardlinkTo = nil
            if let first = firstPath[key] { entries[i].hardlinkTo = first } else { firstPath[key] = entries[i].path }
        }
    }

    /// Every entry below `root` (dotfiles included), in no particular order. Directories are
    /// listed on up to 4 threads: a tree of many directories is otherwise a single thread's
    /// syscalls while the other cores wait for the file list.
    private static func walk(root: String) throws -> [TreeEntry] {
        let top = try list(root: root, relative: "", depth: 0, dotfiles: true)
        let threads = min(4, ProcessInfo.processInfo.activeProcessorCount)
        guard threads > 1, top.contains(where: { $0.kind == .directory }) else {
            var entries = top
            var pending = top.filter { $0.kind == .directory }.map { ($0.path, 1) }
            while let (dir, depth) = pending.popLast() {
                let found = try list(root: root, relative: dir, depth: depth, dotfiles: true)
                entries += found
                pending += found.filter { $0.kind == .directory }.map { ($0.path, depth + 1) }
            }
            return entries
        }
        let found = Mutex<[[TreeEntry]]>([top])
        let failure = Mutex<(any Error)?>(nil)
        let pool = WorkerPool(threads: threads, name: "apkit-walk")
        defer { pool.stop() }
        @Sendable func visit(_ dir: String, _ depth: Int) {
            guard failure.withLock({ $0 == nil }) else { return }
            do {
                let entries = try list(root: root, relative: dir, depth: depth, dotfiles: true)
                found.withLock { $0.append(entries) }
                for e in entries where e.kind == .directory { pool.submit { visit(e.path, depth + 1) } }
            } catch {
                failure.withLock { if $0 == nil { $0 = error } }
            }
        }
        for e in top where e.kind == .directory { pool.submit { visit(e.path, 1) } }
        pool.waitForAll()
        if let error = failure.withLock({ $0 }) { throw error }
        return found.withLock { $0.flatMap { $0 } }
    }

    /// The entries of one directory (`relative` below `root`), not what is below them.
    private static func list(root: String, relative: String, depth: Int, dotfiles: Bool) throws -> [TreeEntry] {
        var entries: [TreeEntry] = []
        guard depth < maxDepth else { throw FormatError.io(path: root + "/" + relative, reason: "tree is nested too deeply") }
        let dirPath = relative.isEmpty ? root : root + "/" + relative
        guard let dir = opendir(dirPath) else {
            throw SystemError.current(path: dirPath, "cannot list directory")
        }
        // Each name is stat'ed relative to the open directory (fstatat): no path lookup from the
        // root per entry, which is most of a walk's cost on trees of many small files.
        var found: [(name: String, st: stat)] = []
        do {
            defer { closedir(dir) }
            let dfd = dirfd(dir)
            while let ent = readdir(dir) {
                let skip = withUnsafePointer(to: ent.pointee.d_name) {
                    $0.withMemoryRebound(to: UInt8.self, capacity: 256) { n in
                        (n[0] == 0x2e && (n[1] == 0 || (n[1] == 0x2e && n[2] == 0)))
                            || (relative.isEmpty && !dotfiles && n[0] == 0x2e) // abuild: `set -- *`
                    }
                }
                if skip { continue }
                var st = stat()
                let rc = withUnsafePointer(to: ent.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { fstatat(dfd, $0, &st, AT_SYMLINK_NOFOLLOW) }
                }
                let name = withUnsafePointer(to: ent.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                guard rc == 0 else {
                    throw SystemError.current(path: dirPath + "/" + name, "cannot stat")
                }
                found.append((name, st))
            }
        }
        for (name, st) in found {
            let rel = relative.isEmpty ? name : relative + "/" + name
            let full = root + "/" + rel
            var e = TreeEntry(path: rel, kind: .file, mode: UInt32(st.st_mode) & 0o7777, uid: st.st_uid, gid: st.st_gid,
                              size: Int64(st.st_size), mtime: Int64(st.st_mtim.tv_sec), device: UInt64(st.st_dev),
                              inode: UInt64(st.st_ino), linkCount: UInt64(st.st_nlink))
            switch st.st_mode & S_IFMT {
            case S_IFREG: e.kind = .file
            case S_IFDIR: e.kind = .directory; e.size = 0
            case S_IFLNK:
                e.kind = .symlink
                e.linkTarget = try readLink(full)
                e.size = 0
            case S_IFCHR: e.kind = .characterDevice; e.size = 0; (e.rdevMajor, e.rdevMinor) = split(st.st_rdev)
            case S_IFBLK: e.kind = .blockDevice; e.size = 0; (e.rdevMajor, e.rdevMinor) = split(st.st_rdev)
            case S_IFIFO: e.kind = .fifo; e.size = 0
            default:
                throw FormatError.io(path: full, reason: "sockets cannot be packaged; remove it from the staged tree")
            }
            entries.append(e)
        }
        return entries
    }

    /// `entries` (as `scan` returns them) in depth-first order: each directory followed by its
    /// contents, names in bytewise order (`scan` sorts by whole path, where `a.b` precedes `a/x`).
    public static func depthFirst(_ entries: [TreeEntry]) -> [TreeEntry] {
        // Comparing paths component by component is comparing their bytes with '/' as the
        // lowest byte: "a/x" (a, x) before "a.b" because a < a.b.
        let keys = entries.map { e in e.path.utf8.map { $0 == UInt8(ascii: "/") ? 0 : $0 } }
        return keys.indices.sorted { keys[$0].lexicographicallyPrecedes(keys[$1]) }.map { entries[$0] }
    }

    /// The staged tree's top directory itself (v3 packages record its mode and owner).
    public static func rootEntry(_ root: String) throws -> TreeEntry {
        var st = stat()
        guard lstat(root, &st) == 0 else { throw SystemError.current(path: root, "cannot read staged tree") }
        return TreeEntry(path: "", kind: .directory, mode: UInt32(st.st_mode) & 0o7777, uid: st.st_uid, gid: st.st_gid,
                         size: 0, mtime: Int64(st.st_mtim.tv_sec), device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
                         linkCount: UInt64(st.st_nlink))
    }

    /// The raw `st_rdev` of a device entry, as apk 3 stores it.
    public static func rawDevice(major: UInt32, minor: UInt32) -> UInt64 {
        let ma = UInt64(major), mi = UInt64(minor)
        return (ma & 0xfff) << 8 | (ma & ~0xfff) << 32 | (mi & 0xff) | (mi & ~0xff) << 12
    }

    static func readLink(_ path: String) throws -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n >= 0 else { throw SystemError.current(path: path, "cannot read link") }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func split(_ dev: dev_t) -> (UInt32, UInt32) {
        let d = UInt64(dev)
        let major = ((d >> 32) & 0xffff_f000) | ((d >> 8) & 0x0000_0fff)
        let minor = ((d >> 12) & 0xffff_ff00) | (d & 0x0000_00ff)
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }

    /// Extended attributes of a path (not following symlinks). abuild's rule (v2, the default):
    /// sorted by name, `security.selinux` dropped; apk mkpkg's (`abuildRule: false`, v3): all of
    /// them, in the order the file system lists them.
    public static func xattrs(of path: String, abuildRule: Bool = true) -> [(name: String, value: [UInt8])] {
        xattrs(abuildRule: abuildRule, list: { apkit_llistxattr(path, $0, $1) },
               get: { apkit_lgetxattr(path, $0, $1, $2) })
    }

    /// The same for an open file: no second path lookup.
    public static func xattrs(of file: FileSource, abuildRule: Bool = true) -> [(name: String, value: [UInt8])] {
        let fd = file.fd
        return xattrs(abuildRule: abuildRule, list: { apkit_flistxattr(fd, $0, $1) },
                      get: { apkit_fgetxattr(fd, $0, $1, $2) })
    }

    private static func xattrs(abuildRule: Bool, list: (UnsafeMutablePointer<CChar>?, UInt) -> Int,
                               get: (String, UnsafeMutableRawPointer?, UInt) -> Int) -> [(name: String, value: [UInt8])] {
        let size = list(nil, 0)
        guard size > 0 else { return [] }
        var names = [CChar](repeating: 0, count: size)
        let got = list(&names, UInt(size))
        guard got > 0 else { return [] }
        var result: [(String, [UInt8])] = []
        for raw in names[0..<got].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if abuildRule && name == "security.selinux" { continue }
            let vlen = get(name, nil, 0)
            guard vlen >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: vlen)
            if vlen > 0 {
                let n = value.withUnsafeMutableBytes { get(name, $0.baseAddress, UInt(vlen)) }
                guard n >= 0 else { continue }
                value = Array(value[0..<n])
            }
            result.append((name, value))
        }
        return abuildRule ? result.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) } : result
    }
}

/// Caches uid/gid to name lookups.
public final class OwnerNames {
    public init() {}
    private var users: [UInt32: String?] = [:]
    private var groups: [UInt32: String?] = [:]

    public func user(_ uid: UInt32) -> String? {
        Self.cached(uid, in: &users) { getpwuid($0).map { $0.pointee.pw_name } }
    }

    public func group(_ gid: UInt32) -> String? {
        Self.cached(gid, in: &groups) { getgrgid($0).map { $0.pointee.gr_name } }
    }

    private static func cached(_ id: UInt32, in cache: inout [UInt32: String?],
                               _ lookup: (UInt32) -> UnsafeMutablePointer<CChar>?) -> String? {
        if let c = cache[id] { return c }
        let name = lookup(id).map { String(cString: $0) }
        cache[id] = name
        return name
    }
}
