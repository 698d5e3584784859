import CDeflate
import CZlib
import APKCrypto
import Foundation
import SystemIO

/// A gzip engine that cuts its input into fixed-size chunks, compresses them on worker threads
/// with libdeflate, and joins the raw deflate streams into ONE gzip member (the way zlib's
/// `examples/gzjoin.c` joins members: clear the last-block bit, byte-align with an empty stored block).
///
/// - Chunk boundaries depend only on `chunkSize`, never on the thread count or timing, so the
///   output is byte-for-byte the same for the same input and level.
/// - Memory is bounded: at most `threads + 1` chunks are in flight (plus the one being filled),
///   whatever the input size: (threads + 2) × chunk input + (threads + 1) × chunk output + one
///   libdeflate compressor per thread (~1 MB at levels 1-9, ~9 MB at 10-12).
/// - Output goes to the sink only from the calling thread, in order.
/// - libdeflate has no preset-dictionary API, so every chunk starts with an empty window; at
///   4 MiB chunks this costs well under 0.1% in size.
public struct ParallelDeflateEngine: CompressionEngine {
    public let settings: CompressionSettings
    /// Uncompressed bytes per chunk.
    public let chunkSize: Int

    /// Chunks compressed or waiting to be written at once, at most (default: threads + 1: one
    /// queued for each worker to take next is enough, since filling a chunk is much faster than
    /// compressing it; measured no slower than threads × 2 on the libs tree, 8 MiB less memory).
    public let chunksInFlight: Int

    /// Chunk size used unless told otherwise, measured on the libs tree (Benchmarks/): 4 MiB
    /// chunks cost about 0.05% in size against one whole stream, 2 MiB about 0.1%. Levels 10-12
    /// use 2 MiB because libdeflate's near-optimal parser needs ~9 MB per thread on top.
    public static func defaultChunkSize(level: Int) -> Int {
        level >= 10 ? 2 << 20 : 4 << 20
    }

    public init(settings: CompressionSettings) {
        self.init(settings: settings, chunkSize: Self.defaultChunkSize(level: settings.level))
    }

    /// `chunkSize` is clamped to at least 1 KiB, `chunksInFlight` to at least 2.
    public init(settings: CompressionSettings, chunkSize: Int, chunksInFlight: Int? = nil) {
        self.settings = settings
        self.chunkSize = max(1024, chunkSize)
        self.chunksInFlight = max(2, chunksInFlight ?? max(1, settings.threads) + 1)
    }

    public func makeMember(writingTo output: ByteSink) throws -> GzipMemberWriter {
        ParallelDeflateWriter(engine: self, output: output, gzip: true)
    }

    /// A raw deflate stream (no gzip header or trailer), as apk v3 files hold after `ADBd`.
    public func makeRawStream(writingTo output: ByteSink) -> CompressingSink {
        ParallelDeflateWriter(engine: self, output: output, gzip: false)
    }
}

// MARK: - Chunks

/// One chunk: its input, its compressed output, its CRC. Reused once written.
///
/// Handed between threads through the `WorkerPool`: the writer fills it and submits it, exactly
/// one worker compresses it and signals `completion`, and the writer touches it again only after
/// waiting on `completion`. That hand-off is what makes the unchecked conformance sound.
final class DeflateChunk: @unchecked Sendable {
    let capacity: Int
    let input: UnsafeMutablePointer<UInt8>
    var inputCount = 0
    var output: UnsafeMutablePointer<UInt8>?
    var outputCapacity = 0
    var outputCount = 0
    var crc: UInt32 = 0
    var isFinal = false
    /// Set by the worker before it signals `completion`; read by the writer after waiting on it.
    var error: Error?
    /// Signalled once when the chunk is compressed.
    let completion = DispatchSemaphore(value: 0)

    init(capacity: Int) {
        self.capacity = capacity
        input = .allocate(capacity: capacity)
    }

    deinit {
        input.deallocate()
        output?.deallocate()
    }

    func ensureOutput(_ count: Int) {
        if outputCapacity >= count { return }
        output?.deallocate()
        output = .allocate(capacity: count)
        outputCapacity = count
    }

    func reset() {
        inputCount = 0
        outputCount = 0
        crc = 0
        isFinal = false
        error = nil
    }
}

/// Compresses chunks; one per thread (libdeflate compressors and zlib streams are not shareable).
/// Each pool thread uses only the compressor at its own index: never shared, only owned.
final class DeflateChunkCompressor: @unchecked Sendable {
    private let compressor: OpaquePointer
    private var inflater = z_stream()
    private var inflaterReady = false
    private let junkSize = 256 * 1024
    private let junk: UnsafeMutablePointer<UInt8>
    private let scanner = DeflateBlockScanner()

    /// The longest tail `compress` appends to a non-final chunk (one zero byte + an empty stored block).
    static let alignmentSlack = 5

    init(level: Int32) throws {
        guard let c = libdeflate_alloc_compressor(level) else {
            throw FormatError.crypto("libdeflate_alloc_compressor(\(level)) failed: out of memory or bad level")
        }
        compressor = c
        junk = .allocate(capacity: junkSize)
    }

    deinit {
        libdeflate_free_compressor(compressor)
        if inflaterReady { inflateEnd(&inflater) }
        junk.deallocate()
    }

    /// Room for a chunk's output: libdeflate's bound for the whole chunk, plus, per segment run,
    /// the alignment tail and stored-block headers (a run of stored segments costs 5 bytes per
    /// 64 KiB; a compressed run at most libdeflate's own bound for its part).
    func outputBound(_ inputCount: Int) -> Int {
        let segments = inputCount / Self.segmentSize + 1
        return libdeflate_deflate_compress_bound(compressor, inputCount)
            + segments * (Self.alignmentSlack + libdeflate_deflate_compress_bound(compressor, 0))
            + (inputCount / 65535 + segments) * 5
    }

    /// Data that deflate cannot shrink (random bytes, already-compressed files) is found per
    /// segment of this size and written as stored blocks, not searched for matches by libdeflate.
    static let segmentSize = 256 * 1024

    /// Whether a segment looks incompressible: four 4 KiB samples spread over it all have an
    /// order-0 entropy of at least 7.9 bits per byte (random data: about 7.96 at this sample size;
    /// text 4-5, machine code 5-6.5). Deflate's matches cannot help such data either, beyond the
    /// odd repeat within 32 KiB, so storing it costs nothing in size and saves the search.
    static func looksIncompressible(_ p: UnsafePointer<UInt8>, count n: Int) -> Bool {
        let sample = 4096
        guard n >= 4 * sample else { return false }
        var counts = [Int](repeating: 0, count: 256)
        for k in 0..<4 {
            let start = (n - sample) * k / 3
            for i in 0..<256 { counts[i] = 0 }
            for i in start..<(start + sample) { counts[Int(p[i])] += 1 }
            var entropy = 0.0
            for c in counts where c > 0 {
                let q = Double(c) / Double(sample)
                entropy -= q * log2(q)
            }
            if entropy < 7.9 { return false }
        }
        return true
    }

    /// Compresses `chunk.input` into `chunk.output` as raw deflate. A non-final chunk ends
    /// with a non-final block and on a byte boundary, so the next chunk's stream can follow it.
    /// Runs of incompressible segments become stored blocks; the rest goes through libdeflate,
    /// one call per run (a chunk with no incompressible segment is one call, as before).
    func compress(_ chunk: DeflateChunk) throws {
        chunk.crc = GzipCRC.update(0, UnsafeRawBufferPointer(start: chunk.input, count: chunk.inputCount))
        chunk.ensureOutput(outputBound(chunk.inputCount))
        let input = chunk.input, count = chunk.inputCount
        // Runs of segments of one kind: (start, end, stored).
        var runs: [(Int, Int, Bool)] = []
        var at = 0
        while at < count || runs.isEmpty {
            let end = min(count, at + Self.segmentSize)
            let stored = end - at == Self.segmentSize && Self.looksIncompressible(input + at, count: end - at)
            if let last = runs.last, last.2 == stored { runs[runs.count - 1].1 = end } else { runs.append((at, end, stored)) }
            if end == at { break }
            at = end
        }
        let out = chunk.output!
        var written = 0
        for (i, run) in runs.enumerated() {
            let lastRun = i == runs.count - 1
            let final = chunk.isFinal && lastRun
            if run.2 {
                written = Self.writeStored(input + run.0, count: run.1 - run.0, final: final, into: out + written) + written
                continue
            }
            let n = libdeflate_deflate_compress(compressor, input + run.0, run.1 - run.0,
                                                out + written, chunk.outputCapacity - written - Self.alignmentSlack)
            guard n > 0 else { throw FormatError.crypto("libdeflate_deflate_compress failed for a \(run.1 - run.0)-byte chunk") }
            written += final ? n : try makeNonFinal(out + written, count: n)
        }
        chunk.outputCount = written
    }

    /// Stored blocks (at most 65,535 bytes each) from a byte boundary; the last one final when
    /// `final`. Returns the bytes written.
    static func writeStored(_ p: UnsafePointer<UInt8>, count n: Int, final: Bool, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var w = 0, at = 0
        repeat {
            let len = min(65535, n - at)
            let last = at + len == n
            out[w] = final && last ? 1 : 0
            out[w + 1] = UInt8(len & 0xff); out[w + 2] = UInt8(len >> 8)
            out[w + 3] = ~out[w + 1]; out[w + 4] = ~out[w + 2]
            (out + w + 5).update(from: p + at, count: len)
            w += 5 + len
            at += len
        } while at < n
        return w
    }

    /// Clears the BFINAL bit of the stream's last block and byte-aligns the end with an empty
    /// stored block. Returns the new length.
    func makeNonFinal(_ p: UnsafeMutablePointer<UInt8>, count n: Int) throws -> Int {
        let (header, end) = try scanner.lastBlock(p, count: n)
        p[header >> 3] &= ~UInt8(1 << (header & 7))
        let unused = n * 8 - end
        guard unused >= 0 && unused < 8 else {
            throw FormatError.malformed("deflate chunk: the last block ends at bit \(end) of \(n * 8)")
        }
        if unused == 0 { return n }  // Already on a byte boundary: the next block starts with the next byte.
        // The free high bits of the last byte take the stored block's 3 header bits (000) when
        // there is room, else they spill into one more zero byte; then LEN = 0, NLEN = 0xffff.
        p[n - 1] &= UInt8((1 << (8 - unused)) - 1)
        var m = n
        if unused < 3 { p[m] = 0; m += 1 }
        p[m] = 0; p[m + 1] = 0; p[m + 2] = 0xff; p[m + 3] = 0xff
        return m + 4
    }

    /// Finds, by decoding the stream block by block with zlib (`Z_BLOCK`), the bit offset of the
    /// last block's header and the bit offset just past its end-of-block code. The slow, independent
    /// way to do what `DeflateBlockScanner` does; the tests hold the two against each other.
    func lastBlockBitsWithZlib(_ p: UnsafeMutablePointer<UInt8>, count n: Int) throws -> (header: Int, end: Int) {
        if inflaterReady {
            inflateReset(&inflater)
        } else {
            let rc = inflateInit2_(&inflater, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard rc == Z_OK else { throw FormatError.crypto("inflateInit2 failed (\(rc))") }
            inflaterReady = true
        }
        inflater.next_in = p
        inflater.avail_in = uInt(n)
        var header = 0
        while true {
            inflater.next_out = junk
            inflater.avail_out = uInt(junkSize)
            let rc = inflate(&inflater, Z_BLOCK)
            guard rc == Z_OK else {
                throw FormatError.malformed("deflate chunk: inflate returned \(rc) before the last block ended")
            }
            let consumed = n - Int(inflater.avail_in)
            let dataType = Int(inflater.data_type)
            if dataType & 128 != 0 {
                let bit = consumed * 8 - (dataType & 7)
                if dataType & 64 != 0 { return (header, bit) }  // Just after the last block.
                header = bit  // A block header starts here.
            } else if inflater.avail_in == 0 && inflater.avail_out != 0 {
                throw FormatError.malformed("deflate chunk: the stream ends inside a block")
            }
        }
    }
}

// MARK: - Workers

/// The deflate threads: the shared `WorkerPool`, plus one compressor per thread.
final class DeflateWorkerPool: Sendable {
    private let pool: WorkerPool
    private let compressors: [DeflateChunkCompressor?]
    private let setupError: FormatError?

    init(threads: Int, level: Int32) {
        pool = WorkerPool(threads: threads, name: "apkit-deflate")
        var made: [DeflateChunkCompressor?] = []
        var failure: FormatError? = nil
        for _ in 0..<threads {
            do { made.append(try DeflateChunkCompressor(level: level)) } catch {
                made.append(nil)
                failure = error as? FormatError ?? FormatError.invalidArgument("\(error)")
            }
        }
        compressors = made
        setupError = failure
    }

    func submit(_ chunk: DeflateChunk) {
        let compressors = self.compressors, setupError = self.setupError
        pool.submit { worker in
            if let c = compressors[worker] {
                do { try c.compress(chunk) } catch { chunk.error = error }
            } else {
                chunk.error = setupError
            }
            chunk.completion.signal()
        }
    }

    /// Whether `chunk` is compressed (without consuming its completion).
    func isDone(_ chunk: DeflateChunk) -> Bool {
        guard chunk.completion.wait(timeout: .now()) == .success else { return false }
        chunk.completion.signal()
        return true
    }

    /// Lets the threads finish what is queued and end.
    func stop() { pool.stop() }
}

// MARK: - The member writer

final class ParallelDeflateWriter: GzipMemberWriter {
    private let engine: ParallelDeflateEngine
    private let output: ByteSink
    /// With a gzip header and trailer (a gzip member), or a bare deflate stream.
    private let gzip: Bool
    private var level: Int32 { Int32(min(12, max(1, engine.settings.level))) }
    private var threads: Int { max(1, engine.settings.threads) }
    private var chunkSize: Int { engine.chunkSize }
    private var maxInFlight: Int { engine.chunksInFlight }

    private var current: DeflateChunk?
    private var pending: [DeflateChunk] = []  // Submitted, not yet written, in input order.
    private var pendingHead = 0
    private var spare: [DeflateChunk] = []
    private var pool: DeflateWorkerPool?
    private var local: DeflateChunkCompressor?  // For the calling thread (one thread, or one chunk).

    private var crc: UInt = 0
    private var totalIn: UInt64 = 0
    private var headerWritten = false
    private var finished = false
    private var failed: Error?

    init(engine: ParallelDeflateEngine, output: ByteSink, gzip: Bool) {
        self.engine = engine
        self.output = output
        self.gzip = gzip
    }

    deinit { pool?.stop() }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let failed { throw failed }
        guard !finished else { throw FormatError.invalidArgument("gzip member: write after finish") }
        guard var src = bytes.baseAddress, bytes.count > 0 else { return }
        var left = bytes.count
        do {
            while left > 0 {
                var chunk = current ?? takeChunk()
                if chunk.inputCount == chunkSize {
                    // Full, and more input follows: this chunk is not the last one.
                    try submit(chunk, isFinal: false)
                    chunk = takeChunk()
                }
                current = chunk
                let n = min(left, chunkSize - chunk.inputCount)
                (chunk.input + chunk.inputCount).update(from: src.assumingMemoryBound(to: UInt8.self), count: n)
                chunk.inputCount += n
                src += n
                left -= n
            }
        } catch {
            failed = error
            throw error
        }
    }

    func finish() throws {
        if let failed { throw failed }
        guard !finished else { return }
        finished = true
        do {
            let last = current ?? takeChunk()
            current = nil
            try submit(last, isFinal: true)
            while pendingHead < pending.count { try writeOldest(wait: true) }
            var trailer = [UInt8](repeating: 0, count: 8)
            let c = UInt32(truncatingIfNeeded: crc), size = UInt32(truncatingIfNeeded: totalIn)
            for i in 0..<4 {
                trailer[i] = UInt8(truncatingIfNeeded: c >> (8 * i))
                trailer[4 + i] = UInt8(truncatingIfNeeded: size >> (8 * i))
            }
            if gzip { try output.write(trailer) }
            pool?.stop()
            pool = nil
        } catch {
            failed = error
            pool?.stop()
            pool = nil
            throw error
        }
    }

    private func takeChunk() -> DeflateChunk {
        if let c = spare.popLast() { c.reset(); return c }
        return DeflateChunk(capacity: chunkSize)
    }

    private func submit(_ chunk: DeflateChunk, isFinal: Bool) throws {
        chunk.isFinal = isFinal
        pending.append(chunk)
        if pool == nil && threads > 1 && !isFinal {
            pool = DeflateWorkerPool(threads: threads, level: level)
        }
        if let pool {
            pool.submit(chunk)
            // Write whatever is already done, then keep at most maxInFlight chunks in flight.
            while pendingHead < pending.count, pool.isDone(pending[pendingHead]) { try writeOldest(wait: false) }
            while pending.count - pendingHead >= maxInFlight { try writeOldest(wait: true) }
        } else {
            // One thread, or the whole input is one chunk: compress here.
            if local == nil { local = try DeflateChunkCompressor(level: level) }
            try local!.compress(chunk)
            chunk.completion.signal()
            try writeOldest(wait: false)
        }
    }

    private func writeOldest(wait: Bool) throws {
        let chunk = pending[pendingHead]
        chunk.completion.wait()  // returns at once when the chunk is known to be done
        pendingHead += 1
        if pendingHead == pending.count { pending.removeAll(keepingCapacity: true); pendingHead = 0 }
        if let error = chunk.error { throw error }
        if !headerWritten {
            headerWritten = true
            guard gzip else { return try writeBody(chunk) }
            // gzip header as `gzip -n` writes it: no name, mtime 0, OS 3 (Unix).
            let xfl: UInt8 = level >= 9 ? 2 : (level == 1 ? 4 : 0)
            try output.write([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3])
        }
        try writeBody(chunk)
    }

    private func writeBody(_ chunk: DeflateChunk) throws {
        try output.write(UnsafeRawBufferPointer(start: chunk.output, count: chunk.outputCount))
        crc = crc32_combine(crc, UInt(chunk.crc), .init(chunk.inputCount))
        totalIn &+= UInt64(chunk.inputCount)
        spare.append(chunk)
    }
}
