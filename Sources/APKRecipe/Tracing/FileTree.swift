import APKCore
import Foundation
import Synchronization
import SystemIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure while tracing a package tree: one line naming the file and what is wrong.
public struct TraceError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }
}

/// Read-only views of a staged package tree. Paths are relative to the root without a leading
/// slash (`usr/lib/libfoo.so.1`). Symbolic links are never followed outside the root: an absolute
/// target is taken relative to the package root, as it would be once installed.
/// The full walk and the ELF parse of each file are done once and cached: tracing asks for them
/// in several phases.
final class TraceTree {
    let root: String
    private var fullWalk: [Entry]? = nil
    private var elfFiles: [String: ELFFile?] = [:]
    private var elfPrefetched = false

    enum Kind { case file, directory, symlink, other }

    struct Entry {
        var path: String
        var kind: Kind
        var mode: UInt32
    }

    /// The packing snapshot of the same tree, when the caller has one.
    private let snapshot: TreeSnapshot?

    /// Which files the package writer found to start with the ELF magic: the others need no open.
    private let survey: [String: Bool]

    init(root: URL, snapshot: TreeSnapshot? = nil, survey: ContentSurvey? = nil) {
        self.root = root.standardizedFileURL.path
        self.snapshot = snapshot
        self.survey = survey?.startsWithELF ?? [:]
    }

    func full(_ rel: String) -> String { rel.isEmpty ? root : root + "/" + rel }

    func lstatKind(_ rel: String) -> (Kind, UInt32)? {
        var st = stat()
        guard lstat(full(rel), &st) == 0 else { return nil }
        let mode = UInt32(st.st_mode)
        switch mode & UInt32(S_IFMT) {
        case UInt32(S_IFREG): return (.file, mode)
        case UInt32(S_IFDIR): return (.directory, mode)
        case UInt32(S_IFLNK): return (.symlink, mode)
        default: return (.other, mode)
        }
    }

    /// Names in a directory (not following a symlinked directory), sorted bytewise.
    func list(_ rel: String) -> [String] {
        guard let (k, _) = lstatKind(rel), k == .directory,
              let names = try? FileManager.default.contentsOfDirectory(atPath: full(rel)) else { return [] }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Every entry of the tree, depth first in bytewise name order, without following symlinks:
    /// the same snapshot packing reads (`StagedTree`, dotfiles included), taken once.
    func walk() throws -> [Entry] {
        if let w = fullWalk { return w }
        let entries = try snapshot?.entries ?? TreeSnapshot.take(root: root).entries
        let w = StagedTree.depthFirst(entries).map { e -> Entry in
            let kind: Kind
            switch e.kind {
            case .file: kind = .file
            case .directory: kind = .directory
            case .symlink: kind = .symlink
            default: kind = .other
            }
            return Entry(path: e.path, kind: kind, mode: e.mode)
        }
        fullWalk = w
        return w
    }

    /// Every entry below `rel` (paths relative to the root), depth first.
    func walk(_ rel: String, depth: Int = 0) -> [Entry] { walkUncached(rel, depth: depth) }

    /// Parses the ELF header of every regular file once, on every core, into the cache `elf(_:)`
    /// reads: a tree of many small files costs an open and a read each, which one thread would
    /// otherwise do one after the other. Batches of 256 files, so small files cost no hand-off each.
    func prefetchELF() throws {
        guard !elfPrefetched else { return }
        elfPrefetched = true
        var files: [String] = []
        for e in try walk() where e.kind == .file && elfFiles[e.path] == nil {
            if survey[e.path] == false { elfFiles[e.path] = .some(nil) } else { files.append(e.path) }
        }
        let threads = ProcessInfo.processInfo.activeProcessorCount
        guard files.count > 256, threads > 1 else { return }
        let root = self.root
        let parsed = Mutex<[(String, ELFFile?)]>([])
        let pool = WorkerPool(threads: threads, backlog: 2 * threads, name: "apkit-elf")
        defer { pool.stop() }
        pool.submitBatches(files, maxCount: 256) { batch in
            let found = batch.map { rel -> (String, ELFFile?) in (rel, (try? ELFFile.read(path: root + "/" + rel)) ?? nil) }
            parsed.withLock { $0.append(contentsOf: found) }
        }
        pool.waitForAll()
        for (rel, elf) in parsed.withLock({ $0 }) { elfFiles[rel] = .some(elf) }
    }

    /// The ELF file at `rel`, parsed once; nil when it is not (well-formed) ELF.
    func elf(_ rel: String) -> ELFFile? {
        if let cached = elfFiles[rel] { return cached }
        if survey[rel] == false { return nil }
        let parsed = try? ELFFile.read(path: full(rel))
        elfFiles[rel] = .some(parsed ?? nil)
        return parsed ?? nil
    }

    private func walkUncached(_ rel: String, depth: Int) -> [Entry] {
        guard depth < 256 else { return [] }
        var out: [Entry] = []
        for name in list(rel) {
            let p = rel.isEmpty ? name : rel + "/" + name
            guard let (k, mode) = lstatKind(p) else { continue }
            out.append(Entry(path: p, kind: k, mode: mode))
            if k == .directory { out += walkUncached(p, depth: depth + 1) }
        }
        return out
    }

    func readlink(_ rel: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: full(rel))
    }

    /// Follows symlinks inside the root; the final relative path and its kind, or nil when the
    /// chain is broken, loops, or climbs out of the root.
    func resolve(_ rel: String) -> (path: String, kind: Kind)? {
        var parts: [String] = []
        var pending = Array(rel.split(separator: "/").map(String.init).reversed())
        var hops = 0
        while let comp = pending.popLast() {
            if comp == "." || comp.isEmpty { continue }
            if comp == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            let cur = (parts + [comp]).joined(separator: "/")
            guard let (k, _) = lstatKind(cur) else { return nil }
            if k == .symlink {
                hops += 1
                guard hops <= 40, let target = readlink(cur) else { return nil }
                if target.hasPrefix("/") { parts = [] }
                pending += target.split(separator: "/").map(String.init).reversed()
                continue
            }
            if !pending.isEmpty && k != .directory { return nil }
            parts.append(comp)
        }
        let p = parts.joined(separator: "/")
        guard let (k, _) = lstatKind(p) else { return nil }
        return (p, k)
    }

    func exists(_ rel: String) -> Bool { resolve(rel) != nil }
    func isFile(_ rel: String) -> Bool { resolve(rel)?.kind == .file }
    func isDirectory(_ rel: String) -> Bool { resolve(rel)?.kind == .directory }

    /// abuild's `normalize_target_path`: a symlink target made absolute against the link's directory.
    static func normalize(target: String, link: String) -> String {
        let path = target.hasPrefix("/") ? target : ((link as NSString).deletingLastPathComponent + "/" + target)
        var comps: [String] = []
        for c in path.split(separator: "/") {
            if c == "." || c.isEmpty { continue }
            if c == ".." { if !comps.isEmpty { comps.removeLast() }; continue }
            comps.append(String(c))
        }
        return "/" + comps.joined(separator: "/")
    }
}

/// abuild checks "is this already provided" with `grep -q -w "^so:NAME"`: the line must start with
/// the pattern (where `.` matches any character, as in a basic regex) and the next character must
/// not be a word character.
func abuildGrepWordPrefix(_ pattern: String, in lines: [String]) -> Bool {
    let p = Array(pattern.utf8)
    return lines.contains { line in
        let l = Array(line.utf8)
        guard l.count >= p.count else { return false }
        for i in 0..<p.count where p[i] != UInt8(ascii: ".") && p[i] != l[i] { return false }
        if l.count == p.count { return true }
        let c = l[p.count]
        let word = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
        return !word
    }
}

/// `sort -u` in the C locale.
func abuildSortUnique(_ xs: [String]) -> [String] {
    Array(Set(xs)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
}
