import Foundation
import XCTest
@testable import S3Client
import TestSupport

/// S3 as servers really behave, scripted per test in the stub `Tests/tools/s3_stub.py`: clock skew,
/// bare ETags, odd ListMultipartUploads answers, conditional writes ignored or 501, a
/// CompleteMultipartUpload answered 200 with an error, a lost CreateMultipartUpload answer.
final class S3StubTests: XCTestCase {
    var stub: S3Stub!
    override func setUpWithError() throws { stub = try S3Stub() }
    override func tearDown() { stub = nil }

    func client(_ adjust: (inout S3Configuration) -> Void = { _ in }) throws -> S3Client {
        var c = S3Configuration(endpoint: URL(string: stub.endpoint)!, region: "us-east-1", bucket: "stub", pathStyle: true,
                                credentials: S3Credentials(accessKeyId: "AKIASTUB", secretAccessKey: "stub-secret"))
        c.maxAttempts = 3
        c.retryBaseDelay = 0.01
        c.retryMaxDelay = 0.05
        adjust(&c)
        return try S3Client(c)
    }

    func testClockSkewIsCorrectedFromTheServerAndRetriedOnce() throws {
        for serverTimeInBody in [true, false] {
            try stub.script(["reset": true, "skew": 7200, "skew_server_time": serverTimeInBody])
            let c = try client()
            try c.putObject(key: "a", body: .data(Data("a".utf8)))
            try c.putObject(key: "b", body: .data(Data("b".utf8)))
            XCTAssertNotNil(try c.headObject(key: "a"))
            let counts = try stub.state().counts
            XCTAssertEqual(counts["answer RequestTimeTooSkewed"], 1, "only the first request is refused: \(counts)")
            XCTAssertEqual(counts["PutObject"], 2)
            XCTAssertEqual(c.clockOffset.withLock { $0 }, 7200, accuracy: 5)
        }
    }

    func testClockSkewOnAHeadWithoutBodyIsCorrectedFromTheDateHeader() throws {
        try stub.script(["skew": -7200])
        let c = try client()
        XCTAssertNil(try c.headObject(key: "absent"))
        XCTAssertEqual(try stub.state().counts["HeadObject"], 1)
        XCTAssertEqual(c.clockOffset.withLock { $0 }, -7200, accuracy: 5)
    }

    func testClockSkewThatDoesNotGoAwayIsOneClearError() throws {
        // A server that refuses every request as skewed (its clock lies): corrected once, then one
        // line saying to fix the clock, after exactly two attempts.
        try stub.script(["skew": 3600, "skew_always": true])
        let c = try client { $0.maxAttempts = 5 }
        XCTAssertThrowsError(try c.putObject(key: "x", body: .data(Data("x".utf8)))) { error in
            XCTAssertEqual((error as? S3Error)?.code, "RequestTimeTooSkewed")
            XCTAssertTrue("\(error)".contains("set this machine's clock (NTP)"), "\(error)")
            XCTAssertEqual("\(error)".split(separator: "\n").count, 1, "\(error)")
        }
        XCTAssertEqual(try stub.state().counts["answer RequestTimeTooSkewed"], 2)
    }

    func testETagsWithoutQuotesAreQuotedAndUsableForIfMatch() throws {
        try stub.script(["etag_quotes": false])
        let c = try client { $0.multipartThreshold = 1 << 20 }
        let put = try c.putObject(key: "k", body: .data(Data("v1".utf8)))
        XCTAssertTrue(put.etag.hasPrefix("\"") && put.etag.hasSuffix("\""), put.etag)
        XCTAssertEqual(try c.headObject(key: "k")?.etag, put.etag)
        XCTAssertEqual(try c.getObject(key: "k")?.etag, put.etag)
        XCTAssertEqual(try c.listObjects().first?.etag, put.etag)
        let second = try c.putObject(key: "k", body: .data(Data("v2".utf8)), condition: .ifMatch(put.etag))
        XCTAssertThrowsError(try c.putObject(key: "k", body: .data(Data("v3".utf8)), condition: .ifMatch(put.etag))) {
            XCTAssertEqual(($0 as? S3Error)?.kind, .preconditionFailed)
        }
        XCTAssertNoThrow(try c.putObject(key: "k", body: .data(Data("v3".utf8)), condition: .ifMatch(second.etag)))
        // Multipart: bare part ETags go back quoted and are accepted; the result is quoted.
        let dir = TempDir("s3-stub-etag")
        let path = dir.write("f", pseudoRandomData(count: 2 << 20))
        let mpu = try c.uploadFile(key: "big", path: path)
        XCTAssertNotNil(mpu.uploadId)
        XCTAssertTrue(mpu.etag.hasPrefix("\"") && mpu.etag.hasSuffix("-1\""), mpu.etag)
        XCTAssertEqual(try c.headObject(key: "big")?.etag, mpu.etag)
        XCTAssertEqual(S3Client.normalizeETag("W/\"x\""), "W/\"x\"")
        XCTAssertEqual(S3Client.normalizeETag(nil), "")
    }

    func testOddListMultipartUploadsAnswersAreTypedErrors() throws {
        let c = try client()
        try stub.script(["list_uploads": "ok"])
        XCTAssertEqual(try c.listMultipartUploads(prefix: "x").count, 0)
        let id = try c.createMultipartUpload(key: "x/open")
        let listed = try c.listMultipartUploads(prefix: "x")
        XCTAssertEqual(listed.map(\.uploadId), [id])
        XCTAssertLessThan(abs(listed[0].initiated?.timeIntervalSinceNow ?? 999), 60)
        for mode in ["NoSuchUpload", "NotImplemented", "501", "empty", "AccessDenied"] {
            try stub.script(["list_uploads": mode])
            XCTAssertThrowsError(try c.listMultipartUploads(prefix: "x"), mode) { error in
                XCTAssertEqual("\(error)".split(separator: "\n").count, 1, "\(error)")
                if mode == "empty" { XCTAssertEqual((error as? S3Error)?.kind, .invalidResponse) }
            }
        }
    }

    func testConditionalWriteProbe() throws {
        let c = try client()
        for (mode, expected) in [("ok", nil), ("ignore", "ignores If-None-Match: *"), ("501", "501 NotImplemented")] {
            try stub.script(["conditional": mode])
            let (support, cleanup) = try c.probeConditionalWrites(key: "repo/.probe-\(mode)")
            XCTAssertNil(cleanup)
            if let expected {
                guard case .unsupported(let how) = support else { XCTFail("\(mode): \(support)"); continue }
                XCTAssertTrue(how.contains(expected), how)
            } else {
                XCTAssertEqual(support, .supported)
            }
        }
        XCTAssertEqual(try stub.keys(in: "stub"), [], "the probe object is deleted")
    }

    func testCompleteMultipartUploadAnswered200WithAnError() throws {
        let c = try client { $0.multipartThreshold = 1 << 20 }
        let dir = TempDir("s3-stub-complete")
        let path = dir.write("f", pseudoRandomData(count: 2 << 20))
        // A retryable code in the 200 body: retried, completed.
        try stub.script(["complete_error": ["code": "InternalError", "times": 1]])
        XCTAssertNoThrow(try c.uploadFile(key: "ok", path: path))
        XCTAssertEqual(try stub.state().counts["CompleteMultipartUpload"], 2)
        // A final one: one clear error, the upload aborted, nothing stored.
        try stub.script(["complete_error": ["code": "InvalidPart", "times": -1]])
        XCTAssertThrowsError(try c.uploadFile(key: "bad", path: path)) { error in
            XCTAssertEqual((error as? S3Error)?.code, "InvalidPart", "\(error)")
            XCTAssertTrue("\(error)".contains("CompleteMultipartUpload"), "\(error)")
        }
        let state = try stub.state()
        XCTAssertEqual(state.uploads.count, 0)
        XCTAssertEqual(try stub.keys(in: "stub"), ["ok"])
    }

    func testLostCreateMultipartUploadAnswerIsRetried() throws {
        // The client retries (the server did create the first upload); cleaning that one up is the
        // storage layer's job (S3Storage), which knows which upload completed.
        try stub.script(["drop_create": 1])
        let c = try client { $0.multipartThreshold = 1 << 20 }
        let dir = TempDir("s3-stub-lost")
        let result = try c.uploadFile(key: "k", path: dir.write("f", pseudoRandomData(count: 2 << 20)))
        let state = try stub.state()
        XCTAssertEqual(state.counts["CreateMultipartUpload"], 2)
        XCTAssertEqual(state.uploads.count, 1)
        XCTAssertNotEqual(state.uploads.first?.id, result.uploadId)
    }

    func testDateParsing() {
        XCTAssertEqual(S3Client.parseDate("Tue, 15 Nov 1994 08:12:31 GMT")?.timeIntervalSince1970, 784_887_151)
        XCTAssertEqual(S3Client.parseDate("1994-11-15T08:12:31.500Z")?.timeIntervalSince1970, 784_887_151.5)
        XCTAssertEqual(S3Client.parseDate("1994-11-15T08:12:31Z")?.timeIntervalSince1970, 784_887_151)
        XCTAssertNil(S3Client.parseDate("yesterday"))
        XCTAssertNil(S3Client.parseDate(""))
    }
}
