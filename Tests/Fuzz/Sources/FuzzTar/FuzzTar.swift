// The tar reader (APKv2 TarReader) on an uncompressed stream: every entry, its pax records and
// its whole content. Tar header checksums of blocks with the ustar magic are fixed first when the
// input's length is even (odd lengths keep the checksums as mutated, so that check is fuzzed too).
import APKFormat
import FuzzSupport

@main struct FuzzTar {
    static func main() {
        runFuzzer(fuzzOne)
    }
}

func fuzzOne(_ input: UnsafeRawBufferPointer) {
    var bytes = [UInt8](input)
    if bytes.count % 2 == 0 { fixTarChecksums(&bytes) }
    var at = 0
    let reader = TarReader { out in
        let n = min(out.count, bytes.count - at)
        bytes.withUnsafeBytes { src in
            if n > 0 { out.baseAddress!.copyMemory(from: src.baseAddress! + at, byteCount: n) }
        }
        at += n
        return n
    }
    var buffer = [UInt8](repeating: 0, count: 4096)
    var entries = 0
    do {
        while let entry = try reader.next() {
            entries += 1
            _ = entry.sha1Checksum
            _ = entry.xattrs
            if entries % 2 == 0 {
                _ = try reader.readWholeContent(limit: 1 << 20, what: entry.path)
            } else {
                while try buffer.withUnsafeMutableBytes({ try reader.readContent(into: $0) }) > 0 {}
            }
        }
    } catch {}
}
