import CDeflateScan

/// Walks the blocks of a raw deflate stream without producing its output, to find where the
/// last block starts and ends: all `ParallelDeflateEngine` needs to clear that block's BFINAL
/// bit. The walk is C (`CDeflateScan`): it runs on every compressed byte of every package, and
/// the Swift version of the same loop cost 9-13% of `apkit pack`'s CPU on the benchmark trees.
/// A stream it cannot walk throws.
final class DeflateBlockScanner {
    private let scanner: OpaquePointer

    init() {
        guard let s = apkit_deflate_scanner_new() else { fatalError("apkit_deflate_scanner_new: out of memory") }
        scanner = s
    }

    deinit { apkit_deflate_scanner_free(scanner) }

    /// Bit offsets of the last block's header and of the end of its end-of-block code.
    func lastBlock(_ p: UnsafePointer<UInt8>, count n: Int) throws -> (header: Int, end: Int) {
        var header = 0, end = 0
        let rc = apkit_deflate_last_block(scanner, p, n, &header, &end)
        guard rc == 0 else {
            let what: String
            switch rc {
            case -1: what = "the stream ends before its last block"
            case -2: what = "invalid block type 3"
            case -3: what = "stored block length check fails"
            case -4: what = "over-subscribed Huffman code"
            case -5: what = "invalid Huffman code or symbol"
            default: what = "invalid code lengths"
            }
            throw FormatError.malformed("deflate chunk: \(what) at bit \(header)")
        }
        return (header, end)
    }
}
