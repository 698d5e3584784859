
/// How an upload ended, for `UploadProgress.end`.
public enum UploadOutcome: Sendable {
    case done
    /// Not written because of a write precondition (someone else wrote the key).
    case skipped
    case failed
}

/// Receives upload progress from `S3Storage` (calls may come from several threads).
public protocol UploadProgress: AnyObject, Sendable {
    func begin(key: String, total: UInt64)
    func update(key: String, sent: UInt64, total: UInt64)
    func end(key: String, outcome: UploadOutcome)
}
