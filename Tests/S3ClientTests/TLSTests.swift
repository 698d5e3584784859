import Foundation
import XCTest
@testable import S3Client
import TestSupport

/// TLS is verified by default; a private CA is accepted through `caBundle` (`--ca-bundle`).
final class TLSTests: XCTestCase {
    func testCertificatesAreVerifiedAndACABundleIsHonoured() throws {
        let dir = TempDir("s3-tls")
        // A self-signed certificate for 127.0.0.1, made with the openssl CLI.
        let made = try runProcess("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                              "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                                              "-keyout", dir.sub("key.pem"), "-out", dir.sub("cert.pem")])
        XCTAssertEqual(made.status, 0, made.stderr)
        let script = #"""
import http.server, ssl, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.send_header("ETag", '"t"')
        self.end_headers(); self.wfile.write(b"ok")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), srv.shutdown()), daemon=True).start()
srv.serve_forever()
"""#
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir.sub("cert.pem"), dir.sub("key.pem")]
        let out = Pipe(), input = Pipe()
        p.standardOutput = out; p.standardInput = input
        try p.run()
        defer { try? input.fileHandleForWriting.close(); p.waitUntilExit() }
        var line = Data()
        while let b = try out.fileHandleForReading.read(upToCount: 1), !b.isEmpty, b != Data("\n".utf8) { line += b }
        let port = try XCTUnwrap(Int(String(decoding: line, as: UTF8.self)))

        func client(_ ca: String?) throws -> S3Client {
            var c = S3Configuration(endpoint: URL(string: "https://127.0.0.1:\(port)")!, bucket: "b", pathStyle: true,
                                    credentials: S3Credentials(accessKeyId: "AKIATLS", secretAccessKey: "tls-secret"))
            c.http.caBundle = ca
            c.maxAttempts = 1
            return try S3Client(c)
        }
        XCTAssertThrowsError(try client(nil).getObject(key: "k")) { error in
            XCTAssertEqual((error as? S3Error)?.kind, .network, "\(error)")
            XCTAssertTrue("\(error)".lowercased().contains("certificate"), "\(error)")
        }
        XCTAssertEqual(try client(dir.sub("cert.pem")).getObject(key: "k")?.data, Data("ok".utf8))
        XCTAssertThrowsError(try client(dir.sub("missing.pem"))) { error in
            XCTAssertEqual((error as? S3Error)?.kind, .configuration)
        }
    }
}
