import Foundation
import TestSupport
import XCTest
@testable import APKCore
@testable import APKv2
import APKFormat

/// Unit tests of the format core: pax records, tar headers, .PKGINFO, and the reader on hostile bytes.
final class FormatCoreTests: XCTestCase {
    static let key = try! SigningKey.generate(bits: 2048)

    func testPaxRecordLengthCountsItsOwnDigits() throws {
        // Lengths around the 1->2 and 2->3 digit boundaries.
        for valueLength in [0, 1, 5, 6, 7, 8, 85, 86, 87, 88, 89, 90, 91, 992, 993, 994, 995, 996] {
            var p = PaxRecords()
            p.append("path", String(repeating: "a", count: valueLength))
            let bytes = p.encode()
            let text = String(decoding: bytes, as: UTF8.self)
            let declared = Int(text.split(separator: " ", maxSplits: 1)[0])!
            XCTAssertEqual(declared, bytes.count, "value length \(valueLength): \(text.prefix(20))")
            XCTAssertEqual(try TarReader.parsePax(bytes).first?.1.count, valueLength)
        }
    }

    func testHeaderEncodingMatchesGNUTarLayout() {
        var h = TarHeader()
        h.name = Array("usr/bin/hello".utf8)
        h.mode = 0o4755
        h.size = 21
        h.mtime = 1_700_000_000
        h.userName = "root"
        h.groupName = "root"
        h.zeroDeviceFields = false
        let b = h.encode()
        XCTAssertEqual(b.count, 512)
        XCTAssertEqual(Array(b[100..<108]), Array("0004755\0".utf8))
        XCTAssertEqual(Array(b[124..<136]), Array("00000000025\0".utf8))
        XCTAssertEqual(Array(b[136..<148]), Array("14524770400\0".utf8))
        XCTAssertEqual(Array(b[257..<265]), Array("ustar\u{0}00".utf8))
        XCTAssertEqual(Array(b[329..<345]), Array("0000000\u{0}0000000\u{0}".utf8))
        XCTAssertNoThrow(try TarReader.checkHeaderChecksum(b))
        var bad = b
        bad[0] ^= 1
        XCTAssertThrowsError(try TarReader.checkHeaderChecksum(bad))
    }

    func testOctalFieldsRejectBase256() {
        XCTAssertThrowsError(try TarReader.octal([0x80, 0, 0, 0, 0, 0, 0, 1][...], field: "size"))
        XCTAssertEqual(try TarReader.octal(Array("0000755\0".utf8)[...], field: "mode"), 0o755)
        XCTAssertThrowsError(try TarReader.octal(Array("00009\0".utf8)[...], field: "mode"))
    }

    func testPkginfoRoundTripKeepsAbuildOrder() throws {
        var i = PackageInfo(name: "hello", version: "1.2.3-r4")
        i.description = "Hello = world"
        i.url = "https://example.org"
        i.buildDate = 1_700_000_000
        i.packager = "P <p@example.org>"
        i.size = 123
        i.arch = "x86_64"
        i.origin = "hello"
        i.maintainer = "M <m@example.org>"
        i.providerPriority = 5
        i.license = "MIT AND BSD-2-Clause"
        i.replaces = ["old"]
        i.depends = ["musl", "/bin/sh"]
        i.provides = ["hello-virtual=1"]
        i.triggers = ["/a/*", "/b"]
        i.installIf = ["x", "y"]
        i.autoProvides = ["cmd:hello=1.2.3-r4"]
        i.autoDepends = ["so:libc.musl-x86_64.so.1"]
        let pkginfo = PKGINFO(info: i, dataHash: String(repeating: "ab", count: 32))
        let text = pkginfo.render()
        let keys = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.split(separator: " ")[0]) }
        XCTAssertEqual(keys, ["pkgname", "pkgver", "pkgdesc", "url", "builddate", "packager", "size", "arch", "origin", "commit",
                              "maintainer", "provider_priority", "license", "replaces", "depend", "depend", "provides", "triggers",
                              "install_if", "provides", "depend", "datahash"])
        XCTAssertTrue(text.contains("# automatically detected:\nprovides = cmd:hello=1.2.3-r4\ndepend = so:libc.musl-x86_64.so.1\ndatahash = "))
        XCTAssertEqual(try PKGINFO.parse(text), pkginfo)
        XCTAssertThrowsError(try PKGINFO.parse("pkgname = x\nnot a pair\n"))
        XCTAssertThrowsError(try PKGINFO.parse("url = x\n"))
    }

    func testSignatureEntryNames() {
        XCTAssertEqual(SignatureType.rsa256.entryName(keyName: "a-1.rsa.pub"), ".SIGN.RSA256.a-1.rsa.pub")
        let p = SignatureType.parse(entryName: ".SIGN.RSA.alice@example.org-5f3a12bc.rsa.pub")!
        XCTAssertEqual(p.type, .rsa)
        XCTAssertEqual(p.keyName, "alice@example.org-5f3a12bc.rsa.pub")
        XCTAssertNil(SignatureType.parse(entryName: ".PKGINFO"))
        XCTAssertNil(SignatureType.parse(entryName: ".SIGN.DSA.k")!.type)
    }

    func testSignAndVerifyEveryType() throws {
        let pub = try PublicKey(pem: try Self.key.publicKeyPEM(), name: "k.rsa.pub")
        let data = Data("control member bytes".utf8)
        for t in SignatureType.allCases {
            let sig = try Self.key.sign(data, type: t)
            XCTAssertTrue(pub.verify(signature: sig, over: data, type: t))
            XCTAssertTrue(pub.verify(signature: sig, digest: Digest.hash(t.digest, data), type: t))
            XCTAssertFalse(pub.verify(signature: sig, over: data + Data([0]), type: t))
        }
    }

    /// Builds a package in-process, then feeds hundreds of mutated copies to the reader:
    /// it must never crash or hang, and only mutations of bytes that carry no content
    /// (gzip header MTIME/XFL/OS fields) may still verify.
    func testReaderSurvivesRandomMutations() throws {
        let t = TempDir()
        t.write("stage/usr/bin/a", String(repeating: "payload ", count: 300), mode: 0o755)
        t.write("stage/etc/b.conf", "b=1\n")
        symlink("a", t.sub("stage/usr/bin/c"))
        let signer = Signer(key: Self.key, keyName: "k.rsa.pub")
        var spec = PackageSpec(info: PackageInfo(name: "m", version: "1-r0"), root: t.url.appendingPathComponent("stage"))
        spec.sourceDateEpoch = 1
        let built = try PackageBuilder(signer: signer).build(spec, to: t.sub("m.apk"))
        var keyring = Keyring()
        keyring.add(try PublicKey(pem: try Self.key.publicKeyPEM(), name: "k.rsa.pub"))
        let reader = ArchiveReader(keyring: keyring)
        XCTAssertTrue(reader.read(path: built.path).ok)
        let original = FileManager.default.contents(atPath: built.path)!
        var rng = SeededGenerator(seed: 42)
        var passed = 0
        for round in 0..<800 {
            var d = original
            let flips = 1 + Int(rng.next() % 3)
            for _ in 0..<flips { d[Int(rng.next() % UInt64(d.count))] ^= UInt8(1 << (rng.next() % 8)) }
            if round % 5 == 0 { d = d.prefix(Int(rng.next() % UInt64(d.count))) }
            let p = t.sub("mut.apk")
            _ = FileManager.default.createFile(atPath: p, contents: d)
            if reader.read(path: p).ok { passed += 1 }
        }
        XCTAssertLessThan(passed, 32, "too many mutated packages verified")
    }
    /// TreeFileOpener: files in several directories taken in and out of order (the kept
    /// directory changes back and forth), a top-level file, a file under a symlinked directory,
    /// and a missing file, whose error names the full path.
    func testTreeFileOpenerReadsRelativeToDirectories() throws {
        let t = TempDir()
        let files = ["top": "0", "a/b/x": "1", "a/b/y": "22", "a/c/z": "333", "a/b/w": "4444"]
        for (p, c) in files { _ = t.write("root/" + p, c) }
        XCTAssertEqual(symlink("a/b", t.sub("root/linked")), 0)
        let opener = TreeFileOpener(root: t.sub("root"))
        func read(_ p: String) throws -> String {
            let f = try opener.file(p)
            var buffer = [UInt8](repeating: 0, count: 64)
            var out: [UInt8] = []
            _ = try f.stream(buffer: &buffer) { out += $0 }
            return String(decoding: out, as: UTF8.self)
        }
        for p in ["a/b/x", "a/c/z", "a/b/y", "top", "a/b/w", "linked/x"] {
            XCTAssertEqual(try read(p), files[p] ?? files["a/b/x"], p)
        }
        XCTAssertThrowsError(try opener.file("a/b/missing")) { e in
            XCTAssertTrue("\(e)".contains(t.sub("root/a/b/missing")), "\(e)")
        }
        XCTAssertThrowsError(try opener.file("nodir/x")) { e in
            XCTAssertTrue("\(e)".contains(t.sub("root/nodir/x")), "\(e)")
        }
    }
}
