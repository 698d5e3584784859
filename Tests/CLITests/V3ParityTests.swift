import Foundation
import TestSupport
import XCTest

/// apkit's v3 output against what apk-tools 3.0.6 wrote for the same inputs (Fixtures/v3): the
/// ADB block (everything but the signature) must be byte for byte the same.
final class V3ParityTests: XCTestCase {
    static var fixtures: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/v3").path
    }

    /// The tree of Fixtures/v3/README.md.
    static func makeTree(_ t: TempDir) throws -> String {
        t.write("tree/usr/bin/hello", "#!/bin/sh\necho hello\n", mode: 0o755)
        t.write("tree/etc/hello.conf", "greeting=hi\n", mode: 0o644)
        t.write("tree/usr/share/doc/hello/README", "doc\n", mode: 0o644)
        t.write("tree/.hidden", "x\n", mode: 0o644)
        try FileManager.default.createSymbolicLink(atPath: t.sub("tree/usr/bin/hi"), withDestinationPath: "hello")
        XCTAssertEqual(link(t.sub("tree/usr/bin/hello"), t.sub("tree/usr/bin/hello2")), 0)
        for d in ["tree", "tree/usr", "tree/usr/bin", "tree/etc", "tree/usr/share", "tree/usr/share/doc", "tree/usr/share/doc/hello"] {
            chmod(t.sub(d), 0o755)
        }
        let x = try runPython("import os,sys; os.setxattr(sys.argv[1], 'user.apkit', b'v1', follow_symlinks=False)", [t.sub("tree/etc/hello.conf")])
        if x.status != 0 { throw XCTSkip("no user xattrs on this file system: \(x.stderr)") }
        return t.sub("tree")
    }

    /// The ADB block payload of an uncompressed or deflated v3 file, by an independent reading.
    func adbPayload(_ path: String) throws -> String {
        let r = try runPython("""
            import sys, struct, zlib
            d = open(sys.argv[1], 'rb').read()
            if d[:4] == b'ADBd': d = zlib.decompressobj(-15).decompress(d[4:])
            assert d[:4] == b'ADB.', d[:4]
            n = struct.unpack('<I', d[8:12])[0] & 0x3fffffff
            sys.stdout.write(d[12:8 + n].hex())
            """, [path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout
    }

    func testPackageADBBlockIsByteIdenticalToApkMkpkg() throws {
        let t = TempDir()
        let tree = try Self.makeTree(t)
        let f = Self.fixtures
        let r = try apkit(["pack", tree, "--format", "v3", "--name", "hello", "--version", "1.0-r0", "--arch", "x86_64",
                           "--description", "v3 conformance", "--license", "MIT", "--origin", "hello",
                           "--maintainer", "M <m@example.org>", "--url", "https://example.org",
                           "--commit", "0123456789abcdef0123456789abcdef01234567", "--provider-priority", "10",
                           "--replaces-priority", "5", "--depend", "musl", "--depend", "foo>=1.2", "--depend", "!bar",
                           "--provide", "cmd:hello=1.0-r0", "--replace", "old-hello", "--install-if", "hello-base",
                           "--script", "post-install=\(f)/post.sh", "--script", "trigger=\(f)/trig.sh",
                           "--trigger", "/usr/share/fonts/*", "--key", "\(f)/test-only-ec.pem", "--compression", "none",
                           "--no-trace", "--output", t.sub("out")],
                          environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let apk = t.sub("out/hello-1.0-r0.apk")
        XCTAssertEqual(try adbPayload(apk), try adbPayload("\(f)/mkpkg-hello.apk"),
                       "the ADB block differs from apk mkpkg's; compare `adb_reader.py dump` of both")
        // The independent reader's dump equals apk adbdump's, signature lines aside.
        let dump = try runProcess("python3", [adbReaderScript, "dump", apk]).stdout
        let expected = try String(contentsOfFile: "\(f)/mkpkg-hello.dump", encoding: .utf8)
        func content(_ s: String) -> [Substring] { s.split(separator: "\n").filter { !$0.hasPrefix("# sig") } }
        XCTAssertEqual(content(dump), content(expected))
        // And apkit verifies apk's own package, finding the key by its id whatever its file name.
        let keys = t.sub("keys")
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(f)/test-only-ec.pem.pub", toPath: keys + "/any-name.pub")
        XCTAssertEqual(try apkit(["verify", "--keys-dir", keys, "\(f)/mkpkg-hello.apk", apk]).status, 0)
    }

    func testIndexADBBlockIsByteIdenticalToApkMkndx() throws {
        let t = TempDir()
        let f = Self.fixtures
        let keys = t.sub("keys")
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(f)/test-only-ec.pem.pub", toPath: keys + "/k.pub")
        let out = t.sub("packages.adb")
        let r = try apkit(["index", "--keys-dir", keys, "--key", "\(f)/test-only-ec.pem", "--description", "apkit fixture",
                           "-o", out, "\(f)/mkpkg-hello.apk"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try adbPayload(out), try adbPayload("\(f)/mkndx-packages.adb"))
        // Merging apk's own index: its signature is checked first (untrusted without the key).
        let m = try apkit(["index", "--key", TestKeys.privateKey, "--merge", "\(f)/mkndx-packages.adb", "-o", t.sub("m.adb")])
        XCTAssertEqual(m.status, 1)
        XCTAssertTrue(m.stderr.contains("UNTRUSTED"), m.stderr)
        let m2 = try apkit(["index", "--keys-dir", keys, "--key", "\(f)/test-only-ec.pem", "--merge", "\(f)/mkndx-packages.adb",
                            "-o", t.sub("m.adb")])
        XCTAssertEqual(m2.status, 0, m2.stderr)
        // Entries taken over from an index are copied whole (as mkndx --index does), so the block's
        // layout differs from a fresh index; its content does not.
        func content(_ path: String) throws -> [Substring] {
            try runProcess("python3", [adbReaderScript, "dump", path]).stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        }
        XCTAssertEqual(try content(t.sub("m.adb")), try content("\(f)/mkndx-packages.adb"))
    }
}
