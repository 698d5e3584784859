import SystemIO
import APKCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// File-tree operations for staging: globbing inside a root, copying that keeps modes and
/// symlinks, and checks that nothing reads outside the source tree.
enum FileTree {
    struct Failure: Error { var message: String }

    /// Paths (relative to `root`) matching a `/`-separated glob pattern. `*`, `?` and `[...]`
    /// do not match a leading `.` (as the shell). Symlinked directories are entered: callers check with `isInside` that matches stay in the tree.
    /// `exclude` holds absolute paths never returned (e.g. the output directory).
    static func glob(_ pattern: String, in root: URL, exclude: Set<String> = []) -> [String] {
        let comps = pattern.split(separator: "/").map(String.init).filter { $0 != "." }
        var current: [String] = [""]
        for (i, comp) in comps.enumerated() {
            let last = i == comps.count - 1
            var next: [String] = []
            for base in current {
                let dir = base.isEmpty ? root.path : root.path + "/" + base
                if !hasMagic(comp) {
                    let p = dir + "/" + comp
                    var st = stat()
                    if lstat(p, &st) == 0 {
                        if last || isDirectoryFollowing(p) { next.append(base.isEmpty ? comp : base + "/" + comp) }
                    }
                    continue
                }
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
                for n in names.sorted() where fnmatch(comp, n, FNM_PERIOD) == 0 {
                    let rel = base.isEmpty ? n : base + "/" + n
                    var st = stat()
                    guard lstat(root.path + "/" + rel, &st) == 0 else { continue }
                    if last || isDirectoryFollowing(root.path + "/" + rel) { next.append(rel) }
                }
            }
            current = next
        }
        if comps.isEmpty { return [] }
        return current.filter { !exclude.contains(root.path + "/" + $0) }
    }

    /// A directory, or a symlink to one (callers check where it leads with `isInside`).
    static func isDirectoryFollowing(_ p: String) -> Bool {
        var st = stat()
        return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func hasMagic(_ s: String) -> Bool { s.contains("*") || s.contains("?") || s.contains("[") }

    /// True when `path` (after resolving every symlink) is `root` or inside it.
    static func isInside(_ path: String, root: String) -> Bool {
        guard let real = realPath(path), let r = realPath(root) else { return false }
        return real == r || real.hasPrefix(r.hasSuffix("/") ? r : r + "/")
    }

    static func realPath(_ p: String) -> String? {
        guard let c = realpath(p, nil) else { return nil }
        defer { free(c) }
        return String(cString: c)
    }

    /// Copies `src` to `dst` (which must not exist): directories recursively, regular files with
    /// their mode, symlinks as symlinks (never followed). Calls `visit` with each created path.
    static func copy(_ src: String, to dst: String, visit: (String) -> Void = { _ in }) throws {
        var st = stat()
        guard lstat(src, &st) == 0 else { throw Failure(message: "\(src): \(currentErrnoText())") }
        let mode = mode_t(st.st_mode & 0o7777)
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            if mkdir(dst, 0o700) != 0 && errno != EEXIST {
                throw Failure(message: "cannot create \(dst): \(currentErrnoText())")
            }
            visit(dst)
            let names = try FileManager.default.contentsOfDirectory(atPath: src).sorted()
            for n in names { try copy(src + "/" + n, to: dst + "/" + n, visit: visit) }
            chmod(dst, mode)
        case S_IFREG:
            if !isDirectory(dst) { unlink(dst) }
            try copyFile(src, to: dst, mode: mode)
            visit(dst)
        case S_IFLNK:
            if !isDirectory(dst) { unlink(dst) }
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: src)
            if symlink(target, dst) != 0 { throw Failure(message: "cannot create symlink \(dst): \(currentErrnoText())") }
            visit(dst)
        default:
            throw Failure(message: "\(src): not a regular file, directory or symlink (sockets, fifos and devices are not packaged)")
        }
    }

    /// Copies file contents (following a symlink at `src`), then sets `mode`.
    static func copyFile(_ src: String, to dst: String, mode: mode_t) throws {
        let inFD = open(src, O_RDONLY)
        guard inFD >= 0 else { throw Failure(message: "cannot read \(src): \(currentErrnoText())") }
        defer { close(inFD) }
        let outFD = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard outFD >= 0 else { throw Failure(message: "cannot write \(dst): \(currentErrnoText())") }
        defer { close(outFD) }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(inFD, &buf, buf.count)
            if n < 0 { throw Failure(message: "cannot read \(src): \(currentErrnoText())") }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = buf.withUnsafeBytes { Glibc.write(outFD, $0.baseAddress! + off, n - off) }
                if w <= 0 { throw Failure(message: "cannot write \(dst): \(currentErrnoText())") }
                off += w
            }
        }
        fchmod(outFD, mode)
    }

    /// Creates `path` and missing parents with mode 0755.
    static func mkdirs(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
    }

    /// Writes a file with a mode, creating parent directories.
    static func write(_ content: String, to path: String, mode: mode_t) throws {
        try mkdirs((path as NSString).deletingLastPathComponent)
        guard FileManager.default.createFile(atPath: path, contents: Data(content.utf8)) else {
            throw Failure(message: "cannot write \(path)")
        }
        chmod(path, mode)
    }

    /// Every entry under `root` (relative paths, parents first), without following symlinks: the
    /// staged-tree snapshot packing reads.
    static func walk(_ root: String) throws -> [TreeEntry] {
        try StagedTree.scan(root: root, includeTopLevelDotfiles: true)
    }

    static func isDirectory(_ p: String) -> Bool {
        var st = stat()
        return lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ p: String) -> Bool {
        var st = stat()
        return lstat(p, &st) == 0
    }

    /// Moves `rel` from one staged root to another (creating parents in the target).
    static func move(_ rel: String, from a: String, to b: String) throws {
        let dst = b + "/" + rel
        try mkdirs((dst as NSString).deletingLastPathComponent)
        if rename(a + "/" + rel, dst) != 0 {
            throw Failure(message: "cannot move \(rel): \(currentErrnoText())")
        }
        // Remove the parents the move left empty (abuild's amove leaves them; they are noise).
        var parent = (rel as NSString).deletingLastPathComponent
        while !parent.isEmpty, parent != "/" {
            if rmdir(a + "/" + parent) != 0 { break }
            parent = (parent as NSString).deletingLastPathComponent
        }
    }
}
