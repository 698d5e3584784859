import Foundation
import TestSupport
import XCTest

/// `apkit publish` through `Tests/tools/fault_proxy.py` to the real test S3 servers (moto, and
/// ministack with AUTH=true, whose signature check sees the requests unchanged): 503 SlowDown
/// bursts, answers lost after the server acted, answers cut halfway, slow and stalled answers.
///
/// After every faulted run: the run succeeded, or failed with one `apkit: error:` line, within a
/// bounded time; no multipart upload is left open; the index (signatures checked) names only
/// packages stored with the same bytes. Then a plain rerun converges: it succeeds and the index
/// names every package. Each rule of each plan must have fired, so a fault that stops happening
/// fails the test instead of passing it unchecked.
final class S3FaultProxyTests: XCTestCase, S3RepositoryTesting {
    /// The packages every scenario publishes, made once: `big` is 20 MiB of random bytes (a
    /// multipart upload of four 5 MiB parts), `small` and `extra` go up with one PUT.
    struct Packages {
        let dir: TempDir
        let big: String, small: String, extra: String
        var keys: [String: String] {
            [big: "x86_64/big-1-r0.apk", small: "x86_64/small-1-r0.apk", extra: "x86_64/extra-1-r0.apk"]
        }
    }
    nonisolated(unsafe) static var made: Packages?

    func packages() throws -> Packages {
        if let p = Self.made { return p }
        let dir = TempDir("apkit-faults")
        let out = dir.sub("out")
        let p = Packages(dir: dir,
                         big: try makePackage(dir, name: "big", version: "1-r0", payload: randomData(20 << 20), output: out),
                         small: try makePackage(dir, name: "small", version: "1-r0", payload: Data("small\n".utf8), output: out),
                         extra: try makePackage(dir, name: "extra", version: "1-r0", payload: randomData(70_000), output: out))
        Self.made = p
        return p
    }

    /// Fast retries and a short stall timeout (the settings apkit reads from the environment), so
    /// that a fault costs fractions of a second and a stalled answer a few seconds.
    static let retryEnvironment = ["AWS_MAX_ATTEMPTS": "4", "APKIT_S3_RETRY_DELAY": "0.05", "APKIT_S3_TIMEOUT": "2"]

    // MARK: the scenario

    struct Outcome {
        var result: ProcessResult
        var seconds: Double
        var faults: [String: Int]
    }

    /// Publishes `seed` straight to the server (so an index exists to be read and replaced), then
    /// `publishing` through a proxy with `plan`, and checks the faulted run, the repository it
    /// left and a plain rerun (see the class comment). `succeeds`: what the faulted run must do.
    @discardableResult
    func scenario(_ server: S3PublishTests.Server, bucket: String, prefix: String, seed: [String] = [],
                  publishing: [String], plan: [[String: Any]], succeeds: Bool, within limit: Double,
                  file: StaticString = #filePath, line: UInt = #line) throws -> Outcome {
        let pk = try packages()
        let target = "s3://\(bucket)/\(prefix)"
        let env = server.environment.merging(Self.retryEnvironment) { _, n in n }
        let label = "\(server.name) \(prefix)"
        if !seed.isEmpty {
            let r = try apkit(["publish", "--to", target, "--endpoint", server.endpoint, "--key", TestKeys.privateKey] + seed,
                              environment: env)
            XCTAssertEqual(r.status, 0, "\(label): seeding: \(r.stderr)", file: file, line: line)
        }

        let proxy = try FaultProxy(upstream: server.endpoint, plan: plan)
        let start = Date()
        let r = try apkit(["publish", "--to", target, "--endpoint", proxy.endpoint, "--key", TestKeys.privateKey,
                           "--part-size", "5M", "--concurrency", "2"] + publishing, environment: env)
        let seconds = Date().timeIntervalSince(start)
        let (faults, fired, requests) = try proxy.stats()
        proxy.stop()
        print("\(label): exit \(r.status) in \(String(format: "%.1f", seconds)) s; faults \(faults.sorted { $0.key < $1.key }); "
            + "\(requests.values.reduce(0, +)) requests" + (r.status == 0 ? "" : "; \(r.stderr.trimmingCharacters(in: .newlines))"))

        // Every rule fired (else the scenario tested nothing).
        XCTAssertEqual(fired.count, plan.count, "\(label): proxy stats \(fired)", file: file, line: line)
        for (rule, n) in zip(plan, fired) where n == 0 {
            XCTFail("\(label): this fault never fired: \(rule)", file: file, line: line)
        }
        // Succeeded, or failed with one clear line; in bounded time; nothing secret shown.
        if succeeds {
            XCTAssertEqual(r.status, 0, "\(label): \(r.stderr)", file: file, line: line)
        } else {
            XCTAssertNotEqual(r.status, 0, "\(label): succeeded: \(r.stdout)", file: file, line: line)
            let errors = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("apkit: warning: ") }
            XCTAssertEqual(errors.count, 1, "\(label): not one error line: \(r.stderr)", file: file, line: line)
            XCTAssertTrue(errors.first?.hasPrefix("apkit: error: ") ?? false, "\(label): \(r.stderr)", file: file, line: line)
        }
        XCTAssertLessThan(seconds, limit, "\(label): took \(seconds) s", file: file, line: line)
        assertNoSecrets(r, server, file: file, line: line)

        // No multipart upload left open; the index names only packages stored with their bytes.
        let locals = Dictionary(uniqueKeysWithValues: (seed + publishing).map { (pk.keys[$0]!, $0) })
        let after = try inspect(server, bucket: bucket, prefix: prefix, packages: locals)
        XCTAssertEqual(openUploads(after, prefix: prefix), [], "\(label): open multipart uploads after the faulted run",
                       file: file, line: line)
        checkIndexNamesOnlyStored(after, label: label, file: file, line: line)
        // Nothing else is left behind (a conditional-write probe object, say).
        let expectedObjects = Set(locals.keys).union(["keys/" + TestKeys.keyName, "x86_64/APKINDEX.tar.gz"])
        let stray = Set((after["objects"] as! [String: Any]).keys).subtracting(expectedObjects)
        XCTAssertEqual(stray, [], "\(label): objects left that publish does not write", file: file, line: line)
        if succeeds && r.status == 0 { checkRepository(after, packages: locals, file: file, line: line) }

        // A plain rerun converges.
        let rerun = try apkit(["publish", "--to", target, "--endpoint", server.endpoint, "--key", TestKeys.privateKey,
                               "--part-size", "5M"] + seed + publishing, environment: env)
        XCTAssertEqual(rerun.status, 0, "\(label): rerun: \(rerun.stderr)", file: file, line: line)
        let final = try inspect(server, bucket: bucket, prefix: prefix, packages: locals)
        checkRepository(final, packages: locals, file: file, line: line)
        XCTAssertEqual(openUploads(final, prefix: prefix), [], "\(label): open multipart uploads after the rerun", file: file, line: line)
        return Outcome(result: r, seconds: seconds, faults: faults)
    }

    /// Keys of the multipart uploads open under `prefix`, from `inspect` (boto3's listing of the bucket).
    func openUploads(_ repo: [String: Any], prefix: String) -> [String] {
        ((repo["uploads"] as? [String]) ?? ["<no listing>"]).filter { $0.hasPrefix(prefix + "/") }
    }

    /// Every index entry is a stored package whose bytes are the local file's (C: of its control
    /// member, S: its size); the index's signatures verify.
    func checkIndexNamesOnlyStored(_ repo: [String: Any], label: String, file: StaticString, line: UInt) {
        let indexes = repo["indexes"] as! [String: [String: Any]]
        let stored = repo["packages"] as! [String: [String: Any]]
        for (key, idx) in indexes {
            let arch = String(key.split(separator: "/")[0])
            let sigs = idx["signatures"] as! [[String: Any]]
            XCTAssertFalse(sigs.isEmpty, "\(label): \(key) unsigned", file: file, line: line)
            XCTAssertTrue(sigs.allSatisfy { $0["ok"] as! Bool }, "\(label): \(key): \(sigs)", file: file, line: line)
            for entry in idx["entries"] as! [[String: String]] {
                let pkgKey = "\(arch)/\(entry["P"] ?? "")-\(entry["V"] ?? "").apk"
                let info = stored[pkgKey]
                XCTAssertEqual(info?["same"] as? Bool, true, "\(label): the index names \(pkgKey), which is not stored as published",
                               file: file, line: line)
                XCTAssertEqual(entry["C"], info?["C"] as? String, "\(label): \(pkgKey) C:", file: file, line: line)
                XCTAssertEqual(entry["S"], (info?["size"] as? Int).map(String.init), "\(label): \(pkgKey) S:", file: file, line: line)
            }
        }
    }

    func servers() throws -> [(S3PublishTests.Server, String)] {
        try ["ministack", "moto"].map { name in
            let server = try S3PublishTests.Server.get(name)
            return (server, try server.makeBucket())
        }
    }

    // MARK: tests

    /// 503 SlowDown bursts: two in a row on every kind of request are ridden out by the retries,
    /// as are other server errors (500 InternalError on a HEAD, a load balancer's 502 HTML page,
    /// CompleteMultipartUpload's 200 holding an InternalError); SlowDown on every UploadPart fails
    /// the run with one line after a bounded number of tries, and the upload is aborted (its
    /// AbortMultipartUpload answer lost on the way, too).
    func testSlowDownBursts() throws {
        let pk = try packages()
        for (server, bucket) in try servers() {
            let ops = ["HeadObject", "GetObject", "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
                       "ListMultipartUploads"]
            // Per request at most three failures in a row (AWS_MAX_ATTEMPTS=4): the other errors
            // come first, then the two SlowDowns.
            scenarioOrFail {
                try scenario(server, bucket: bucket, prefix: "burst", seed: [pk.small], publishing: [pk.big, pk.extra],
                             plan: [["op": "HeadObject", "fault": "error", "status": 500],
                                    ["op": "PutObject", "key": "APKINDEX", "fault": "error", "status": 502,
                                     "body": "<html><body>502 Bad Gateway</body></html>"],
                                    ["op": "CompleteMultipartUpload", "fault": "error", "status": 200, "code": "InternalError"]]
                                + ops.map { ["op": $0, "fault": "slowdown", "count": 2] },
                             succeeds: true, within: 30)
            }
            scenarioOrFail {
                let o = try scenario(server, bucket: bucket, prefix: "storm", seed: [pk.small], publishing: [pk.big, pk.extra],
                                     plan: [["op": "UploadPart", "fault": "slowdown", "count": -1],
                                            ["op": "AbortMultipartUpload", "fault": "drop"]], succeeds: false, within: 30)
                XCTAssertTrue(o.result.stderr.contains("SlowDown") && o.result.stderr.contains("gave up after 4 attempts"),
                              o.result.stderr)
                // Four tries of the first parts in flight (two at a time), then no more parts.
                XCTAssertLessThanOrEqual(o.faults["UploadPart slowdown"] ?? 0, 8, "\(o.faults)")
            }
        }
    }

    /// The server acts, the answer is lost (the connection closes): PutObject of a package and of a
    /// new index (If-None-Match), CreateMultipartUpload, UploadPart, CompleteMultipartUpload, and
    /// the PUT of an existing index (If-Match).
    func testLostAnswers() throws {
        let pk = try packages()
        for (server, bucket) in try servers() {
            scenarioOrFail {
                try scenario(server, bucket: bucket, prefix: "lost", publishing: [pk.big, pk.small],
                             plan: [["op": "PutObject", "key": "small-", "fault": "drop"],
                                    ["op": "CreateMultipartUpload", "fault": "drop"],
                                    ["op": "UploadPart", "fault": "drop", "skip": 1],
                                    ["op": "CompleteMultipartUpload", "fault": "drop"],
                                    ["op": "PutObject", "key": "APKINDEX", "fault": "drop"]],
                             succeeds: true, within: 40)
            }
            scenarioOrFail {
                try scenario(server, bucket: bucket, prefix: "lost-index", seed: [pk.small], publishing: [pk.extra],
                             plan: [["op": "PutObject", "key": "APKINDEX", "fault": "drop"]], succeeds: true, within: 20)
            }
            // The first write of the conditional-write probe lands, its answer does not: the probe
            // must still be told apart from a refusal, and its object deleted.
            scenarioOrFail {
                try scenario(server, bucket: bucket, prefix: "lost-probe", publishing: [pk.small],
                             plan: [["op": "PutObject", "key": ".apkit-probe", "fault": "drop"],
                                    ["op": "DeleteObject", "key": ".apkit-probe", "fault": "drop"]], succeeds: true, within: 20)
            }
            // A CreateMultipartUpload answer is lost (an upload nobody knows the id of is open), then
            // the parts fail for good: the run fails, and neither upload is left open.
            scenarioOrFail {
                try scenario(server, bucket: bucket, prefix: "lost-create", seed: [pk.small], publishing: [pk.big],
                             plan: [["op": "CreateMultipartUpload", "fault": "drop"],
                                    ["op": "UploadPart", "fault": "slowdown", "count": -1]], succeeds: false, within: 20)
            }
        }
    }

    /// Answers cut halfway (status line, headers and half the body, or half the headers).
    func testHalfAnswers() throws {
        let pk = try packages()
        for (server, bucket) in try servers() {
            scenarioOrFail {
                try scenario(server, bucket: bucket, prefix: "half", seed: [pk.small], publishing: [pk.big, pk.extra],
                             plan: [["op": "HeadObject", "fault": "half"],
                                    ["op": "GetObject", "key": "APKINDEX", "fault": "half"],
                                    ["op": "ListMultipartUploads", "fault": "half"],
                                    ["op": "CreateMultipartUpload", "fault": "half"],
                                    ["op": "UploadPart", "fault": "half", "skip": 2],
                                    ["op": "CompleteMultipartUpload", "fault": "half"],
                                    ["op": "PutObject", "key": "extra-", "fault": "half"],
                                    ["op": "PutObject", "key": "APKINDEX", "fault": "half"]],
                             succeeds: true, within: 40)
            }
        }
    }

    /// Slow answers: delays before forwarding, bodies trickled back, and one part whose answer
    /// stalls for 60 s, which the stall timeout (APKIT_S3_TIMEOUT=2) cuts short and a retry sends again
    /// (the run must end within 20 s).
    func testSlowAnswers() throws {
        let pk = try packages()
        for (server, bucket) in try servers() {
            scenarioOrFail {
                let o = try scenario(server, bucket: bucket, prefix: "slow", seed: [pk.small], publishing: [pk.big, pk.extra],
                                     plan: [["op": "HeadObject", "fault": "delay", "seconds": 0.5, "count": 2],
                                            ["op": "GetObject", "key": "APKINDEX", "fault": "trickle", "chunk": 128, "interval": 0.02],
                                            ["op": "ListMultipartUploads", "fault": "trickle", "chunk": 64, "interval": 0.02],
                                            ["op": "UploadPart", "fault": "delay", "seconds": 60],
                                            ["op": "CompleteMultipartUpload", "fault": "delay", "seconds": 0.5],
                                            ["op": "PutObject", "key": "APKINDEX", "fault": "delay", "seconds": 0.5]],
                                     succeeds: true, within: 20)
                // The stalled part (cut after 2 s by APKIT_S3_TIMEOUT), 2 s of delays, the trickles;
                // a stall waited out would take 60 s.
                XCTAssertGreaterThan(o.seconds, 4, "the delays did not slow the run down")
            }
        }
    }

    /// Runs one scenario; an error thrown by the harness itself is a failure, a skip is passed on.
    func scenarioOrFail(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        do { try body() } catch {
            XCTFail("scenario failed: \(error)", file: file, line: line)
        }
    }
}

/// A running `Tests/tools/fault_proxy.py` in front of `upstream`, with `plan` (rules; see the script).
final class FaultProxy {
    let process = Process()
    let input = Pipe()
    let port: String
    var endpoint: String { "http://127.0.0.1:\(port)" }

    init(upstream: String, plan: [[String: Any]]) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/fault_proxy.py").path
        let planText = String(decoding: try JSONSerialization.data(withJSONObject: ["rules": plan, "seed": 11]), as: UTF8.self)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, upstream, planText]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        port = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard Int(port) != nil else { throw XCTSkip("fault_proxy.py did not start (printed '\(port)')") }
    }

    /// Faults fired so far ("Operation fault" -> count), times each rule fired, requests per operation.
    func stats() throws -> (faults: [String: Int], rules: [Int], requests: [String: Int]) {
        let r = try runProcess("curl", ["-sf", "--max-time", "10", endpoint + "/__proxy/stats"])
        guard r.status == 0, let json = try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any] else {
            throw XCTSkip("cannot read the fault proxy's stats: \(r.stderr)")
        }
        return ((json["faults"] as? [String: Int]) ?? [:], (json["rules"] as? [Int]) ?? [],
                (json["requests"] as? [String: Int]) ?? [:])
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}
