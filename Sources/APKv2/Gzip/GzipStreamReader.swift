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
    private static let bufferSize = 256 * 1024
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 64)
    private var inputStart = 0, inputEnd = 0
    private var sourceEOF = false
    private var atMemberStart = true
    private var finished = false
    private var initialized = false
    // zlib checks each member's header; once a member's data flows, its CRC-32 and length are
    // checked here instead (zlib's own CRC is several times slower than libdeflate's), against
    // the trailer: the last 8 compressed bytes of the member.
    private var zlibChecks = true
    private var memberCRC: UInt32 = 0
    private var memberLength: UInt32 = 0
    private var tail: UInt64 = 0 // the last 8 bytes consumed, little-endian (newest in the high byte)

    public init(path: String) throws {
        source = try FileSource(path: path)
        let rc = inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw FormatError.crypto("inflateInit2 failed (\(rc))") }
        initialized = true
    }

    deinit {
        if initialized { inflateEnd(&stream) }
        input.deallocate()
        output.deallocate()
    }

    private func fill() throws {
        if inputStart < inputEnd || sourceEOF { return }
        let n = try source.read(into: input)
        inputStart = 0
        inputEnd = n
        if n == 0 { sourceEOF = true }
    }

    // Decompressed bytes inflated ahead of the reader. Read-ahead never crosses into the next
    // member before the reader has taken every byte of the current one, so a delegate deciding
    // how to hash a member always knows what the previous members held. Large reads are inflated
    // straight into the caller's buffer (no read-ahead, no copy).
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 64)
    private var outputStart = 0, outputEnd = 0

    /// Reads decompressed bytes; returns 0 only at the end of the last member.
    public func read(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard out.count > 0 else { return 0 }
        if outputStart == outputEnd {
            if out.count >= 64 * 1024 { return try inflateAhead(into: out) }
            outputStart = 0
            outputEnd = try inflateAhead(into: output)
            if outputEnd == 0 { return 0 }
        }
        let n = min(out.count, outputEnd - outputStart)
        out.baseAddress!.copyMemory(from: output.baseAddress! + outputStart, byteCount: n)
        outputStart += n
        return n
    }

    /// Fills `dest` from the current member (starting the next one only when this is called
    /// at a member boundary); returns the bytes produced, 0 at the end of the stream.
    private func inflateAhead(into dest: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished else { return 0 }
        var filled = 0
        while filled < dest.count {
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
            let room = dest.count - filled
            let out = dest.baseAddress! + filled
            stream.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self) + inputStart
            stream.avail_in = uInt(availBefore)
            stream.next_out = out.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(room)
            let rc = inflate(&stream, Z_NO_FLUSH)
            let produced = room - Int(stream.avail_out)
            let consumed = availBefore - Int(stream.avail_in)
            if consumed > 0 {
                let bytes = UnsafeRawBufferPointer(start: input.baseAddress! + inputStart, count: consumed)
                onCompressedBytes?(member, bytes)
                keepTail(bytes)
                inputStart += consumed
            }
            if produced > 0 {
                memberCRC = GzipCRC.update(memberCRC, UnsafeRawBufferPointer(start: out, count: produced))
                memberLength &+= UInt32(truncatingIfNeeded: produced)
                if zlibChecks, rc == Z_OK {
                    // The header is behind us: zlib stops computing the CRC, this reader takes over.
                    inflateValidate(&stream, 0)
                    zlibChecks = false
                }
            }
            offset += Int64(produced)
            filled += produced
            switch rc {
            case Z_OK, Z_BUF_ERROR:
                if rc == Z_BUF_ERROR && consumed == 0 && produced == 0 && sourceEOF {
                    throw FormatError.malformed("gzip stream: truncated")
                }
            case Z_STREAM_END:
                // zlib has read the trailer (CRC-32, then length, little-endian): the last 8 bytes.
                if UInt32(truncatingIfNeeded: tail) != memberCRC {
                    throw FormatError.malformed("gzip stream: corrupt data in member \(member) (incorrect data check)")
                }
                if UInt32(truncatingIfNeeded: tail >> 32) != memberLength {
                    throw FormatError.malformed("gzip stream: corrupt data in member \(member) (incorrect length check)")
                }
                onMemberEnd?(member)
                member += 1
                memberStarts.append(offset)
                atMemberStart = true
                inflateReset(&stream)
                if !zlibChecks { inflateValidate(&stream, 1); zlibChecks = true }
                (memberCRC, memberLength) = (0, 0)
            case Z_DATA_ERROR:
                throw FormatError.malformed("gzip stream: corrupt data in member \(member) (\(stream.msg.map { String(cString: $0) } ?? "inflate error"))")
            default:
                throw FormatError.malformed("gzip stream: inflate error \(rc) in member \(member)")
            }
        }
        return filled
    }

    /// Keeps the last 8 consumed bytes in `tail`.
    private func keepTail(_ bytes: UnsafeRawBufferPointer) {
        let from = max(0, bytes.count - 8)
        for i in from..<bytes.count { tail = (tail >> 8) | (UInt64(bytes[i]) << 56) }
    }

    /// The member that decompressed `offset` belongs to.
    public func memberIndex(at offset: Int64) -> Int {
        var idx = 0
        for (i, s) in memberStarts.enumerated() where s <= offset { idx = i }
        return idx
    }
}
