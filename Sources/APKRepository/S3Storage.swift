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
/// index with a short one. Multipart uploads of a key that were left open by an earlier,
/// interrupted run are aborted once the key has been written.
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
            throw StorageError.io(key: path, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
        return StoredObject(key: key, size: Int64(info.size), version: ObjectVersion(info.etag),
                            sha256: Self.validSHA(info.metadata["sha256"]))
    }

    @discardableResult
    public func put(_ key: String, from path: String, precondition: WritePrecondition, contentType: String?,
                    sha256: String?) throws -> ObjectVersion {
        try validateKey(key)
        let full = objectKey(key)
        let condition: S3Client.Condition
        switch precondition {
        case .none: condition = .none
        case .mustNotExist: condition = .ifNoneMatchAny
        case .mustMatch(let v): condition = .ifMatch(v.token)
        }
        let sha = try sha256 ?? sha256Hex(ofFile: path)
        let isIndex = key.hasSuffix("/APKINDEX.tar.gz") || key == "APKINDEX.tar.gz"
        // Uploads of this key already open before ours began: left by an interrupted run (or by a
        // concurrent publisher of the same key, which then sees the key written and stops).
        let stale = isIndex ? [] : try client.listMultipartUploads(prefix: full).filter { $0.key == full }
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
            throw mapped
        }
        display?.end(key: key, outcome: .done)
        // The space-for-plus copy, written before the index that names the package.
        if plusCopies, let alias = Self.plusAlias(key) { try putAlias(alias, from: path, sha256: sha) }
        for upload in stale {
            // Best effort: a failure here leaves garbage, not a broken repository.
            if (try? client.abortMultipartUpload(key: upload.key, uploadId: upload.uploadId)) != nil { abortedStaleUploads += 1 }
        }
        return ObjectVersion(result.etag)
    }

    public func list(prefix sub: String) throws -> [String] {
        let full = sub.isEmpty ? (prefix.isEmpty ? "" : prefix + "/") : objectKey(sub) + "/"
        let strip = prefix.isEmpty ? 0 : prefix.count + 1
        return try client.listObjects(prefix: full).map { String($0.key.dropFirst(strip)) }.sorted()
    }
}
