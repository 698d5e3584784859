import APKFormat
import Foundation
import TestSupport
import XCTest

/// The v3 reader on hostile input: in-process, many seeded mutations and truncations.
final class V3ReaderTests: XCTestCase {
    static let key = try! SigningKey.generate(type: .ec)

    func build(_ t: TempDir, compression: CompressionSettings) throws -> (String, Keyring) {
        t.write("stage/usr/bin/a", String(repeating: "payload ", count: 3000), mode: 0o755)
        t.write("stage/etc/b.conf", "b=1\n")
        t.write("stage/usr/share/empty", "")
        symlink("a", t.sub("stage/usr/bin/c"))
        var spec = PackageSpec(info: PackageInfo(name: "m", version: "1-r0"), root: t.url.appendingPathComponent("stage"))
        spec.sourceDateEpoch = 1
        spec.info.arch = "x86_64"
        let built = try V3Format().write(spec, signer: Signer(key: Self.key, keyName: "k.pub"), compression: compression,
                                         to: t.sub("m.apk"))
        var keyring = Keyring()
        keyring.add(try Self.key.publicKey(name: "anything.pub"))
        return (built.path, keyring)
    }

    /// `count` seeded damaged copies of `original` (a bit flipped, or cut short every fourth time),
    /// each read back; returns how many verified.
    func mutationsThatPass(_ original: Data, rounds: Int, seed: UInt64, keyring: Keyring, in t: TempDir,
                           failEach: Bool = false) -> Int {
        let options = ReadOptions(keyring: keyring)
        var rng = SeededGenerator(seed: seed)
        var passed = 0
        for round in 0..<rounds {
            var d = original
            if round % 4 == 0 {
                d = d.prefix(Int(rng.next() % UInt64(d.count)))
            } else {
                d[Int(rng.next() % UInt64(d.count))] ^= UInt8(1 << (rng.next() % 8))
            }
            let p = t.sub("mut.apk")
            _ = FileManager.default.createFile(atPath: p, contents: d)
            if V3Format().read(path: p, options: options, visitor: nil).ok {
                passed += 1
                if failEach { XCTFail("round \(round): a damaged package verified") }
            }
        }
        return passed
    }

    /// Uncompressed, every byte is covered by the signature, a file hash, or a structure check
    /// (zero padding included): no mutation may pass.
    func testNoMutationOfAnUncompressedPackagePasses() throws {
        let t = TempDir()
        let (path, keyring) = try build(t, compression: CompressionSettings(algorithm: .none, level: 0))
        let options = ReadOptions(keyring: keyring)
        XCTAssertTrue(V3Format().read(path: path, options: options, visitor: nil).ok)
        XCTAssertEqual(mutationsThatPass(FileManager.default.contents(atPath: path)!, rounds: 600, seed: 7,
                                         keyring: keyring, in: t, failEach: true), 0)
    }

    /// Deflated and zstd-compressed: the only bytes not checked are a compressed stream's unused
    /// trailing bits, so passes stay rare.
    func testCompressedMutationsAlmostNeverPass() throws {
        for c in [CompressionSettings(algorithm: .deflate, level: 6), CompressionSettings(algorithm: .zstd, level: 3)] {
            let t = TempDir()
            let (path, keyring) = try build(t, compression: c)
            let options = ReadOptions(keyring: keyring)
            XCTAssertTrue(V3Format().read(path: path, options: options, visitor: nil).ok)
            let passed = mutationsThatPass(FileManager.default.contents(atPath: path)!, rounds: 400, seed: 11,
                                           keyring: keyring, in: t)
            XCTAssertLessThan(passed, 6, "\(c.text): too many damaged packages verified")
        }
    }

    /// An index is found by its key id too, and a wrong key is untrusted, a changed block BAD.
    func testIndexTrustAndTamper() throws {
        let t = TempDir()
        let (path, keyring) = try build(t, compression: .v3(.default))
        let format = V3IndexFormat()
        let (record, _) = try format.record(forPackageAt: path, keyring: keyring, allowUntrusted: false, rewriteArch: nil)
        var index = format.empty()
        _ = try index.merge([record])
        index.description = "test"
        try index.write(to: t.sub("packages.adb"), signer: Signer(key: Self.key, keyName: "k.pub"))
        let read = try format.read(path: t.sub("packages.adb"), keyring: keyring, allowUntrusted: false, source: nil)
        XCTAssertEqual(read.records.map(\.name), ["m"])
        XCTAssertEqual(read.description, "test")
        XCTAssertThrowsError(try format.read(path: t.sub("packages.adb"), keyring: Keyring(), allowUntrusted: false, source: nil)) {
            XCTAssertTrue("\($0)".contains("UNTRUSTED"), "\($0)")
        }
        // Decompressed (a valid `ADB.` file), then the description changed inside the ADB block:
        // the signature no longer verifies.
        let r = try runPython("""
            import sys, zlib
            d = zlib.decompressobj(-15).decompress(open(sys.argv[1], 'rb').read()[4:])
            open(sys.argv[2], 'wb').write(d)
            open(sys.argv[3], 'wb').write(d.replace(b'\\x04test', b'\\x04tesT'))
            """, [t.sub("packages.adb"), t.sub("plain.adb"), t.sub("tampered.adb")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try format.read(path: t.sub("plain.adb"), keyring: keyring, allowUntrusted: false, source: nil).hasSameContent(as: read))
        XCTAssertThrowsError(try format.read(path: t.sub("tampered.adb"), keyring: keyring, allowUntrusted: false, source: nil)) {
            XCTAssertTrue("\($0)".contains("BAD signature"), "\($0)")
        }
    }

    /// The fuzzers' findings (Fixtures/fuzz/regressions): refused with a reason, no trap.
    func testFuzzRegressionsAreRefused() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz/regressions").path
        let options = ReadOptions(keyring: Keyring(), allowUntrusted: true)
        // A 64-bit dependency match value once trapped converting to Int.
        let v3 = PackageFormats.read(path: dir + "/FuzzV3/v3-dependency-match-int64.apk", options: options)
        XCTAssertFalse(v3.ok)
        // A v2 package declaring size = 10 that inflates to 16 MiB: refused before inflating it.
        let v2 = PackageFormats.read(path: dir + "/FuzzV2Package/v2-size-10-holds-16MiB.apk", options: options)
        XCTAssertEqual(v2.problem?.description.contains("more than twice"), true, "\(String(describing: v2.problem))")
    }
}
