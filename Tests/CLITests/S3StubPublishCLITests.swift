import Foundation
import TestSupport
import XCTest

/// `apkit publish` against the scriptable S3 stub (`Tests/tools/s3_stub.py`): what the user sees on
/// servers that lack something.
final class S3StubPublishCLITests: XCTestCase {
    let environment = ["AWS_ACCESS_KEY_ID": "AKIASTUBCLI", "AWS_SECRET_ACCESS_KEY": "stub-cli-secret-0123456789",
                       "AWS_SESSION_TOKEN": "", "AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "",
                       "AWS_ENDPOINT_URL_S3": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/apkit-test/credentials",
                       "AWS_CONFIG_FILE": "/nonexistent/apkit-test/config", "SOURCE_DATE_EPOCH": "1700000000"]

    func makePackage(_ dir: TempDir, name: String) throws -> String {
        let stage = dir.sub("stage-\(name)")
        try FileManager.default.createDirectory(atPath: stage + "/usr/share/\(name)", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: stage + "/usr/share/\(name)/data", contents: Data("\(name)\n".utf8))
        let r = try apkit(["pack", stage, "--name", name, "--version", "1.0-r0", "--key", TestKeys.privateKey,
                           "--output", dir.sub("out"), "--arch", "x86_64"], environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testServerWithoutConditionalWritesNeedsTheFlag() throws {
        let stub = try S3Stub()
        try stub.script(["conditional": "ignore", "list_uploads": "NotImplemented"])
        let dir = TempDir("apkit-s3stub-cli")
        let pkg = try makePackage(dir, name: "hello")
        let args = ["publish", "--to", "s3://repo/alpine", "--endpoint", stub.endpoint, "--key", TestKeys.privateKey]

        let refused = try apkit(args + [pkg], environment: environment)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.hasPrefix("apkit: error: "), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("concurrent publishers are not safe on this server"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--no-conditional-writes"), refused.stderr)
        XCTAssertEqual(try stub.keys(in: "repo"), [])

        let published = try apkit(args + ["--no-conditional-writes", pkg], environment: environment)
        XCTAssertEqual(published.status, 0, published.stderr)
        XCTAssertTrue(published.stdout.contains("added: s3://repo/alpine/x86_64/hello-1.0-r0.apk"), published.stdout)
        // ListMultipartUploads answering NotImplemented: one warning, not a failure.
        XCTAssertEqual(published.stderr.components(separatedBy: "cannot list open multipart uploads").count, 2, published.stderr)
        XCTAssertFalse(published.stderr.contains(environment["AWS_SECRET_ACCESS_KEY"]!))
        XCTAssertEqual(try stub.keys(in: "repo"), ["alpine/keys/\(TestKeys.keyName)", "alpine/x86_64/APKINDEX.tar.gz",
                                                  "alpine/x86_64/hello-1.0-r0.apk"])

        let help = try apkit(["publish", "--help"])
        XCTAssertTrue(help.stdout.contains("--no-conditional-writes"), help.stdout)
    }
}
