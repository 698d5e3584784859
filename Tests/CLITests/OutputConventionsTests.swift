import Foundation
import TestSupport
import XCTest

/// `--quiet` and `--verbose` on every command that prints more than its data (issue 12), and
/// secrets kept out of `--verbose` output (issue 11): results on stdout, steps and details on
/// stderr, nothing but warnings and errors with --quiet.
final class OutputConventionsTests: XCTestCase {
    let env = ["SOURCE_DATE_EPOCH": "1700000000"]

    private func expectSilent(_ r: ProcessResult, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stdout, "", "\(what) --quiet printed on stdout", file: file, line: line)
        XCTAssertEqual(r.stderr, "", "\(what) --quiet printed on stderr", file: file, line: line)
    }

    func testQuietAndVerboseOnEveryCommand() throws {
        let t = TempDir("apkit-output")
        let dir = t.path

        // keygen: the key files are the result.
        var r = try apkit(["keygen", "-q", "--name", "quiet", "--bits", "2048", "--output-dir", t.sub("keys")], environment: env)
        expectSilent(r, "keygen")
        let made = try FileManager.default.contentsOfDirectory(atPath: t.sub("keys")).sorted()
        XCTAssertEqual(made.count, 2, "keygen -q must still write the key pair: \(made)")
        r = try apkit(["keygen", "--verbose", "--name", "loud", "--bits", "2048", "--output-dir", t.sub("keys")], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, 2, r.stdout)
        XCTAssertTrue(r.stderr.contains("RSA 2048 bits"), r.stderr)
        let key = r.stdout.split(separator: "\n").map(String.init)[0]
        let keysDir = t.sub("keys")

        // pack
        _ = t.write("stage/usr/share/demo/a", "hello\n")
        r = try apkit(["pack", "-q", t.sub("stage"), "--name", "demo", "--version", "1.0-r0", "--arch", "x86_64",
                       "--key", key, "--output", t.sub("out")], environment: env)
        expectSilent(r, "pack")
        let apk = t.sub("out/demo-1.0-r0.apk")
        XCTAssertTrue(FileManager.default.fileExists(atPath: apk))
        r = try apkit(["pack", "-v", t.sub("stage"), "--name", "demo", "--version", "1.0-r0", "--arch", "x86_64",
                       "--key", key, "--output", t.sub("out2")], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, t.sub("out2/demo-1.0-r0.apk") + "\n")
        XCTAssertTrue(r.stderr.contains("v2 demo-1.0-r0 (x86_64):") && r.stderr.contains("installed size 6"), r.stderr)

        // verify: --quiet prints only the bad files
        r = try apkit(["verify", "-q", "--keys-dir", keysDir, apk])
        expectSilent(r, "verify")
        let bad = t.write("bad.apk", "not a package")
        r = try apkit(["verify", "-q", "--keys-dir", keysDir, apk, bad])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.hasPrefix("\(bad): "), r.stdout)
        XCTAssertFalse(r.stdout.contains("\(apk): OK"), r.stdout)
        r = try apkit(["verify", "-v", "--keys-dir", keysDir, apk])
        XCTAssertEqual(r.stdout, "\(apk): OK\n")
        XCTAssertTrue(r.stderr.contains("v2 package, demo-1.0-r0 (x86_64), signed by "), r.stderr)

        // index
        r = try apkit(["index", "-q", "--key", key, "-o", t.sub("idx/APKINDEX.tar.gz"), apk], environment: env)
        expectSilent(r, "index")
        r = try apkit(["index", "--key", key, "-o", t.sub("idx/APKINDEX.tar.gz"), apk], environment: env)
        XCTAssertTrue(r.stdout.contains("1 packages (1 new"), r.stdout)

        // build: its command's output is shown normally, hidden with --quiet, and a failure
        // under --quiet still names the command's last line.
        _ = t.write("proj/a", "a\n")
        _ = t.write("proj/apkit.yml", """
            name: demo
            version: "1.0"
            type: plain
            architectures: [x86_64]
            build:
              command: echo building-now
            files:
              - {source: a, destination: /usr/share/demo/a}

            """)
        r = try apkit(["build", "-q", "--key", key], cwd: t.sub("proj"), environment: env)
        expectSilent(r, "build")
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.sub("proj/packages/x86_64/demo-1.0-r0.apk")))
        r = try apkit(["build", "--key", key, "--output", "p2"], cwd: t.sub("proj"), environment: env)
        XCTAssertEqual(r.stdout, "wrote p2/x86_64/demo-1.0-r0.apk\n")
        XCTAssertTrue(r.stderr.contains("==> build.command (x86_64)") && r.stderr.contains("building-now"), r.stderr)
        XCTAssertFalse(r.stderr.contains("pkgver="), "details belong to --verbose: \(r.stderr)")
        r = try apkit(["build", "--verbose", "--key", key, "--output", "p3"], cwd: t.sub("proj"), environment: env)
        XCTAssertTrue(r.stderr.contains("pkgver=1.0") && r.stderr.contains("CARCH=x86_64") && r.stderr.contains("demo-1.0-r0.apk: "), r.stderr)
        _ = t.write("fail/apkit.yml", "name: demo\nversion: \"1.0\"\ntype: plain\narchitectures: [x86_64]\nbuild:\n  command: echo boom-line; exit 3\n")
        r = try apkit(["build", "-q", "--key", key], cwd: t.sub("fail"), environment: env)
        XCTAssertEqual(r.status, 3)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("apkit: error: apkit.yml:6:") && r.stderr.contains("boom-line"), r.stderr)

        // publish into a directory
        r = try apkit(["publish", "-q", "--to", t.sub("repo"), "--key", key, apk], environment: env)
        expectSilent(r, "publish")
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.sub("repo/x86_64/APKINDEX.tar.gz")))
        r = try apkit(["publish", "-v", "--to", t.sub("repo"), "--key", key, apk], environment: env)
        XCTAssertTrue(r.stdout.contains("unchanged: "), r.stdout)
        XCTAssertTrue(r.stderr.contains("x86_64/APKINDEX.tar.gz: read version"), r.stderr)

        // init
        t.mkdir("proj2")
        r = try apkit(["init", "-q"], cwd: t.sub("proj2"), environment: env)
        expectSilent(r, "init")
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.sub("proj2/apkit.yml")))

        // Both at once is a usage error.
        r = try apkit(["pack", "-q", "-v", t.sub("stage"), "--name", "demo", "--version", "1.0-r0", "--key", key], cwd: dir)
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("--quiet and --verbose exclude each other"), r.stderr)
    }

    /// `publish --verbose` to S3 shows every request (multipart included) and its signed headers,
    /// and none of the secrets: the secret key, the session token, the key's passphrase, the
    /// private key, a request signature. Also when the server refuses the signature.
    func testVerboseS3TraceShowsRequestsButNoSecrets() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let moto = environment["APKIT_TEST_MOTO_ENDPOINT"] else {
            throw XCTSkip("S3 test servers are not running: run `source .ci/s3-servers.sh` first")
        }
        let t = TempDir("apkit-verbose-s3")
        let secret = "VerboseSecret/Key+With=Chars0123456789"
        let token = "SessionToken/For+Verbose=Test0123456789"
        let passphrase = "pass phrase for the verbose test"

        // An encrypted key, its passphrase from the environment.
        let plainKey = TestKeys.privateKey
        let encrypted = t.sub("enc.pem")
        var r = try runProcess("openssl", ["pkey", "-in", plainKey, "-aes256", "-passout", "pass:\(passphrase)", "-out", encrypted])
        XCTAssertEqual(r.status, 0, r.stderr)
        chmod(encrypted, 0o600)
        let keyBody = try String(contentsOfFile: plainKey, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("-----") }.prefix(3).map(String.init)
        let encBody = try String(contentsOfFile: encrypted, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("-----") }.prefix(3).map(String.init)

        // 17 MiB of random bytes: above the single-PUT limit, so parts are uploaded.
        var rng = SeededGenerator(seed: 11)
        var big = Data(count: 17 << 20)
        big.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in words.indices { words[i] = rng.next() }
        }
        _ = t.write("stage/usr/share/big/blob", big)
        let apk = try pack(t.sub("stage"), name: "big", output: t.sub("out"))
        let keysDir = (TestKeys.publicKey as NSString).deletingLastPathComponent

        let bucket = "apkit-verbose-\(UInt32.random(in: 0...UInt32.max))"
        r = try runPython("""
            import sys, boto3
            boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='x',
                         aws_secret_access_key='y').create_bucket(Bucket=sys.argv[2])
            """, [moto, bucket])
        XCTAssertEqual(r.status, 0, r.stderr)

        var awsEnv = ["AWS_ACCESS_KEY_ID": "AKIAVERBOSETEST12345", "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token,
                      "AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "",
                      "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/apkit-test/credentials",
                      "AWS_CONFIG_FILE": "/nonexistent/apkit-test/config", "APKIT_KEY_PASSPHRASE": passphrase]
        r = try apkit(["publish", "--verbose", "--to", "s3://\(bucket)/repo", "--endpoint", moto, "--part-size", "5M",
                       "--key", encrypted, "--keys-dir", keysDir, apk], environment: awsEnv)
        XCTAssertEqual(r.status, 0, r.stderr)
        let output = r.stdout + r.stderr
        for op in ["CreateMultipartUpload POST", "UploadPart PUT", "CompleteMultipartUpload POST", "PutObject PUT"] {
            XCTAssertTrue(r.stderr.contains("s3: \(op) "), "no \(op) in the trace:\n\(r.stderr.prefix(3000))")
        }
        XCTAssertTrue(r.stderr.contains("Signature=<redacted>"), r.stderr)
        XCTAssertTrue(r.stderr.contains("X-Amz-Security-Token: <redacted>"), r.stderr)
        XCTAssertTrue(r.stderr.contains("Credential=AKIA…2345/"), r.stderr)
        assertNoSecrets(output, [secret, token, passphrase] + keyBody + encBody)

        // A refused signature (ministack checks them): the verbose error shows the canonical
        // request, still without the secrets.
        if let ms = environment["APKIT_TEST_MINISTACK_ENDPOINT"], let id = environment["APKIT_TEST_MINISTACK_ACCESS_KEY_ID"] {
            awsEnv["AWS_ACCESS_KEY_ID"] = id
            r = try apkit(["publish", "-v", "--to", "s3://\(bucket)/repo", "--endpoint", ms, "--key", encrypted, "--keys-dir", keysDir, apk],
                          environment: awsEnv)
            XCTAssertNotEqual(r.status, 0)
            // The refused request is in the trace with its status.
            XCTAssertNotNil(r.stderr.range(of: "s3: HeadObject HEAD [^ ]+ -> 4[0-9][0-9] ", options: .regularExpression), r.stderr)
            assertNoSecrets(r.stdout + r.stderr, [secret, token, passphrase] + keyBody + encBody)
        }
    }

    private func assertNoSecrets(_ output: String, _ secrets: [String], file: StaticString = #filePath, line: UInt = #line) {
        let encoded = secrets.map { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0 }
        for s in Set(secrets + encoded) where s.count >= 8 {
            XCTAssertFalse(output.contains(s), "a secret was printed: \(s.prefix(6))…", file: file, line: line)
        }
        // No request signature (64 hex digits after Signature=) and no signing key material.
        XCTAssertNil(output.range(of: "Signature=[0-9a-f]{16}", options: .regularExpression), "a signature was printed", file: file, line: line)
        XCTAssertFalse(output.contains("PRIVATE KEY"), "a private key was printed", file: file, line: line)
    }
}
