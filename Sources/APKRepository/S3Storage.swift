import APKFormat
import Foundation
import S3Client

/// A repository under a prefix of an S3 bucket (`s3://bucket/prefix`).
///
/// Object versions are ETags; writes carry `If-None-Match: *` (must not exist) or
/// `If-Match: <etag>` (must still be the version read), and S3's 412 answer becomes
/// `StorageError.conflict`, so the publisher's merge-and-retry works as on a local directory.
/// The SHA-256 of each object written is kept in its `x-amz-meta-sha256` so that re-publishing
/// an identical package is decided without downloading it.
///
/// Packages are stored with a long `Cache-Control` (they never change under their name), the
/// index with a short one.
///
/// Conditional writes are checked once per run, before the first conditional write, with a probe
/// object (`probeConditionalWrites`): a server that ignores `If-None-Match`/`If-Match` or answers
/// 501 is refused with one line, unless `conditionalWrites` is off (`--no-conditional-writes`);
/// then preconditions are checked with a HEAD just before each write (safe for one publisher).
///
/// Housekeeping never fails a publish: open multipart uploads of a key apkit writes (left by a
/// killed run, or by a retried CreateMultipartUpload whose answer was lost) are listed and aborted
/// after the key is written, keeping the upload that wrote it, and when a key is found already
/// stored, those started before it was written. A server that cannot list uploads (an error, 501,
/// an empty answer) is reported once on stderr and the cleanup skipped.
public final class S3Storage: RepositoryStorage {
    public let client: S3Client
    public let prefix: String
    public var location: String { "s3://\(client.configuration.bucket)" + (prefix.isEmpty ? "" : "/" + prefix) }
    /// Told about each upload (start, bytes sent, end), e.g. to draw a progress bar.
    public var progress: UploadProgress? = nil
    /// `Cache-Control` of `APKINDEX.tar.gz`: clients must see a new index soon.
    public var indexCacheControl = "public, max-age=60"
    /// `Cache-Control` of the public key (replaceable with --overwrite).
    public var keyCacheControl = "public, max-age=3600"
    /// `Cache-Control` of packages: immutable under their name.
    public var objectCacheControl = "public, max-age=31536000, immutable"
    /// Open multipart uploads that were aborted because they were left over (for reports and tests).
    public private(set) var abortedStaleUploads = 0
    /// Use `If-None-Match`/`If-Match` (after checking the server honours them). Off
    /// (`--no-conditional-writes`): no probe, preconditions checked with a HEAD before each write,
    /// which is only safe when a single publisher writes at a time.
    public var conditionalWrites = true
    /// Where housekeeping problems are reported (one line each; default: stderr).
    public var warn: (String) -> Void = { line in
        FileHandle.standardError.write(Data("apkit: warning: \(line)\n".utf8))
    }
    /// The probe's verdict, once made (a refusal is thrown again on every conditional write).
    var conditionalWriteError: Error?
    var probedConditionalWrites = false
    /// ListMultipartUploads does not work on this server: cleanup is skipped for the rest of the run.
    var uploadListingUnavailable = false
    /// Keys whose leftover uploads were already looked at by `stat`.
    var cleanedOnStat: Set<String> = []
    var warned: Set<String> = []

    public init(client: S3Client, prefix: String) {
        self.client = client
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
    }

    /// Parses `s3://bucket[/prefix]` into (bucket, prefix); nil if it is not an s3:// URL or the
    /// bucket name is empty.
    public static func parse(url: String) -> (bucket: String, prefix: String)? {
        guard url.hasPrefix("s3://") else { return nil }
        let rest = url.dropFirst(5)
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let b = parts.first, !b.isEmpty else { return nil }
        let p = parts.count > 1 ? String(parts[1]) : ""
        return (String(b), p.split(separator: "/").joined(separator: "/"))
    }

    func objectKey(_ key: String) -> String { prefix.isEmpty ? key : prefix + "/" + key }

    func mapError(_ error: Error, key: String) -> Error {
        if let e = error as? S3Error {
            // 412, or 409 ConditionalRequestConflict (another conditional write to the key in flight).
            if e.kind == .preconditionFailed || (e.httpStatus == 409 && (e.code ?? "").contains("Conditional")) {
                return StorageError.conflict(key: key)
            }
            // Our multipart upload was aborted under us: another publisher wrote this key and
            // cleaned up uploads that were open before its own (see `put`). Look again.
            if e.kind == .noSuchUpload { return StorageError.conflict(key: key) }
        }
        return error
    }

    static func validSHA(_ s: String?) -> String? {
        guard let s = s?.lowercased(), s.count == 64, s.allSatisfy({ $0.isHexDigit }) else { return nil }
        return s
    }

    public func stat(_ key: String, wantSHA256: Bool) throws -> StoredObject? {
        try validateKey(key)
        guard let info = try client.headObject(key: objectKey(key)) else { return nil }
        // Found already stored (a rerun): abort the uploads of it left open before it was written
        // (a killed run, a lost CreateMultipartUpload answer). Uploads started after it was written
        // may be a concurrent --overwrite in progress and are left alone.
        if !key.hasSuffix("APKINDEX.tar.gz"), !cleanedOnStat.contains(key) {
            cleanedOnStat.insert(key)
            let written = info.lastModified.flatMap(S3Client.parseDate)
            abortLeftoverUploads(of: objectKey(key), keeping: nil,
                                 startedBefore: written.map { $0.addingTimeInterval(1) })
        }
        let sha = Self.validSHA(info.metadata["sha256"])
        if plusCopies, let alias = Self.plusAlias(key) { try repairPlusAlias(key: key, alias: alias, sha256: sha) }
        return StoredObject(key: key, size: Int64(info.size), version: ObjectVersion(info.etag), sha256: sha)
    }

    // MARK: '+' in package file names

    /// Also store each package whose file name has a `+` (`libstdc++-14.2.0-r4.apk`) under the name
    /// with the `+` replaced by a space. S3 decodes `+` in a URL path as a space, and apk requests
    /// the file name unescaped, so over plain HTTP(S) to S3 `GET .../libstdc++-14.2.0-r4.apk` reads
    /// the key `libstdc  -14.2.0-r4.apk`. (aptly's `plusWorkaround` does the same for apt.)
    public var plusCopies = true

    /// The space-for-plus name of a package key, nil when the file name has no `+`.
    public static func plusAlias(_ key: String) -> String? {
        let dir = key.lastIndex(of: "/").map { key[...$0] } ?? ""
        let name = key.dropFirst(dir.count)
        guard name.hasSuffix(".apk"), name.contains("+") else { return nil }
        return dir + name.replacingOccurrences(of: "+", with: " ")
    }

    /// Makes the alias hold the same bytes as `key` (after an interrupted run it may be missing).
    func repairPlusAlias(key: String, alias: String, sha256: String?) throws {
        let have = try client.headObject(key: objectKey(alias))
        if let have, let sha256, Self.validSHA(have.metadata["sha256"]) == sha256 { return }
        let tmp = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/apkit-s3-alias-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        guard let info = try client.getObject(key: objectKey(key), toFile: tmp) else { return }
        let sha = try Self.validSHA(info.metadata["sha256"]) ?? sha256Hex(ofFile: tmp)
        if let have, Self.validSHA(have.metadata["sha256"]) == sha { return }
        try putAlias(alias, from: tmp, sha256: sha)
    }

    func putAlias(_ alias: String, from path: String, sha256: String) throws {
        try client.uploadFile(key: objectKey(alias), path: path, contentType: "application/octet-stream",
                              cacheControl: objectCacheControl, metadata: ["sha256": sha256], condition: .none,
                              checksum: .md5)
    }

    public func get(_ key: String, to path: String) throws -> StoredObject? {
        try validateKey(key)
        let tmp = path + ".part-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        guard let info = try client.getObject(key: objectKey(key), toFile: tmp) else { return nil }
        if rename(tmp, path) != 0 {
            throw StorageError.io(key: path, reason: "rename failed: \(currentErrnoText())")
        }
        return StoredObject(key: key, size: Int64(info.size), version: ObjectVersion(info.etag),
                            sha256: Self.validSHA(info.metadata["sha256"]))
    }

    @discardableResult
    public func put(_ key: String, from path: String, precondition: WritePrecondition, contentType: String?,
                    sha256: String?) throws -> ObjectVersion {
        try validateKey(key)
        let full = objectKey(key)
        var condition: S3Client.Condition
        switch precondition {
        case .none: condition = .none
        case .mustNotExist: condition = .ifNoneMatchAny
        case .mustMatch(let v): condition = .ifMatch(v.token)
        }
        if condition != .none {
            if conditionalWrites {
                try checkConditionalWrites()
            } else {
                // Check-then-write: racy against another publisher, which the user accepted.
                let current = try client.headObject(key: full)
                switch precondition {
                case .mustNotExist where current != nil: throw StorageError.conflict(key: key)
                case .mustMatch(let v) where current.map({ ObjectVersion($0.etag) }) != v: throw StorageError.conflict(key: key)
                default: break
                }
                condition = .none
            }
        }
        let sha = try sha256 ?? sha256Hex(ofFile: path)
        let isIndex = key.hasSuffix("/APKINDEX.tar.gz") || key == "APKINDEX.tar.gz"
        let total = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0
        let display = progress
        display?.begin(key: key, total: total)
        let result: S3Client.PutResult
        do {
            result = try client.uploadFile(key: full, path: path, contentType: contentType,
                                           cacheControl: isIndex ? indexCacheControl
                                               : key.hasSuffix(".apk") ? objectCacheControl : keyCacheControl,
                                           metadata: ["sha256": sha], condition: condition, checksum: .md5,
                                           progress: display.map { d in { @Sendable sent, total in d.update(key: key, sent: sent, total: total) } })
        } catch {
            let mapped = mapError(error, key: key)
            display?.end(key: key, outcome: mapped is StorageError ? .skipped : .failed)
            // A failed multipart upload was aborted by the client, but a try of its
            // CreateMultipartUpload whose answer was lost (libcurl even retries that on its own) may
            // have opened another, whose id nobody learnt: the key's open uploads are aborted, as
            // after a successful write. Not after a conflict (someone else wrote the key), and
            // quietly: when the server is unreachable the error already says so.
            if total > client.configuration.multipartThreshold, !(mapped is StorageError) {
                abortLeftoverUploads(of: full, keeping: nil, startedBefore: nil, quiet: true)
            }
            throw mapped
        }
        display?.end(key: key, outcome: .done)
        // The space-for-plus copy, written before the index that names the package.
        if plusCopies, let alias = Self.plusAlias(key) { try putAlias(alias, from: path, sha256: sha) }
        // Uploads of this key still open besides the one that wrote it: left by an interrupted run,
        // or ours whose CreateMultipartUpload answer was lost and retried. (A concurrent publisher
        // of the same key whose upload this aborts gets NoSuchUpload, i.e. a conflict: it looks
        // again and finds the key written.) The index, rewritten by every publisher, only when it
        // went up in parts itself.
        if !isIndex || result.uploadId != nil {
            abortLeftoverUploads(of: full, keeping: result.uploadId, startedBefore: nil)
        }
        return ObjectVersion(result.etag)
    }

    // MARK: conditional writes

    /// Probes the server once (see `S3Client.probeConditionalWrites`) and throws the refusal when it
    /// does not honour conditional writes.
    func checkConditionalWrites() throws {
        if !probedConditionalWrites {
            let probeKey = objectKey(".apkit-probe-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))")
            let (support, cleanupError) = try client.probeConditionalWrites(key: probeKey)
            probedConditionalWrites = true
            if let cleanupError {
                warn("could not delete the probe object s3://\(client.configuration.bucket)/\(probeKey): \(cleanupError); "
                    + "delete it by hand")
            }
            if case .unsupported(let how) = support {
                conditionalWriteError = S3Error(.configuration, "\(client.configuration.endpointDescription) \(how): "
                    + "concurrent publishers are not safe on this server; pass --no-conditional-writes to publish anyway "
                    + "(one publisher at a time)")
            }
        }
        if let e = conditionalWriteError { throw e }
    }

    // MARK: housekeeping

    /// Aborts the open multipart uploads of `full` (a bucket key), except `keeping`, and when
    /// `startedBefore` is given only those the server says were started before it. Never throws:
    /// problems are reported through `warn` (a server that cannot list uploads, once), unless `quiet`.
    func abortLeftoverUploads(of full: String, keeping: String?, startedBefore: Date?, quiet: Bool = false) {
        guard !uploadListingUnavailable else { return }
        let uploads: [S3Client.MultipartUploadSummary]
        do {
            uploads = try client.listMultipartUploads(prefix: full).filter { $0.key == full }
        } catch where quiet {
            return
        } catch {
            let e = error as? S3Error
            // An error, 501, or an answer that is not a listing: the server does not list uploads.
            if e?.kind != .network {
                uploadListingUnavailable = true
                warn("cannot list open multipart uploads at \(client.configuration.endpointDescription) (\(error)); "
                    + "skipping their cleanup (a bucket lifecycle rule with AbortIncompleteMultipartUpload removes any left open)")
            } else {
                warnOnce("list", "cannot list open multipart uploads of s3://\(client.configuration.bucket)/\(full) "
                    + "(\(error)); skipping their cleanup")
            }
            return
        }
        for upload in uploads where upload.uploadId != keeping && !upload.uploadId.isEmpty {
            if let limit = startedBefore, let started = upload.initiated, started >= limit { continue }
            do {
                try client.abortMultipartUpload(key: upload.key, uploadId: upload.uploadId)
                abortedStaleUploads += 1
            } catch {
                if !quiet {
                    warnOnce("abort", "cannot abort the open multipart upload \(upload.uploadId) of "
                        + "s3://\(client.configuration.bucket)/\(upload.key) (\(error)); it is left to a lifecycle rule")
                }
            }
        }
    }

    func warnOnce(_ kind: String, _ line: String) {
        guard warned.insert(kind).inserted else { return }
        warn(line)
    }

    public func list(prefix sub: String) throws -> [String] {
        let full = sub.isEmpty ? (prefix.isEmpty ? "" : prefix + "/") : objectKey(sub) + "/"
        let strip = prefix.isEmpty ? 0 : prefix.count + 1
        return try client.listObjects(prefix: full).map { String($0.key.dropFirst(strip)) }.sorted()
    }
}
