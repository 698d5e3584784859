import APKFormat
import Foundation
import TestSupport
import XCTest

/// `apkit pack` checked with independent readers: Python tarfile/zlib/gzip, GNU tar, openssl, sha256sum.
final class PackTests: XCTestCase {
    /// A tree with every kind of entry a package can hold.
    func makeRichTree(_ t: TempDir) -> String {
        let s = "stage"
        t.write("\(s)/usr/bin/hello", "#!/bin/sh\necho hello\n", mode: 0o755)
        t.write("\(s)/usr/bin/su-helper", "setuid\n", mode: 0o4755)
        t.write("\(s)/usr/bin/sg-helper", "setgid\n", mode: 0o2755)
        t.mkdir("\(s)/tmp/sticky", mode: 0o1777)
        t.write("\(s)/etc/hello/empty.conf", "", mode: 0o600)
        t.mkdir("\(s)/var/lib/hello/emptydir")
        t.write("\(s)/usr/share/doc/hello/name with spaces.txt", "spaces\n")
        t.write("\(s)/usr/share/doc/hello/ünïcødé-文件.txt", "utf8\n")
        let longDir = String(repeating: "d", count: 80) + "/" + String(repeating: "e", count: 80)
        t.write("\(s)/usr/share/\(longDir)/\(String(repeating: "f", count: 120)).txt", "long\n")
        symlink("hello", t.sub("\(s)/usr/bin/hello-link"))
        symlink("/" + String(repeating: "t", count: 150), t.sub("\(s)/usr/bin/long-target"))
        link(t.sub("\(s)/usr/bin/hello"), t.sub("\(s)/usr/bin/hello-hard"))
        t.write("\(s)/usr/bin/capped", "cap\n", mode: 0o755)
        let x = try! runPython("import os,sys; os.setxattr(sys.argv[1], 'user.apkit-test', b'v1', follow_symlinks=False)", [t.sub("\(s)/usr/bin/capped")])
        XCTAssertEqual(x.status, 0, "xattrs unsupported in TMPDIR: \(x.stderr)")
        mkfifo(t.sub("\(s)/var/lib/hello/fifo"), 0o600)
        t.write("\(s)/var/lib/hello/data.db", "owned by the app\n", mode: 0o640)
        chown(t.sub("\(s)/var/lib/hello/data.db"), 65534, 65534) // nobody:nogroup
        t.write("\(s)/.hidden-top-level", "abuild skips top-level dotfiles\n")
        return t.sub(s)
    }

    func testEveryEntryKindReadByIndependentTools() throws {
        let t = TempDir()
        let stage = makeRichTree(t)
        let apk = try pack(stage, output: t.sub("out"), extra: ["--user", "nobody", "--group", "nogroup", "--description", "Hello world", "--license", "MIT"])
        XCTAssertEqual(apk, t.sub("out/hello-1.0-r0.apk"))
        let rep = try independentCheck(apk)

        // Three gzip members; signatures RSA256 then RSA, both valid under openssl.
        XCTAssertEqual(rep["members"] as? Int, 3)
        XCTAssertEqual(rep["signatures"] as? [String], [".SIGN.RSA256.\(TestKeys.keyName)", ".SIGN.RSA.\(TestKeys.keyName)"])
        let valid = rep["signature_valid"] as! [String: Bool]
        XCTAssertEqual(valid.count, 2)
        XCTAssertTrue(valid.values.allSatisfy { $0 }, "\(valid)")

        // .PKGINFO: abuild's order, datahash = sha256 of the data member.
        let pkginfo = rep["pkginfo"] as! String
        let lines = pkginfoLines(pkginfo)
        let keys = lines.map { $0.0 }
        XCTAssertEqual(Array(keys.prefix(11)), ["pkgname", "pkgver", "pkgdesc", "url", "builddate", "packager", "size", "arch", "origin", "commit", "license"])
        XCTAssertEqual(keys.last, "datahash")
        XCTAssertEqual(lines.last?.1, rep["datahash"] as? String)
        XCTAssertTrue(lines.contains { $0 == ("builddate", "1700000000") })
        XCTAssertTrue(lines.contains { $0 == ("depend", "/bin/sh") } == false, "no install script, so no /bin/sh")

        // Data entries: sorted bytewise, top-level dotfile excluded, checksums right.
        let entries = rep["entries"] as! [[String: Any]]
        let names = entries.map { $0["name"] as! String }
        XCTAssertEqual(names, names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        XCTAssertFalse(names.contains(".hidden-top-level"))
        XCTAssertEqual(rep["checksum_mismatches"] as? [String], [])
        func entry(_ n: String) -> [String: Any] { entries.first { $0["name"] as? String == n }! }
        XCTAssertEqual(entry("usr/bin/su-helper")["mode"] as? Int, 0o4755)
        XCTAssertEqual(entry("usr/bin/sg-helper")["mode"] as? Int, 0o2755)
        XCTAssertEqual(entry("tmp/sticky")["mode"] as? Int, 0o1777)
        XCTAssertEqual(entry("etc/hello/empty.conf")["size"] as? Int, 0)
        XCTAssertEqual(entry("var/lib/hello/emptydir")["type"] as? String, "5")
        XCTAssertEqual(entry("var/lib/hello/fifo")["type"] as? String, "6")
        XCTAssertEqual(entry("usr/bin/hello-link")["type"] as? String, "2")
        XCTAssertEqual(entry("usr/bin/long-target")["linkname"] as? String, "/" + String(repeating: "t", count: 150))
        // Hardlink: the first path of the inode in sorted order holds the data, the other links to it.
        XCTAssertEqual(entry("usr/bin/hello-hard")["type"] as? String, "1")
        XCTAssertEqual(entry("usr/bin/hello-hard")["linkname"] as? String, "usr/bin/hello")
        XCTAssertNil((entry("usr/bin/hello-hard")["pax"] as! [String: String])["APK-TOOLS.checksum.SHA1"])
        XCTAssertTrue(names.contains("usr/share/doc/hello/name with spaces.txt"))
        XCTAssertTrue(names.contains("usr/share/doc/hello/ünïcødé-文件.txt"))
        XCTAssertTrue(names.contains { $0.hasSuffix(String(repeating: "f", count: 120) + ".txt") })
        XCTAssertEqual((entry("usr/bin/capped")["pax"] as! [String: String])["SCHILY.xattr.user.apkit-test"], "v1")
        // Ownership: the package's own user keeps its name with uid 0; everything else is root.
        XCTAssertEqual(entry("var/lib/hello/data.db")["uname"] as? String, "nobody")
        XCTAssertEqual(entry("var/lib/hello/data.db")["gname"] as? String, "nogroup")
        XCTAssertEqual(entry("var/lib/hello/data.db")["uid"] as? Int, 0)
        XCTAssertTrue(entries.filter { $0["name"] as? String != "var/lib/hello/data.db" }.allSatisfy { $0["uname"] as? String == "root" && $0["uid"] as? Int == 0 })
        XCTAssertTrue(entries.allSatisfy { $0["mtime"] as? Int == 1_700_000_000 })

        // size: regular files, hard-linked inode counted once.
        let regularBytes = entries.filter { $0["type"] as? String == "0" }.reduce(0) { $0 + ($1["size"] as! Int) }
        XCTAssertEqual(regularBytes, 21 + 7 + 7 + 7 + 5 + 5 + 4 + 17)
        XCTAssertTrue(lines.contains { $0 == ("size", String(regularBytes)) }, pkginfo)

        // GNU tar reads the whole concatenated stream.
        let gnu = try runProcess("tar", ["-tvzf", apk])
        XCTAssertEqual(gnu.status, 0, gnu.stderr)
        XCTAssertTrue(gnu.stdout.contains(".SIGN.RSA256.\(TestKeys.keyName)"))
        XCTAssertTrue(gnu.stdout.contains(".PKGINFO"))
        XCTAssertTrue(gnu.stdout.contains("usr/bin/hello-hard link to usr/bin/hello"))
        XCTAssertTrue(gnu.stdout.contains("-rwsr-xr-x"))

        // sha256sum over the data member equals datahash; gzip -t accepts every member.
        let members = try gzipMembers(apk)
        XCTAssertEqual(members.count, 3)
        let dataFile = t.sub("data.tar.gz")
        _ = FileManager.default.createFile(atPath: dataFile, contents: members[2])
        let sum = try runProcess("sha256sum", [dataFile])
        XCTAssertEqual(sum.stdout.split(separator: " ").first.map(String.init), rep["datahash"] as? String)
        XCTAssertEqual(try runProcess("gzip", ["-t", dataFile]).status, 0)
        // openssl dgst -verify over the control member, from the shell.
        let control = t.sub("control.tar.gz")
        _ = FileManager.default.createFile(atPath: control, contents: members[1])

        // Our own reader agrees.
        let v = try apkit(["verify", "--keys-dir", TestKeys.dir.path, apk])
        XCTAssertEqual(v.status, 0, v.stdout + v.stderr)
        XCTAssertEqual(v.stdout, "\(apk): OK\n")
        let ins = try apkit(["inspect", "--json", "--keys-dir", TestKeys.dir.path, apk])
        XCTAssertEqual(ins.status, 0, ins.stderr)
        let json = try JSONSerialization.jsonObject(with: ins.stdoutData) as! [String: Any]
        XCTAssertEqual(json["verification"] as? String, "OK")
        XCTAssertEqual((json["files"] as! [[String: Any]]).map { $0["path"] as! String }, names)
        XCTAssertEqual((json["details"] as? [String: String])?["controlChecksum"], rep["control_sha1_b64"] as? String)
    }

    func testScriptsGoToControlAndAddBinSh() throws {
        let t = TempDir()
        t.write("stage/usr/bin/x", "x\n", mode: 0o755)
        let pre = t.write("pre", "#!/bin/sh\naddgroup -S hello 2>/dev/null\nexit 0\n")
        let trig = t.write("trig", "#!/bin/sh\necho trig\n")
        let apk = try pack(t.sub("stage"), output: t.sub("out"),
                           extra: ["--script", "pre-install=\(pre)", "--script", "trigger=\(trig)", "--trigger", "/usr/share/fonts/*",
                                   "--depend", "musl", "--provide", "hello-virtual=1.0", "--replace", "old-hello", "--install-if", "hello-base", "--install-if", "foo",
                                   "--provider-priority", "10", "--maintainer", "M <m@example.org>", "--url", "https://example.org",
                                   "--commit", "abc123"])
        let rep = try independentCheck(apk)
        let control = rep["control"] as! [[String: Any]]
        XCTAssertEqual(control.map { $0["name"] as! String }, [".PKGINFO", ".pre-install", ".trigger"])
        XCTAssertEqual(control[1]["mode"] as? Int, 0o755)
        XCTAssertEqual(control[0]["mode"] as? Int, 0o644)
        let lines = pkginfoLines(rep["pkginfo"] as! String)
        XCTAssertEqual(lines.filter { $0.0 == "depend" }.first?.1, "musl")
        XCTAssertTrue(lines.contains { $0 == ("depend", "/bin/sh") })
        XCTAssertTrue(lines.contains { $0 == ("triggers", "/usr/share/fonts/*") })
        XCTAssertTrue(lines.contains { $0 == ("install_if", "hello-base foo") })
        XCTAssertTrue(lines.contains { $0 == ("replaces", "old-hello") })
        XCTAssertTrue(lines.contains { $0 == ("provider_priority", "10") })
        XCTAssertTrue(lines.contains { $0 == ("maintainer", "M <m@example.org>") })
        XCTAssertTrue(lines.contains { $0 == ("commit", "abc123") })
        let order = lines.map { $0.0 }
        let idx = { (k: String) in order.firstIndex(of: k)! }
        XCTAssertTrue(idx("commit") < idx("maintainer") && idx("maintainer") < idx("provider_priority") && idx("provider_priority") < idx("license"))
        XCTAssertTrue(idx("license") < idx("replaces") && idx("replaces") < idx("depend") && idx("depend") < idx("provides"))
        XCTAssertTrue(idx("provides") < idx("triggers") && idx("triggers") < idx("install_if"))
    }

    func testReproducibleWithSourceDateEpoch() throws {
        let t = TempDir()
        let stage = makeRichTree(t)
        let a = try pack(stage, output: t.sub("a"))
        // Touch everything: mtimes change, the package must not.
        _ = try runProcess("find", [stage, "-exec", "touch", "-h", "{}", "+"])
        let b = try pack(stage, output: t.sub("b"))
        XCTAssertEqual(FileManager.default.contents(atPath: a), FileManager.default.contents(atPath: b))
        // A different epoch gives different bytes.
        let c = try pack(stage, output: t.sub("c"), environment: ["SOURCE_DATE_EPOCH": "1700000001"])
        XCTAssertNotEqual(FileManager.default.contents(atPath: a), FileManager.default.contents(atPath: c))
    }

    func testNoEpochUsesFileTimesAndNow() throws {
        let t = TempDir()
        t.write("stage/a", "a")
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, t.sub("stage/a"), &times, 0)
        let apk = try pack(t.sub("stage"), output: t.sub("out"), environment: ["SOURCE_DATE_EPOCH": ""])
        let rep = try independentCheck(apk)
        let e = (rep["entries"] as! [[String: Any]]).first { $0["name"] as? String == "a" }!
        XCTAssertEqual(e["mtime"] as? Int, 1_600_000_000)
        let build = Int(pkginfoLines(rep["pkginfo"] as! String).first { $0.0 == "builddate" }!.1)!
        XCTAssertLessThan(abs(build - Int(Date().timeIntervalSince1970)), 120)
    }

    func testEmptyTreeGetsSizeOneOnlyWithEntries() throws {
        let t = TempDir()
        t.mkdir("empty")
        t.mkdir("onlydir/etc")
        let e = try independentCheck(try pack(t.sub("empty"), name: "meta", output: t.sub("o1")))
        XCTAssertTrue(pkginfoLines(e["pkginfo"] as! String).contains { $0 == ("size", "0") })
        let d = try independentCheck(try pack(t.sub("onlydir"), name: "dirs", output: t.sub("o2")))
        XCTAssertTrue(pkginfoLines(d["pkginfo"] as! String).contains { $0 == ("size", "1") })
    }

    func testTracingAddsCmdAndSoLinesLikeAbuild() throws {
        let t = TempDir()
        t.write("lib.c", "int foo(void) { return 42; }\n")
        t.write("main.c", "int foo(void); int main(void) { return foo() == 42 ? 0 : 1; }\n")
        t.mkdir("stage/usr/lib")
        t.mkdir("stage/usr/bin")
        XCTAssertEqual(try runProcess("gcc", ["-shared", "-fPIC", "-Wl,-soname,libfoo.so.1", "-o", t.sub("stage/usr/lib/libfoo.so.1.2.3"), t.sub("lib.c")]).status, 0)
        symlink("libfoo.so.1.2.3", t.sub("stage/usr/lib/libfoo.so.1"))
        XCTAssertEqual(try runProcess("gcc", ["-o", t.sub("stage/usr/bin/foo-client"), t.sub("main.c"), t.sub("stage/usr/lib/libfoo.so.1.2.3")]).status, 0)
        let apk = try pack(t.sub("stage"), name: "foo", version: "1.2.3-r1", output: t.sub("out"))
        let text = try independentCheck(apk)["pkginfo"] as! String
        let auto = text.components(separatedBy: "# automatically detected:\n")[1].split(separator: "\n").map(String.init)
        XCTAssertTrue(auto.contains("provides = cmd:foo-client=1.2.3-r1"), text)
        XCTAssertTrue(auto.contains("provides = so:libfoo.so.1=1.2.3"), text)
        XCTAssertTrue(auto.contains("depend = so:libc.so.6"), text)
        XCTAssertFalse(auto.contains("depend = so:libfoo.so.1"), "self-provided sonames are dropped: \(text)")
        XCTAssertEqual(auto.last?.hasPrefix("datahash = "), true)
        // --no-trace leaves the section empty.
        let plain = try pack(t.sub("stage"), name: "foo", version: "1.2.3-r1", output: t.sub("plain"), extra: ["--no-trace"])
        let ptext = try independentCheck(plain)["pkginfo"] as! String
        XCTAssertFalse(ptext.contains("cmd:foo-client"))
    }
    /// Many small files (read ahead in batches of 256 files / 512 KiB into a ring of 4 buffers),
    /// files just under, at and over the read-ahead's 512 KiB limit (read by the writer itself),
    /// empty files and hard links, across directories: Python's tarfile reads back every content
    /// and the SHA-1 in each pax header matches it; the order is the sorted walk's.
    func testReadAheadBatchesKeepContentAndOrder() throws {
        let t = TempDir()
        var rng = SystemRandomNumberGenerator()
        var expected: [String: [UInt8]] = [:]
        for i in 0..<1500 {
            let path = "usr/share/many/d\(i % 7)/f\(String(format: "%04d", i))"
            let size = i % 97 == 0 ? 0 : Int.random(in: 1...3000, using: &rng)
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = t.write("stage/" + path, Data(bytes))
            expected[path] = bytes
        }
        for (name, size) in [("under", (512 << 10) - 1), ("at", 512 << 10), ("over", (512 << 10) + 1), ("large", 3 << 20)] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }
            _ = t.write("stage/usr/share/big/\(name)", Data(bytes))
            expected["usr/share/big/\(name)"] = bytes
        }
        XCTAssertEqual(link(t.sub("stage/usr/share/many/d1/f0001"), t.sub("stage/usr/share/many/d1/z-hardlink")), 0)
        let apk = try pack(t.sub("stage"), name: "many", output: t.sub("out"))
        let report = try independentCheck(apk)
        XCTAssertEqual(report["checksum_mismatches"] as? [String], [])
        let entries = report["entries"] as! [[String: Any]]
        let files = entries.filter { ($0["type"] as? String) == "0" }
        XCTAssertEqual(files.count, expected.count)
        for e in files {
            let name = e["name"] as! String
            guard let want = expected[name] else { XCTFail("unexpected \(name)"); continue }
            XCTAssertEqual(e["sha1"] as? String, Digest.hash(.sha1, want).hexString, name)
            XCTAssertEqual(e["size"] as? Int, want.count, name)
        }
        let names = entries.map { $0["name"] as! String }
        XCTAssertEqual(names, names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        XCTAssertTrue(entries.contains { ($0["name"] as? String) == "usr/share/many/d1/z-hardlink" && ($0["type"] as? String) == "1" })
    }
}
