import APKCore
import APKCrypto
import Foundation
import SystemIO
#if canImport(Glibc)
import Glibc
#endif

/// Writes signed `.apk` files: data member to a temp file (hashed as it is written), then
/// `.PKGINFO` with `datahash`, the control member, its signatures, and the three joined.
public struct PackageBuilder: Sendable {
    public var signer: Signer
    public var engine: CompressionEngine
    /// Engine for the small signature and control members (one member each).
    public var smallEngine: CompressionEngine = ZlibGzipEngine(level: 9)
    /// Threads reading small files ahead of the data tar (`FileReadAhead`); 1: the writer's thread
    /// reads every file itself.
    public var readThreads = ProcessInfo.processInfo.activeProcessorCount

    public init(signer: Signer, engine: CompressionEngine = ParallelDeflateEngine(settings: .default)) {
        self.signer = signer
        self.engine = engine
    }

    /// Builds `spec` into `outputPath`, atomically: on any error nothing is left behind.
    public func build(_ spec: PackageSpec, to outputPath: String) throws -> BuiltPackage {
        let entries = try spec.treeSnapshot().abuildEntries
        var info = spec.info
        if info.origin.isEmpty { info.origin = info.name }
        let now = Int64(Date().timeIntervalSince1970)
        if info.buildDate == 0 { info.buildDate = spec.sourceDateEpoch ?? now }
        let metaTime = spec.sourceDateEpoch ?? info.buildDate
        info.size = PackageBuilder.installedSize(entries)

        let dir = (outputPath as NSString).deletingLastPathComponent
        let dataTemp = (dir.isEmpty ? "." : dir) + "/.\((outputPath as NSString).lastPathComponent).data-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(dataTemp) }

        // 1. Data member, hashed (SHA-256) as its compressed bytes are written.
        let dataHash = Digest(.sha256)
        let survey: ContentSurvey
        do {
            let file = try FileSink(path: dataTemp, mode: 0o600)
            let member = try engine.makeMember(writingTo: HashingSink([dataHash], next: file))
            survey = try writeDataTar(entries: entries, spec: spec, into: member)
            try member.finish()
            try file.close()
        }
        // After the compressor's buffers are gone: tracing does not add to the peak memory.
        try spec.completeInfo?(&info, survey)
        let pkginfo = PKGINFO(info: info, dataHash: dataHash.finalize().hexString)

        // 2. Control member: .PKGINFO then the scripts, a cut tar.
        let control = try controlMember(pkginfo, scripts: spec.scripts, mtime: metaTime)

        // 3. Signature member over the compressed control member.
        let signature = try signatureMember(over: control, mtime: metaTime)

        // 4. Join: signature + control + data, written to a temp file and renamed.
        let size = try AtomicFile.write(to: outputPath) { sink in
            try sink.write(signature)
            try sink.write(control)
            try sink.append(contentsOf: dataTemp)
        }
        return BuiltPackage(path: outputPath, format: .v2, info: info, fileSize: size, identity: Digest.hash(.sha1, control))
    }

    /// abuild's installed size: regular files, each inode once; 1 when that is 0 but there are entries.
    public static func installedSize(_ entries: [TreeEntry]) -> Int64 {
        let total = entries.reduce(Int64(0)) { $0 + ($1.kind == .file && $1.hardlinkTo == nil ? $1.size : 0) }
        return total == 0 && !entries.isEmpty ? 1 : total
    }

    /// Returns what it saw of the files' contents (for `PackageSpec.completeInfo`).
    @discardableResult
    func writeDataTar(entries: [TreeEntry], spec: PackageSpec, into sink: ByteSink) throws -> ContentSurvey {
        var survey = ContentSurvey()
        let surveying = spec.completeInfo != nil
        let tar = TarWriter(sink: sink)
        let names = OwnerNames()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let root = spec.root.path
        let readAhead = readThreads > 1 ? FileReadAhead(entries: entries, root: root, threads: readThreads) : nil
        for (index, e) in entries.enumerated() {
            let full = root + "/" + e.path
            var t = TarWriter.Entry(path: e.path, type: .regular, mode: e.mode, mtime: spec.sourceDateEpoch ?? e.mtime)
            if let o = spec.ownerOverrides[e.path] {
                t.userName = o.user
                t.groupName = o.group
            } else {
                if let u = names.user(e.uid), spec.users.contains(u) { t.userName = u }
                if let g = names.group(e.gid), spec.groups.contains(g) { t.groupName = g }
            }
            switch e.kind {
            case .directory:
                t.xattrs = StagedTree.xattrs(of: full)
                t.type = .directory
                try tar.begin(t)
            case .symlink:
                t.xattrs = StagedTree.xattrs(of: full)
                t.type = .symlink
                t.mode = 0o777
                t.linkTarget = e.linkTarget
                t.sha1 = Digest.hash(.sha1, Array(e.linkTarget.utf8))
                try tar.begin(t)
            case .characterDevice, .blockDevice, .fifo:
                t.xattrs = StagedTree.xattrs(of: full)
                t.type = e.kind == .fifo ? .fifo : (e.kind == .blockDevice ? .blockDevice : .characterDevice)
                t.deviceMajor = e.rdevMajor
                t.deviceMinor = e.rdevMinor
                try tar.begin(t)
            case .file:
                if let first = e.hardlinkTo {
                    t.xattrs = StagedTree.xattrs(of: full)
                    t.type = .hardlink
                    t.linkTarget = first
                    try tar.begin(t)
                    continue
                }
                t.size = e.size
                // Small files come read and hashed by the read-ahead threads.
                let ahead = try readAhead?.take(index) { content, sha1, xattrs in
                    t.xattrs = xattrs
                    t.sha1 = sha1
                    if surveying { survey.startsWithELF[e.path] = ContentSurvey.isELFMagic(content) }
                    try tar.begin(t)
                    try tar.writeContent(content)
                } ?? false
                if ahead {
                    try tar.finishContent(size: e.size)
                    continue
                }
                // One open per file: its xattrs, its SHA-1 and its content all come from it.
                let src = try FileSource(path: full)
                t.xattrs = StagedTree.xattrs(of: src)
                t.size = e.size
                if e.size <= Int64(buffer.count) {
                    // Small file: one read, hashed and written from memory.
                    var got = 0
                    while got <= Int(e.size) {
                        let n = try buffer.withUnsafeMutableBytes { try src.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
                        if n == 0 { break }
                        got += n
                        if got == buffer.count { break }
                    }
                    guard got == Int(e.size) else { throw FormatError.changedWhilePackaging(full) }
                    if surveying { survey.startsWithELF[e.path] = buffer.withUnsafeBytes { ContentSurvey.isELFMagic(UnsafeRawBufferPointer(rebasing: $0[0..<got])) } }
                    t.sha1 = buffer.withUnsafeBytes { Digest.hash(.sha1, UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
                    try tar.begin(t)
                    try buffer.withUnsafeBytes { try tar.writeContent(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
                } else {
                    // Large file, read twice: the SHA-1 goes in the header, before the content.
                    let sha1 = Digest(.sha1)
                    var first = true
                    let hashed = try src.stream(buffer: &buffer) {
                        if first && surveying { survey.startsWithELF[e.path] = ContentSurvey.isELFMagic($0); first = false }
                        sha1.update($0)
                    }
                    guard hashed == e.size else { throw FormatError.changedWhilePackaging(full) }
                    t.sha1 = sha1.finalize()
                    try tar.begin(t)
                    try src.rewind()
                    let copied = try src.stream(buffer: &buffer, limit: e.size) { try tar.writeContent($0) }
                    guard copied == e.size else { throw FormatError.changedWhilePackaging(full) }
                }
                try tar.finishContent(size: e.size)
            }
        }
        try tar.finish(cut: false)
        if surveying { survey.addHardlinks(entries) }
        return survey
    }

    func controlMember(_ pkginfo: PKGINFO, scripts: [ScriptKind: Data], mtime: Int64) throws -> Data {
        let buf = BufferSink()
        let member = try smallEngine.makeMember(writingTo: buf)
        let tar = TarWriter(sink: member)
        try tar.add(TarWriter.Entry(path: ".PKGINFO", type: .regular, mode: 0o644, mtime: mtime),
                    content: Data(pkginfo.render().utf8))
        for kind in ScriptKind.allCases {
            guard let body = scripts[kind] else { continue }
            try tar.add(TarWriter.Entry(path: kind.fileName, type: .regular, mode: 0o755, mtime: mtime), content: body)
        }
        try tar.finish(cut: true)
        try member.finish()
        return buf.data
    }

    func signatureMember(over control: Data, mtime: Int64) throws -> Data {
        try PackageBuilder.signatureMember(signer: signer, over: control, mtime: mtime, engine: smallEngine)
    }

    /// A cut tar of `.SIGN.<TYPE>.<keyname>` entries, one per signature type, as one gzip member.
    public static func signatureMember(signer: Signer, over signed: Data, mtime: Int64,
                                       engine: CompressionEngine = ZlibGzipEngine(level: 9)) throws -> Data {
        let buf = BufferSink()
        let member = try engine.makeMember(writingTo: buf)
        let tar = TarWriter(sink: member)
        for type in signer.types {
            let sig = try signer.key.sign(signed, type: type)
            // abuild-sign: `apk_tar --owner=0 --group=0 --numeric-owner`, so no owner names.
            var e = TarWriter.Entry(path: type.entryName(keyName: signer.keyName), type: .regular, mode: 0o644, mtime: mtime)
            e.userName = ""
            e.groupName = ""
            try tar.add(e, content: sig)
        }
        try tar.finish(cut: true)
        try member.finish()
        return buf.data
    }
}
