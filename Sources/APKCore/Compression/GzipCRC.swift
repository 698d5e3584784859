import CDeflate

/// gzip's CRC-32 through libdeflate (carry-less multiplication where the CPU has it): many times
/// faster than zlib 1.2's table-driven `crc32`, which a reader inflating a large member otherwise
/// spends a noticeable share of its time in.
public enum GzipCRC {
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let p = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return UInt32(truncatingIfNeeded: libdeflate_crc32(crc, p, bytes.count))
    }
}
