import APKCore
import APKCrypto
import Foundation
import Synchronization
import SystemIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes a v3 package as `apk mkpkg` (apk-tools 3.0) does: the ADB block built in mkpkg's order
/// (docs/apk-v3-format.md §6.5), the unique id, one signature block, then one data block per
/// file with content, all behind the compression magic. File contents are read twice (hashed
/// first, since the hashes sit in the ADB block that comes first), and streamed both times.
struct V3PackageWriter {
    let signer: Signer
    let compression: CompressionSettings

    /// A file of the package in mkpkg's walk order, with what the data blocks need.
    struct Member {
        var entry: TreeEntry
        var name: String
        /// 1-based indices into `paths` and that directory's `files`.
        var pathIndex: Int
        var fileIndex: Int
        /// Index of the first path of a hard-link group (in `members`), for followers.
        var linkLeader: Int?
        var hash: [UInt8] = []
        /// Read with the hash from the open file (regular files); nil: read by path when written.
        var xattrs: [(name: String, value: [UInt8])]? = nil
        var hasData: Bool { entry.kind == .file && linkLeader == nil && entry.size > 0 }
    }

    struct Directory {
        var entry: TreeEntry
        var memberRange: Range<Int>
    }

    func build(_ spec: PackageSpec, to outputPath: String) throws -> BuiltPackage {
        let root = spec.root.path
        let top = try StagedTree.rootEntry(root)
        let entries = try spec.treeSnapshot().entries
        var (dirs, members) = Self.layout(top: top, entries: entries)
        let survey = try hashFiles(&members, root: root)

        var info = spec.info
        try spec.completeInfo?(&info, survey)
        if info.origin.isEmpty { info.origin = info.name }
        if info.buildDate == 0 { info.buildDate = spec.sourceDateEpoch ?? Int64(Date().timeIntervalSince1970) }
        info.size = Self.installedSize(members, hasFiles: true, hasScripts: !spec.scripts.isEmpty)

        let owners = OwnerPolicy(spec: spec)
        let arena = ADBWriter()
        let infoFields = try Self.writeInfoFields(info, into: arena)
        let replacesPriority: ADBValue = info.replacesPriority.map { arena.int(Int64($0)) } ?? .null

        // Directories and their files, in walk order.
        var pathValues: [ADBValue] = []
        var linkTargets: [Int: ADBValue] = [:]
        for d in dirs {
            var fileValues: [ADBValue] = []
            for i in d.memberRange {
                let m = members[i]
                let e = m.entry
                if e.kind == .file && m.linkLeader == nil && e.linkCount > 1 {
                    let dir = d.entry.path.isEmpty ? "." : d.entry.path
                    linkTargets[i] = arena.blob([0x00, 0x80] + Array("\(dir)/\(m.name)".utf8))
                }
                let name = arena.string(m.name)
                var hash = ADBValue.null, target = ADBValue.null
                switch e.kind {
                case .file:
                    hash = arena.blob(m.hash)
                    if let leader = m.linkLeader { target = linkTargets[leader] ?? .null }
                case .symlink:
                    target = arena.blob([0x00, 0xa0] + Array(e.linkTarget.utf8))
                case .characterDevice, .blockDevice, .fifo:
                    let type: UInt16 = e.kind == .fifo ? 0x1000 : (e.kind == .blockDevice ? 0x6000 : 0x2000)
                    let dev = e.kind == .fifo ? 0 : StagedTree.rawDevice(major: e.rdevMajor, minor: e.rdevMinor)
                    target = arena.blob(LittleEndian.bytes(type) + LittleEndian.bytes(dev))
                case .directory:
                    continue
                }
                let mtime = arena.int(spec.sourceDateEpoch ?? e.mtime)
                let size = arena.int(e.kind == .symlink ? Int64(e.linkTarget.utf8.count) : e.size)
                let acl = writeACL(e, path: root + "/" + e.path, xattrs: m.xattrs, owners: owners, into: arena)
                fileValues.append(arena.object([ADBField.File.name: name, ADBField.File.acl: acl, ADBField.File.size: size,
                                                ADBField.File.mtime: mtime, ADBField.File.hash: hash, ADBField.File.target: target]))
            }
            let dirName = d.entry.path.isEmpty ? ADBValue.null : arena.string(d.entry.path)
            let acl = writeACL(d.entry, path: d.entry.path.isEmpty ? root : root + "/" + d.entry.path, xattrs: nil,
                               owners: owners, into: arena)
            let files = arena.vector(fileValues)   // already in name order (the walk's)
            pathValues.append(arena.object([ADBField.Dir.name: dirName, ADBField.Dir.acl: acl, ADBField.Dir.files: files]))
        }

        var fields = infoFields
        fields[ADBField.Info.installedSize] = arena.int(info.size)
        // The unique id: 20 zero bytes now, patched once the whole block is written (§7.3).
        let uniqueID = arena.blob([UInt8](repeating: 0, count: 20), dedup: false)
        fields[ADBField.Info.hashes] = uniqueID
        let infoValue = arena.object(fields)
        let paths = arena.vector(pathValues)

        var scriptFields: [Int: ADBValue] = [:]
        for (i, name) in ADBField.scriptNames.enumerated() {
            if let kind = ScriptKind(rawValue: name), let body = spec.scripts[kind] { scriptFields[i + 1] = arena.blob(Array(body)) }
        }
        let scripts = arena.object(scriptFields)
        let triggers = arena.vector(info.triggers.map { arena.string($0) })
        arena.setRoot(arena.object([ADBField.Package.info: infoValue, ADBField.Package.paths: paths,
                                    ADBField.Package.scripts: scripts, ADBField.Package.triggers: triggers,
                                    ADBField.Package.replacesPriority: replacesPriority]))
        let idAt = arena.view.blobContentOffset(uniqueID)!
        let id = Array(Digest.hash(.sha256, arena.bytes).prefix(20))
        arena.patch(at: idAt, with: id)
        let payload = arena.bytes

        // The file: magic, then (compressed) header, ADB block, signature, data blocks.
        let size = try AtomicFile.write(to: outputPath) { sink in
            let stream = try ADBFile.openStream(compression, into: sink)
            try ADBFile.writeHeader(.package, to: stream)
            try ADBFile.writeBlock(.adb, payload: payload, to: stream)
            try ADBFile.writeBlock(.sig, payload: try ADBSignature.sign(payload, schema: .package, signer: signer), to: stream)
            try writeDataBlocks(members, root: root, to: stream)
            try stream.finish()
        }
        return BuiltPackage(path: outputPath, format: .v3, info: info, fileSize: size, identity: Digest.hash(.sha256, payload))
    }

    /// mkpkg's order: the root, then every directory by full path; in each, its non-directory
    /// entries by name (§6.2). Hard links: the first path in that order holds the data.
    static func layout(top: TreeEntry, entries: [TreeEntry]) -> ([Directory], [Member]) {
        var dirEntries: [TreeEntry] = [top]
        var children: [String: [TreeEntry]] = [:]
        for e in entries {
            let slash = e.path.lastIndex(of: "/")
            let parent = slash.map { String(e.path[..<$0]) } ?? ""
            if e.kind == .directory { dirEntries.append(e) }
            else { children[parent, default: []].append(e) }
        }
        // StagedTree sorts by full path; directories by full path is mkpkg's order, and the
        // entries of one directory share their prefix, so they are in name order too.
        var dirs: [Directory] = []
        var members: [Member] = []
        var leaders: [String: Int] = [:]
        for (di, d) in dirEntries.enumerated() {
            let start = members.count
            for (fi, e) in (children[d.path] ?? []).enumerated() {
                let name = e.path.split(separator: "/").last.map(String.init) ?? e.path
                var m = Member(entry: e, name: name, pathIndex: di + 1, fileIndex: fi + 1)
                if e.kind == .file && e.linkCount > 1 {
                    let key = "\(e.device):\(e.inode)"
                    if let l = leaders[key] { m.linkLeader = l } else { leaders[key] = members.count }
                }
                members.append(m)
            }
            dirs.append(Directory(entry: d, memberRange: start..<members.count))
        }
        return (dirs, members)
    }

    /// mkpkg's installed size: regular files, each hard-link group once; 1 when that is 0.
    static func installedSize(_ members: [Member], hasFiles: Bool, hasScripts: Bool) -> Int64 {
        let total = members.reduce(Int64(0)) { $0 + ($1.entry.kind == .file && $1.linkLeader == nil ? $1.entry.size : 0) }
        return total == 0 && (hasFiles || hasScripts) ? 1 : total
    }

    /// SHA-256 and xattrs of every regular file (followers of a hard link take their leader's
    /// hash), on `compression.threads` threads of the shared worker pool. Files go in batches
    /// (up to 256 files or 4 MiB), so that small files cost no hand-off each.
    /// Returns which files start with the ELF magic (`PackageSpec.completeInfo`).
    @discardableResult
    func hashFiles(_ members: inout [Member], root: String) throws -> ContentSurvey {
        typealias Found = (hash: [UInt8], xattrs: [(name: String, value: [UInt8])], isELF: Bool)
        let results = Mutex<[Int: Found]>([:])
        let failure = Mutex<(any Error)?>(nil)
        let pool = WorkerPool(threads: compression.threads, backlog: 4 * compression.threads, name: "apkit-hash")
        defer { pool.stop() }
        let files = members.indices.filter { members[$0].entry.kind == .file && members[$0].linkLeader == nil }
            .map { (index: $0, path: members[$0].entry.path, size: members[$0].entry.size) }
        pool.submitBatches(files, maxCount: 256, maxWeight: 4 << 20, weight: \.size) { jobs in
            let largest = jobs.map(\.size).max() ?? 0
            var buffer = [UInt8](repeating: 0, count: Int(min(max(largest, 1), 1 << 20)) + 1)
            var found: [(Int, Found)] = []
            found.reserveCapacity(jobs.count)
            let opener = TreeFileOpener(root: root)
            do {
                for job in jobs {
                    let file = try opener.file(job.path)
                    let d = Digest(.sha256)
                    var isELF: Bool? = nil
                    let total = try file.stream(buffer: &buffer) {
                        if isELF == nil { isELF = ContentSurvey.isELFMagic($0) }
                        d.update($0)
                    }
                    if total != job.size { throw FormatError.changedWhilePackaging(file.path) }
                    found.append((job.index, (d.finalize(), StagedTree.xattrs(of: file, abuildRule: false), isELF ?? false)))
                }
                results.withLock { r in for (i, f) in found { r[i] = f } }
            } catch {
                failure.withLock { if $0 == nil { $0 = error } }
            }
        }
        pool.waitForAll()
        if let e = failure.withLock({ $0 }) { throw e }
        let found = results.withLock { $0 }
        var survey = ContentSurvey()
        for i in members.indices where members[i].entry.kind == .file {
            let f = found[members[i].linkLeader ?? i]
            if members[i].linkLeader != nil {
                members[i].hash = f?.hash ?? []
            } else if let f {
                members[i].hash = f.hash
                members[i].xattrs = f.xattrs
            }
            survey.startsWithELF[members[i].entry.path] = f?.isELF ?? false
        }
        return survey
    }


    /// `xattrs`: already read (from the open file while hashing); nil reads them by path.
    func writeACL(_ e: TreeEntry, path: String, xattrs known: [(name: String, value: [UInt8])]?, owners: OwnerPolicy,
                  into arena: ADBWriter) -> ADBValue {
        let mode = arena.int(Int64(e.kind == .symlink ? 0o777 : e.mode))
        let (user, group) = owners.names(for: e)
        let u = arena.string(user), g = arena.string(group)
        var xattrs = ADBValue.null
        if e.kind != .symlink {
            let values = (known ?? StagedTree.xattrs(of: path, abuildRule: false)).map { arena.blob(Array($0.name.utf8) + [0] + $0.value) }
            let sorted = values.sorted { a, b in
                let x = (try? arena.view.blob(a)) ?? nil, y = (try? arena.view.blob(b)) ?? nil
                return (x ?? []).lexicographicallyPrecedes(y ?? [])
            }
            xattrs = arena.vector(sorted, kind: .array)
        }
        return arena.object([ADBField.ACL.mode: mode, ADBField.ACL.user: u, ADBField.ACL.group: g, ADBField.ACL.xattrs: xattrs])
    }

    /// The `info` fields mkpkg writes from `-I`, in field order (§6.5 step 1).
    static func writeInfoFields(_ info: PackageInfo, into a: ADBWriter) throws -> [Int: ADBValue] {
        var f: [Int: ADBValue] = [:]
        f[ADBField.Info.name] = a.string(info.name)
        f[ADBField.Info.version] = a.string(info.version)
        f[ADBField.Info.description] = a.string(info.description)
        f[ADBField.Info.arch] = a.string(info.arch)
        f[ADBField.Info.license] = a.string(info.license)
        f[ADBField.Info.origin] = a.string(info.origin)
        f[ADBField.Info.maintainer] = a.string(info.maintainer)
        f[ADBField.Info.url] = a.string(info.url)
        if !info.commit.isEmpty {
            guard let bytes = [UInt8](hexString: info.commit) else {
                throw FormatError.invalidArgument("commit '\(info.commit)': v3 packages store the commit as hex (a git commit id)")
            }
            f[ADBField.Info.repoCommit] = a.blob(bytes)
        }
        if info.buildDate > 0 { f[ADBField.Info.buildTime] = a.int(info.buildDate) }
        if let p = info.providerPriority { f[ADBField.Info.providerPriority] = a.int(Int64(p)) }
        f[ADBField.Info.depends] = try dependencies(info.depends + info.autoDepends, into: a)
        f[ADBField.Info.provides] = try dependencies(info.provides + info.autoProvides, into: a)
        f[ADBField.Info.replaces] = try dependencies(info.replaces, into: a)
        f[ADBField.Info.installIf] = try dependencies(info.installIf, into: a)
        return f
    }

    /// A dependency array: each object written in text order, then sorted and de-duplicated.
    static func dependencies(_ list: [String], into a: ADBWriter) throws -> ADBValue {
        var items: [(value: ADBValue, name: String, version: String, match: Int)] = []
        for text in list {
            guard let d = DependencyOp.parse(text) else {
                throw FormatError.invalidArgument("dependency '\(text)' is not NAME[OP VERSION]")
            }
            var o: [Int: ADBValue] = [ADBField.Dependency.name: a.string(d.name)]
            if d.match != DependencyOp.any {
                o[ADBField.Dependency.version] = a.string(d.version)
                if d.match != DependencyOp.equal { o[ADBField.Dependency.match] = a.int(d.match) }
            }
            // Sort keys as apk compares the objects: absent version and match read as empty and 0.
            let stored = d.match == DependencyOp.any || d.match == DependencyOp.equal ? 0 : d.match
            items.append((a.object(o), d.name, d.match == DependencyOp.any ? "" : d.version, stored))
        }
        items.sort { x, y in
            if x.name != y.name { return x.name.utf8.lexicographicallyPrecedes(y.name.utf8) }
            if !x.version.isEmpty && !y.version.isEmpty {
                switch APKVersion.compare(x.version, y.version) {
                case .less: return true
                case .greater: return false
                case .equal: break
                }
            }
            return x.match < y.match
        }
        var unique: [ADBValue] = []
        for i in items where unique.last != i.value { unique.append(i.value) }
        return a.vector(unique)
    }

    func writeDataBlocks(_ members: [Member], root: String, to sink: ByteSink) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let opener = TreeFileOpener(root: root)
        for m in members where m.hasData {
            let size = m.entry.size
            try ADBFile.writeBlockHeader(.data, payloadLength: 8 + size, to: sink)
            try sink.write(LittleEndian.bytes(UInt32(m.pathIndex)) + LittleEndian.bytes(UInt32(m.fileIndex)))
            let file = try opener.file(m.entry.path)
            let total = try file.stream(buffer: &buffer, limit: size) { try sink.write($0) }
            guard total == size else { throw FormatError.changedWhilePackaging(file.path) }
            try ADBFile.writePadding(rawSize: ADBFile.headerSize(payloadLength: 8 + size) + 8 + size, to: sink)
        }
    }

}

/// Owner names as apkit records them in both formats: explicit overrides, then the package's own
/// users and groups by name, everything else root (abuild's rule: the packager's uid is not
/// shipped). For a tree owned by root this is what apk mkpkg writes.
struct OwnerPolicy {
    let spec: PackageSpec
    let names = OwnerNames()

    func names(for e: TreeEntry) -> (String, String) {
        if let o = spec.ownerOverrides[e.path] { return (o.user, o.group) }
        var user = "root", group = "root"
        if let u = names.user(e.uid), spec.users.contains(u) { user = u }
        if let g = names.group(e.gid), spec.groups.contains(g) { group = g }
        return (user, group)
    }
}
