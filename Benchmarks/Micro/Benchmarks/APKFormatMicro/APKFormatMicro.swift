import APKFormat
import Benchmark
import Foundation

/// Deterministic, partly compressible bytes (text-like runs and noise).
private func sampleBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var s = seed | 1
    var out = [UInt8](repeating: 0, count: count)
    let words = Array("alpine package signature control data usr/lib/libswift .so\n".utf8)
    var i = 0
    while i < count {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        if s % 5 == 0 {
            out[i] = UInt8(truncatingIfNeeded: s >> 24); i += 1
        } else {
            let start = Int(s >> 32) % (words.count - 8)
            for k in 0..<8 where i < count { out[i] = words[start + k]; i += 1 }
        }
    }
    return out
}

/// Discards bytes, counting them (keeps the optimizer honest).
final class NullSink: ByteSink {
    var count = 0
    func write(_ bytes: UnsafeRawBufferPointer) throws { count &+= bytes.count }
}

let eightMiB = sampleBytes(8 << 20)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .throughput, .peakMemoryResident, .mallocCountTotal],
                                           maxDuration: .seconds(3), maxIterations: 50)

    for level in [1, 6, 11] {
        Benchmark("ParallelDeflate 8 MiB, level \(level), 1 thread",
                  configuration: .init(scalingFactor: .one)) { benchmark in
            let engine = ParallelDeflateEngine(settings: CompressionSettings(level: level, threads: 1))
            for _ in benchmark.scaledIterations {
                let sink = NullSink()
                let w = try engine.makeMember(writingTo: sink)
                try eightMiB.withUnsafeBytes { try w.write($0) }
                try w.finish()
                blackHole(sink.count)
            }
        }
    }

    Benchmark("ParallelDeflate 8 MiB, level 6, 2 threads") { benchmark in
        let engine = ParallelDeflateEngine(settings: CompressionSettings(level: 6, threads: 2))
        for _ in benchmark.scaledIterations {
            let sink = NullSink()
            let w = try engine.makeMember(writingTo: sink)
            try eightMiB.withUnsafeBytes { try w.write($0) }
            try w.finish()
            blackHole(sink.count)
        }
    }

    Benchmark("zlib gzip 8 MiB, level 6 (reference)") { benchmark in
        let engine = ZlibGzipEngine(level: 6)
        for _ in benchmark.scaledIterations {
            let sink = NullSink()
            let w = try engine.makeMember(writingTo: sink)
            try eightMiB.withUnsafeBytes { try w.write($0) }
            try w.finish()
            blackHole(sink.count)
        }
    }

    Benchmark("SHA-256 8 MiB") { benchmark in
        for _ in benchmark.scaledIterations {
            let d = Digest(.sha256)
            eightMiB.withUnsafeBytes { d.update($0) }
            blackHole(d.finalize())
        }
    }

    Benchmark("SHA-1 8 MiB") { benchmark in
        for _ in benchmark.scaledIterations {
            let d = Digest(.sha1)
            eightMiB.withUnsafeBytes { d.update($0) }
            blackHole(d.finalize())
        }
    }

    Benchmark("TarWriter 10,000 entries of 1 KiB (pax, abuild style)") { benchmark in
        let content = Data(sampleBytes(1024, seed: 3))
        for _ in benchmark.scaledIterations {
            let sink = NullSink()
            let tar = TarWriter(sink: sink)
            for i in 0..<10_000 {
                var e = TarWriter.Entry(path: "usr/share/bench/d\(i % 100)/file-\(i).txt", type: .regular,
                                        mode: 0o644, mtime: 1_700_000_000)
                e.size = Int64(content.count)
                try tar.add(e, content: content)
            }
            try tar.finish(cut: false)
            blackHole(sink.count)
        }
    }
}
