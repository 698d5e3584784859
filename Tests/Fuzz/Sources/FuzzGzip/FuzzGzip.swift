// The gzip member splitter/reader (APKv2 GzipStreamReader): reads everything, asks for member
// boundaries. Output is capped at 256 MiB per input (a deflate bomb is the format's, not a bug).
import APKFormat
import FuzzSupport

@main struct FuzzGzip {
    static func main() {
        runFuzzer { input in
            writeInput(input)
            guard let reader = try? GzipStreamReader(path: fuzzInputPath) else { return }
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var total = 0
            do {
                while total < 256 << 20 {
                    let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
                    if n == 0 { break }
                    total += n
                }
            } catch {}
            for start in reader.memberStarts { _ = reader.memberIndex(at: start) }
            _ = reader.memberIndex(at: reader.offset)
            _ = reader.member
        }
    }
}
