import APKCrypto
import Foundation
import SystemIO

/// A compressor: bytes written in are compressed into the sink it was made for; `finish()`
/// ends the stream (and writes any trailer).
public protocol CompressingSink: ByteSink {
    func finish() throws
}

/// Writes ONE gzip member: bytes written in are compressed, `finish()` writes the trailer.
public protocol GzipMemberWriter: CompressingSink {}

/// Makes gzip members. Every part of a package (signature, control, data) and of an index
/// is one member made by an engine. Swapping the engine changes speed and size, never the format.
public protocol CompressionEngine: Sendable {
    func makeMember(writingTo output: ByteSink) throws -> GzipMemberWriter
}

/// The compression algorithms of apk packages: v2 is always deflate (gzip members); v3 may be
/// stored uncompressed, deflated or zstd-compressed (`apk mkpkg --compression ALG[:LEVEL]`).
public enum CompressionAlgorithm: String, Sendable, CaseIterable, Codable {
    case none, deflate, zstd

    /// The levels each algorithm takes (deflate through libdeflate: 1...12; apk's own deflate is
    /// zlib's 1...9, and 10...12 are libdeflate's stronger, still standard, settings).
    public var levels: ClosedRange<Int> {
        switch self {
        case .none: return 0...0
        case .deflate: return 1...12
        case .zstd: return 1...22
        }
    }
}

/// Compression settings, as `--compression` and `--compression-level` take them.
public struct CompressionSettings: Sendable, Equatable {
    public enum Profile: String, Sendable, CaseIterable { case fast, `default`, max }
    public var algorithm: CompressionAlgorithm
    /// The algorithm's level (see `CompressionAlgorithm.levels`).
    public var level: Int
    public var threads: Int

    public init(algorithm: CompressionAlgorithm = .deflate, level: Int,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.algorithm = algorithm
        self.level = algorithm == .none ? 0 : level
        self.threads = max(1, threads)
    }

    /// The v2 profiles (libdeflate levels).
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

    /// The libdeflate level of v3's default profile and of a bare `deflate` for v3.
    public static let v3DefaultDeflateLevel = 7

    /// The v3 profiles: default is what apk mkpkg writes (deflate, `ADBd`, which mkpkg writes at
    /// zlib level 9), here at libdeflate level 7: no larger than mkpkg's on the libs,
    /// many-small and one-large trees, where level 6 was 1.2-1.7 % larger (levels 8 and 9 are
    /// slower and no smaller; Benchmarks/results). fast and max are zstd (3 and 19), which
    /// apk-tools 3 reads when built with zstd (Alpine's and OpenWrt's builds are).
    public static func v3(_ profile: Profile, threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> CompressionSettings {
        switch profile {
        case .fast: return CompressionSettings(algorithm: .zstd, level: 3, threads: threads)
        case .default: return CompressionSettings(algorithm: .deflate, level: v3DefaultDeflateLevel, threads: threads)
        case .max: return CompressionSettings(algorithm: .zstd, level: 19, threads: threads)
        }
    }

    /// Parses apk's `ALGORITHM[:LEVEL]` (`none`, `deflate[:1-12]`, `zstd[:1-22]`); `defaultLevel`
    /// gives the level when none is written.
    public static func parse(_ text: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                             defaultLevel: (CompressionAlgorithm) -> Int) throws -> CompressionSettings {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let algorithm = CompressionAlgorithm(rawValue: parts[0].lowercased()) else {
            throw FormatError.invalidArgument("--compression '\(text)': expected fast, default, max, none, deflate[:LEVEL] or zstd[:LEVEL]")
        }
        var level = defaultLevel(algorithm)
        if parts.count == 2 {
            guard let l = Int(parts[1]), algorithm.levels.contains(l), algorithm != .none else {
                throw FormatError.invalidArgument("--compression '\(text)': \(algorithm.rawValue) takes a level in \(algorithm.levels.lowerBound)...\(algorithm.levels.upperBound)")
            }
            level = l
        }
        return CompressionSettings(algorithm: algorithm, level: level, threads: threads)
    }

    /// `zstd:19`, `deflate:6`, `none`.
    public var text: String { algorithm == .none ? "none" : "\(algorithm.rawValue):\(level)" }
}

/// Compresses a whole small buffer into one gzip member.
public func gzipMember(_ data: Data, engine: CompressionEngine) throws -> Data {
    let out = BufferSink()
    let w = try engine.makeMember(writingTo: out)
    try w.write(data)
    try w.finish()
    return out.data
}
