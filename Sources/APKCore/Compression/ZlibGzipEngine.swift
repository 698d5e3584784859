import CZlib
import APKCrypto
import Foundation
import SystemIO

/// A streaming, single-threaded gzip engine on zlib's deflate (`gzip -n` style header: no name, mtime 0).
public struct ZlibGzipEngine: CompressionEngine {
    public let level: Int32
    public init(level: Int = 9) { self.level = Int32(min(9, max(1, level))) }

    public func makeMember(writingTo output: ByteSink) throws -> GzipMemberWriter {
        try ZlibMemberWriter(level: level, output: output)
    }
}

final class ZlibMemberWriter: GzipMemberWriter {
    private var stream = z_stream()
    private let output: ByteSink
    private var outBuf = [UInt8](repeating: 0, count: 256 * 1024)
    private var finished = false

    init(level: Int32, output: ByteSink) throws {
        self.output = output
        // windowBits 15 + 16: gzip wrapper; zlib writes mtime 0 and no name.
        let rc = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw FormatError.crypto("deflateInit2 failed (\(rc))") }
    }

    deinit { deflateEnd(&stream) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        try run(bytes, flush: Z_NO_FLUSH)
    }

    func finish() throws {
        guard !finished else { return }
        finished = true
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH)
    }

    private func run(_ bytes: UnsafeRawBufferPointer, flush: Int32) throws {
        stream.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(bytes.count)
        while true {
            var rc: Int32 = Z_OK
            let produced: Int = try outBuf.withUnsafeMutableBytes { out in
                stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                rc = deflate(&stream, flush)
                guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
                    throw FormatError.crypto("deflate failed (\(rc))")
                }
                return out.count - Int(stream.avail_out)
            }
            if produced > 0 { try outBuf.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
            if flush == Z_FINISH {
                if rc == Z_STREAM_END { break }
            } else if stream.avail_in == 0 && stream.avail_out != 0 {
                break
            }
        }
    }
}
