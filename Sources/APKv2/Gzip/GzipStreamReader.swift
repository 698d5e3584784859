import CZlib
import APKCore
import APKCrypto
import Foundation
import SystemIO

/// Inflates a file of concatenated gzip members as ONE byte stream, the way apk reads a package,
/// while telling a delegate which compressed bytes belong to which member and where members end.
public final class GzipStreamReader {
    /// Called with the compressed bytes of member `index` as they are consumed.
    public var onCompressedBytes: ((_ member: Int, _ bytes: UnsafeRawBufferPointer) -> Void)?
    /// Called when member `index` has ended (its trailer was checked).
    public var onMemberEnd: ((_ member: Int) -> Void)?

    /// Index of the member being inflated.
    public private(set) var member = 0
    /// Decompressed offsets at which each member started.
    public private(set) var memberStarts: [Int64] = [0]
    /// Decompressed bytes produced so far (including read-ahead not yet returned).
    public private(set) var offset: Int64 = 0

    private let source: FileSource
    private var stream = z_stream()
    private var input = [UInt8](repeating: 0, count: 256 * 1024)
    private var inputStart = 0, inputEnd = 0
    private var sourceEOF = false
    private var atMemberStart = true
    private var finished = false
    private var initialized = false

    public init(path: String) throws {
        source = try FileSource(path: path)
        let rc = inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw FormatError.crypto("inflateInit2 failed (\(rc))") }
        initialized = true
    }

    deinit { if initialized { inflateEnd(&stream) } }

    private func fill() throws {
        if inputStart < inputEnd || sourceEOF { return }
        let n = try input.withUnsafeMutableBytes { try source.read(into: $0) }
        inputStart = 0
        inputEnd = n
        if n == 0 { sourceEOF = true }
    }

    // Decompressed bytes inflated ahead of the reader. Read-ahead never crosses into the next
    // member before the reader has taken every byte of the current one, so a delegate deciding
    // how to hash a member always knows what the previous members held.
    private var output = [UInt8](repeating: 0, count: 256 * 1024)
    private var outputStart = 0, outputEnd = 0

    /// Reads decompressed bytes; returns 0 only at the end of the last member.
    public func read(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard out.count > 0 else { return 0 }
        if outputStart == outputEnd {
            outputStart = 0
            outputEnd = try inflateAhead()
            if outputEnd == 0 { return 0 }
        }
        let n = min(out.count, outputEnd - outputStart)
        output.withUnsafeBytes { src in
            out.baseAddress!.copyMemory(from: src.baseAddress! + outputStart, byteCount: n)
        }
        outputStart += n
        return n
    }

    /// Fills `output` from the current member (starting the next one only when this is called
    /// at a member boundary); returns the bytes produced, 0 at the end of the stream.
    private func inflateAhead() throws -> Int {
        guard !finished else { return 0 }
        var filled = 0
        while filled < output.count {
            try fill()
            if inputStart == inputEnd {
                if atMemberStart {
                    if filled > 0 { return filled }
                    finished = true
                    return 0
                }
                throw FormatError.malformed("gzip stream: truncated (member \(member) has no end)")
            }
            if atMemberStart {
                if filled > 0 { return filled } // hand over this member's bytes first
                // A new member must start with the gzip magic; anything else is trailing garbage.
                if input[inputStart] != 0x1f {
                    throw FormatError.malformed("gzip stream: garbage after member \(member - 1)")
                }
                atMemberStart = false
            }
            let availBefore = inputEnd - inputStart
            let room = output.count - filled
            var rc: Int32 = Z_OK
            let produced: Int = input.withUnsafeMutableBytes { inBuf in
                output.withUnsafeMutableBytes { outBuf in
                    stream.next_in = inBuf.baseAddress!.assumingMemoryBound(to: Bytef.self) + inputStart
                    stream.avail_in = uInt(availBefore)
                    stream.next_out = outBuf.baseAddress!.assumingMemoryBound(to: Bytef.self) + filled
                    stream.avail_out = uInt(room)
                    rc = inflate(&stream, Z_NO_FLUSH)
                    return room - Int(stream.avail_out)
                }
            }
            let consumed = availBefore - Int(stream.avail_in)
            if consumed > 0 {
                input.withUnsafeBytes { onCompressedBytes?(member, UnsafeRawBufferPointer(rebasing: $0[inputStart..<(inputStart + consumed)])) }
                inputStart += consumed
            }
            offset += Int64(produced)
            filled += produced
            switch rc {
            case Z_OK, Z_BUF_ERROR:
                if rc == Z_BUF_ERROR && consumed == 0 && produced == 0 && sourceEOF {
                    throw FormatError.malformed("gzip stream: truncated")
                }
            case Z_STREAM_END:
                onMemberEnd?(member)
                member += 1
                memberStarts.append(offset)
                atMemberStart = true
                inflateReset(&stream)
            case Z_DATA_ERROR:
                throw FormatError.malformed("gzip stream: corrupt data in member \(member) (\(stream.msg.map { String(cString: $0) } ?? "inflate error"))")
            default:
                throw FormatError.malformed("gzip stream: inflate error \(rc) in member \(member)")
            }
        }
        return filled
    }

    /// The member that decompressed `offset` belongs to.
    public func memberIndex(at offset: Int64) -> Int {
        var idx = 0
        for (i, s) in memberStarts.enumerated() where s <= offset { idx = i }
        return idx
    }
}
