@testable import APKCore
import APKFormat
import Foundation
import TestSupport
import XCTest

final class ParallelDeflateTests: XCTestCase {
    /// Checks with Python's zlib that `gz` is exactly ONE gzip member (nothing after it) holding
    /// `expected`, with a `gzip -n` style header. Returns Python's report.
    private func assertOneMember(_ gz: Data, equals expected: Data, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = TempDir("pdeflate")
        let gzPath = dir.write("out.gz", gz)
        let rawPath = dir.write("raw.bin", expected)
        let script = """
        import sys, zlib
        gz = open(sys.argv[1], 'rb').read()
        raw = open(sys.argv[2], 'rb').read()
        d = zlib.decompressobj(31)
        out = d.decompress(gz) + d.flush()
        assert d.eof, 'member not finished'
        assert d.unused_data == b'', 'bytes after the first member: %d' % len(d.unused_data)
        assert out == raw, 'content differs: %d vs %d bytes' % (len(out), len(raw))
        assert gz[:4] == b'\\x1f\\x8b\\x08\\x00', 'header magic/flags %r' % gz[:4]
        assert gz[4:8] == b'\\0\\0\\0\\0', 'mtime not 0'
        assert gz[9] == 3, 'OS byte %d' % gz[9]
        print('ok', len(out))
        """
        let r = try runPython(script, [gzPath, rawPath])
        XCTAssertEqual(r.status, 0, "python: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "ok \(expected.count)", file: file, line: line)
        // GNU gzip agrees too.
        let t = try runProcess("gzip", ["-t", gzPath])
        XCTAssertEqual(t.status, 0, "gzip -t: \(t.stderr)", file: file, line: line)
        let d = try runProcess("gzip", ["-dc", gzPath])
        XCTAssertEqual(d.status, 0, file: file, line: line)
        XCTAssertTrue(d.stdoutData == expected, "gzip -dc output differs", file: file, line: line)
    }

    private func compress(_ data: Data, level: Int = 6, threads: Int = 2, chunkSize: Int = 64 * 1024,
                          writeSize: Int = 7_919) throws -> Data {
        let engine = ParallelDeflateEngine(settings: CompressionSettings(level: level, threads: threads), chunkSize: chunkSize)
        let sink = BufferSink()
        let w = try engine.makeMember(writingTo: sink)
        var i = 0
        while i < data.count {
            let j = min(data.count, i + writeSize)
            try w.write(data.subdata(in: i..<j))
            i = j
        }
        try w.finish()
        return sink.data
    }

    /// Text-like data with repeats (compressible) from a fixed seed.
    private func textLike(_ count: Int, seed: UInt64 = 42) -> Data {
        var rng = SeededGenerator(seed: seed)
        let words = ["alpine", "package", "signature", "control", "data", "usr/lib/", "libswift", ".so", "\n", " ", "=", "0x"]
        var out = Data(capacity: count)
        while out.count < count {
            let r = rng.next()
            if r % 7 == 0 {
                out.append(UInt8(truncatingIfNeeded: r >> 8))
            } else {
                out.append(contentsOf: words[Int(r >> 16) % words.count].utf8)
            }
        }
        return out.prefix(count)
    }

    private func random(_ count: Int, seed: UInt64 = 7) -> Data {
        var rng = SeededGenerator(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<count { bytes[i] = UInt8(truncatingIfNeeded: rng.next() >> 24) }
        return Data(bytes)
    }

    func testEmptyInput() throws {
        let gz = try compress(Data())
        try assertOneMember(gz, equals: Data())
    }

    func testOneByte() throws {
        try assertOneMember(try compress(Data([0x41])), equals: Data([0x41]))
    }

    func testSmallControlSizedInput() throws {
        let data = textLike(3_000)
        for level in [1, 6, 9, 12] {
            try assertOneMember(try compress(data, level: level), equals: data)
        }
    }

    func testManyChunksAllLevelsOneMember() throws {
        let data = textLike(700_000)
        for level in 1...12 {
            let gz = try compress(data, level: level, chunkSize: 64 * 1024)
            try assertOneMember(gz, equals: data)
        }
    }

    func testExactChunkBoundaries() throws {
        let chunk = 16 * 1024
        for count in [chunk - 1, chunk, chunk + 1, 3 * chunk, 3 * chunk + 1] {
            let data = textLike(count, seed: UInt64(count))
            // Writes that end exactly on the boundary, and writes that straddle it.
            try assertOneMember(try compress(data, chunkSize: chunk, writeSize: chunk), equals: data)
            try assertOneMember(try compress(data, chunkSize: chunk, writeSize: 1000), equals: data)
        }
    }

    func testIncompressibleDataStoredBlocks() throws {
        // Random bytes: libdeflate emits stored blocks; their last-block bit must be cleared too.
        let data = random(300_000)
        for level in [1, 6, 12] {
            let gz = try compress(data, level: level, chunkSize: 32 * 1024)
            try assertOneMember(gz, equals: data)
            XCTAssertLessThan(gz.count, data.count + data.count / 50, "stored blocks should cost little")
        }
        // Mixed: random and text alternate across chunk boundaries.
        var mixed = Data()
        for i in 0..<8 { mixed.append(i % 2 == 0 ? random(20_000, seed: UInt64(i)) : textLike(25_000, seed: UInt64(i))) }
        try assertOneMember(try compress(mixed, chunkSize: 16 * 1024), equals: mixed)
    }

    /// Segments that look incompressible (random bytes) are written as stored blocks, the rest
    /// compressed around them, in one chunk: a stored run between compressed ones, a chunk that
    /// is all stored, a final chunk ending with stored blocks, and one ending compressed. The
    /// random parts cost only the stored-block headers; the text still compresses; Python's zlib
    /// reads one member back, whatever the thread count.
    func testIncompressibleSegmentsAreStoredAmongCompressedOnes() throws {
        let seg = 256 * 1024
        var pieces: [(Data, Bool)] = [(textLike(3 * seg / 2, seed: 1), false), (random(3 * seg, seed: 2), true),
                                      (textLike(seg, seed: 3), false), (random(5 * seg, seed: 4), true),
                                      (textLike(7 * seg / 3, seed: 5), false)]
        for (piece, stored) in pieces {
            let probe = Data(piece.prefix(seg))
            XCTAssertEqual(probe.withUnsafeBytes { DeflateChunkCompressor.looksIncompressible($0.bindMemory(to: UInt8.self).baseAddress!, count: seg) },
                           stored, "segment classification")
        }
        for endsStored in [false, true] {
            if endsStored { pieces.append((random(seg + 1234, seed: 6), true)) }
            let data = pieces.reduce(Data()) { $0 + $1.0 }
            let randomBytes = pieces.filter(\.1).reduce(0) { $0 + $1.0.count }
            let textOnly = try compress(pieces.filter { !$0.1 }.reduce(Data()) { $0 + $1.0 }, chunkSize: 4 << 20)
            for threads in [1, 2] {
                let gz = try compress(data, threads: threads, chunkSize: 4 << 20)
                try assertOneMember(gz, equals: data)
                // Random bytes stored: 5 bytes of header per 64 KiB at most, plus run edges.
                XCTAssertLessThan(gz.count, textOnly.count + randomBytes + randomBytes / 65535 * 5 + 4096,
                                  "stored runs should cost only their headers")
            }
        }
    }

    func testDeterministicAcrossThreadCountsAndWriteSizes() throws {
        let data = textLike(1_000_000) + random(100_000) + textLike(333_333, seed: 9)
        let one = try compress(data, threads: 1, chunkSize: 128 * 1024, writeSize: 65_536)
        let four = try compress(data, threads: 4, chunkSize: 128 * 1024, writeSize: 1_000)
        let eight = try compress(data, threads: 8, chunkSize: 128 * 1024, writeSize: 1_000_000)
        XCTAssertEqual(one, four)
        XCTAssertEqual(one, eight)
        try assertOneMember(one, equals: data)
        // The chunk size (not the thread count) is what changes the bytes.
        let other = try compress(data, threads: 4, chunkSize: 256 * 1024)
        XCTAssertNotEqual(one, other)
        try assertOneMember(other, equals: data)
    }

    func testSmallChunksCostLittleAgainstWholeStream() throws {
        // Sanity for the join: many chunks must not blow up the size (each join adds at most 5 bytes
        // plus the lost window).
        let data = textLike(2_000_000)
        let whole = try compress(data, level: 6, chunkSize: 4 << 20)
        let chunked = try compress(data, level: 6, chunkSize: 256 * 1024)
        XCTAssertLessThan(Double(chunked.count), Double(whole.count) * 1.02)
    }

    func testFiftyMegabytesInSmallWritesDefaultChunkSize() throws {
        // ~50 MB, mixed, streamed in small writes through the default chunk size and profile.
        let block = textLike(1 << 20, seed: 3) + random(256 * 1024, seed: 4)
        var data = Data(capacity: 50_000_000)
        var seed: UInt64 = 0
        while data.count < 50_000_000 {
            data.append(block)
            seed += 1
            data.append(textLike(Int(seed * 977 % 65_536), seed: seed))
        }
        let engine = ParallelDeflateEngine(settings: CompressionSettings(profile: .fast))
        let dir = TempDir("pdeflate-big")
        let path = dir.sub("big.gz")
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        final class HandleSink: ByteSink {
            let h: FileHandle
            init(_ h: FileHandle) { self.h = h }
            func write(_ bytes: UnsafeRawBufferPointer) throws { try h.write(contentsOf: Data(bytes)) }
        }
        let w = try engine.makeMember(writingTo: HandleSink(handle))
        try data.withUnsafeBytes { all in
            var i = 0
            while i < all.count {
                let j = min(all.count, i + 4_099)
                try w.write(UnsafeRawBufferPointer(rebasing: all[i..<j]))
                i = j
            }
        }
        try w.finish()
        try handle.close()
        let raw = dir.write("big.raw", data)
        let script = """
        import sys, zlib, hashlib
        d = zlib.decompressobj(31)
        h = hashlib.sha256()
        with open(sys.argv[1], 'rb') as f:
            while True:
                b = f.read(1 << 20)
                if not b: break
                assert not d.eof, 'data after the first member'
                h.update(d.decompress(b))
        h.update(d.flush())
        assert d.eof and d.unused_data == b''
        assert h.hexdigest() == hashlib.sha256(open(sys.argv[2], 'rb').read()).hexdigest()
        print('ok')
        """
        let r = try runPython(script, [path, raw])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "ok\n")
        XCTAssertEqual(try runProcess("gzip", ["-t", path]).status, 0)
    }

    func testProfilesAreOrderedBySize() throws {
        let data = textLike(3_000_000)
        let fast = try gzipMember(data, engine: ParallelDeflateEngine(settings: CompressionSettings(profile: .fast)))
        let normal = try gzipMember(data, engine: ParallelDeflateEngine(settings: .default))
        let max = try gzipMember(data, engine: ParallelDeflateEngine(settings: CompressionSettings(profile: .max)))
        XCTAssertGreaterThanOrEqual(fast.count, normal.count)
        XCTAssertGreaterThanOrEqual(normal.count, max.count)
        try assertOneMember(max, equals: data)
    }

    func testWriteAfterFinishFails() throws {
        let w = try ParallelDeflateEngine(settings: .default).makeMember(writingTo: BufferSink())
        try w.write(Data("x".utf8))
        try w.finish()
        XCTAssertThrowsError(try w.write(Data("y".utf8)))
    }

    func testSinkErrorPropagates() throws {
        final class FailingSink: ByteSink {
            var writes = 0
            func write(_ bytes: UnsafeRawBufferPointer) throws {
                writes += 1
                if writes > 2 { throw FormatError.io(path: "sink", reason: "disk full") }
            }
        }
        let engine = ParallelDeflateEngine(settings: CompressionSettings(level: 1, threads: 2), chunkSize: 4096)
        let w = try engine.makeMember(writingTo: FailingSink())
        let data = random(200_000)
        XCTAssertThrowsError(try {
            try w.write(data)
            try w.finish()
        }()) { error in
            XCTAssertEqual(error as? FormatError, .io(path: "sink", reason: "disk full"))
        }
    }
}

