import Foundation
import TestSupport
import XCTest

/// keygen, key formats, and the one-line errors of `pack`.
final class KeyAndErrorTests: XCTestCase {
    func testKeygenWritesAbuildStyleKeys() throws {
        let t = TempDir()
        let r = try apkit(["keygen", "--name", "alice@example.org", "--bits", "2048", "--output-dir", t.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2)
        let name = (lines[0] as NSString).lastPathComponent
        XCTAssertNotNil(name.range(of: #"^alice@example\.org-[0-9a-f]{8}\.rsa$"#, options: .regularExpression), name)
        XCTAssertEqual(lines[1], lines[0] + ".pub")
        let attrs = try FileManager.default.attributesOfItem(atPath: lines[0])
        XCTAssertEqual((attrs[.posixPermissions] as! NSNumber).intValue, 0o600)
        XCTAssertEqual(try runProcess("openssl", ["rsa", "-check", "-noout", "-in", lines[0]]).status, 0)
        let pub = try runProcess("openssl", ["rsa", "-pubin", "-in", lines[1], "-noout", "-text"])
        XCTAssertTrue(pub.stdout.contains("2048 bit"), pub.stdout)
        // The private key is never printed.
        XCTAssertFalse(r.stdout.contains("PRIVATE KEY"))
        // Refuses to overwrite nothing; a second run makes a new name only if the second differs; same second -> refusal.
    }

    func testPKCS1AndEncryptedKeys() throws {
        let t = TempDir()
        t.write("stage/a", "a\n")
        XCTAssertEqual(try runProcess("openssl", ["genrsa", "-traditional", "-out", t.sub("pkcs1.rsa"), "2048"]).status, 0)
        XCTAssertTrue(String(decoding: FileManager.default.contents(atPath: t.sub("pkcs1.rsa"))!, as: UTF8.self).contains("BEGIN RSA PRIVATE KEY"))
        XCTAssertEqual(try runProcess("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-aes-256-cbc",
                                                  "-pass", "pass:s3cret", "-out", t.sub("enc.rsa")]).status, 0)
        t.write("pass.txt", "s3cret\n")
        let base = ["pack", t.sub("stage"), "--name", "a", "--version", "1-r0", "--output", t.sub("out")]
        XCTAssertEqual(try apkit(base + ["--key", t.sub("pkcs1.rsa")]).status, 0)
        let noPass = try apkit(base + ["--key", t.sub("enc.rsa")], environment: ["APKIT_KEY_PASSPHRASE": ""])
        XCTAssertEqual(noPass.status, 1)
        XCTAssertTrue(noPass.stderr.contains("encrypted"), noPass.stderr)
        XCTAssertEqual(try apkit(base + ["--key", t.sub("enc.rsa"), "--passphrase-file", t.sub("pass.txt")]).status, 0)
        XCTAssertEqual(try apkit(base + ["--key", t.sub("enc.rsa")], environment: ["APKIT_KEY_PASSPHRASE": "s3cret"]).status, 0)
        let wrong = try apkit(base + ["--key", t.sub("enc.rsa")], environment: ["APKIT_KEY_PASSPHRASE": "nope"])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertFalse(wrong.stderr.contains("nope"), "the passphrase must not be printed")
        // $PACKAGER_PRIVKEY stands in for --key.
        XCTAssertEqual(try apkit(base, environment: ["PACKAGER_PRIVKEY": t.sub("pkcs1.rsa")]).status, 0)
        // The signature names the key file + .pub, or --key-name.
        let named = try apkit(base + ["--key", t.sub("pkcs1.rsa"), "--key-name", "ci@example.org-1.rsa.pub", "--signature", "rsa"])
        XCTAssertEqual(named.status, 0, named.stderr)
        let rep = try independentCheck(named.stdout.trimmingCharacters(in: .whitespacesAndNewlines), pubkey: nil)
        XCTAssertEqual(rep["signatures"] as? [String], [".SIGN.RSA.ci@example.org-1.rsa.pub"])
    }

    func testBadInputGivesOneLineErrorAndNoOutput() throws {
        let t = TempDir()
        t.write("stage/a", "a\n")
        t.write("notakey.rsa", "hello\n")
        let cases: [([String], String)] = [
            (["--version", "1.0-r0", "--name", "Bad Name"], "--name"),
            (["--version", "one.two", "--name", "ok"], "--version"),
            (["--version", "1-r0", "--name", "ok", "--script", "install=x"], "--script"),
            (["--version", "1-r0", "--name", "ok", "--script", "pre-install=\(t.sub("missing.sh"))"], "missing.sh"),
            (["--version", "1-r0", "--name", "ok", "--depend", "a b"], "--depend"),
            (["--version", "1-r0", "--name", "ok", "--trigger", "/x"], "--trigger"),
            (["--version", "1-r0", "--name", "ok", "--compression-level", "13"], "--compression-level"),
        ]
        for (args, mention) in cases {
            let r = try apkit(["pack", t.sub("stage"), "--key", TestKeys.privateKey, "--output", t.sub("out")] + args)
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("apkit: error: "), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(mention), "\(args): \(r.stderr)")
        }
        let badKey = try apkit(["pack", t.sub("stage"), "--key", t.sub("notakey.rsa"), "--name", "ok", "--version", "1-r0", "--output", t.sub("out")])
        XCTAssertEqual(badKey.status, 1)
        XCTAssertTrue(badKey.stderr.contains("notakey.rsa"), badKey.stderr)
        let noStage = try apkit(["pack", t.sub("nostage"), "--key", TestKeys.privateKey, "--name", "ok", "--version", "1-r0", "--output", t.sub("out")])
        XCTAssertTrue(noStage.stderr.contains("nostage"), noStage.stderr)
        let noKey = try apkit(["pack", t.sub("stage"), "--name", "ok", "--version", "1-r0", "--output", t.sub("out")], environment: ["PACKAGER_PRIVKEY": ""])
        XCTAssertTrue(noKey.stderr.contains("--key"), noKey.stderr)
        // Nothing half-written: the output directory holds no .apk and no temp files.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: t.sub("out"))) ?? []
        XCTAssertEqual(left, [])
    }

    func testFailureMidwayLeavesNoPartialPackage() throws {
        let t = TempDir()
        t.write("stage/ok", "ok\n")
        t.write("stage/secret", "unreadable\n", mode: 0o000)
        // A socket can't be packaged: the builder fails after starting the data member.
        let sock = t.sub("stage/zz.sock")
        _ = try runPython("import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])", [sock])
        let r = try apkit(["pack", t.sub("stage"), "--key", TestKeys.privateKey, "--name", "ok", "--version", "1-r0", "--output", t.sub("out")])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("zz.sock"), r.stderr)
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: t.sub("out"))) ?? [], [])
        // An existing package is not damaged by a failed rebuild.
        unlink(sock)
        chmod(t.sub("stage/secret"), 0o644)
        let good = try apkit(["pack", t.sub("stage"), "--key", TestKeys.privateKey, "--name", "ok", "--version", "1-r0", "--output", t.sub("out")])
        XCTAssertEqual(good.status, 0, good.stderr)
        let before = FileManager.default.contents(atPath: t.sub("out/ok-1-r0.apk"))
        _ = try runPython("import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])", [sock])
        XCTAssertEqual(try apkit(["pack", t.sub("stage"), "--key", TestKeys.privateKey, "--name", "ok", "--version", "1-r0", "--output", t.sub("out")]).status, 1)
        XCTAssertEqual(FileManager.default.contents(atPath: t.sub("out/ok-1-r0.apk")), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: t.sub("out")), ["ok-1-r0.apk"])
    }
}
