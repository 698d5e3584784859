import XCTest
import TestSupport
import APKFormat

/// `apkit vercmp` and `apkit index`, run as the built binary.
final class IndexCLITests: XCTestCase {
    var tmp: TempDir!
    override func setUp() { tmp = TempDir("apkit-index-cli") }
    override func tearDown() { tmp = nil }

    func testVercmpTable() throws {
        // Expected results written from the grammar rules (format page, section 7).
        let table: [(String, String, String)] = [
            ("1.0", "=", "1.0"), ("1.0", "<", "1.1"), ("1.10", ">", "1.9"), ("1.2", "<", "1.2.0"),
            ("1.01", "<", "1.1"), ("1.0a", ">", "1.0"), ("1.0a", "<", "1.0b"), ("1.0a", "<", "1.0.1"),
            ("1.0_alpha", "<", "1.0_beta"), ("1.0_beta", "<", "1.0_pre"), ("1.0_pre", "<", "1.0_rc"),
            ("1.0_rc", "<", "1.0"), ("1.0", "<", "1.0_cvs"), ("1.0_cvs", "<", "1.0_svn"), ("1.0_svn", "<", "1.0_git"),
            ("1.0_git", "<", "1.0_hg"), ("1.0_hg", "<", "1.0_p"), ("1.0_p1", "<", "1.0_p2"), ("1.0_rc1", "<", "1.0_rc10"),
            ("1.0-r0", "<", "1.0-r1"), ("1.0-r9", "<", "1.0-r10"), ("1.0", "<", "1.0-r1"), ("1.0-r1", "<", "1.0_p1"),
            ("1.0~abc", ">", "1.0"), ("1.0~abc-r1", ">", "1.0~abc"), ("1.0~abc", "<", "1.0~abd"),
            ("2", ">", "1.99999"), ("1.0_alpha_p1", ">", "1.0_alpha"),
        ]
        for (a, op, b) in table {
            let r = try apkit(["vercmp", a, b])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, op + "\n", "\(a) \(op) \(b)")
            let reverse = op == "<" ? ">" : op == ">" ? "<" : "="
            XCTAssertEqual(try apkit(["vercmp", b, a]).stdout, reverse + "\n", "\(b) \(reverse) \(a)")
        }
    }

    func testVercmpInvalidAndCheck() throws {
        let bad = try apkit(["vercmp", "1.0", "1..0"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stdout, "")
        XCTAssertTrue(bad.stderr.contains("'1..0' is not a valid apk version"), bad.stderr)
        // apk-tools 2.14 rules compare invalid versions anyway (string order past the valid prefix).
        let old = try apkit(["vercmp", "--apk2", "1.0", "1.0bc"])
        XCTAssertEqual(old.status, 0)
        XCTAssertEqual(old.stdout, "<\n")

        let ok = try apkit(["vercmp", "--check", "1.0", "2.3.4_rc1-r2", "1.0_p1~abcdef-r0", "0"])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        let check = try apkit(["vercmp", "--check", "1.0", "1.0-r", "a1", "1.0_foo", "1..2", "1.0-r1-r2", "2.0"])
        XCTAssertEqual(check.status, 5)
        XCTAssertEqual(check.stdout, "1.0-r\na1\n1.0_foo\n1..2\n1.0-r1-r2\n")
        XCTAssertNotEqual(try apkit(["vercmp", "1.0"]).status, 0)
    }

    /// Builds packages with `apkit pack` and indexes them with `apkit index`, merging and pruning.
    func testIndexMergeReplacePruneAndTrust() throws {
        let keys = tmp.sub("keys")
        XCTAssertEqual(try apkit(["keygen", "--name", "ci", "--bits", "2048", "--output-dir", keys]).status, 0)
        let priv = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: keys).first { $0.hasSuffix(".rsa") })
        let key = keys + "/" + priv
        tmp.write("stage/usr/share/x/file", "x\n")
        func pack(_ name: String, _ version: String, _ extra: [String] = []) throws -> String {
            let out = tmp.sub("pkgs-\(name)-\(version)-\(UInt32.random(in: 0...UInt32.max))")
            let r = try apkit(["pack", tmp.sub("stage"), "--name", name, "--version", version, "--arch", "x86_64",
                               "--key", key, "--output", out, "--no-trace"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            return out + "/\(name)-\(version).apk"
        }
        func entries(_ path: String) throws -> [String] {
            let r = try runPython("import tarfile,sys; sys.stdout.write(tarfile.open(sys.argv[1]).extractfile('APKINDEX').read().decode())", [path])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try APKIndex.parse(r.stdout).map { "\($0.name)-\($0.version):\($0.value(of: "T") ?? "")" }
        }
        let a1 = try pack("aa", "1.0-r0"), a2 = try pack("aa", "1.1-r0"), b1 = try pack("bb", "1.0-r0")
        let idx1 = tmp.sub("one.tar.gz")
        let r1 = try apkit(["index", "--key", key, "--description", "first", "-o", idx1, b1, a2, a1])
        XCTAssertEqual(r1.status, 0, r1.stderr)
        XCTAssertEqual(r1.stdout, "\(idx1): 3 packages (3 new, 0 replaced)\n")
        XCTAssertEqual(try entries(idx1), ["aa-1.0-r0:", "aa-1.1-r0:", "bb-1.0-r0:"])

        // Merge: old entries kept without their .apk files, same name+version+arch replaced.
        let a2b = try pack("aa", "1.1-r0", ["--description", "rebuilt"]), a3 = try pack("aa", "1.2-r0")
        for f in [a1, a2, b1] { try FileManager.default.removeItem(atPath: f) }
        let idx2 = tmp.sub("two.tar.gz")
        let r2 = try apkit(["index", "--key", key, "--merge", idx1, "-o", idx2, a3, a2b])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        XCTAssertEqual(r2.stdout, "\(idx2): 4 packages (1 new, 1 replaced)\n")
        XCTAssertEqual(try entries(idx2), ["aa-1.0-r0:", "aa-1.1-r0:rebuilt", "aa-1.2-r0:", "bb-1.0-r0:"])

        // Prune to the newest version of each name, merging in place.
        let r3 = try apkit(["index", "--key", key, "--merge", idx2, "--prune", "1", "-o", idx2])
        XCTAssertEqual(r3.status, 0, r3.stderr)
        XCTAssertEqual(try entries(idx2), ["aa-1.2-r0:", "bb-1.0-r0:"])
        XCTAssertTrue(r3.stdout.contains("2 pruned"), r3.stdout)

        // An old index signed by another key is refused, unless --allow-untrusted.
        let otherKeys = tmp.sub("other")
        XCTAssertEqual(try apkit(["keygen", "--name", "other", "--bits", "2048", "--output-dir", otherKeys]).status, 0)
        let other = otherKeys + "/" + (try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: otherKeys).first { $0.hasSuffix(".rsa") }))
        let r4 = try apkit(["index", "--key", other, "--merge", idx2, "-o", tmp.sub("three.tar.gz"), "--allow-untrusted", a3])
        XCTAssertEqual(r4.status, 0, r4.stderr)
        let r5 = try apkit(["index", "--key", key, "--merge", tmp.sub("three.tar.gz"), "-o", tmp.sub("four.tar.gz"), a3])
        XCTAssertEqual(r5.status, 1)
        XCTAssertTrue(r5.stderr.hasPrefix("apkit: error: \(tmp.sub("three.tar.gz")): UNTRUSTED index: it is signed by other-"), r5.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.sub("four.tar.gz")))
        // Trusted through --keys-dir.
        let r6 = try apkit(["index", "--key", key, "--keys-dir", otherKeys, "--merge", tmp.sub("three.tar.gz"), "-o", tmp.sub("four.tar.gz")])
        XCTAssertEqual(r6.status, 0, r6.stderr)

        // A tampered old index: one byte flipped in the index member.
        var data = try XCTUnwrap(FileManager.default.contents(atPath: idx2))
        data[data.count - 40] ^= 0x20
        let bad = tmp.write("bad.tar.gz", data)
        let r7 = try apkit(["index", "--key", key, "--merge", bad, "-o", tmp.sub("five.tar.gz"), a3])
        XCTAssertEqual(r7.status, 1)
        XCTAssertTrue(r7.stderr.hasPrefix("apkit: error: \(bad): "), r7.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.sub("five.tar.gz")))
    }
}
