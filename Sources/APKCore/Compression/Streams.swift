import CZlib
import CZstd
import Foundation
import SystemIO

/// zstd compression through libzstd, on `threads` worker threads (libzstd's own), streaming:
/// memory is bounded whatever the input size.
public final class ZstdCompressingSink: CompressingSink {
    private let cctx: OpaquePointer
    private let output: ByteSink
    private var outBuffer: [UInt8]
    private var finished = false

    /// log2 of the window of levels 1-19 (levels 20-22 keep libzstd's larger ones).
    public static let windowLog = 23

    public init(level: Int, threads: Int, output: ByteSink) throws {
        guard let c = ZSTD_createCCtx() else { throw FormatError.invalidArgument("zstd: cannot create a compressor") }
        cctx = c
        self.output = output
        outBuffer = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        guard ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, Int32(level))) == 0 else {
            ZSTD_freeCCtx(c)
            throw FormatError.invalidArgument("zstd level \(level) is not supported by this libzstd")
        }
        if level < 20 {
            // An 8 MiB window (libzstd's own for level 19) at every level up to 19: at level 3 it
            // costs no more CPU than the default 2 MiB and finds repeats further back (7% smaller on
            // the one-large benchmark tree, 0.7% on libs, the same on many-small); installing still
            // needs at most 8 MiB of window, which is what OpenWrt devices can spare.
            _ = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, Int32(Self.windowLog))
        }
        if threads > 1 {
            // Ignored (an error) by a libzstd built without threads: then it compresses on one core.
            _ = ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, Int32(threads))
            if level < 10 {
                // With the 8 MiB window libzstd would cut 32 MiB jobs (peak RSS 250 MiB on the
                // benchmark trees at level 3): 8 MiB jobs that each see the whole window before
                // them (overlap log 9) keep the size (209.0 against 210.6 MB on one-large) at the
                // memory of the default window (94 MiB). Level 10 and up keep libzstd's jobs:
                // re-reading the overlap costs them more CPU than it saves bytes.
                _ = ZSTD_CCtx_setParameter(c, ZSTD_c_jobSize, Int32(8 << 20))
                _ = ZSTD_CCtx_setParameter(c, ZSTD_c_overlapLog, 9)
            }
        }
    }

    deinit { ZSTD_freeCCtx(cctx) }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else { throw FormatError.invalidArgument("zstd: write after finish") }
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective) throws -> Int {
        try outBuffer.withUnsafeMutableBytes { out in
            var o = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
            let left = ZSTD_compressStream2(cctx, &o, &input, mode)
            if ZSTD_isError(left) != 0 { throw FormatError.invalidArgument("zstd: \(String(cString: ZSTD_getErrorName(left)))") }
            if o.pos > 0 { try output.write(UnsafeRawBufferPointer(rebasing: out[0..<o.pos])) }
            return left
        }
    }
}

/// Something bytes are read from, a chunk at a time; 0 at the end.
public protocol ByteSource: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension FileSource: ByteSource {}

/// A source that starts with bytes already read (a magic that was sniffed), then reads on.
public final class PrefixedSource: ByteSource {
    private var prefix: [UInt8]
    private let rest: ByteSource
    public init(prefix: [UInt8], rest: ByteSource) { self.prefix = prefix; self.rest = rest }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if !prefix.isEmpty {
            let n = min(prefix.count, buffer.count)
            prefix.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            prefix.removeFirst(n)
            return n
        }
        return try rest.read(into: buffer)
    }
}

/// The compressed input a decoder has read but not consumed yet, refilled from its source.
struct InputWindow {
    private var buffer: [UInt8]
    private var start = 0
    /// Bytes read and not consumed yet.
    private(set) var pending = 0
    /// The source is exhausted.
    private(set) var done = false

    init(capacity: Int) { buffer = [UInt8](repeating: 0, count: capacity) }

    /// Reads more when everything read so far is consumed.
    mutating func refill(from source: ByteSource) throws {
        guard pending == 0 && !done else { return }
        let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
        start = 0
        pending = n
        if n == 0 { done = true }
    }

    /// Calls `body` with the unconsumed bytes; it returns how many it consumed.
    mutating func consume<T>(_ body: (UnsafeRawBufferPointer) throws -> (used: Int, result: T)) rethrows -> T {
        let (start, pending) = (self.start, self.pending)
        let (used, result) = try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<start + pending])) }
        self.start += used
        self.pending -= used
        return result
    }
}

/// Inflates a raw deflate stream (no header), bounded memory.
public final class RawInflateSource: ByteSource {
    private var stream = z_stream()
    private let input: ByteSource
    private var window = InputWindow(capacity: 256 << 10)
    private var ended = false

    public init(_ input: ByteSource) throws {
        self.input = input
        let rc = inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw FormatError.malformed("inflateInit2 failed (\(rc))") }
    }

    deinit { inflateEnd(&stream) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if ended || buffer.count == 0 { return 0 }
        return try inflateSome(into: buffer)
    }

    private func inflateSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            try window.refill(from: input)
            let (rc, made): (Int32, Int) = window.consume { inb in
                stream.next_in = UnsafeMutablePointer(mutating: inb.baseAddress?.assumingMemoryBound(to: UInt8.self))
                stream.avail_in = UInt32(inb.count)
                stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                stream.avail_out = UInt32(buffer.count)
                let rc = inflate(&stream, Z_NO_FLUSH)
                return (inb.count - Int(stream.avail_in), (rc, buffer.count - Int(stream.avail_out)))
            }
            if rc == Z_STREAM_END {
                ended = true
                if window.pending > 0 || (try? peekMore()) == true {
                    throw FormatError.malformed("data after the end of the compressed stream")
                }
                return made
            }
            if rc != Z_OK && rc != Z_BUF_ERROR {
                throw FormatError.malformed("corrupt deflate stream (zlib \(rc))")
            }
            if made > 0 { return made }
            if window.done && window.pending == 0 { throw FormatError.malformed("truncated: the compressed stream ends early") }
        }
    }

    private func peekMore() throws -> Bool {
        var one = [UInt8](repeating: 0, count: 1)
        return try one.withUnsafeMutableBytes { try input.read(into: $0) } > 0
    }
}

/// Decompresses zstd frames, bounded memory.
public final class ZstdDecompressingSource: ByteSource {
    private let dctx: OpaquePointer
    private let input: ByteSource
    private var window = InputWindow(capacity: ZSTD_DStreamInSize())
    private var lastResult = 1

    public init(_ input: ByteSource) throws {
        guard let d = ZSTD_createDCtx() else { throw FormatError.malformed("zstd: cannot create a decompressor") }
        dctx = d
        // Refuse frames that would need a window over 128 MiB (hostile input).
        _ = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27)
        self.input = input
    }

    deinit { ZSTD_freeDCtx(dctx) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            try window.refill(from: input)
            if window.done && window.pending == 0 {
                if lastResult != 0 { throw FormatError.malformed("truncated: the zstd stream ends early") }
                return 0
            }
            let (r, made): (Int, Int) = window.consume { inb in
                var i = ZSTD_inBuffer(src: inb.baseAddress, size: inb.count, pos: 0)
                var o = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let r = ZSTD_decompressStream(dctx, &o, &i)
                return (ZSTD_isError(r) != 0 ? 0 : i.pos, (r, o.pos))
            }
            if ZSTD_isError(r) != 0 { throw FormatError.malformed("corrupt zstd stream: \(String(cString: ZSTD_getErrorName(r)))") }
            lastResult = r
            if made > 0 { return made }
        }
    }
}
