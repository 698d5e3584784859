import APKFormat
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors of publishing: one line, what is wrong and what to do.
public enum PublishError: Error, CustomStringConvertible {
    case package(path: String, reason: String)
    case exists(key: String, location: String)
    case keyExists(key: String, location: String)
    case duplicate(key: String, first: String, second: String)
    case tooManyConflicts(key: String, attempts: Int)
    case mixedFormats(index: String, existing: FormatName, new: FormatName)

    public var description: String {
        switch self {
        case .package(let p, let r): return "\(p): \(r)"
        case .exists(let k, let l):
            return "\(l)/\(k) already exists with different content; bump the package release (-rN) or pass --overwrite to replace it"
        case .keyExists(let k, let l):
            return "\(l)/\(k) is a different public key with the same name; use another --key-name, or pass --overwrite"
        case .duplicate(let k, let a, let b): return "\(a) and \(b) are both \(k) but differ; publish one of them"
        case .mixedFormats(let index, let old, let new):
            return "\(index): this repository holds \(old.rawValue) packages; publish \(new.rawValue) packages to a separate repository"
        case .tooManyConflicts(let k, let n):
            return "\(k): gave up after \(n) attempts: other publishers kept changing the index; try again"
        }
    }
}

/// What happened to one published object.
public enum PublishStatus: String, Sendable, Codable {
    /// Newly stored.
    case added
    /// Already there, byte for byte: nothing written.
    case unchanged
    /// Replaced (`overwrite`).
    case replaced
}

public struct PublishedPackage: Sendable, Codable {
    public var file: String
    public var key: String
    public var name: String
    public var version: String
    public var arch: String
    public var size: Int64
    public var sha256: String
    public var status: PublishStatus
}

public struct PublishedIndex: Sendable, Codable {
    public var key: String
    public var entries: Int
    /// Write attempts (more than 1 when a concurrent publisher won a race).
    public var attempts: Int
    public var pruned: Int
    /// The merge changed nothing, so the index was not rewritten.
    public var unchanged: Bool
}

public struct PublishReport: Sendable, Codable {
    public var location: String
    public var packages: [PublishedPackage] = []
    public var indexes: [PublishedIndex] = []
    public var publicKey: String = ""
    public var publicKeyStatus: PublishStatus = .unchanged
}

public struct PublishOptions: Sendable {
    /// Replace a different package (or key) stored under the same name.
    public var overwrite = false
    /// Accept unsigned/untrusted packages and an existing index not signed by a trusted key.
    public var allowUntrusted = false
    /// Directory for `noarch` packages (apk looks only in `<repo>/<its arch>/`). Nil: refuse them.
    public var noarchArch: String? = nil
    /// Index DESCRIPTION; nil keeps the existing one.
    public var description: String? = nil
    /// Keep only the newest N versions of each package name in the index.
    public var prune: Int? = nil
    /// Index write attempts before giving up under contention.
    public var maxAttempts = 64
    public init() {}
}

/// Publishes packages into a repository: the storage-independent part of `apkit publish`.
///
/// Order of writes, each atomic: the public key (`keys/<keyname>`), every package
/// (`<arch>/<name>-<version>.apk`), and last, per architecture, the index
/// `<arch>/APKINDEX.tar.gz`. The index is read, checked against the trusted keys (plus the
/// publisher's own), merged and written with a precondition on the version that was read; when
/// another publisher got there first the merge is redone (bounded), so no entry is lost.
public final class Publisher {
    public let storage: RepositoryStorage
    public let signer: Signer
    public private(set) var keyring: Keyring
    public var options: PublishOptions
    /// Called with one line per step (for progress output).
    public var log: ((String) -> Void)? = nil
    /// Called with details for `--verbose`: the index read, merge results, retries after a conflict.
    public var detail: ((String) -> Void)? = nil

    public init(storage: RepositoryStorage, signer: Signer, keyring: Keyring, options: PublishOptions = PublishOptions()) throws {
        self.storage = storage
        self.signer = signer
        self.options = options
        var k = keyring
        k.add(try signer.publicKey())
        self.keyring = k
    }

    struct Candidate {
        var file: String
        var key: String
        var arch: String
        var record: IndexRecord
        var info: PackageInfo
        var size: Int64
        var sha256: String
        var existing: StoredObject?
    }

    public func publish(_ files: [String]) throws -> PublishReport {
        var report = PublishReport(location: storage.location)
        let work = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: work) }

        // 1. Read every package's control part (signature checked), decide its key.
        var candidates: [Candidate] = []
        var byKey: [String: Int] = [:]
        // One format per repository: a mix is refused before anything is read further.
        let indexFormat = try PackageFormats.commonFormat(of: files).index
        for f in files {
            let (_, info) = try indexFormat.record(forPackageAt: f, keyring: keyring, allowUntrusted: options.allowUntrusted,
                                                   rewriteArch: nil)
            guard PackageName.isValid(info.name), !info.name.contains("/") else {
                throw PublishError.package(path: f, reason: "invalid package name '\(info.name)'")
            }
            guard APKVersion.isValid(info.version), !info.version.contains("/") else {
                throw PublishError.package(path: f, reason: "invalid package version '\(info.version)'")
            }
            var arch = info.arch
            if Architecture.isArchitectureIndependent(arch) {
                guard let a = options.noarchArch else {
                    throw PublishError.package(path: f, reason: "arch is noarch: say which <arch>/ directory to publish it to with --arch")
                }
                arch = a
            }
            guard !arch.isEmpty, !arch.contains("/"), arch != ".", arch != "..", arch != "keys" else {
                throw PublishError.package(path: f, reason: "invalid arch '\(arch)'")
            }
            // v2: listed under the directory's arch, as `apk index --rewrite-arch` does, so apk 2 finds
            // it there. v3: apk 3 installs noarch packages on any arch, and mkndx keeps their arch.
            let rewrite = indexFormat.name == .v2 && info.arch != arch ? arch : nil
            let (record, _) = try indexFormat.record(forPackageAt: f, keyring: keyring, allowUntrusted: options.allowUntrusted,
                                                     rewriteArch: rewrite)
            let key = "\(arch)/\(info.name)-\(info.version).apk"
            let sha = try sha256Hex(ofFile: f)
            if let i = byKey[key] {
                if candidates[i].sha256 != sha { throw PublishError.duplicate(key: key, first: candidates[i].file, second: f) }
                continue
            }
            byKey[key] = candidates.count
            candidates.append(Candidate(file: f, key: key, arch: arch, record: record, info: info, size: record.fileSize,
                                        sha256: sha, existing: nil))
        }

        // 2. Pre-flight: refuse conflicting packages before writing anything.
        for i in candidates.indices {
            let c = candidates[i]
            guard let existing = try storage.stat(c.key, wantSHA256: true) else { continue }
            let sha = try existing.sha256 ?? hashRemote(c.key, work: work)
            var e = existing
            e.sha256 = sha
            candidates[i].existing = e
            if sha != c.sha256 && !options.overwrite {
                throw PublishError.exists(key: c.key, location: storage.location)
            }
        }

        // 2b. Pre-flight: every index we will merge into must be one we trust, checked before any
        // write so that a refusal leaves the repository exactly as it was.
        for arch in Set(candidates.map { $0.arch }).sorted() {
            // A directory holds one format: an index of another one there means another repository.
            for other in PackageFormats.all.map(\.index) where other.name != indexFormat.name {
                if try storage.stat("\(arch)/\(other.fileName)", wantSHA256: false) != nil {
                    throw PublishError.mixedFormats(index: "\(storage.location)/\(arch)/\(other.fileName)", existing: other.name, new: indexFormat.name)
                }
            }
            let key = "\(arch)/\(indexFormat.fileName)"
            let current = work + "/index.preflight"
            defer { unlink(current) }
            if try storage.get(key, to: current) != nil {
                _ = try indexFormat.read(path: current, keyring: keyring, allowUntrusted: options.allowUntrusted,
                                         source: "\(storage.location)/\(key)")
            }
        }

        // 3. The public key.
        let keyKey = "keys/\(signer.keyName)"
        report.publicKey = keyKey
        report.publicKeyStatus = try putPublicKey(keyKey, work: work)

        // 4. The packages.
        for c in candidates {
            let status = try putPackage(c, work: work)
            report.packages.append(PublishedPackage(file: c.file, key: c.key, name: c.info.name, version: c.info.version,
                                                    arch: c.arch, size: c.size, sha256: c.sha256, status: status))
            log?("\(status.rawValue): \(storage.location)/\(c.key)")
        }

        // 5. The indexes, last.
        let arches = Array(Set(candidates.map { $0.arch })).sorted()
        for arch in arches {
            let records = candidates.filter { $0.arch == arch }.map { $0.record }
            let r = try updateIndex(arch: arch, records: records, format: indexFormat, work: work)
            report.indexes.append(r)
            log?("\(r.unchanged ? "unchanged" : "index"): \(storage.location)/\(r.key) (\(r.entries) packages)")
        }
        return report
    }

    func putPackage(_ c: Candidate, work: String) throws -> PublishStatus {
        var existing = c.existing
        for _ in 0..<options.maxAttempts {
            if let e = existing {
                if e.sha256 == c.sha256 { return .unchanged }
                guard options.overwrite else { throw PublishError.exists(key: c.key, location: storage.location) }
                do {
                    try storage.put(c.key, from: c.file, precondition: .mustMatch(e.version),
                                    contentType: "application/octet-stream", sha256: c.sha256)
                    return .replaced
                } catch StorageError.conflict { }
            } else {
                do {
                    try storage.put(c.key, from: c.file, precondition: .mustNotExist,
                                    contentType: "application/octet-stream", sha256: c.sha256)
                    return .added
                } catch StorageError.conflict { }
            }
            // Someone else wrote it meanwhile: look again.
            existing = try storage.stat(c.key, wantSHA256: true)
            if var e = existing, e.sha256 == nil { e.sha256 = try hashRemote(c.key, work: work); existing = e }
        }
        throw PublishError.tooManyConflicts(key: c.key, attempts: options.maxAttempts)
    }

    func putPublicKey(_ key: String, work: String) throws -> PublishStatus {
        let pem = try signer.key.publicKeyPEM()
        let local = work + "/pubkey"
        try writeFileAtomically(pem, to: local)
        let sha = Digest.hash(.sha256, pem).hexString
        if let e = try storage.stat(key, wantSHA256: true) {
            let remote = try e.sha256 ?? hashRemote(key, work: work)
            if remote == sha { return .unchanged }
            guard options.overwrite else { throw PublishError.keyExists(key: key, location: storage.location) }
            try storage.put(key, from: local, precondition: .mustMatch(e.version), contentType: "application/x-pem-file", sha256: sha)
            return .replaced
        }
        do {
            try storage.put(key, from: local, precondition: .mustNotExist, contentType: "application/x-pem-file", sha256: sha)
            return .added
        } catch StorageError.conflict {
            // A concurrent publisher with the same key wrote it first.
            if let e = try storage.stat(key, wantSHA256: true), (try e.sha256 ?? hashRemote(key, work: work)) == sha {
                return .unchanged
            }
            throw PublishError.keyExists(key: key, location: storage.location)
        }
    }

    /// Read -> trust -> merge -> prune -> sign -> conditional write, redone when another
    /// publisher changed the index in between.
    func updateIndex(arch: String, records: [IndexRecord], format: any IndexFormat, work: String) throws -> PublishedIndex {
        let key = "\(arch)/\(format.fileName)"
        let current = work + "/index.current"
        let next = work + "/index.next"
        let update = IndexUpdate(records: records, description: options.description, prune: options.prune)
        for attempt in 1...options.maxAttempts {
            var existing: (any PackageIndex)? = nil
            let precondition: WritePrecondition
            if let obj = try storage.get(key, to: current) {
                existing = try format.read(path: current, keyring: keyring, allowUntrusted: options.allowUntrusted,
                                           source: "\(storage.location)/\(key)")
                precondition = .mustMatch(obj.version)
                detail?("    \(key): read version \(obj.version) (\(existing?.recordCount ?? 0) packages, signature checked)")
            } else {
                precondition = .mustNotExist
                detail?("    \(key): none yet, writing a new one")
            }
            let result = try update.apply(to: existing, format: format)
            let count = result.index.recordCount
            detail?("    \(key): \(result.added) new, \(result.replaced) replaced, \(result.pruned) pruned, attempt \(attempt)")
            if existing != nil && !result.changed {
                // Nothing new (the same packages published again): leave the index alone.
                return PublishedIndex(key: key, entries: count, attempts: attempt, pruned: 0, unchanged: true)
            }
            try result.index.write(to: next, signer: signer)
            do {
                try storage.put(key, from: next, precondition: precondition,
                                contentType: format.name == .v2 ? "application/gzip" : "application/octet-stream", sha256: nil)
                return PublishedIndex(key: key, entries: count, attempts: attempt, pruned: result.pruned, unchanged: false)
            } catch StorageError.conflict {
                // Another publisher changed the index since we read it: back off a little, then redo the merge.
                detail?("    \(key): changed by another publisher since it was read; merging again")
                usleep(Publisher.backoff(attempt: attempt) * 1000)
            }
        }
        throw PublishError.tooManyConflicts(key: key, attempts: options.maxAttempts)
    }

    /// Exponential backoff with full jitter (a random wait up to 10 ms × 2^attempt, at most 1 s), so
    /// that publishers who lost a race do not all come back at the same moment.
    static func backoff(attempt: Int) -> UInt32 {
        UInt32.random(in: 1...UInt32(min(1000, 10 << min(attempt, 7))))
    }

    func hashRemote(_ key: String, work: String) throws -> String {
        let tmp = work + "/hash-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(tmp) }
        guard try storage.get(key, to: tmp) != nil else { return "" }
        return try sha256Hex(ofFile: tmp)
    }

    func makeTempDir() throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let p = base + "/apkit-publish-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
}
