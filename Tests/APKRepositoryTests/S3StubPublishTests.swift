import XCTest
import TestSupport
import APKFormat
import S3Client
@testable import APKRepository

/// Publishing into the scriptable S3 stub (`Tests/tools/s3_stub.py`): servers as they really behave.
/// Each gives a working publish or one clear line saying what the server lacks.
final class S3StubPublishTests: XCTestCase {
    var tmp: TempDir!
    var stub: S3Stub!
    override func setUpWithError() throws {
        tmp = TempDir("apkit-s3-stub")
        stub = try S3Stub()
    }
    override func tearDown() { tmp = nil; stub = nil }

    let keyName = "stub-0001.rsa.pub"
    static let key: SigningKey = try! SigningKey.generate(bits: 2048)
    var signer: Signer { Signer(key: S3StubPublishTests.key, keyName: keyName) }

    final class Warnings: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
        func add(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    /// An S3Storage on the stub; files over 1 MiB go up in (5 MiB) parts; warnings collected.
    func storage(_ warnings: Warnings? = nil) throws -> S3Storage {
        var config = S3Configuration(endpoint: URL(string: stub.endpoint), region: "us-east-1", bucket: "repo", pathStyle: true,
                                     credentials: S3Credentials(accessKeyId: "AKIASTUB", secretAccessKey: "stub-secret"))
        config.multipartThreshold = 1 << 20
        config.maxAttempts = 3
        config.retryBaseDelay = 0.01
        config.retryMaxDelay = 0.05
        let s = S3Storage(client: try S3Client(config), prefix: "alpine/edge")
        if let warnings { s.warn = { warnings.add($0) } }
        return s
    }

    func build(_ name: String, payload: Int = 100) throws -> String {
        let root = tmp.sub("stage-\(name)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        var bytes = [UInt8](repeating: 0, count: payload)
        var g = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &g) }
        _ = FileManager.default.createFile(atPath: root + "/etc/\(name).conf", contents: Data(bytes))
        var info = PackageInfo(name: name, version: "1.0-r0")
        info.arch = "x86_64"
        let out = tmp.sub("pkgs-\(UInt32.random(in: 0...UInt32.max))/\(name)-1.0-r0.apk")
        try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return try PackageBuilder(signer: signer, engine: ZlibGzipEngine(level: 6))
            .build(PackageSpec(info: info, root: URL(fileURLWithPath: root)), to: out).path
    }

    func publish(_ storage: S3Storage, _ files: [String]) throws -> PublishReport {
        try Publisher(storage: storage, signer: signer, keyring: Keyring()).publish(files)
    }

    /// The index names exactly `names` (and verifies with the repository key).
    func assertIndex(_ names: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let path = tmp.sub("index-\(UInt32.random(in: 0...UInt32.max))")
        XCTAssertNotNil(try storage().get("x86_64/APKINDEX.tar.gz", to: path), file: file, line: line)
        var keyring = Keyring()
        keyring.add(try signer.publicKey())
        let index = try APKIndex.read(path: path, keyring: keyring)
        XCTAssertEqual(index.entries.map { $0.name }.sorted(), names.sorted(), file: file, line: line)
    }

    func testFailingOrOddListMultipartUploadsDoesNotFailThePublish() throws {
        for mode in ["NoSuchUpload", "NotImplemented", "501", "empty"] {
            try stub.script(["reset": true, "list_uploads": mode])
            let warnings = Warnings()
            let small = try build("small-\(mode.lowercased())")
            let big = try build("big-\(mode.lowercased())", payload: 2 << 20)
            let report = try publish(try storage(warnings), [small, big])
            XCTAssertEqual(report.packages.map { $0.status }, [.added, .added], mode)
            try assertIndex(["small-\(mode.lowercased())", "big-\(mode.lowercased())"])
            // Said once, in one line, and not asked again in this run.
            XCTAssertEqual(warnings.all.count, 1, "\(mode): \(warnings.all)")
            XCTAssertTrue(warnings.all.first?.contains("cannot list open multipart uploads") ?? false, "\(warnings.all)")
            XCTAssertEqual(warnings.all.first?.split(separator: "\n").count, 1)
            XCTAssertEqual(try stub.state().counts["ListMultipartUploads"], 1, mode)
        }
    }

    func testLostCreateMultipartUploadAnswerLeavesNoOpenUpload() throws {
        try stub.script(["drop_create": 1])
        let big = try build("big", payload: 2 << 20)
        let storage = try storage()
        let report = try publish(storage, [big])
        XCTAssertEqual(report.packages.map { $0.status }, [.added])
        let state = try stub.state()
        XCTAssertEqual(state.counts["dropped CreateMultipartUpload"], 1)
        XCTAssertEqual(state.counts["CreateMultipartUpload"], 2)
        XCTAssertEqual(state.uploads.count, 0, "the upload whose answer was lost is still open: \(state.uploads)")
        XCTAssertEqual(storage.abortedStaleUploads, 1)
        try assertIndex(["big"])
    }

    func testRerunAbortsUploadsLeftOpenEvenWhenTheObjectIsAlreadyThere() throws {
        let big = try build("big", payload: 2 << 20)
        XCTAssertEqual(try publish(try storage(), [big]).packages.map { $0.status }, [.added])
        // A run that was killed after its upload completed (or lost a CreateMultipartUpload answer)
        // left uploads open that were started before the object was written.
        try stub.script(["skew": -30])  // server clock 30 s back: these start "before" the object
        let client = try storage().client
        let key = "alpine/edge/x86_64/big-1.0-r0.apk"
        let left = [try client.createMultipartUpload(key: key), try client.createMultipartUpload(key: key)]
        try stub.script(["skew": 30])  // and one started after it was written: a concurrent --overwrite
        let concurrent = try client.createMultipartUpload(key: key)
        try stub.script(["skew": 0])
        XCTAssertEqual(Set(try stub.state().uploads.map(\.id)), Set(left + [concurrent]))

        let rerun = try storage()
        let report = try publish(rerun, [big])
        XCTAssertEqual(report.packages.map { $0.status }, [.unchanged])
        XCTAssertEqual(report.indexes.map { $0.unchanged }, [true])
        XCTAssertEqual(try stub.state().uploads.map(\.id), [concurrent])
        XCTAssertEqual(rerun.abortedStaleUploads, 2)
    }

    func testServerWithoutConditionalWritesIsRefusedUnlessOptedOut() throws {
        let pkg = try build("hello")
        for mode in ["ignore", "501"] {
            try stub.script(["reset": true, "conditional": mode])
            XCTAssertThrowsError(try publish(try storage(), [pkg]), mode) { error in
                let text = "\(error)"
                XCTAssertEqual(text.split(separator: "\n").count, 1, text)
                XCTAssertTrue(text.contains("concurrent publishers are not safe on this server"), text)
                XCTAssertTrue(text.contains("--no-conditional-writes"), text)
                XCTAssertTrue(text.contains(mode == "501" ? "501 NotImplemented" : "ignores If-None-Match"), text)
            }
            XCTAssertEqual(try stub.keys(in: "repo"), [], "\(mode): nothing written, the probe object deleted")

            // Opted out: check-then-write; a second publisher's package is merged, a rerun is a no-op.
            let optedOut = try storage()
            optedOut.conditionalWrites = false
            XCTAssertEqual(try publish(optedOut, [pkg]).packages.map { $0.status }, [.added])
            let other = try storage()
            other.conditionalWrites = false
            XCTAssertEqual(try publish(other, [try build("second")]).packages.map { $0.status }, [.added])
            let again = try storage()
            again.conditionalWrites = false
            XCTAssertEqual(try publish(again, [pkg]).indexes.map { $0.unchanged }, [true])
            try assertIndex(["hello", "second"])
            XCTAssertEqual(try stub.state().counts["answer NotImplemented"] ?? 0, mode == "501" ? 1 : 0,
                           "no conditional header is sent once opted out")
        }
    }

    func testQuirkyServerBareETagsErrorIn200NoChecksumsAndClockSkew() throws {
        // Bare ETags, a CompleteMultipartUpload answered 200 with an <Error> once, no x-amz-checksum
        // headers (the stub never sends them), the server's clock two hours ahead.
        try stub.script(["etag_quotes": false, "complete_error": ["code": "InternalError", "times": 1], "skew": 7200])
        let big = try build("big", payload: 2 << 20)
        let first = try storage()
        XCTAssertEqual(try publish(first, [big, try build("small")]).packages.map { $0.status }, [.added, .added])
        var counts = try stub.state().counts
        XCTAssertEqual(counts["answer RequestTimeTooSkewed"], 1, "\(counts)")
        XCTAssertEqual(counts["answer 200 InternalError"], 1, "\(counts)")
        // The index is replaced with If-Match on a bare ETag read back, and a rerun is a no-op.
        XCTAssertEqual(try publish(try storage(), [try build("third")]).indexes.map { $0.unchanged }, [false])
        let again = try publish(try storage(), [big])
        XCTAssertEqual(again.packages.map { $0.status }, [.unchanged])
        XCTAssertEqual(again.indexes.map { $0.unchanged }, [true])
        try assertIndex(["big", "small", "third"])
        counts = try stub.state().counts
        // Only the conditional-write probes' expected refusals (two per run that wrote), no index conflict.
        XCTAssertEqual(counts["answer PreconditionFailed"] ?? 0, 2 * (counts["DeleteObject"] ?? 0), "\(counts)")
        XCTAssertEqual(counts["DeleteObject"], 2, "\(counts)")
        XCTAssertEqual(try stub.state().uploads.count, 0)
    }
}
