@testable import APKCore
@testable import APKv2
import APKFormat
import Foundation
import TestSupport
import XCTest

/// Holds `DeflateBlockScanner` (the fast block walker) against zlib's own block-by-block inflate.
final class DeflateBlockScannerTests: XCTestCase {
    private func sample(_ kind: Int, _ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        switch kind {
        case 0: return (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }  // random
        case 1: return (0..<count).map { i in UInt8(97 + (i / 7) % 5) }  // long runs
        case 2:  // text-ish with a skewed alphabet (long codes for rare bytes)
            return (0..<count).map { _ in
                let r = next() % 1000
                return r < 900 ? UInt8(97 + r % 6) : UInt8(truncatingIfNeeded: next())
            }
        default:  // mixed blocks of random and repeats
            var out: [UInt8] = []
            while out.count < count {
                let n = Int(next() % 5000) + 1
                if next() % 2 == 0 { out += (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
                else { out += [UInt8](repeating: UInt8(truncatingIfNeeded: next()), count: n) }
            }
            return Array(out.prefix(count))
        }
    }

    private func rawDeflate(_ data: [UInt8], level: Int32, compressor: DeflateChunkCompressor) throws -> [UInt8] {
        let chunk = DeflateChunk(capacity: max(1, data.count))
        data.withUnsafeBufferPointer { chunk.input.update(from: $0.baseAddress!, count: data.count) }
        chunk.inputCount = data.count
        chunk.isFinal = true
        try compressor.compress(chunk)
        return Array(UnsafeBufferPointer(start: chunk.output, count: chunk.outputCount))
    }

    func testScannerAgreesWithZlibOnLibdeflateStreams() throws {
        var checked = 0
        for level: Int32 in [1, 3, 6, 9, 12] {
            let compressor = try DeflateChunkCompressor(level: level)
            for kind in 0..<4 {
                for count in [1, 100, 5_000, 70_000, 400_000] {
                    var stream = try rawDeflate(sample(kind, count, seed: UInt64(count + kind)), level: level, compressor: compressor)
                    let fast = try stream.withUnsafeMutableBufferPointer { try DeflateBlockScanner().lastBlock($0.baseAddress!, count: $0.count) }
                    let slow = try stream.withUnsafeMutableBufferPointer { try compressor.lastBlockBitsWithZlib($0.baseAddress!, count: $0.count) }
                    XCTAssertEqual(fast.header, slow.header, "level \(level) kind \(kind) count \(count)")
                    XCTAssertEqual(fast.end, slow.end, "level \(level) kind \(kind) count \(count)")
                    XCTAssertEqual((fast.end + 7) / 8, stream.count)
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 100)
    }

    func testScannerAgreesWithZlibOnZlibStreamsOfEveryBlockType() throws {
        // zlib (through Python) writes stored (level 0), fixed (Z_FIXED), Huffman-only, RLE and
        // dynamic blocks; small memLevel forces many blocks.
        let dir = TempDir("scanner")
        let input = sample(3, 300_000, seed: 11)
        let inPath = dir.write("in.bin", Data(input))
        let script = """
        import sys, zlib
        data = open(sys.argv[1], 'rb').read()
        for i, (level, strategy, mem) in enumerate([(0, 0, 8), (6, zlib.Z_FIXED, 8), (6, zlib.Z_HUFFMAN_ONLY, 1),
                                                   (6, zlib.Z_RLE, 2), (9, 0, 1), (1, 0, 9)]):
            c = zlib.compressobj(level, zlib.DEFLATED, -15, mem, strategy)
            open(sys.argv[2] + '/s%d.raw' % i, 'wb').write(c.compress(data) + c.flush())
        """
        let r = try runPython(script, [inPath, dir.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let compressor = try DeflateChunkCompressor(level: 6)
        for i in 0..<6 {
            var stream = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.sub("s\(i).raw"))))
            let fast = try stream.withUnsafeMutableBufferPointer { try DeflateBlockScanner().lastBlock($0.baseAddress!, count: $0.count) }
            let slow = try stream.withUnsafeMutableBufferPointer { try compressor.lastBlockBitsWithZlib($0.baseAddress!, count: $0.count) }
            XCTAssertEqual(fast.header, slow.header, "stream \(i)")
            XCTAssertEqual(fast.end, slow.end, "stream \(i)")
            XCTAssertGreaterThan(fast.header, 0, "stream \(i) should have several blocks")
        }
    }

    func testScannerRejectsDamagedStreamsWithoutCrashing() throws {
        let compressor = try DeflateChunkCompressor(level: 6)
        let stream = try rawDeflate(sample(2, 50_000, seed: 5), level: 6, compressor: compressor)
        // Truncations must throw (the last block never ends).
        for cut in [1, 2, 10, stream.count / 2, stream.count - 2] {
            var s = Array(stream.prefix(cut))
            XCTAssertThrowsError(try s.withUnsafeMutableBufferPointer { try DeflateBlockScanner().lastBlock($0.baseAddress!, count: $0.count) }, "cut \(cut)")
        }
        // Invalid block type 3.
        var bad: [UInt8] = [0x07, 0, 0, 0]
        XCTAssertThrowsError(try bad.withUnsafeMutableBufferPointer { try DeflateBlockScanner().lastBlock($0.baseAddress!, count: $0.count) })
        // Random garbage: any answer or an error, but it must end.
        var state: UInt64 = 99
        for _ in 0..<200 {
            var g = (0..<300).map { _ -> UInt8 in state = state &* 6364136223846793005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: state >> 33) }
            _ = try? g.withUnsafeMutableBufferPointer { try DeflateBlockScanner().lastBlock($0.baseAddress!, count: $0.count) }
        }
    }
}
