import APKCrypto
import Foundation
import XCTest
@testable import S3Client
import TestSupport

/// End-to-end tests against moto and ministack (AUTH=true, strict SigV4), checked with boto3.
final class S3IntegrationTests: XCTestCase {
    static let awkwardKeys = [
        "x86_64/libstdc++-14.2.0-r4.apk",
        "dir with spaces/file name.apk",
        "utf8/ключ-é-漢字-😀.txt",
        "punct/+~=@!$'(),;.bin",
        "deep/./dots/../x",
        "percent%41/literal%2F",
        "a//double",
    ]

    func testAwkwardKeysRoundTripThroughBothServers() throws {
        for server in try S3TestServer.all() {
            let bucket = try server.makeBucket()
            let client = try server.client(bucket: bucket)
            for (i, key) in Self.awkwardKeys.enumerated() {
                // "a//double" and dot segments are not portable to moto's URL router; the strict
                // server (ministack) must take them all.
                if server.name == "moto" && (key.contains("//") || key.contains("/./")) { continue }
                let body = pseudoRandomData(count: 1000 + i * 37, seed: UInt64(i + 1))
                let put = try client.putObject(key: key, body: .data(body), contentType: "application/octet-stream",
                                               cacheControl: "max-age=60", metadata: ["sha256": "abc\(i)"],
                                               checksum: i % 2 == 0 ? .md5 : .sha256)
                XCTAssertFalse(put.etag.isEmpty, "\(server.name) \(key)")
                let head = try XCTUnwrap(try client.headObject(key: key), "\(server.name) \(key)")
                XCTAssertEqual(head.size, UInt64(body.count), "\(server.name) \(key)")
                XCTAssertEqual(head.metadata["sha256"], "abc\(i)", "\(server.name) \(key)")
                XCTAssertEqual(head.cacheControl, "max-age=60", "\(server.name) \(key)")
                XCTAssertEqual(head.etag, put.etag)
                let got = try XCTUnwrap(try client.getObject(key: key), "\(server.name) \(key)")
                XCTAssertEqual(got.data, body, "\(server.name) \(key)")
                // An independent client sees the exact key and bytes.
                let check = try server.boto("""
                o = s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])
                print(hashlib.sha256(o["Body"].read()).hexdigest())
                """, [bucket, key])
                XCTAssertEqual(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                               S3Crypto.hex(S3Crypto.sha256(body)), "\(server.name) \(key)")
            }
            let listed = try server.boto("print(json.dumps(sorted(o['Key'] for o in s3.list_objects_v2(Bucket=sys.argv[1])['Contents'])))", [bucket])
            let botoKeys = try JSONDecoder().decode([String].self, from: Data(listed.stdout.utf8))
            XCTAssertEqual(botoKeys, try client.listObjects().map(\.key).sorted(), server.name)
            XCTAssertTrue(botoKeys.contains("x86_64/libstdc++-14.2.0-r4.apk"))
            XCTAssertTrue(botoKeys.contains("utf8/ключ-é-漢字-😀.txt"))
            // Delete, then the key is gone.
            try client.deleteObject(key: Self.awkwardKeys[0])
            XCTAssertNil(try client.headObject(key: Self.awkwardKeys[0]))
            XCTAssertNil(try client.getObject(key: Self.awkwardKeys[0]))
        }
    }

    func testChecksumsAreVerifiedByTheServer() throws {
        let server = try S3TestServer.fromEnvironment("ministack")
        let bucket = try server.makeBucket()
        let client = try server.client(bucket: bucket)
        let body = Data("checksummed body\n".utf8)
        try client.putObject(key: "md5", body: .data(body), checksum: .md5)
        try client.putObject(key: "sha", body: .data(body), checksum: .sha256)
        let stored = try server.boto("""
        h = s3.head_object(Bucket=sys.argv[1], Key="sha", ChecksumMode="ENABLED")
        print(h.get("ChecksumSHA256", ""))
        """, [bucket])
        XCTAssertEqual(stored.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       S3Crypto.base64(S3Crypto.sha256(body)))
        // A wrong Content-MD5 or checksum is refused, and reported as damaged data.
        for (name, value) in [("Content-MD5", S3Crypto.base64(S3Crypto.md5(Data("other".utf8)))),
                              ("x-amz-checksum-sha256", S3Crypto.base64(S3Crypto.sha256(Data("other".utf8))))] {
            XCTAssertThrowsError(try client.send(.init(method: "PUT", key: "bad", headers: [(name, value)], body: .data(body),
                                                       operation: "PutObject"))) { error in
                XCTAssertEqual((error as? S3Error)?.kind, .badDigest, "\(name): \(error)")
            }
        }
        XCTAssertNil(try client.headObject(key: "bad"))

        // UNSIGNED-PAYLOAD is accepted too (the body is then covered by Content-MD5 only).
        let unsigned = try server.client(bucket: bucket) { $0.signPayload = false }
        let dir = TempDir("s3-unsigned")
        let file = dir.write("f", pseudoRandomData(count: 70_000))
        try unsigned.putObject(key: "unsigned", body: .file(path: file), checksum: .md5)
        XCTAssertEqual(try client.getObject(key: "unsigned")?.data, pseudoRandomData(count: 70_000))

        // A presigned GET URL works without any header, and stops working when tampered with.
        let url = client.presignedURL(key: "md5", expires: 300)
        XCTAssertTrue(url.contains("X-Amz-Signature="))
        let fetched = try client.http.perform(HTTPRequest(method: "GET", url: url, headers: []))
        XCTAssertEqual(fetched.status, 200)
        XCTAssertEqual(fetched.body, body)
        let tampered = try client.http.perform(HTTPRequest(method: "GET", url: url.replacingOccurrences(of: "/md5?", with: "/sha?"),
                                                           headers: []))
        XCTAssertEqual(tampered.status, 403)
    }

    func testConditionalWritesGiveTypedPreconditionFailures() throws {
        for server in try S3TestServer.all() {
            let bucket = try server.makeBucket()
            let client = try server.client(bucket: bucket)
            let first = try client.putObject(key: "APKINDEX.tar.gz", body: .data(Data("v1".utf8)), condition: .ifNoneMatchAny)
            do {
                try client.putObject(key: "APKINDEX.tar.gz", body: .data(Data("v2".utf8)), condition: .ifNoneMatchAny)
                XCTFail("\(server.name): If-None-Match: * on an existing key must fail")
            } catch let e as S3Error {
                XCTAssertEqual(e.kind, .preconditionFailed, "\(server.name): \(e)")
                XCTAssertEqual(e.httpStatus, 412)
                XCTAssertTrue(e.description.contains("APKINDEX.tar.gz"), e.description)
            }
            let second = try client.putObject(key: "APKINDEX.tar.gz", body: .data(Data("v2".utf8)), condition: .ifMatch(first.etag))
            XCTAssertNotEqual(second.etag, first.etag)
            do {
                try client.putObject(key: "APKINDEX.tar.gz", body: .data(Data("v3".utf8)), condition: .ifMatch(first.etag))
                XCTFail("\(server.name): If-Match with a stale ETag must fail")
            } catch let e as S3Error {
                XCTAssertEqual(e.kind, .preconditionFailed, "\(server.name): \(e)")
            }
            XCTAssertEqual(try client.getObject(key: "APKINDEX.tar.gz")?.data, Data("v2".utf8), server.name)
        }
    }

    func testMultipartUploadOf12MiBWithThreeConcurrentParts() throws {
        for server in try S3TestServer.all() {
            let bucket = try server.makeBucket()
            let client = try server.client(bucket: bucket) {
                $0.partSize = 5 << 20; $0.multipartThreshold = 5 << 20; $0.concurrency = 3
            }
            let dir = TempDir("s3-mpu")
            let path = dir.write("big.bin", pseudoRandomData(count: 12 << 20 | 12345))
            let progress = ProgressLog()
            let result = try client.uploadFile(key: "x86_64/big file+1.apk", path: path, contentType: "application/octet-stream",
                                               metadata: ["sha256": "placeholder"], progress: { sent, total in progress.add(sent, total) })
            XCTAssertTrue(result.etag.hasSuffix("-3\""), "\(server.name): 3 parts expected, ETag \(result.etag)")
            let last = try XCTUnwrap(progress.last)
            XCTAssertEqual(last.0, UInt64((12 << 20) | 12345)); XCTAssertEqual(last.1, last.0)
            let downloaded = try server.boto("""
            o = s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])
            print(hashlib.sha256(o["Body"].read()).hexdigest(), o["Metadata"].get("sha256"))
            """, [bucket, "x86_64/big file+1.apk"])
            let fields = downloaded.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            XCTAssertEqual(fields.first, try sha256Hex(ofFile: path), server.name)
            XCTAssertEqual(fields.last, "placeholder")
            XCTAssertTrue(try client.listMultipartUploads().isEmpty, server.name)
            // Streamed download into a file matches too.
            let out = dir.sub("down.bin")
            let info = try XCTUnwrap(try client.getObject(key: "x86_64/big file+1.apk", toFile: out))
            XCTAssertEqual(info.size, UInt64((12 << 20) | 12345))
            XCTAssertEqual(try sha256Hex(ofFile: out), try sha256Hex(ofFile: path))
            XCTAssertNil(try client.getObject(key: "missing", toFile: dir.sub("missing")))
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("missing")))
        }
    }

    func testAbortLeavesNoOpenMultipartUpload() throws {
        for server in try S3TestServer.all() {
            let bucket = try server.makeBucket()
            let client = try server.client(bucket: bucket) {
                $0.partSize = 5 << 20; $0.multipartThreshold = 5 << 20; $0.concurrency = 2
            }
            let dir = TempDir("s3-abort")
            let path = dir.write("f.bin", pseudoRandomData(count: 6 << 20))
            // Primitives: an open upload is listed, and gone after abort.
            let id = try client.createMultipartUpload(key: "open")
            _ = try client.uploadPart(key: "open", uploadId: id, partNumber: 1, path: path, offset: 0, length: 5 << 20)
            XCTAssertEqual(try client.listMultipartUploads().map(\.uploadId), [id], server.name)
            try client.abortMultipartUpload(key: "open", uploadId: id)
            XCTAssertTrue(try client.listMultipartUploads().isEmpty, server.name)
            // A failed uploadFile aborts its upload: here the final Complete is refused because the
            // key exists and If-None-Match: * was asked for (both servers honour it on Complete).
            try client.putObject(key: "exists", body: .data(Data("x".utf8)))
            do {
                try client.uploadFile(key: "exists", path: path, condition: .ifNoneMatchAny)
                XCTFail("\(server.name): completing over an existing key with If-None-Match: * must fail")
            } catch let e as S3Error {
                XCTAssertEqual(e.kind, .preconditionFailed, "\(server.name): \(e)")
            }
            XCTAssertEqual(try client.getObject(key: "exists")?.data, Data("x".utf8))
            let open = try client.listMultipartUploads().filter { $0.key == "exists" }
            XCTAssertTrue(open.isEmpty, "\(server.name): \(open)")
        }
    }

    func testStrictSignatureChecksAndErrorMessages() throws {
        let server = try S3TestServer.fromEnvironment("ministack")
        let bucket = try server.makeBucket()
        let good = try server.client(bucket: bucket)
        try good.putObject(key: "k", body: .data(Data("v".utf8)))

        let secret = "WRONGsecretWRONGsecretWRONGsecret0000000"
        for verbose in [false, true] {
            let bad = try server.client(bucket: bucket) {
                $0.credentials = S3Credentials(accessKeyId: server.accessKeyId, secretAccessKey: secret, source: "test")
                $0.verbose = verbose
            }
            do { _ = try bad.getObject(key: "k"); XCTFail("a wrong secret must be refused") } catch let e as S3Error {
                XCTAssertEqual(e.kind, .signatureDoesNotMatch, "\(e)")
                XCTAssertFalse(e.description.contains(secret))
                XCTAssertFalse(e.description.contains(server.secretAccessKey))
                XCTAssertEqual(e.description.contains("GET\n/\(bucket)/k\n"), verbose, e.description)
            }
        }
        let unknown = try server.client(bucket: bucket) {
            $0.credentials = S3Credentials(accessKeyId: "AKIAUNKNOWNKEY000000", secretAccessKey: secret, source: "test")
        }
        XCTAssertThrowsError(try unknown.headObject(key: "k")) { error in
            let e = error as? S3Error
            XCTAssertTrue(e?.kind == .invalidAccessKeyId || e?.kind == .accessDenied, "\(error)")
        }
        XCTAssertThrowsError(try unknown.getObject(key: "k")) { error in
            XCTAssertEqual((error as? S3Error)?.kind, .invalidAccessKeyId, "\(error)")
            XCTAssertTrue("\(error)".contains("AKIAUNKNOWNKEY000000"))
        }
        let noBucket = try server.client(bucket: "apkit-no-such-bucket-\(UInt32.random(in: 0...UInt32.max))")
        XCTAssertThrowsError(try noBucket.putObject(key: "k", body: .data(Data()))) { error in
            XCTAssertEqual((error as? S3Error)?.kind, .noSuchBucket, "\(error)")
            XCTAssertTrue("\(error)".contains(noBucket.configuration.bucket), "\(error)")
        }
        // Temporary credentials: the session token travels in x-amz-security-token and is signed.
        let session = try server.boto("""
        sts = boto3.client("sts", endpoint_url=\"\(server.endpoint)\", region_name="us-east-1",
                           aws_access_key_id=\"\(server.accessKeyId)\", aws_secret_access_key=os.environ["APKIT_BOTO_SECRET"])
        c = sts.get_session_token()["Credentials"]
        print(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        """).stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(session.count, 3)
        let temporary = try server.client(bucket: bucket) {
            $0.credentials = S3Credentials(accessKeyId: session[0], secretAccessKey: session[1], sessionToken: session[2],
                                           source: "sts")
        }
        XCTAssertEqual(try temporary.getObject(key: "k")?.data, Data("v".utf8))
        let forged = try server.client(bucket: bucket) {
            $0.credentials = S3Credentials(accessKeyId: session[0], secretAccessKey: session[1],
                                           sessionToken: session[2] + "x", source: "sts")
        }
        XCTAssertThrowsError(try forged.getObject(key: "k")) { error in
            XCTAssertFalse("\(error)".contains(session[2]), "the session token must not be printed")
        }
    }

    func testWrongRegionSaysWhichRegion() throws {
        let server = try S3TestServer.fromEnvironment("ministack")
        let bucket = try server.makeBucket(region: "eu-west-1")
        let client = try server.client(bucket: bucket, region: "us-east-1")
        for attempt in [{ _ = try client.getObject(key: "k") }, { _ = try client.headObject(key: "k") }] {
            XCTAssertThrowsError(try attempt()) { error in
                XCTAssertEqual((error as? S3Error)?.kind, .wrongRegion("eu-west-1"), "\(error)")
                XCTAssertTrue("\(error)".contains("pass --region eu-west-1"), "\(error)")
            }
        }
        let right = try server.client(bucket: bucket, region: "eu-west-1")
        try right.putObject(key: "k", body: .data(Data("x".utf8)))
        XCTAssertNotNil(try right.headObject(key: "k"))
    }

    func testNetworkErrorNamesTheEndpoint() throws {
        // A port nothing listens on (bound then closed).
        let port = try runPython("import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var config = S3Configuration(endpoint: URL(string: "http://127.0.0.1:\(port)")!, bucket: "b", pathStyle: true,
                                     credentials: S3Credentials(accessKeyId: "AKIAX", secretAccessKey: "s"))
        config.maxAttempts = 2
        config.retryBaseDelay = 0.01
        let client = try S3Client(config)
        XCTAssertThrowsError(try client.getObject(key: "k")) { error in
            XCTAssertEqual((error as? S3Error)?.kind, .network)
            XCTAssertTrue("\(error)".contains("127.0.0.1:\(port)"), "\(error)")
            XCTAssertTrue("\(error)".contains("gave up after 2 attempts"), "\(error)")
        }
    }
}

final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(UInt64, UInt64)] = []
    func add(_ sent: UInt64, _ total: UInt64) { lock.lock(); entries.append((sent, total)); lock.unlock() }
    var last: (UInt64, UInt64)? { lock.lock(); defer { lock.unlock() }; return entries.max { $0.0 < $1.0 } }
}
