import Foundation
import TestSupport
import XCTest

/// The GitHub Action's steps (`.github/action/*.sh`, what action.yml runs) run locally: install
/// (pointed at the apkit binary of this test build with APKIT_BIN), build, publish to a directory
/// (and to the local S3 test server when `.ci/s3-servers.sh` is running).
final class ActionScriptsTests: XCTestCase {
    static var actionDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".github/action").path
    }

    struct Runner {
        let t = TempDir("apkit-action")
        var runnerTemp: String { t.sub("runner-temp") }
        var env: [String: String] {
            ["RUNNER_TEMP": runnerTemp, "GITHUB_OUTPUT": t.sub("github/output"), "GITHUB_ENV": t.sub("github/env"),
             "GITHUB_PATH": t.sub("github/path"), "SOURCE_DATE_EPOCH": "1700000000"]
        }
        init() {
            t.mkdir("runner-temp")
            t.mkdir("github")
            for f in ["output", "env", "path"] { t.write("github/" + f, "") }
            // A project: a shell script packaged for three architectures (two are built).
            t.write("project/greet.sh", "#!/bin/sh\necho \"hello, ${1:-world}\"\n", mode: 0o755)
            t.write("project/apkit.yml", """
                name: greet
                version: 1.0.0
                description: Greets
                license: MIT
                type: plain
                architectures: [x86_64, aarch64, armv7]
                files:
                  - {source: greet.sh, destination: /usr/bin/greet, mode: "0755"}

                """)
        }
        /// Runs one step script as the composite action would: the step's env plus what earlier
        /// steps wrote to $GITHUB_ENV.
        func step(_ script: String, _ inputs: [String: String]) throws -> ProcessResult {
            var e = env
            for line in (try? String(contentsOfFile: t.sub("github/env"), encoding: .utf8))?.split(separator: "\n") ?? [] {
                if let eq = line.firstIndex(of: "=") { e[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
            }
            e.merge(inputs) { $1 }
            return try runProcess("bash", [ActionScriptsTests.actionDirectory + "/" + script], cwd: t.path, environment: e)
        }
        func output() -> String { (try? String(contentsOfFile: t.sub("github/output"), encoding: .utf8)) ?? "" }
    }

    var pem: String { (try? String(contentsOfFile: TestKeys.privateKey, encoding: .utf8)) ?? "" }

    func install(_ r: Runner) throws {
        let i = try r.step("install.sh", ["APKIT_BIN": apkitBinary, "APKIT_HOME": r.t.sub("apkit-home")])
        XCTAssertEqual(i.status, 0, i.stderr)
        XCTAssertTrue(i.stdout.hasPrefix("apkit "), i.stdout)
        XCTAssertEqual(try String(contentsOfFile: r.t.sub("github/path"), encoding: .utf8), r.t.sub("apkit-home/bin") + "\n")
        XCTAssertTrue(r.output().contains("apkit<<__APKIT_EOF__\n\(r.t.sub("apkit-home/bin/apkit"))\n"), r.output())
    }

    func build(_ r: Runner) throws {
        let b = try r.step("build.sh", ["APKIT_KEY": pem, "APKIT_KEY_NAME": "ci-test.rsa.pub",
                                        "APKIT_WORKING_DIRECTORY": "project", "APKIT_ARCH": "x86_64 aarch64"])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(b.stdout, "wrote packages/x86_64/greet-1.0.0-r0.apk\nwrote packages/aarch64/greet-1.0.0-r0.apk\n")
        XCTAssertTrue(r.output().contains("packages<<__APKIT_EOF__\npackages/x86_64/greet-1.0.0-r0.apk\npackages/aarch64/greet-1.0.0-r0.apk\n"),
                      r.output())
        let signed = try apkit(["inspect", "--json", r.t.sub("project/packages/x86_64/greet-1.0.0-r0.apk")])
        XCTAssertTrue(signed.stdout.contains("\"key\" : \"ci-test.rsa.pub\""), signed.stdout)
        assertNoKeyLeft(r, b)
    }

    /// The key is never printed and no copy of it is left behind.
    func assertNoKeyLeft(_ r: Runner, _ p: ProcessResult, file: StaticString = #filePath, line: UInt = #line) {
        let body = pem.split(separator: "\n").dropFirst().first.map(String.init) ?? "?"
        XCTAssertFalse((p.stdout + p.stderr + r.output()).contains(body), "key text printed", file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: r.runnerTemp), [], "temp key left", file: file, line: line)
    }

    func testStepsBuildAndPublishToADirectory() throws {
        let r = Runner()
        try install(r)
        try build(r)
        let repo = r.t.sub("repo")
        let p = try r.step("publish.sh", ["APKIT_KEY": pem, "APKIT_KEY_NAME": "ci-test.rsa.pub",
                                          "APKIT_WORKING_DIRECTORY": "project", "APKIT_PUBLISH_TO": repo])
        XCTAssertEqual(p.status, 0, p.stderr)
        assertNoKeyLeft(r, p)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: repo + "/keys"), ["ci-test.rsa.pub"])
        for arch in ["x86_64", "aarch64"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: repo + "/" + arch).filter { !$0.hasPrefix(".") }.sorted()
            XCTAssertEqual(files, ["APKINDEX.tar.gz", "greet-1.0.0-r0.apk"])
            let v = try apkit(["verify", "--keys-dir", repo + "/keys", repo + "/\(arch)/greet-1.0.0-r0.apk", repo + "/\(arch)/APKINDEX.tar.gz"])
            XCTAssertEqual(v.status, 0, v.stdout + v.stderr)
        }
    }

    func testMissingKeyAndBadFormatAreOneLineErrors() throws {
        let r = Runner()
        try install(r)
        let noKey = try r.step("build.sh", ["APKIT_KEY": "", "APKIT_WORKING_DIRECTORY": "project"])
        XCTAssertEqual(noKey.status, 1)
        XCTAssertTrue(noKey.stderr.hasPrefix("apkit-action: error: no signing key"), noKey.stderr)
        let bad = try r.step("build.sh", ["APKIT_KEY": pem, "APKIT_FORMAT": "v4", "APKIT_WORKING_DIRECTORY": "project"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderr, "apkit-action: error: format must be v2 or v3, not 'v4'\n")
        assertNoKeyLeft(r, bad)
        // Nothing to publish to: the step does nothing.
        let none = try r.step("publish.sh", ["APKIT_KEY": pem, "APKIT_WORKING_DIRECTORY": "project"])
        XCTAssertEqual(none.status, 0, none.stderr)
    }

    func testStepsPublishToTheS3TestServer() throws {
        guard let endpoint = ProcessInfo.processInfo.environment["APKIT_TEST_MOTO_ENDPOINT"] else {
            throw XCTSkip("S3 test servers are not running: run `source .ci/s3-servers.sh` first")
        }
        let creds = ["AWS_ACCESS_KEY_ID": "AKIAMOTOACTION000000", "AWS_SECRET_ACCESS_KEY": "moto-action-secret-0123456789",
                     "AWS_REGION": "us-east-1", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "",
                     "AWS_ENDPOINT_URL_S3": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/apkit-test/credentials",
                     "AWS_CONFIG_FILE": "/nonexistent/apkit-test/config"]
        let bucket = "apkit-action-\(UInt32.random(in: 0...UInt32.max))"
        let boto = """
            import sys, boto3
            from botocore.config import Config
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='AKIAMOTOACTION000000',
                              aws_secret_access_key='moto-action-secret-0123456789', config=Config(s3={'addressing_style': 'path'}))
            if sys.argv[3] == 'create': s3.create_bucket(Bucket=sys.argv[2])
            else: print('\\n'.join(sorted(o['Key'] for o in s3.list_objects_v2(Bucket=sys.argv[2]).get('Contents', []))))
            """
        XCTAssertEqual(try runPython(boto, [endpoint, bucket, "create"]).status, 0)

        let r = Runner()
        try install(r)
        try build(r)
        let p = try r.step("publish.sh", creds.merging(["APKIT_KEY": pem, "APKIT_KEY_NAME": "ci-test.rsa.pub",
                                                        "APKIT_WORKING_DIRECTORY": "project", "APKIT_S3_BUCKET": bucket,
                                                        "APKIT_S3_PREFIX": "/alpine/edge", "APKIT_ENDPOINT": endpoint]) { $1 })
        XCTAssertEqual(p.status, 0, p.stderr)
        assertNoKeyLeft(r, p)
        XCTAssertTrue(r.output().contains("repository<<__APKIT_EOF__\ns3://\(bucket)/alpine/edge\n"), r.output())
        let keys = try runPython(boto, [endpoint, bucket, "list"])
        XCTAssertEqual(keys.stdout.split(separator: "\n"), [
            "alpine/edge/aarch64/APKINDEX.tar.gz", "alpine/edge/aarch64/greet-1.0.0-r0.apk",
            "alpine/edge/keys/ci-test.rsa.pub",
            "alpine/edge/x86_64/APKINDEX.tar.gz", "alpine/edge/x86_64/greet-1.0.0-r0.apk",
        ], keys.stderr)
    }
}
