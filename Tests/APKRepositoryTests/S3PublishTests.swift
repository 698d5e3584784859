import XCTest
import TestSupport
import APKFormat
import S3Client
@testable import APKRepository

/// Publishing into an S3 bucket on the local ministack server (signatures checked), started by
/// `source .ci/s3-servers.sh`. Skipped when it is not running.
// Unchecked: the concurrency test calls this case's helpers from several threads; they only read its constants.
final class S3PublishTests: XCTestCase, @unchecked Sendable {
    var tmp: TempDir!
    override func setUp() { tmp = TempDir("apkit-s3-publish") }
    override func tearDown() { tmp = nil }

    let keyName = "s3repo-0001.rsa.pub"
    static let key: SigningKey = try! SigningKey.generate(bits: 2048)

    struct Server { var endpoint: String; var accessKey: String; var secret: String }

    func server() throws -> Server {
        let env = ProcessInfo.processInfo.environment
        guard let e = env["APKIT_TEST_MINISTACK_ENDPOINT"], let a = env["APKIT_TEST_MINISTACK_ACCESS_KEY_ID"],
              let s = env["APKIT_TEST_MINISTACK_SECRET_ACCESS_KEY"] else {
            throw XCTSkip("S3 test servers are not running: run `source .ci/s3-servers.sh` first")
        }
        return Server(endpoint: e, accessKey: a, secret: s)
    }

    func makeBucket(_ s: Server) throws -> String {
        let bucket = "apkit-repo-\(UInt32.random(in: 0...UInt32.max))"
        let r = try runProcess("python3", ["-c", """
            import boto3, sys
            boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2],
                         aws_secret_access_key=sys.argv[3]).create_bucket(Bucket=sys.argv[4])
            """, s.endpoint, s.accessKey, s.secret, bucket])
        XCTAssertEqual(r.status, 0, r.stderr)
        return bucket
    }

    func storage(_ s: Server, bucket: String) throws -> S3Storage {
        let config = S3Configuration(endpoint: URL(string: s.endpoint), region: "us-east-1", bucket: bucket, pathStyle: true,
                                     credentials: S3Credentials(accessKeyId: s.accessKey, secretAccessKey: s.secret))
        return S3Storage(client: try S3Client(config), prefix: "alpine/edge")
    }

    func build(_ name: String, salt: String = "") throws -> String {
        let root = tmp.sub("stage-\(name)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/etc/\(name).conf", contents: Data("\(name)\(salt)\n".utf8))
        var info = PackageInfo(name: name, version: "1.0-r0")
        info.arch = "x86_64"
        let out = tmp.sub("pkgs-\(UInt32.random(in: 0...UInt32.max))/\(name)-1.0-r0.apk")
        try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return try PackageBuilder(signer: Signer(key: S3PublishTests.key, keyName: keyName), engine: ZlibGzipEngine(level: 6))
            .build(PackageSpec(info: info, root: URL(fileURLWithPath: root)), to: out).path
    }

    func testPublishToS3IsIdempotentRefusesConflictsAndKeepsConcurrentEntries() throws {
        let s = try server()
        let bucket = try makeBucket(s)
        let signer = Signer(key: S3PublishTests.key, keyName: keyName)
        let first = try build("first")
        let report = try Publisher(storage: try storage(s, bucket: bucket), signer: signer, keyring: Keyring()).publish([first])
        XCTAssertEqual(report.packages.map { $0.status }, [.added])
        XCTAssertEqual(report.location, "s3://\(bucket)/alpine/edge")
        let again = try Publisher(storage: try storage(s, bucket: bucket), signer: signer, keyring: Keyring()).publish([first])
        XCTAssertEqual(again.packages.map { $0.status }, [.unchanged])
        XCTAssertEqual(again.indexes.map { $0.unchanged }, [true])

        let changed = try build("first", salt: "x")
        XCTAssertThrowsError(try Publisher(storage: try storage(s, bucket: bucket), signer: signer, keyring: Keyring()).publish([changed])) { e in
            XCTAssertTrue("\(e)".contains("already exists with different content"), "\(e)")
        }

        let pkgs = try (0..<6).map { try build("conc\($0)") }
        let errors = ErrorBox()
        DispatchQueue.concurrentPerform(iterations: pkgs.count) { i in
            do { _ = try Publisher(storage: try storage(s, bucket: bucket), signer: signer, keyring: Keyring()).publish([pkgs[i]]) }
            catch { errors.add("\(error)") }
        }
        XCTAssertEqual(errors.all, [])

        let st = try storage(s, bucket: bucket)
        let local = tmp.sub("APKINDEX.tar.gz")
        XCTAssertNotNil(try st.get("x86_64/APKINDEX.tar.gz", to: local))
        var keyring = Keyring()
        keyring.add(try PublicKey(pem: try S3PublishTests.key.publicKeyPEM(), name: keyName))
        let idx = try APKIndex.read(path: local, keyring: keyring)
        XCTAssertEqual(Set(idx.entries.map { $0.name }), Set(["first"] + (0..<6).map { "conc\($0)" }))
        XCTAssertEqual(try st.list(prefix: "keys"), ["keys/\(keyName)"])
        XCTAssertEqual(try st.list(prefix: "x86_64").count, 8)
    }
}
