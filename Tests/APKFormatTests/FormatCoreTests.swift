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
    /// TarHeader.encode and PaxRecords.encode, written in place for speed, against the plain
    /// String-based encoding they replaced, on random fields including values too wide for their
    /// octal field, empty and 100+ byte names, and multi-digit pax record lengths.
    func testTarHeaderEncodingMatchesTheStringBasedOne() {
        func reference(_ h: TarHeader) -> [UInt8] {
            var b = [UInt8](repeating: 0, count: 512)
            func put(_ bytes: [UInt8], _ off: Int, _ len: Int) { for (i, c) in bytes.prefix(len).enumerated() { b[off + i] = c } }
            func octal(_ v: UInt64, _ off: Int, _ len: Int) {
                var s = Array(String(v, radix: 8).utf8)
                if s.count < len - 1 { s = [UInt8](repeating: 0x30, count: len - 1 - s.count) + s }
                put(s, off, len - 1)
                b[off + len - 1] = 0
            }
            put(h.name, 0, 100)
            octal(UInt64(h.mode), 100, 8); octal(UInt64(h.uid), 108, 8); octal(UInt64(h.gid), 116, 8)
            octal(UInt64(h.size > TarHeader.maxOctalSize ? 0 : h.size), 124, 12)
            octal(UInt64(max(0, min(h.mtime, TarHeader.maxOctalSize))), 136, 12)
            b[156] = h.type.rawValue
            put(h.linkName, 157, 100)
            put(Array("ustar\u{0}00".utf8), 257, 8)
            put(Array(h.userName.utf8), 265, 32)
            put(Array(h.groupName.utf8), 297, 32)
            if !h.zeroDeviceFields { octal(UInt64(h.deviceMajor), 329, 8); octal(UInt64(h.deviceMinor), 337, 8) }
            for i in 148..<156 { b[i] = 0x20 }
            var s = Array(String(b.reduce(0) { $0 + Int($1) }, radix: 8).utf8)
            if s.count < 6 { s = [UInt8](repeating: 0x30, count: 6 - s.count) + s }
            put(s, 148, 6)
            b[154] = 0
            b[155] = 0x20
            return b
        }
        var rng = SystemRandomNumberGenerator()
        for i in 0..<2000 {
            var h = TarHeader()
            h.name = (0..<[0, 1, 99, 100, 101, 150][i % 6]).map { _ in UInt8.random(in: 0x21...0x7e, using: &rng) }
            h.linkName = (0..<Int.random(in: 0...120, using: &rng)).map { _ in UInt8.random(in: 0x21...0x7e, using: &rng) }
            h.mode = UInt32.random(in: 0...0o7777, using: &rng)
            h.uid = i % 5 == 0 ? UInt32.max - UInt32(i) : UInt32.random(in: 0...0o7777777, using: &rng)
            h.gid = i % 7 == 0 ? 0o10000000 : UInt32.random(in: 0...70000, using: &rng)
            h.size = [Int64.random(in: 0...1 << 40, using: &rng), TarHeader.maxOctalSize, TarHeader.maxOctalSize + 1, 0][i % 4]
            h.mtime = [Int64.random(in: 0...1 << 34, using: &rng), -5, Int64.max][i % 3]
            h.type = [.regular, .directory, .symlink, .paxExtended][i % 4]
            h.userName = i % 3 == 0 ? "" : String(repeating: "u", count: i % 40)
            h.groupName = "grp\(i)"
            h.deviceMajor = UInt32.random(in: 0...UInt32.max, using: &rng)
            h.deviceMinor = UInt32(i)
            h.zeroDeviceFields = i % 2 == 0
            XCTAssertEqual(h.encode(), reference(h), "header \(i)")
        }
        for i in 0..<300 {
            var pax = PaxRecords()
            let value = (0..<(i * 7 % 1200)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            pax.append("SCHILY.xattr.user.k\(i)", bytes: value)
            pax.append("path", String(repeating: "p", count: i % 120))
            var ref: [UInt8] = []
            for (k, v) in pax.records {
                let body = 1 + k.utf8.count + 1 + v.count + 1
                var len = body + String(body).count
                if String(len).count != String(body).count { len = body + String(len).count }
                ref += Array(String(len).utf8) + [0x20] + Array(k.utf8) + [0x3D] + v + [0x0A]
            }
            XCTAssertEqual(pax.encode(), ref, "pax \(i)")
        }
    }
    /// The tree walk (directories listed on several threads): the same entries as Python's
    /// os.walk, sorted bytewise, on a tree of many directories; a tree nested deeper than
    /// `StagedTree.maxDepth` and an unlistable directory each fail with the path named.
    func testTreeWalkMatchesOsWalkAndReportsErrors() throws {
        let t = TempDir()
        for i in 0..<300 {
            _ = t.write("root/d\(i % 13)/e\(i % 5)/f\(i)", "x\(i)")
            if i % 50 == 0 { _ = t.write("root/.dot\(i)/g", "y") }
        }
        XCTAssertEqual(symlink("d1", t.sub("root/link")), 0)
        let entries = try TreeSnapshot.take(root: t.sub("root")).entries.map(\.path)
        let script = """
        import os, sys
        root = sys.argv[1]
        out = []
        for d, dirs, files in os.walk(root):
            for n in dirs + files:
                out.append(os.path.relpath(os.path.join(d, n), root))
        print("\\n".join(sorted(out, key=lambda p: p.encode())))
        """
        let r = try runProcess("python3", ["-c", script, t.sub("root")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(entries, r.stdout.split(separator: "\n").map(String.init))

        var deep = "deep"
        for _ in 0..<(StagedTree.maxDepth + 1) { deep += "/d" }
        try FileManager.default.createDirectory(atPath: t.sub(deep), withIntermediateDirectories: true)
        XCTAssertThrowsError(try TreeSnapshot.take(root: t.sub("deep"))) { e in
            XCTAssertTrue("\(e)".contains("nested too deeply"), "\(e)")
        }
        if getuid() != 0 {
            _ = t.write("locked/a/b/c", "z")
            chmod(t.sub("locked/a/b"), 0)
            defer { chmod(t.sub("locked/a/b"), 0o755) }
            XCTAssertThrowsError(try TreeSnapshot.take(root: t.sub("locked"))) { e in
                XCTAssertTrue("\(e)".contains(t.sub("locked/a/b")), "\(e)")
            }
        }
    }
}
