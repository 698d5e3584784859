import APKFormat
import Foundation

/// An opaque token naming one version of a stored object: an S3 ETag, or for a local file its
/// inode, size and modification time. Two reads returning the same token saw the same bytes.
public struct ObjectVersion: Hashable, Sendable, CustomStringConvertible {
    public var token: String
    public init(_ token: String) { self.token = token }
    public var description: String { token }
}

/// What `stat` learns about a stored object.
public struct StoredObject: Sendable {
    public var key: String
    public var size: Int64
    public var version: ObjectVersion
    /// SHA-256 hex of the content, when the storage knows it cheaply (local: computed; S3: from metadata).
    public var sha256: String?
    public init(key: String, size: Int64, version: ObjectVersion, sha256: String? = nil) {
        self.key = key; self.size = size; self.version = version; self.sha256 = sha256
    }
}

/// A condition a write must meet, checked atomically with the write (S3 `If-None-Match: *` /
/// `If-Match: <etag>`; local: under the repository lock).
public enum WritePrecondition: Sendable, Equatable {
    case none
    case mustNotExist
    case mustMatch(ObjectVersion)
}

/// Errors of the storage layer.
public enum StorageError: Error, CustomStringConvertible, Equatable {
    /// The precondition of a write did not hold: someone else wrote the object first (S3 412).
    case conflict(key: String)
    case io(key: String, reason: String)
    case invalidKey(String)

    public var description: String {
        switch self {
        case .conflict(let k): return "\(k): changed by someone else while publishing (write precondition failed)"
        case .io(let k, let r): return "\(k): \(r)"
        case .invalidKey(let k): return "invalid object key '\(k)'"
        }
    }
}

/// Where a repository lives: a local directory or an S3 bucket prefix. Keys are relative,
/// `/`-separated paths such as `x86_64/APKINDEX.tar.gz`. Every write is atomic: readers see the
/// old object or the new one, never a partial one.
public protocol RepositoryStorage: AnyObject {
    /// For messages: `/srv/repo` or `s3://bucket/prefix`.
    var location: String { get }
    /// Metadata of `key`, or nil if absent. `wantSHA256`: also return the content's SHA-256 when it
    /// can be had (it may still be nil; callers then `get` and hash).
    func stat(_ key: String, wantSHA256: Bool) throws -> StoredObject?
    /// Downloads `key` into the local file `path` (created or replaced); nil if absent.
    func get(_ key: String, to path: String) throws -> StoredObject?
    /// Stores the local file `path` as `key` atomically, if `precondition` holds at the moment of
    /// the write; throws `StorageError.conflict` otherwise. Returns the new version.
    @discardableResult
    func put(_ key: String, from path: String, precondition: WritePrecondition, contentType: String?,
             sha256: String?) throws -> ObjectVersion
    /// Keys under `prefix` (recursive), sorted.
    func list(prefix: String) throws -> [String]
}

/// Checks a storage key: relative, no `.`/`..` components, no empty components, no NUL.
func validateKey(_ key: String) throws {
    guard !key.isEmpty, !key.hasPrefix("/"), !key.contains("\u{0}") else { throw StorageError.invalidKey(key) }
    for part in key.split(separator: "/", omittingEmptySubsequences: false) {
        if part.isEmpty || part == "." || part == ".." { throw StorageError.invalidKey(key) }
    }
}

/// SHA-256 hex of a local file, streamed.
public func sha256Hex(ofFile path: String) throws -> String {
    let src = try FileSource(path: path)
    let d = Digest(.sha256)
    final class Sink: ByteSink {
        let d: Digest
        init(_ d: Digest) { self.d = d }
        func write(_ bytes: UnsafeRawBufferPointer) throws { d.update(bytes) }
    }
    _ = try src.copy(to: Sink(d))
    return d.finalize().hexString
}
