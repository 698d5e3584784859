import APKFormat
import Foundation
import TestSupport
import XCTest

var adbReaderScript: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools/adb_reader.py").path
}

/// Every registered format through the same commands: pack -> verify -> inspect -> index ->
/// tamper. The commands never branch on the format; this test does not either, beyond naming
/// the index file and the independent reader for each.
final class FormatConformanceTests: XCTestCase {
    /// Every format of the registry, by the name `--format` takes.
    static let formats = PackageFormats.all.map(\.name.rawValue)

    static func indexName(_ format: String) -> String { PackageFormats.named(FormatName(rawValue: format)!).index.fileName }

    func stage(_ t: TempDir) -> String {
        t.write("stage/usr/bin/hello", "#!/bin/sh\necho hello\n", mode: 0o755)
        t.write("stage/usr/share/doc/hello/README", String(repeating: "apkit conformance\n", count: 4000))
        t.write("stage/etc/hello.conf", "greeting=hi\n")
        t.write("stage/usr/share/empty", "")
        _ = try? FileManager.default.createSymbolicLink(atPath: t.sub("stage/usr/bin/hi"), withDestinationPath: "hello")
        return t.sub("stage")
    }

    /// A directory argument of `index` and `publish` stands for its *.apk files (the way to pass
    /// thousands of packages); a directory without any is refused.
    func testDirectoriesStandForTheirPackages() throws {
        let t = TempDir()
        let s = stage(t)
        _ = try pack(s, name: "one", output: t.sub("pkgs"), extra: ["--no-trace"])
        _ = try pack(s, name: "two", output: t.sub("pkgs"), extra: ["--no-trace"])
        t.write("pkgs/notes.txt", "not a package\n")
        var r = try apkit(["index", "--key", TestKeys.privateKey, "-o", t.sub("idx/APKINDEX.tar.gz"), t.sub("pkgs") + "/"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains(": 2 packages (2 new"), r.stdout)
        r = try apkit(["publish", "--to", t.sub("repo"), "--key", TestKeys.privateKey, "--keys-dir", TestKeys.dir.path, t.sub("pkgs")])
        XCTAssertEqual(r.status, 0, r.stderr)
        for name in ["one", "two"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: t.sub("repo/x86_64/\(name)-1.0-r0.apk")), name)
        }
        t.mkdir("empty")
        r = try apkit(["index", "--key", TestKeys.privateKey, "-o", t.sub("idx2/APKINDEX.tar.gz"), t.sub("empty")])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("no .apk files"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.sub("idx2/APKINDEX.tar.gz")))
    }

    /// `index --pkgname-spec`: written into packages.adb (read back by the independent reader),
    /// kept when the index is merged again, refused for v2 before anything is written.
    func testPackageNameSpecGoesThroughTheIndexUpdate() throws {
        let t = TempDir()
        let s = stage(t)
        let v3 = try pack(s, output: t.sub("v3"), extra: ["--format", "v3", "--no-trace"])
        let spec = "${arch}/${name}-${version}.apk"
        var r = try apkit(["index", "--key", TestKeys.privateKey, "--pkgname-spec", spec, "-o", t.sub("repo/packages.adb"), v3])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try apkit(["index", "--key", TestKeys.privateKey, "--merge", t.sub("repo/packages.adb"), "--keys-dir", TestKeys.dir.path,
                       "--description", "again", "-o", t.sub("repo/merged.adb")])
        XCTAssertEqual(r.status, 0, r.stderr)
        for file in ["packages.adb", "merged.adb"] {
            let dump = try runProcess("python3", [adbReaderScript, "dump", t.sub("repo/" + file)])
            XCTAssertEqual(dump.status, 0, dump.stderr)
            XCTAssertTrue(dump.stdout.contains("pkgname-spec: \(spec)\n"), "\(file): \(dump.stdout)")
        }
        let v2 = try pack(s, output: t.sub("v2"), extra: ["--no-trace"])
        r = try apkit(["index", "--key", TestKeys.privateKey, "--pkgname-spec", spec, "-o", t.sub("v2repo/APKINDEX.tar.gz"), v2])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("v3 indexes"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.sub("v2repo/APKINDEX.tar.gz")))
    }

    func testPackVerifyInspectIndexTamperForEveryFormat() throws {
        for format in Self.formats {
            let t = TempDir()
            let s = stage(t)
            let apk = try pack(s, output: t.sub("out"), extra: ["--format", format, "--depend", "musl", "--no-trace"])
            XCTAssertTrue(apk.hasSuffix("/hello-1.0-r0.apk"), apk)

            let v = try apkit(["verify", "--keys-dir", TestKeys.dir.path, apk])
            XCTAssertEqual(v.stdout, "\(apk): OK\n", "\(format): \(v.stderr)")
            XCTAssertEqual(try apkit(["verify", apk]).status, 1, "\(format): no trusted key must not verify")

            let ins = try apkit(["inspect", "--json", "--keys-dir", TestKeys.dir.path, apk])
            XCTAssertEqual(ins.status, 0, ins.stderr)
            let json = try JSONSerialization.jsonObject(with: ins.stdoutData) as! [String: Any]
            XCTAssertEqual(json["format"] as? String, format)
            XCTAssertEqual(json["verification"] as? String, "OK")
            let info = json["info"] as! [String: Any]
            XCTAssertEqual(info["name"] as? String, "hello")
            XCTAssertEqual(info["depends"] as? [String], ["musl"])
            let paths = (json["files"] as! [[String: Any]]).map { $0["path"] as! String }
            for p in ["usr/bin/hello", "usr/bin/hi", "etc/hello.conf", "usr/share/doc/hello/README", "usr/share/empty"] {
                XCTAssertTrue(paths.contains(p), "\(format): \(p) missing in \(paths)")
            }

            let idx = t.sub("repo/\(Self.indexName(format))")
            let ir = try apkit(["index", "--key", TestKeys.privateKey, "--description", "conformance", "-o", idx, apk])
            XCTAssertEqual(ir.status, 0, ir.stderr)
            XCTAssertEqual(try apkit(["verify", "--keys-dir", TestKeys.dir.path, idx]).stdout, "\(idx): OK\n")
            let ij = try JSONSerialization.jsonObject(with: try apkit(["inspect", "--json", idx]).stdoutData) as! [String: Any]
            XCTAssertEqual(ij["kind"] as? String, "index")
            XCTAssertEqual((ij["index"] as! [String: String])["description"], "conformance")

            // One byte changed in the middle: never OK, never a crash.
            var bytes = try Data(contentsOf: URL(fileURLWithPath: apk))
            bytes[bytes.count / 2] ^= 0x40
            let bad = t.write("bad.apk", bytes)
            let vb = try apkit(["verify", "--keys-dir", TestKeys.dir.path, bad])
            XCTAssertEqual(vb.status, 1, "\(format): tampered package: \(vb.stdout)")
            XCTAssertFalse(vb.stdout.contains(": OK"), vb.stdout)
        }
    }

    /// `publish` into a directory, for every format: packages, key, index last; a rerun changes
    /// nothing; the index names every package and verifies.
    func testPublishToDirectoryForEveryFormat() throws {
        for format in Self.formats {
            let t = TempDir()
            let s = stage(t)
            let a = try pack(s, output: t.sub("p"), extra: ["--format", format, "--no-trace"])
            let b = try pack(s, name: "hello-all", output: t.sub("p"), extra: ["--format", format, "--no-trace", "--arch", "noarch"])
            let repo = t.sub("repo")
            let args = ["publish", "--to", repo, "--key", TestKeys.privateKey, "--arch", "x86_64", "--json", a, b]
            let r = try apkit(args)
            XCTAssertEqual(r.status, 0, r.stderr)
            let idx = "\(repo)/x86_64/\(Self.indexName(format))"
            XCTAssertEqual(try apkit(["verify", "--keys-dir", "\(repo)/keys", idx, "\(repo)/x86_64/hello-1.0-r0.apk",
                                      "\(repo)/x86_64/hello-all-1.0-r0.apk"]).status, 0)
            let ij = try JSONSerialization.jsonObject(with: try apkit(["inspect", "--json", idx]).stdoutData) as! [String: Any]
            XCTAssertEqual((ij["index"] as! [String: String])["packages"], "2", "\(format)")
            let before = try Data(contentsOf: URL(fileURLWithPath: idx))
            let again = try apkit(args)
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertTrue(again.stdout.contains("\"unchanged\" : true"), again.stdout)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: idx)), before, "\(format): a rerun must not rewrite the index")
        }
    }

    /// `apkit build` writes every package and subpackage in the config's format, or `--format`'s.
    func testBuildWritesTheChosenFormat() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/apps/greet").path
        for (how, extra) in [("config", [String]()), ("flag", ["--format", "v3"])] {
            let t = TempDir()
            let app = t.sub("greet")
            XCTAssertEqual(try runProcess("cp", ["-r", fixture, app]).status, 0)
            if how == "config" {
                let yml = try String(contentsOfFile: app + "/apkit.yml", encoding: .utf8)
                try (yml + "\nformat: v3\n").write(toFile: app + "/apkit.yml", atomically: true, encoding: .utf8)
            }
            let r = try apkit(["build", "--key", TestKeys.privateKey, "--arch", "aarch64_cortex-a53", "--output", t.sub("out")] + extra,
                              cwd: app)
            XCTAssertEqual(r.status, 0, "\(how): \(r.stderr)")
            let dir = t.sub("out/aarch64_cortex-a53")
            let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            XCTAssertEqual(files, ["greet-0.3.1-r2.apk", "greet-doc-0.3.1-r2.apk"], how)
            for f in files {
                let magic = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + f)).prefix(4))
                XCTAssertEqual(magic, Array("ADBd".utf8), "\(how): \(f) is not a v3 package")
                XCTAssertEqual(try apkit(["verify", "--keys-dir", TestKeys.dir.path, dir + "/" + f]).status, 0)
            }
            let ins = try JSONSerialization.jsonObject(with: try apkit(["inspect", "--json", dir + "/greet-0.3.1-r2.apk"]).stdoutData) as! [String: Any]
            XCTAssertEqual((ins["info"] as! [String: Any])["arch"] as? String, "noarch")
            XCTAssertEqual(ins["scripts"] as? [String], ["trigger", "post-install"])
        }
    }

    /// v2 and v3 never meet in one index.
    func testMixedFormatsAreRefused() throws {
        let t = TempDir()
        let s = stage(t)
        let a = try pack(s, output: t.sub("v2"), extra: ["--no-trace"])
        let b = try pack(s, name: "other", output: t.sub("v3"), extra: ["--format", "v3", "--no-trace"])
        let r = try apkit(["index", "--key", TestKeys.privateKey, "-o", t.sub("idx"), a, b])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("separate repositories"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.sub("idx")))
        let p = try apkit(["publish", "--to", t.sub("repo"), "--key", TestKeys.privateKey, a, b])
        XCTAssertEqual(p.status, 1)
        XCTAssertTrue(p.stderr.contains("separate repositories"), p.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.sub("repo")), "a refused publish writes nothing")
    }
}

/// v3 output read by an independent reader written from docs/apk-v3-format.md (Python, no apkit code).
final class V3IndependentReaderTests: XCTestCase {
    func reader(_ args: [String]) throws -> ProcessResult { try runProcess("python3", [adbReaderScript] + args) }

    func testEveryCompressionAndKeyTypeReadsAndVerifiesIndependently() throws {
        let t = TempDir()
        t.write("stage/usr/bin/tool", String(repeating: "#!/bin/sh\necho tool\n", count: 100), mode: 0o755)
        t.write("stage/usr/lib/big.dat", Data((0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }))
        t.write("stage/.dotfile", "kept by v3, as apk mkpkg keeps it\n")
        _ = try? FileManager.default.createSymbolicLink(atPath: t.sub("stage/usr/bin/t"), withDestinationPath: "tool")
        _ = link(t.sub("stage/usr/bin/tool"), t.sub("stage/usr/bin/tool2"))
        let ec = try apkit(["keygen", "--type", "ec", "--name", "owrt", "--output-dir", t.sub("keys")])
        XCTAssertEqual(ec.status, 0, ec.stderr)
        let ecKeys = ec.stdout.split(separator: "\n").map(String.init)
        for (key, pub) in [(TestKeys.privateKey, TestKeys.publicKey), (ecKeys[0], ecKeys[1])] {
            for compression in ["default", "none", "deflate:9", "zstd:3", "fast", "max"] {
                let out = t.sub("out-\(compression)-\((key as NSString).lastPathComponent)")
                let r = try apkit(["pack", t.sub("stage"), "--name", "tool", "--version", "2.0-r1", "--arch", "aarch64_cortex-a53",
                                   "--format", "v3", "--key", key, "--compression", compression, "--output", out, "--no-trace",
                                   "--depend", "so:libc.so", "--depend", "foo>=1.2", "--depend", "!bar"],
                                  environment: ["SOURCE_DATE_EPOCH": "1700000000"])
                XCTAssertEqual(r.status, 0, r.stderr)
                let apk = out + "/tool-2.0-r1.apk"
                let v = try reader(["verify", apk, "--pubkey", pub])
                XCTAssertEqual(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "OK", "\(compression): \(v.stdout) \(v.stderr)")
                let dump = try reader(["dump", apk]).stdout
                XCTAssertTrue(dump.contains("#%SCHEMA: 676B6370"), dump)
                XCTAssertTrue(dump.contains("arch: aarch64_cortex-a53"), dump)
                XCTAssertTrue(dump.contains("- name: .dotfile"), dump)
                XCTAssertTrue(dump.contains("target: 00a0746f6f6c"), dump)            // symlink "tool"
                XCTAssertTrue(dump.contains("target: 0080"), dump)                   // hard link to usr/bin/tool
                XCTAssertTrue(dump.contains("- '!bar'"), dump)      // quoted, as apk adbdump prints it
                XCTAssertTrue(dump.contains("- foo>=1.2"), dump)
                XCTAssertTrue(dump.contains("mtime: 1700000000"), dump)             // SOURCE_DATE_EPOCH, as mkpkg
                let magic = [UInt8](try Data(contentsOf: URL(fileURLWithPath: apk)).prefix(6))
                switch compression {
                case "none": XCTAssertEqual(magic[0..<4], Array("ADB.".utf8)[...])
                case "default", "deflate:9": XCTAssertEqual(magic[0..<4], Array("ADBd".utf8)[...])
                default: XCTAssertEqual(magic, Array("ADBc".utf8) + [2, compression == "max" ? 19 : 3])
                }
                // A signature by another key is not trusted by the independent reader either.
                XCTAssertNotEqual(try reader(["verify", apk, "--pubkey", TestKeys.other.1]).status, 0)
            }
        }
    }

    func testTruncatedAndCorruptedV3IsNeverOK() throws {
        let t = TempDir()
        t.write("stage/usr/share/data", String(repeating: "payload ", count: 20000))
        let apk = try pack(t.sub("stage"), output: t.sub("out"), extra: ["--format", "v3", "--compression", "none", "--no-trace"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: apk))
        var generator = SeededGenerator(seed: 42)
        for round in 0..<40 {
            var b = bytes
            if round % 2 == 0 {
                b = b.prefix(Int.random(in: 0..<b.count, using: &generator))
            } else {
                let at = Int.random(in: 0..<b.count, using: &generator)
                b[at] ^= UInt8.random(in: 1...255, using: &generator)
            }
            let f = t.write("c\(round).apk", b)
            let r = try apkit(["verify", "--keys-dir", TestKeys.dir.path, f])
            XCTAssertNotEqual(r.status, 0, "round \(round) called OK")
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
            XCTAssertTrue(r.stdout.hasPrefix(f + ": "), r.stdout)
        }
    }
}
