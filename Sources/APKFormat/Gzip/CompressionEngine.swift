import Foundation

/// Writes ONE gzip member: bytes written in are compressed, `finish()` writes the trailer.
public protocol GzipMemberWriter: ByteSink {
    func finish() throws
}

/// Makes gzip members. Every part of a package (signature, control, data) and of an index
/// is one member made by an engine. Swapping the engine changes speed and size, never the format.
public protocol CompressionEngine: Sendable {
    func makeMember(writingTo output: ByteSink) throws -> GzipMemberWriter
}

/// Named compression settings, as `--compression` and `--compression-level` take them.
public struct CompressionSettings: Sendable, Equatable {
    public enum Profile: String, Sendable, CaseIterable { case fast, `default`, max }
    /// libdeflate level 1...12.
    public var level: Int
    public var threads: Int

    public init(level: Int, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.level = level
        self.threads = max(1, threads)
    }

    public init(profile: Profile, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        switch profile {
        case .fast: self.init(level: 3, threads: threads)
        case .default: self.init(level: 9, threads: threads)
        case .max: self.init(level: 12, threads: threads)
        }
    }

    public static let `default` = CompressionSettings(profile: .default)
}

/// Compresses a whole small buffer into one gzip member.
public func gzipMember(_ data: Data, engine: CompressionEngine) throws -> Data {
    let out = BufferSink()
    let w = try engine.makeMember(writingTo: out)
    try w.write(data)
    try w.finish()
    return out.data
}
