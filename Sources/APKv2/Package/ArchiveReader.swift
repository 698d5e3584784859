import APKCore
import APKCrypto
import Foundation
import Synchronization
import SystemIO

/// A signature entry found in an archive's signature member.
public struct SignatureEntry: Sendable {
    public var type: SignatureType?
    public var tag: String
    public var keyName: String
    public var signature: Data
}

/// Everything learned from reading a package or an index in one streaming pass.
public struct ArchiveReport: Sendable {
    public var kind: ArchiveKind = .package
    public var info: PackageInfo? = nil
    public var pkginfoText: String? = nil
    /// `datahash` from `.PKGINFO` (empty for legacy packages).
    public var dataHash: String = ""
    public var scripts: [String] = []
    public var signatures: [SignatureEntry] = []
    /// The key that verified the signature, if any.
    public var trustedKey: String? = nil
    public var files: [PackageFileEntry] = []
    /// SHA-1 of the compressed control member (index `C:`).
    public var controlSHA1: [UInt8] = []
    public var dataSHA256: [UInt8] = []
    public var fileSize: Int64 = 0
    public var memberCount = 0
    /// For an index: DESCRIPTION and APKINDEX text.
    public var indexDescription: String? = nil
    public var indexText: String? = nil
    /// The first problem found, if any.
    public var problem: VerificationProblem? = nil
    public var ok: Bool { problem == nil }
}

/// Reads `.apk` and `APKINDEX.tar.gz` files as apk does: one inflated stream over all gzip members,
/// signature checked over the compressed control (or index) member, `datahash` over the compressed
/// data member, and, beyond apk, every per-file checksum. Memory is bounded whatever the input.
public struct ArchiveReader {
    public var keyring: Keyring
    public var allowUntrusted = false
    /// Stop after the control member (the index needs nothing more): no data checks then.
    public var controlOnly = false
    /// Collect the data entries (for `inspect`).
    public var collectFiles = false
    public var maxIndexSize = 256 << 20

    public init(keyring: Keyring) { self.keyring = keyring }

    /// Never throws: every failure is reported in `ArchiveReport.problem`.
    public func read(path: String) -> ArchiveReport {
        var report = ArchiveReport()
        do {
            try readThrowing(path: path, into: &report)
        } catch let e as FormatError {
            if report.problem == nil {
                switch e {
                case .malformed, .limitExceeded: report.problem = .malformed(e.description)
                default: report.problem = .unreadable(e.description)
                }
            }
        } catch {
            if report.problem == nil { report.problem = .unreadable("\(error)") }
        }
        return report
    }

    private func readThrowing(path: String, into report: inout ArchiveReport) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FormatError.io(path: path, reason: "cannot open: \(currentErrnoText())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FormatError.io(path: path, reason: "not a regular file") }
        report.fileSize = Int64(st.st_size)

        let gz = try GzipStreamReader(path: path)
        // Role of each member, decided as entries are seen: 0 signature (if .SIGN.*), then control/index, then data.
        var signatureMember: Int? = nil
        var controlMember: Int? = nil
        var dataMember: Int? = nil
        var sawSecondDataMember = false
        let hashes = MemberHashes()
        // One thread each, with a bounded backlog: jobs run in order and memory stays flat. A
        // control-only read (an index entry) hashes a few kilobytes: inline, no threads started.
        let memberHasher: WorkerPool? = controlOnly ? nil : WorkerPool(threads: 1, backlog: 8, name: "apkit-verify-members")
        defer { memberHasher?.stop() }
        gz.onCompressedBytes = { m, bytes in
            let route = hashes.route(member: m)
            guard !route.isEmpty else { return }
            if let memberHasher {
                let chunk = Array(bytes)
                memberHasher.submit { for d in route { d.update(chunk) } }
            } else {
                for d in route { d.update(bytes) }
            }
        }
        var endedMembers = 0
        gz.onMemberEnd = { m in endedMembers = m + 1 }

        let tar = TarReader(read: { try gz.read(into: $0) })
        var buffer = [UInt8](repeating: 0, count: controlOnly ? 4096 : 256 * 1024)
        // Per-file SHA-1s run in archive order on a worker; the first mismatch is kept. A
        // control-only read stops before the data: no worker then.
        let fileHasher: WorkerPool? = controlOnly ? nil : WorkerPool(threads: 1, backlog: 8, name: "apkit-verify-files")
        var fileBytes: Int64 = 0
        defer { fileHasher?.stop() }
        let checksumMismatches = FirstMismatch()
        var chunkPool: ChunkPool? = nil

        while let e = try tar.next() {
            let m = gz.memberIndex(at: e.offset)
            guard gz.memberIndex(at: e.headerOffset) == m else { throw FormatError.malformed("tar entry split across gzip members") }
            // Decide roles.
            if m == 0 && signatureMember == nil && controlMember == nil {
                if e.path.hasPrefix(".SIGN.") { signatureMember = 0 } else { controlMember = 0 }
                hashes.signed = signatureMember != nil
            }
            if m > 0 && controlMember == nil { controlMember = m }
            if let c = controlMember, m > c, dataMember == nil {
                if controlOnly { break }
                dataMember = m
            }
            if let d = dataMember, m > d { sawSecondDataMember = true }

            if m == signatureMember {
                guard e.path.hasPrefix(".SIGN."), let parsed = SignatureType.parse(entryName: e.path) else {
                    throw FormatError.malformed("signature member holds \(e.path)")
                }
                guard report.signatures.count < 16 else { throw FormatError.limitExceeded("too many signatures") }
                let sig = try tar.readWholeContent(limit: 64 * 1024, what: e.path)
                report.signatures.append(SignatureEntry(type: parsed.type, tag: parsed.tag, keyName: parsed.keyName, signature: Data(sig)))
            } else if m == controlMember {
                switch e.path {
                case ".PKGINFO":
                    let text = String(decoding: try tar.readWholeContent(limit: 1 << 20, what: ".PKGINFO"), as: UTF8.self)
                    report.pkginfoText = text
                    let parsed = try PKGINFO.parse(text)
                    report.info = parsed.info
                    report.dataHash = parsed.dataHash
                    hashes.legacy = parsed.dataHash.isEmpty
                case "DESCRIPTION":
                    report.kind = .index
                    report.indexDescription = String(decoding: try tar.readWholeContent(limit: 1 << 20, what: "DESCRIPTION"), as: UTF8.self)
                case "APKINDEX":
                    report.kind = .index
                    report.indexText = String(decoding: try tar.readWholeContent(limit: maxIndexSize, what: "APKINDEX"), as: UTF8.self)
                default:
                    if ScriptKind(fileName: e.path) != nil { report.scripts.append(e.path) }
                }
            } else {
                // Data entry. Small files are hashed here; large ones on a worker thread while
                // this one inflates.
                guard let fileHasher else { break }
                if e.type == .regular || e.type == .contiguous {
                    // The files may not hold much more than `.PKGINFO`'s `size` declares, checked
                    // before their content is inflated: a small package cannot make the reader
                    // inflate gigabytes (a decompression bomb). Twice the size plus 1 MiB leaves
                    // room for packagers that count sizes differently (blocks, sparse files).
                    fileBytes += e.size
                    let declared = report.info?.size ?? 0
                    if fileBytes > 2 * max(declared, 0) + (1 << 20) {
                        throw FormatError.limitExceeded("the files hold more than twice the \(declared) bytes .PKGINFO declares")
                    }
                    let d = Digest(.sha1)
                    let inline = e.size <= 256 * 1024
                    while true {
                        if inline {
                            let n = try buffer.withUnsafeMutableBytes { try tar.readContent(into: $0) }
                            if n == 0 { break }
                            buffer.withUnsafeBytes { d.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                        } else {
                            // Inflated straight into a pooled chunk the hasher gives back: no copy.
                            let chunks = chunkPool ?? ChunkPool(count: 12, size: 256 * 1024)
                            chunkPool = chunks
                            let chunk = chunks.take()
                            let n = try tar.readContent(into: chunks.buffer(chunk))
                            if n == 0 { chunks.give(chunk); break }
                            fileHasher.submit {
                                d.update(UnsafeRawBufferPointer(rebasing: chunks.buffer(chunk)[0..<n]))
                                chunks.give(chunk)
                            }
                        }
                    }
                    if let stored = e.sha1Checksum {
                        let path = e.path
                        if inline {
                            if stored.lowercased() != d.finalize().hexString { fileHasher.submit { checksumMismatches.record(path) } }
                        } else {
                            fileHasher.submit {
                                if stored.lowercased() != d.finalize().hexString { checksumMismatches.record(path) }
                            }
                        }
                    }
                } else if e.type == .symlink, let stored = e.sha1Checksum,
                          stored.lowercased() != Digest.hash(.sha1, Array(e.linkTarget.utf8)).hexString {
                    let path = e.path
                    fileHasher.submit { checksumMismatches.record(path) }
                }
                if collectFiles {
                    guard report.files.count < 5_000_000 else { throw FormatError.limitExceeded("too many entries") }
                    report.files.append(PackageFileEntry(
                        path: e.path.hasSuffix("/") ? String(e.path.dropLast()) : e.path,
                        type: ArchiveReader.typeName(e), mode: e.mode, userName: e.userName, groupName: e.groupName,
                        size: e.size, mtime: e.mtime, linkTarget: e.linkTarget, checksum: e.sha1Checksum,
                        xattrs: e.xattrs.map { $0.0 }))
                }
            }
        }
        // Drain the rest of the stream (trailing end blocks), so every member's bytes are hashed.
        if !controlOnly {
            while try buffer.withUnsafeMutableBytes({ try gz.read(into: $0) }) > 0 {}
        } else {
            // Make sure the control member has ended (its bytes fully hashed).
            while endedMembers <= (controlMember ?? 0) {
                if try buffer.withUnsafeMutableBytes({ try gz.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<1])) }) == 0 { break }
            }
        }
        report.memberCount = gz.member + (endedMembers > gz.member ? 1 : 0)
        guard let control = controlMember else { throw FormatError.malformed("archive: no control member") }
        guard control <= 1 else { throw FormatError.malformed("archive: control member is empty or missing") }

        memberHasher?.waitForAll()
        fileHasher?.waitForAll()
        let checksumProblem = checksumMismatches.first.map { VerificationProblem.badChecksum(path: $0) }
        hashes.finish()
        report.controlSHA1 = control == 0 ? hashes.member0SHA1Value : hashes.controlSHA1Value
        report.dataSHA256 = control == 0 ? hashes.member1SHA256Value : hashes.dataSHA256Value
        let signedControl = hashes.controlValues
        let signedAll = hashes.tailValues

        if report.kind == .package && report.info == nil {
            throw FormatError.malformed("package: no .PKGINFO in the control member")
        }
        if report.kind == .index && report.indexText == nil {
            throw FormatError.malformed("index: no APKINDEX in the index member")
        }
        if report.kind == .package && !controlOnly {
            if dataMember == nil && (report.info?.size ?? 0) > 0 && tar.reachedEnd == false {
                throw FormatError.malformed("package: no data member")
            }
            if sawSecondDataMember || (report.memberCount > control + 2) {
                throw FormatError.malformed("package: multiple data members (apk 3 rejects them)")
            }
        }

        // Signature: the first entry whose key we trust decides.
        let hasDataHash = !report.dataHash.isEmpty
        let coversControlOnly = report.kind == .index || hasDataHash
        var verdict: VerificationProblem? = .untrusted
        if signatureMember == nil {
            verdict = .untrusted
        } else {
            for s in report.signatures {
                guard let type = s.type, let key = keyring.key(named: s.keyName) else { continue }
                guard let digest = coversControlOnly ? signedControl[type] : signedAll[type] else { continue }
                if key.verify(signature: s.signature, digest: digest, type: type) {
                    verdict = nil
                    report.trustedKey = key.name
                } else {
                    verdict = .badSignature
                }
                break
            }
        }
        if verdict == .untrusted && allowUntrusted { verdict = nil }
        if let v = verdict { report.problem = v; return }

        if report.kind == .package && !controlOnly {
            if hasDataHash && report.dataHash.lowercased() != report.dataSHA256.hexString {
                report.problem = .badDataHash
                return
            }
            if let c = checksumProblem { report.problem = c }
        }
    }

    static func typeName(_ e: TarEntryHeader) -> String {
        switch e.type {
        case .regular, .contiguous: return "file"
        case .directory: return "dir"
        case .symlink: return "symlink"
        case .hardlink: return "hardlink"
        case .characterDevice: return "chardev"
        case .blockDevice: return "blockdev"
        case .fifo: return "fifo"
        default: return "unknown(\(Character(UnicodeScalar(e.typeFlag))))"
        }
    }
}

extension ArchiveReader {
    /// The control part of a package, signature checked and data not read: what an index entry
    /// needs. Throws a one-line error naming the file (with the fix for an untrusted signature)
    /// when it is not a package this reader accepts.
    public func readPackageControl(path: String) throws -> (report: ArchiveReport, info: PackageInfo, pkginfo: String) {
        var reader = self
        reader.controlOnly = true
        let r = reader.read(path: path)
        if let p = r.problem {
            let hint = p == .untrusted ? " (add its public key with --keys-dir, or pass --allow-untrusted)" : ""
            throw FormatError.invalidArgument("\(path): \(p)\(hint)")
        }
        guard r.kind == .package, let info = r.info, let text = r.pkginfoText else {
            throw FormatError.invalidArgument("\(path): not an .apk package")
        }
        return (r, info, text)
    }
}

/// Hashes of the compressed members, as apk computes them: the control member under every
/// signature digest and SHA-1 (index `C:`), the data member under SHA-256 (`datahash`), and for
/// legacy packages without `datahash`, control+data under the signature digests.
final class MemberHashes {
    /// Member 0 is a signature member.
    var signed = true
    /// The package has no datahash: signatures cover control+data.
    var legacy = true
    private let m0SHA1 = Digest(.sha1)
    private let m1SHA256 = Digest(.sha256)
    private let controlSHA1 = Digest(.sha1)
    private let dataSHA256 = Digest(.sha256)
    private var control: [SignatureType: Digest] = [:]
    private var tail: [SignatureType: Digest] = [:]
    private(set) var member0SHA1Value: [UInt8] = []
    private(set) var member1SHA256Value: [UInt8] = []
    private(set) var controlSHA1Value: [UInt8] = []
    private(set) var dataSHA256Value: [UInt8] = []
    private(set) var controlValues: [SignatureType: [UInt8]] = [:]
    private(set) var tailValues: [SignatureType: [UInt8]] = [:]

    init() {
        for t in SignatureType.allCases { control[t] = Digest(t.digest); tail[t] = Digest(t.digest) }
    }

    /// The digests the compressed bytes of member `m` go to, decided now (on the reading thread)
    /// from what is known so far; the caller updates them, possibly on another thread.
    func route(member m: Int) -> [Digest] {
        switch m {
        case 0:
            // Signature member or (unsigned package) control member: both small.
            return [m0SHA1]
        case 1:
            return signed ? [controlSHA1] + Array(control.values) + Array(tail.values) : [m1SHA256]
        case 2:
            guard signed else { return [] }
            return legacy ? [dataSHA256] + Array(tail.values) : [dataSHA256]
        default:
            return signed && legacy ? Array(tail.values) : []
        }
    }

    func finish() {
        member0SHA1Value = m0SHA1.finalize()
        member1SHA256Value = m1SHA256.finalize()
        controlSHA1Value = controlSHA1.finalize()
        dataSHA256Value = dataSHA256.finalize()
        for (t, d) in control { controlValues[t] = d.finalize() }
        for (t, d) in tail { tailValues[t] = d.finalize() }
    }
}

/// Fixed buffers the reading thread inflates a large file's content into and the hashing thread
/// gives back once hashed: no copy and no allocation per chunk. A chunk belongs to one thread at a
/// time (taken by the reader, handed to the hasher with the job, given back by it), which is what
/// the unchecked conformance rests on; `take` waits while every chunk is in flight.
final class ChunkPool: @unchecked Sendable {
    private let size: Int
    private let memory: UnsafeMutableRawBufferPointer
    private let free: Mutex<[Int]>
    private let available: DispatchSemaphore

    init(count: Int, size: Int) {
        self.size = size
        memory = UnsafeMutableRawBufferPointer.allocate(byteCount: count * size, alignment: 64)
        free = Mutex(Array((0..<count).reversed()))
        // Created at 0 and raised: libdispatch traps when a semaphore is freed below its initial
        // value, which is where a reader that stopped on an error leaves it.
        available = DispatchSemaphore(value: 0)
        for _ in 0..<count { available.signal() }
    }

    deinit { memory.deallocate() }

    func take() -> Int {
        available.wait()
        return free.withLock { $0.removeLast() }
    }

    func give(_ chunk: Int) {
        free.withLock { $0.append(chunk) }
        available.signal()
    }

    func buffer(_ chunk: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: memory[(chunk * size)..<((chunk + 1) * size)])
    }
}

/// The first path whose checksum did not match, in archive order (recorded on the one hashing
/// thread, read after it is drained).
final class FirstMismatch: Sendable {
    private let value = Mutex<String?>(nil)
    var first: String? { value.withLock { $0 } }
    func record(_ path: String) { value.withLock { if $0 == nil { $0 = path } } }
}
