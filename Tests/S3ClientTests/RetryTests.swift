import APKCrypto
import Foundation
import XCTest
@testable import S3Client
import TestSupport

/// Retries, backoff and error typing, against a tiny fault-injecting S3 look-alike
/// (Python http.server on 127.0.0.1, started per test class).
final class RetryTests: XCTestCase {
    static let serverScript = #"""
import http.server, sys, json, hashlib, base64, threading
counts, ports, lock = {}, {}, threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def error(self, status, code, n):
        body = f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{code}</Code><Message>injected &amp; counted</Message><RequestId>r{n}</RequestId></Error>"
        self.reply(status, body.encode(), [("Content-Type", "application/xml")])
    def any(self):
        path, _, query = self.path.partition("?")
        if path == "/__counts":
            with lock: return self.reply(200, json.dumps(counts).encode())
        if path == "/__ports":
            with lock: return self.reply(200, json.dumps({k: len(v) for k, v in ports.items()}).encode())
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        key = f"{self.command} {path}" + (f"?{query}" if query else "")
        with lock:
            counts[key] = counts.get(key, 0) + 1
            ports.setdefault(key, set()).add(self.client_address[1])
            n = counts[key]
        md5 = self.headers.get("Content-MD5")
        if md5 and base64.b64encode(hashlib.md5(data).digest()).decode() != md5:
            return self.error(400, "BadDigest", n)
        if self.headers.get("Authorization", "").find("Signature=") < 0:
            return self.error(403, "AccessDenied", n)
        name = path.rsplit("/", 1)[-1]
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        def ok(body=b""): self.reply(200, body, [("ETag", etag)])
        if name == "drop" and n == 1:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if name == "flaky" and n <= 2: return self.error(503, "SlowDown", n)
        if name == "throttled" and n == 1: return self.reply(429)
        if name == "timeout" and n == 1: return self.error(400, "RequestTimeout", n)
        if name == "always500": return self.error(500, "InternalError", n)
        if name == "precondition": return self.error(412, "PreconditionFailed", n)
        if name == "denied": return self.error(403, "AccessDenied", n)
        if name in ("mpu", "mpufail"):
            if self.command == "POST" and query == "uploads=":
                return self.reply(200, b"<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>")
            if self.command == "PUT" and query.startswith("partNumber=2&"):
                if name == "mpufail": return self.error(400, "InvalidArgument", n)
                if n == 1: return self.error(500, "InternalError", n)
            if self.command == "POST" and query == "uploadId=U1":
                if b"<PartNumber>3</PartNumber>" not in data: return self.error(400, "InvalidPart", n)
                if n == 1: return self.reply(200, b"<?xml version='1.0'?>\n<Error><Code>InternalError</Code><Message>try again</Message></Error>")
                return self.reply(200, b"<CompleteMultipartUploadResult><ETag>&quot;final-3&quot;</ETag></CompleteMultipartUploadResult>")
            if self.command == "DELETE": return self.reply(204)
        if self.command == "GET": return ok(b"hello")
        return ok()
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = any
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), srv.shutdown()), daemon=True).start()
srv.serve_forever()
"""#

    // Set in class setUp, read by the tests: XCTest runs them one after another on one thread.
    nonisolated(unsafe) static var process: Process?
    nonisolated(unsafe) static var stdinPipe: Pipe?
    nonisolated(unsafe) static var port = 0

    override class func setUp() {
        super.setUp()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", serverScript]
        let out = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardInput = input
        do { try p.run() } catch { return }
        var line = Data()
        while let byte = try? out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line += byte
        }
        port = Int(String(decoding: line, as: UTF8.self)) ?? 0
        process = p
        stdinPipe = input
    }

    override class func tearDown() {
        try? stdinPipe?.fileHandleForWriting.close()  // the server stops when its stdin closes
        process?.waitUntilExit()
        super.tearDown()
    }

    override func setUpWithError() throws {
        XCTAssertGreaterThan(Self.port, 0, "the fault-injecting server did not start")
    }

    func client(maxAttempts: Int = 4, _ adjust: (inout S3Configuration) -> Void = { _ in }) throws -> S3Client {
        var c = S3Configuration(endpoint: URL(string: "http://127.0.0.1:\(Self.port)")!, region: "us-east-1",
                                bucket: "b\(UInt32.random(in: 0...UInt32.max))", pathStyle: true,
                                credentials: S3Credentials(accessKeyId: "AKIAFAULT", secretAccessKey: "fault-secret"))
        c.maxAttempts = maxAttempts
        c.retryBaseDelay = 0.01
        c.retryMaxDelay = 0.05
        adjust(&c)
        return try S3Client(c)
    }

    func count(_ client: S3Client, _ method: String, _ key: String, query: String = "", of what: String = "counts") throws -> Int {
        let response = try client.http.perform(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(Self.port)/__\(what)",
                                                           headers: []))
        let counts = try JSONDecoder().decode([String: Int].self, from: response.body)
        return counts["\(method) /\(client.configuration.bucket)/\(key)" + (query.isEmpty ? "" : "?\(query)")] ?? 0
    }

    func testServerErrorsAreRetriedThenSucceed() throws {
        let c = try client()
        XCTAssertEqual(try c.getObject(key: "flaky")?.data, Data("hello".utf8))
        XCTAssertEqual(try count(c, "GET", "flaky"), 3)  // 503, 503, 200

        let throttled = try client()
        XCTAssertNotNil(try throttled.headObject(key: "throttled"))
        XCTAssertEqual(try count(throttled, "HEAD", "throttled"), 2)  // 429, 200

        let timeout = try client()
        try timeout.putObject(key: "timeout", body: .data(Data("abc".utf8)))
        XCTAssertEqual(try count(timeout, "PUT", "timeout"), 2)  // 400 RequestTimeout, 200

        let dropped = try client()
        XCTAssertEqual(try dropped.getObject(key: "drop")?.data, Data("hello".utf8))
        XCTAssertEqual(try count(dropped, "GET", "drop"), 2)  // connection closed, 200
    }

    func testConnectionsAreReused() throws {
        let c = try client()
        for _ in 0..<5 { XCTAssertNotNil(try c.getObject(key: "plain")) }
        try c.putObject(key: "plain", body: .data(Data("x".utf8)))
        XCTAssertEqual(try count(c, "GET", "plain"), 5)
        XCTAssertEqual(try count(c, "GET", "plain", of: "ports"), 1, "five GETs should share one connection")
        XCTAssertEqual(try count(c, "PUT", "plain", of: "ports"), 1)
    }

    func testSmallFilesGoInOnePutLargeOnesInParts() throws {
        let c = try client { $0.multipartThreshold = 5 << 20; $0.partSize = 5 << 20 }
        let dir = TempDir("s3-choice")
        let small = dir.write("small", pseudoRandomData(count: 5 << 20))
        let log = ProgressLog()
        let put = try c.uploadFile(key: "single", path: small, progress: { log.add($0, $1) })
        XCTAssertEqual(put.etag, "\"\(S3Crypto.hex(S3Crypto.md5(pseudoRandomData(count: 5 << 20))))\"")
        XCTAssertEqual(try count(c, "PUT", "single"), 1)
        XCTAssertEqual(try count(c, "POST", "single", query: "uploads="), 0)
        XCTAssertEqual(log.last?.0, 5 << 20)
        let large = dir.write("large", pseudoRandomData(count: (10 << 20) + 1))
        XCTAssertEqual(try c.uploadFile(key: "mpu", path: large).etag, "\"final-3\"")
        XCTAssertEqual(try count(c, "POST", "mpu", query: "uploads="), 1)
        XCTAssertEqual(try count(c, "PUT", "mpu"), 0)
    }

    func testRetriedFileBodiesAreSentWholeAgain() throws {
        let c = try client()
        let dir = TempDir("s3-retry")
        let data = pseudoRandomData(count: 300_000)
        let path = dir.write("body.bin", data)
        let log = ProgressLog()
        // The server checks Content-MD5 on every attempt and answers the MD5 it received as ETag.
        let result = try c.putObject(key: "flaky", body: .file(path: path), progress: { log.add($0, $1) })
        XCTAssertEqual(result.etag, "\"\(S3Crypto.hex(S3Crypto.md5(data)))\"")
        XCTAssertEqual(try count(c, "PUT", "flaky"), 3)
        XCTAssertEqual(log.last?.0, 300_000)
        XCTAssertEqual(log.last?.1, 300_000)
    }

    func testRetriesAreBoundedAndSayHowManyAttempts() throws {
        let c = try client(maxAttempts: 3)
        let start = Date()
        XCTAssertThrowsError(try c.getObject(key: "always500")) { error in
            let e = error as? S3Error
            XCTAssertEqual(e?.kind, .service)
            XCTAssertEqual(e?.code, "InternalError")
            XCTAssertEqual(e?.httpStatus, 500)
            XCTAssertTrue("\(error)".contains("gave up after 3 attempts"), "\(error)")
            XCTAssertTrue("\(error)".contains("injected & counted"), "\(error)")
        }
        XCTAssertEqual(try count(c, "GET", "always500"), 3)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testPreconditionFailedAndAccessDeniedAreNotRetried() throws {
        let c = try client()
        XCTAssertThrowsError(try c.putObject(key: "precondition", body: .data(Data("x".utf8)), condition: .ifNoneMatchAny)) { error in
            XCTAssertEqual((error as? S3Error)?.kind, .preconditionFailed)
            XCTAssertEqual((error as? S3Error)?.httpStatus, 412)
        }
        XCTAssertEqual(try count(c, "PUT", "precondition"), 1)
        XCTAssertThrowsError(try c.getObject(key: "denied")) { error in
            XCTAssertEqual((error as? S3Error)?.kind, .accessDenied)
            XCTAssertTrue("\(error)".contains("AKIAFAULT"), "\(error)")
            XCTAssertFalse("\(error)".contains("fault-secret"), "\(error)")
        }
        XCTAssertEqual(try count(c, "GET", "denied"), 1)
    }

    func testMultipartRetriesAPartAndA200WithErrorOnComplete() throws {
        let c = try client { $0.partSize = 5 << 20; $0.multipartThreshold = 5 << 20; $0.concurrency = 3 }
        let dir = TempDir("s3-mpu-retry")
        let path = dir.write("f.bin", pseudoRandomData(count: (10 << 20) + 1))
        let result = try c.uploadFile(key: "mpu", path: path)
        XCTAssertEqual(result.etag, "\"final-3\"")
        XCTAssertEqual(try count(c, "PUT", "mpu", query: "partNumber=1&uploadId=U1"), 1)
        XCTAssertEqual(try count(c, "PUT", "mpu", query: "partNumber=2&uploadId=U1"), 2)  // 500, then 200
        XCTAssertEqual(try count(c, "PUT", "mpu", query: "partNumber=3&uploadId=U1"), 1)
        XCTAssertEqual(try count(c, "POST", "mpu", query: "uploadId=U1"), 2)  // 200 holding <Error>, then 200
        XCTAssertEqual(try count(c, "DELETE", "mpu", query: "uploadId=U1"), 0)
    }

    func testFailedMultipartUploadIsAborted() throws {
        let c = try client { $0.partSize = 5 << 20; $0.multipartThreshold = 5 << 20; $0.concurrency = 2 }
        let dir = TempDir("s3-mpu-abort")
        let path = dir.write("f.bin", pseudoRandomData(count: (10 << 20) + 1))
        XCTAssertThrowsError(try c.uploadFile(key: "mpufail", path: path)) { error in
            XCTAssertEqual((error as? S3Error)?.code, "InvalidArgument", "\(error)")
        }
        XCTAssertEqual(try count(c, "PUT", "mpufail", query: "partNumber=2&uploadId=U1"), 1)  // 400: no retry
        XCTAssertEqual(try count(c, "POST", "mpufail", query: "uploadId=U1"), 0)
        XCTAssertEqual(try count(c, "DELETE", "mpufail", query: "uploadId=U1"), 1)
    }
}
