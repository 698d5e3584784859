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
        // Levels measured on the libs tree (Benchmarks/results/) against the goals of
        // shared/docs/benchmarks.md: fast ≤ 0.93 × nFPM's size at ≤ 0.6 × its wall time (level 5:
        // ~0.92); default smaller than abuild's gzip -9 and faster than nFPM (level 6: ~0.994 of
        // abuild's size); max ≤ 0.955 × abuild's size in well under half its time (level 11: ~0.953;
        // level 12 gains only 0.05% more for twice the time).
        switch profile {
        case .fast: self.init(level: 5, threads: threads)
        case .default: self.init(level: 6, threads: threads)
        case .max: self.init(level: 11, threads: threads)
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
