import Foundation
import TestSupport
import XCTest

/// `apkit publish --to s3://BUCKET/PREFIX` against the local S3 servers started by
/// `.ci/s3-servers.sh` (moto, and ministack with AUTH=true), checked with boto3, Python's
/// gzip/tarfile and `openssl dgst -verify`.
final class S3PublishTests: XCTestCase, S3RepositoryTesting {
    struct Server {
        var name: String
        var endpoint: String
        var accessKeyId: String
        var secretAccessKey: String

        static func get(_ name: String) throws -> Server {
            let env = ProcessInfo.processInfo.environment
            if name == "moto" {
                guard let ep = env["APKIT_TEST_MOTO_ENDPOINT"] else { throw skip }
                return Server(name: name, endpoint: ep, accessKeyId: "AKIAMOTOPUBLISH00000", secretAccessKey: "moto-publish-secret-0123456789")
            }
            guard let ep = env["APKIT_TEST_MINISTACK_ENDPOINT"], let id = env["APKIT_TEST_MINISTACK_ACCESS_KEY_ID"],
                  let secret = env["APKIT_TEST_MINISTACK_SECRET_ACCESS_KEY"] else { throw skip }
            return Server(name: name, endpoint: ep, accessKeyId: id, secretAccessKey: secret)
        }

        static var skip: XCTSkip { XCTSkip("S3 test servers are not running: run `source .ci/s3-servers.sh` first") }

        /// The environment `apkit` gets: credentials the AWS way, nothing from the host's ~/.aws.
        var environment: [String: String] {
            ["AWS_ACCESS_KEY_ID": accessKeyId, "AWS_SECRET_ACCESS_KEY": secretAccessKey, "AWS_SESSION_TOKEN": "",
             "AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "",
             "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/apkit-test/credentials",
             "AWS_CONFIG_FILE": "/nonexistent/apkit-test/config", "SOURCE_DATE_EPOCH": "1700000000"]
        }

        /// Runs Python with boto3 `s3` (a client for this server) and `bucket` defined.
        func python(_ body: String, bucket: String, _ args: [String] = []) throws -> ProcessResult {
            let script = """
            import sys, os, json, boto3
            from botocore.config import Config
            s3 = boto3.client('s3', endpoint_url=os.environ['APKIT_T_EP'], region_name='us-east-1',
                              aws_access_key_id=os.environ['APKIT_T_ID'], aws_secret_access_key=os.environ['APKIT_T_SECRET'],
                              config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 2}))
            bucket = os.environ['APKIT_T_BUCKET']

            """ + body
            return try runProcess("python3", ["-c", script] + args,
                                  environment: ["APKIT_T_EP": endpoint, "APKIT_T_ID": accessKeyId,
                                                "APKIT_T_SECRET": secretAccessKey, "APKIT_T_BUCKET": bucket])
        }

        func makeBucket() throws -> String {
            let bucket = "apkit-pub-\(UInt32.random(in: 0...UInt32.max))"
            let r = try python("s3.create_bucket(Bucket=bucket)", bucket: bucket)
            XCTAssertEqual(r.status, 0, r.stderr)
            return bucket
        }
    }

    // MARK: tests

    /// Default package list (packages/*/*.apk), two arches, an awkward name (libstdc++), all bytes,
    /// headers, index entries and signatures checked; a second publish changes nothing; a different
    /// package under an existing name is refused (and --overwrite replaces it); an index signed by an
    /// untrusted key is refused; secrets never show.
    func testPublishEndToEndOnBothServers() throws {
        for name in ["ministack", "moto"] {
            let server = try Server.get(name)
            let bucket = try server.makeBucket()
            let dir = TempDir("apkit-s3pub")
            let out = dir.sub("work/packages")
            let hello = try makePackage(dir, name: "hello", version: "1.0-r0", payload: Data("hello\n".utf8), output: out + "/x86_64")
            let lib = try makePackage(dir, name: "libstdc++", version: "14.2.0-r4", payload: randomData(300_000), output: out + "/x86_64")
            let arm = try makePackage(dir, name: "hello", version: "1.0-r0", arch: "aarch64", payload: Data("arm\n".utf8),
                                      output: out + "/aarch64")
            XCTAssertTrue(lib.hasSuffix("/libstdc++-14.2.0-r4.apk"), lib)
            let expected = ["x86_64/hello-1.0-r0.apk": hello, "x86_64/libstdc++-14.2.0-r4.apk": lib,
                            "aarch64/hello-1.0-r0.apk": arm]
            let target = "s3://\(bucket)/alpine/v3.20/main"

            // No PKG arguments: what `apkit build` wrote under ./packages.
            let first = try publish(server, target, [], cwd: dir.sub("work"))
            XCTAssertEqual(first.status, 0, "\(name): \(first.stderr)")
            assertNoSecrets(first, server)
            for key in expected.keys { XCTAssertTrue(first.stdout.contains("added: \(target)/\(key)"), first.stdout) }
            // Not a terminal: plain lines, no progress bar.
            XCTAssertFalse(first.stderr.contains("\r"), first.stderr)
            let repo = try inspect(server, bucket: bucket, prefix: "alpine/v3.20/main", packages: expected)
            checkRepository(repo, packages: expected)
            XCTAssertEqual((repo["uploads"] as! [String]), [])
            let firstEtags = (repo["objects"] as! [String: [String: Any]]).mapValues { $0["etag"] as! String }

            // Again: a no-op, nothing rewritten.
            let again = try publish(server, target, ["--json", hello, lib, arm])
            XCTAssertEqual(again.status, 0, again.stderr)
            assertNoSecrets(again, server)
            let report = try jsonReport(again)
            XCTAssertEqual(report["location"] as? String, target)
            XCTAssertEqual(Set((report["packages"] as! [[String: Any]]).map { $0["status"] as! String }), ["unchanged"])
            XCTAssertEqual((report["indexes"] as! [[String: Any]]).map { $0["unchanged"] as! Bool }, [true, true])
            let repo2 = try inspect(server, bucket: bucket, prefix: "alpine/v3.20/main", packages: expected)
            XCTAssertEqual((repo2["objects"] as! [String: [String: Any]]).mapValues { $0["etag"] as! String }, firstEtags)

            // The space-for-plus copy is put back when it is missing (an interrupted earlier run).
            let alias = "alpine/v3.20/main/x86_64/libstdc  -14.2.0-r4.apk"
            XCTAssertEqual(try server.python("s3.delete_object(Bucket=bucket, Key=sys.argv[1])", bucket: bucket, [alias]).status, 0)
            let repair = try publish(server, target, [lib])
            XCTAssertEqual(repair.status, 0, repair.stderr)
            XCTAssertTrue(repair.stdout.contains("unchanged: \(target)/x86_64/libstdc++-14.2.0-r4.apk"), repair.stdout)
            let repaired = try inspect(server, bucket: bucket, prefix: "alpine/v3.20/main", packages: expected)
            checkRepository(repaired, packages: expected)
            let etags = (repaired["objects"] as! [String: [String: Any]]).mapValues { $0["etag"] as! String }

            // A different package under the same name: refused, nothing changed.
            let other = try makePackage(dir, name: "hello", version: "1.0-r0", payload: Data("changed\n".utf8), output: dir.sub("other"))
            let refused = try publish(server, target, [other])
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.stderr.contains("x86_64/hello-1.0-r0.apk already exists with different content"), refused.stderr)
            XCTAssertTrue(refused.stderr.contains("--overwrite"), refused.stderr)
            let repo3 = try inspect(server, bucket: bucket, prefix: "alpine/v3.20/main", packages: expected)
            XCTAssertEqual((repo3["objects"] as! [String: [String: Any]]).mapValues { $0["etag"] as! String }, etags)

            // --overwrite replaces it, and the index follows.
            let replaced = try publish(server, target, ["--overwrite", "--json", other])
            XCTAssertEqual(replaced.status, 0, replaced.stderr)
            XCTAssertEqual((try jsonReport(replaced)["packages"] as! [[String: Any]]).first?["status"] as? String, "replaced")
            var expected2 = expected
            expected2["x86_64/hello-1.0-r0.apk"] = other
            checkRepository(try inspect(server, bucket: bucket, prefix: "alpine/v3.20/main", packages: expected2), packages: expected2)

            // An index signed by a key we do not trust is not merged into.
            let stranger = dir.sub("stranger")
            let kg = try apkit(["keygen", "--name", "stranger", "--bits", "2048", "--output-dir", stranger])
            XCTAssertEqual(kg.status, 0, kg.stderr)
            let strangerKey = kg.stdout.split(separator: "\n").map(String.init)[0]
            let pkg2 = try makePackage(dir, name: "extra", version: "2-r0", payload: Data("x".utf8), output: dir.sub("extra"),
                                       key: strangerKey)
            let untrusted = try apkit(["publish", "--to", target, "--endpoint", server.endpoint, "--key", strangerKey, pkg2],
                                      environment: server.environment)
            XCTAssertNotEqual(untrusted.status, 0, untrusted.stdout)
            XCTAssertTrue(untrusted.stderr.contains("APKINDEX.tar.gz"), untrusted.stderr)
            assertNoSecrets(untrusted, server)
            let repo4 = try inspect(server, bucket: bucket, prefix: "alpine/v3.20/main", packages: expected2)
            checkRepository(repo4, packages: expected2)
        }
    }

    /// On a terminal (run under `script`, which gives it a pty) each upload draws a progress bar
    /// with bytes, rate and ETA on stderr; --no-progress and --json leave only the result lines.
    func testProgressBarOnTerminal() throws {
        let server = try Server.get("moto")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("no /usr/bin/script (util-linux)") }
        let bucket = try server.makeBucket()
        let dir = TempDir("apkit-s3pub")
        let big = try makePackage(dir, name: "big", version: "1-r0", payload: randomData(20 << 20), output: dir.sub("out"))
        func underPty(_ extra: [String], _ prefix: String) throws -> String {
            let cmd = ([apkitBinary, "publish", "--to", "s3://\(bucket)/\(prefix)", "--endpoint", server.endpoint,
                        "--key", TestKeys.privateKey] + extra + [big]).map { "'\($0)'" }.joined(separator: " ")
            let r = try runProcess("/usr/bin/script", ["-qec", cmd, "/dev/null"], environment: server.environment)
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            return r.stdout
        }
        let shown = try underPty([], "a")
        XCTAssertTrue(shown.contains("\rx86_64/big-1-r0.apk [--------------------] 0 B/20.0 MiB"), shown)
        XCTAssertTrue(shown.contains("[####################] 20.0 MiB/20.0 MiB"), shown)
        XCTAssertTrue(shown.contains("/s  ETA "), shown)
        XCTAssertTrue(shown.contains("added: s3://\(bucket)/a/x86_64/big-1-r0.apk"), shown)
        for flags in [["--no-progress"], ["--json"]] {
            let quiet = try underPty(flags, flags[0])
            XCTAssertFalse(quiet.contains("ETA"), quiet)
            XCTAssertFalse(quiet.contains("[--------------------]"), quiet)
        }
    }

    /// A 48 MiB package goes up in parts and the publisher's peak memory stays far below the
    /// package size (max RSS of the apkit process, measured by Python's getrusage of its child).
    func testLargePackageMemoryStaysFlat() throws {
        let (server, bucket, dir, big, small) = try bigAndSmall(on: "ministack", bigMiB: 48, version: "48-r0")
        defer { withExtendedLifetime(dir) {} }  // the packages live in it
        func maxRSS(_ pkg: String, _ prefix: String) throws -> Int {
            let r = try runProcess("python3", ["-c", """
                import resource, subprocess, sys
                p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
                sys.stderr.write(p.stdout + p.stderr)
                print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
                sys.exit(p.returncode)
                """, apkitBinary, "publish", "--to", "s3://\(bucket)/\(prefix)", "--endpoint", server.endpoint,
                "--key", TestKeys.privateKey, "--part-size", "8M", "--concurrency", "4", pkg], environment: server.environment)
            XCTAssertEqual(r.status, 0, r.stderr)
            return Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        let baseline = try maxRSS(small, "small")
        let rss = try maxRSS(big, "big")
        print("max RSS publishing a 1.4 KB package: \(baseline) KiB; a 48 MiB package: \(rss) KiB")
        XCTAssertGreaterThan(rss, 0)
        // Reading the package into memory would add 48 MiB; parts in flight are streamed from the file.
        XCTAssertLessThan(rss - baseline, 24 << 10, "peak memory grew with the package size")
        let repo = try inspect(server, bucket: bucket, prefix: "big", packages: ["x86_64/big-48-r0.apk": big])
        checkRepository(repo, packages: ["x86_64/big-48-r0.apk": big])
        let etag = ((repo["objects"] as! [String: [String: Any]])["x86_64/big-48-r0.apk"]?["etag"] as? String) ?? ""
        XCTAssertTrue(etag.hasSuffix("-7\""), "expected a 7-part multipart upload, ETag \(etag)")
    }

    /// Wrong credentials: one clear error line, and no secret in it.
    func testBadCredentialsErrorHasNoSecret() throws {
        var server = try Server.get("ministack")
        let bucket = try server.makeBucket()
        let dir = TempDir("apkit-s3pub")
        let pkg = try makePackage(dir, name: "hello", version: "1.0-r0", payload: Data("hi".utf8), output: dir.sub("out"))
        server.secretAccessKey = "WRONGsecretWRONGsecretWRONGsecret0123456"
        let r = try publish(server, "s3://\(bucket)/repo", [pkg])
        XCTAssertNotEqual(r.status, 0)
        assertNoSecrets(r, server)
        XCTAssertTrue(r.stderr.hasPrefix("apkit: error: "), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        let bad = try publish(server, "s3:///nobucket", [pkg])
        XCTAssertTrue(bad.stderr.contains("expected s3://BUCKET"), bad.stderr)
    }

    /// The connection dies in the middle of a multipart upload (a proxy in front of moto stops after
    /// ~8 MB): publish fails, the index does not name the missing package, a multipart upload is left
    /// open; a rerun completes, the index names everything, and no multipart upload stays open.
    func testInterruptedMultipartUploadConverges() throws {
        let server = try Server.get("moto")
        let bucket = try server.makeBucket()
        let dir = TempDir("apkit-s3pub")
        let small = try makePackage(dir, name: "small", version: "1-r0", payload: Data("s".utf8), output: dir.sub("out"))
        let big = try makePackage(dir, name: "big", version: "1-r0", payload: randomData(20 << 20), output: dir.sub("out"))
        let target = "s3://\(bucket)/repo"
        let first = try publish(server, target, [small])
        XCTAssertEqual(first.status, 0, first.stderr)

        // A TCP proxy that forwards to moto, and after `limit` request bytes closes everything and
        // stops listening, as if the server had died.
        let proxyScript = #"""
        import socket, threading, sys, os
        host, port = sys.argv[1].split('//')[1].split(':'); port = int(port); limit = int(sys.argv[2])
        ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(('127.0.0.1', 0)); ls.listen(16)
        print(ls.getsockname()[1], flush=True)
        lock = threading.Lock(); total = [0]; socks = []
        def die():
            for s in socks + [ls]:
                try: s.shutdown(socket.SHUT_RDWR)
                except OSError: pass
                try: s.close()
                except OSError: pass
            os._exit(0)
        def pump(a, b, count):
            try:
                while True:
                    d = a.recv(65536)
                    if not d: break
                    if count:
                        with lock:
                            total[0] += len(d)
                            if total[0] > limit: die()
                    b.sendall(d)
            except OSError: pass
            for s in (a, b):
                try: s.close()
                except OSError: pass
        while True:
            c, _ = ls.accept(); u = socket.create_connection((host, port)); socks.extend([c, u])
            threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=pump, args=(u, c, False), daemon=True).start()
        """#
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        proxy.arguments = ["python3", "-c", proxyScript, server.endpoint, "\(8 << 20)"]
        let pipe = Pipe()
        proxy.standardOutput = pipe
        try proxy.run()
        defer { if proxy.isRunning { proxy.terminate() } }
        var portLine = Data()
        while !portLine.contains(UInt8(ascii: "\n")) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            portLine += chunk
        }
        let port = String(decoding: portLine, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(port.isEmpty)

        let failed = try publish(server, target, ["--part-size", "5M", "--concurrency", "1", big],
                                 endpoint: "http://127.0.0.1:\(port)")
        XCTAssertNotEqual(failed.status, 0, "publish through the dying proxy succeeded: \(failed.stdout)")
        XCTAssertTrue(failed.stderr.hasPrefix("apkit: error: "), failed.stderr)
        proxy.waitUntilExit()
        let broken = try inspect(server, bucket: bucket, prefix: "repo", packages: ["x86_64/small-1-r0.apk": small])
        // The interruption really hit the multipart upload: one is left open, the object is absent.
        XCTAssertEqual(broken["uploads"] as? [String], ["repo/x86_64/big-1-r0.apk"])
        XCTAssertNil((broken["objects"] as! [String: Any])["x86_64/big-1-r0.apk"])
        // And the index still names only what is there.
        checkRepository(broken, packages: ["x86_64/small-1-r0.apk": small])

        // The server is back (same state): a rerun converges.
        let rerun = try publish(server, target, ["--part-size", "5M", "--concurrency", "2", "--json", big])
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        let all = ["x86_64/small-1-r0.apk": small, "x86_64/big-1-r0.apk": big]
        let fixed = try inspect(server, bucket: bucket, prefix: "repo", packages: all)
        checkRepository(fixed, packages: all)
        XCTAssertEqual(fixed["uploads"] as? [String], [], "a multipart upload was left open")
    }

    /// Eight `apkit publish` processes, each with its own package, into one prefix at once: every
    /// package lands in the final index.
    /// 32 `apkit publish` processes at once into one bucket prefix, on both servers: every package
    /// lands and the index verifies; prints the index write retries and the slowest publisher's time.
    func testThirtyTwoConcurrentPublishers() throws {
        for name in ["ministack", "moto"] {
            let server = try Server.get(name)
            let bucket = try server.makeBucket()
            let dir = TempDir("apkit-s3pub")
            var expected: [String: String] = [:]
            var files: [String] = []
            let count = 32
            for i in 0..<count {
                let f = try makePackage(dir, name: "pkg\(i)", version: "1.\(i)-r0", payload: Data("package \(i)\n".utf8),
                                        output: dir.sub("out\(i)"))
                files.append(f)
                expected["x86_64/pkg\(i)-1.\(i)-r0.apk"] = f
            }
            let target = "s3://\(bucket)/multi"
            var processes: [(Process, String)] = []
            for (i, f) in files.enumerated() {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: apkitBinary)
                p.arguments = ["publish", "--to", target, "--endpoint", server.endpoint, "--key", TestKeys.privateKey, "--json", f]
                p.environment = ProcessInfo.processInfo.environment.merging(server.environment) { _, n in n }
                let log = dir.sub("log\(i)")
                _ = FileManager.default.createFile(atPath: log, contents: nil)
                p.standardOutput = FileHandle(forWritingAtPath: log)
                p.standardError = p.standardOutput
                processes.append((p, log))
            }
            let start = Date()
            for (p, _) in processes { try p.run() }
            var attempts = 0
            var slowest = 0.0
            for (p, log) in processes {
                p.waitUntilExit()
                slowest = max(slowest, Date().timeIntervalSince(start))
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                XCTAssertEqual(p.terminationStatus, 0, "\(name): \(text)")
                if let data = text.data(using: .utf8), let r = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                    attempts += ((r["indexes"] as? [[String: Any]])?.first?["attempts"] as? Int) ?? 0
                }
            }
            let repo = try inspect(server, bucket: bucket, prefix: "multi", packages: expected)
            checkRepository(repo, packages: expected)
            print("\(name): \(count) concurrent publishers, \(attempts - count) index write retries, slowest \(String(format: "%.1f", slowest)) s")
        }
    }

    /// `apkit publish` killed with SIGKILL at random moments (a multipart upload in flight among
    /// them), then a rerun, on moto and on ministack (AUTH=true): the repository is whole, and no
    /// upload the killed runs opened is left. The moments are drawn from the first 60% of the time a
    /// whole publish takes on this machine (measured first), so that the runs really are cut short;
    /// the last run is killed in the middle of its multipart upload (held up in a fault proxy).
    func testKilledPublishesThenARerunLeaveNoOpenUpload() throws {
        for name in ["ministack", "moto"] {
            let (server, bucket, dir, big, small) = try bigAndSmall(on: name, bigMiB: 24, version: "1-r0")
            defer { withExtendedLifetime(dir) {} }  // the packages live in it
            // The quicker of two whole publishes (into other prefixes).
            var whole = Double.infinity
            for run in 1...2 {
                let started = Date()
                let timing = try publish(server, "s3://\(bucket)/timing\(run)", ["--part-size", "5M", big, small])
                XCTAssertEqual(timing.status, 0, timing.stderr)
                whole = min(whole, Date().timeIntervalSince(started))
            }
            let target = "s3://\(bucket)/kill"
            var rng = SeededGenerator(seed: 5)
            var killed = 0
            for _ in 0..<10 {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: apkitBinary)
                p.arguments = ["publish", "--to", target, "--endpoint", server.endpoint, "--key", TestKeys.privateKey,
                               "--part-size", "5M", big, small]
                p.environment = ProcessInfo.processInfo.environment.merging(server.environment) { _, n in n }
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                usleep(UInt32(20_000 + Double(rng.next() % 1000) / 1000 * whole * 600_000))
                if p.isRunning { kill(p.processIdentifier, SIGKILL); killed += 1 }
                p.waitUntilExit()
            }
            // And one killed for sure with its multipart upload open: a package no run has stored
            // yet, whose parts are held up in a fault proxy; killed once the first part is sent.
            let big2 = try makePackage(dir, name: "big2", version: "1-r0", payload: randomData(17 << 20), output: dir.sub("out"))
            let proxy = try FaultProxy(upstream: server.endpoint, plan: [["op": "UploadPart", "fault": "delay", "seconds": 60, "count": -1]])
            let p = Process()
            p.executableURL = URL(fileURLWithPath: apkitBinary)
            p.arguments = ["publish", "--to", target, "--endpoint", proxy.endpoint, "--key", TestKeys.privateKey,
                           "--part-size", "5M", big2]
            p.environment = ProcessInfo.processInfo.environment.merging(server.environment) { _, n in n }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let deadline = Date().addingTimeInterval(30)
            while p.isRunning, Date() < deadline, (try proxy.stats().requests["UploadPart"] ?? 0) == 0 { usleep(20_000) }
            XCTAssertTrue(p.isRunning, "\(name): the publish through the proxy ended before its parts were held")
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            proxy.stop()
            let left = try server.python("print(len(s3.list_multipart_uploads(Bucket=bucket, Prefix='kill/').get('Uploads', [])))",
                                         bucket: bucket)
            let leftCount = Int(left.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            print("\(name): a whole publish takes \(String(format: "%.1f", whole)) s; \(killed) of 10 publishes killed at random "
                + "moments, one in its upload; \(leftCount) multipart uploads left open before the rerun")
            XCTAssertGreaterThanOrEqual(killed, 3, "\(name): the publishes were not cut short")
            XCTAssertGreaterThan(leftCount, 0, "\(name): the killed uploads are not open: the cleanup is not exercised")
            let r = try publish(server, target, ["--part-size", "5M", big, small, big2])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            let expected = ["x86_64/big-1-r0.apk": big, "x86_64/small-1-r0.apk": small, "x86_64/big2-1-r0.apk": big2]
            checkRepository(try inspect(server, bucket: bucket, prefix: "kill", packages: expected), packages: expected)
            let open = try server.python("print(len(s3.list_multipart_uploads(Bucket=bucket).get('Uploads', [])))", bucket: bucket)
            XCTAssertEqual(open.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0",
                           "\(name): open uploads left: \(open.stdout) \(open.stderr)")
        }
    }
}

/// The helpers of the S3 publish tests (packages, publishing, reading the repository back with
/// boto3), for every test class that publishes to the S3 test servers.
protocol S3RepositoryTesting: XCTestCase {}

extension S3RepositoryTesting {

    /// Packs a package with the test key; `payload` bytes go to /usr/share/<name>/data.
    func makePackage(_ dir: TempDir, name: String, version: String, arch: String = "x86_64", payload: Data,
                     output: String, key: String = TestKeys.privateKey) throws -> String {
        let stage = dir.sub("stage-\(name)-\(version)-\(arch)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(atPath: stage + "/usr/share/\(name)", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: stage + "/usr/share/\(name)/data", contents: payload)
        let r = try apkit(["pack", stage, "--name", name, "--version", version, "--key", key,
                           "--output", output, "--arch", arch], environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        XCTAssertEqual(r.status, 0, "pack failed: \(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A server, a new bucket, and two packages: `big` (random bytes, multipart-sized) and `small`.
    func bigAndSmall(on name: String, bigMiB: Int, version: String) throws
        -> (server: S3PublishTests.Server, bucket: String, dir: TempDir, big: String, small: String) {
        let server = try S3PublishTests.Server.get(name)
        let bucket = try server.makeBucket()
        let dir = TempDir("apkit-s3pub")
        let big = try makePackage(dir, name: "big", version: version, payload: randomData(bigMiB << 20), output: dir.sub("out"))
        let small = try makePackage(dir, name: "small", version: "1-r0", payload: Data("s".utf8), output: dir.sub("out"))
        return (server, bucket, dir, big, small)
    }

    func randomData(_ n: Int) -> Data {
        var g = SystemRandomNumberGenerator()
        var d = Data(count: n)
        d.withUnsafeMutableBytes { p in
            let words = p.bindMemory(to: UInt64.self)
            for i in words.indices { words[i] = g.next() }
        }
        return d
    }

    func publish(_ server: S3PublishTests.Server, _ target: String, _ args: [String], cwd: String? = nil,
                 endpoint: String? = nil) throws -> ProcessResult {
        try apkit(["publish", "--to", target, "--endpoint", endpoint ?? server.endpoint, "--key", TestKeys.privateKey] + args,
                  cwd: cwd, environment: server.environment)
    }

    func assertNoSecrets(_ r: ProcessResult, _ server: S3PublishTests.Server, file: StaticString = #filePath, line: UInt = #line) {
        for text in [r.stdout, r.stderr] {
            XCTAssertFalse(text.contains(server.secretAccessKey), "secret access key in the output", file: file, line: line)
            XCTAssertFalse(text.contains("BEGIN RSA PRIVATE KEY") || text.contains("BEGIN PRIVATE KEY"),
                           "private key in the output", file: file, line: line)
        }
    }

    /// Everything about the repository under `prefix`, read independently: every object with its
    /// headers, each index split into gzip members, both signatures checked with openssl against
    /// `pubkey`, the APKINDEX entries, and for each local package given its expected `C:` (Q1 +
    /// base64 of the SHA-1 of its second gzip member) and whether the stored bytes are identical.
    func inspect(_ server: S3PublishTests.Server, bucket: String, prefix: String, packages: [String: String],
                 pubkey: String = TestKeys.publicKey) throws -> [String: Any] {
        let body = #"""
        import gzip, zlib, io, tarfile, hashlib, base64, subprocess, tempfile
        prefix, pubkey, locals_ = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
        def members(data):
            out, pos = [], 0
            while pos < len(data):
                d = zlib.decompressobj(31); d.decompress(data[pos:]); used = len(data) - pos - len(d.unused_data)
                out.append(data[pos:pos+used]); pos += used
            return out
        res = {'objects': {}, 'indexes': {}, 'packages': {}, 'uploads': []}
        paginator = s3.get_paginator('list_objects_v2')
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix + '/'):
            for o in page.get('Contents', []):
                h = s3.head_object(Bucket=bucket, Key=o['Key'])
                res['objects'][o['Key'][len(prefix)+1:]] = {'etag': h['ETag'], 'size': o['Size'],
                    'type': h.get('ContentType'), 'cache': h.get('CacheControl'), 'sha256': h['Metadata'].get('sha256')}
        res['uploads'] = [u['Key'] for u in s3.list_multipart_uploads(Bucket=bucket).get('Uploads', [])]
        tmp = tempfile.mkdtemp()
        for key in res['objects']:
            if not key.endswith('/APKINDEX.tar.gz'): continue
            data = s3.get_object(Bucket=bucket, Key=prefix + '/' + key)['Body'].read()
            m = members(data)
            sigtar = tarfile.open(fileobj=io.BytesIO(gzip.decompress(m[0])))
            idx = tarfile.open(fileobj=io.BytesIO(gzip.decompress(b''.join(m[1:]))))
            open(tmp + '/member', 'wb').write(b''.join(m[1:]))
            verified = []
            for ti in sigtar.getmembers():
                sig = sigtar.extractfile(ti).read(); open(tmp + '/sig', 'wb').write(sig)
                algo = '-sha256' if ti.name.startswith('.SIGN.RSA256.') else '-sha1'
                r = subprocess.run(['openssl', 'dgst', algo, '-verify', pubkey, '-signature', tmp + '/sig', tmp + '/member'],
                                   capture_output=True, text=True)
                verified.append({'name': ti.name, 'ok': r.returncode == 0 and 'Verified OK' in r.stdout})
            text = idx.extractfile('APKINDEX').read().decode()
            entries = []
            for block in text.split('\n\n'):
                fields = {}
                for line in block.split('\n'):
                    if len(line) > 2 and line[1] == ':': fields[line[0]] = line[2:]
                if fields: entries.append(fields)
            res['indexes'][key] = {'members': len(m), 'signatures': verified, 'entries': entries,
                                   'names': idx.getnames()}
        for key, path in locals_.items():
            local = open(path, 'rb').read()
            m = members(local)
            info = {'C': 'Q1' + base64.b64encode(hashlib.sha1(m[1]).digest()).decode(), 'size': len(local),
                    'sha256': hashlib.sha256(local).hexdigest()}
            try:
                info['same'] = s3.get_object(Bucket=bucket, Key=prefix + '/' + key)['Body'].read() == local
            except s3.exceptions.NoSuchKey:
                info['same'] = None
            res['packages'][key] = info
        print(json.dumps(res))
        """#
        let r = try server.python(body, bucket: bucket, [prefix, pubkey, String(decoding: try JSONSerialization.data(withJSONObject: packages), as: UTF8.self)])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONSerialization.jsonObject(with: r.stdoutData) as! [String: Any]
    }

    /// Checks that the repository holds exactly `packages` (key -> local file) correctly: bytes,
    /// headers, index entries with the right C:, S:, and both index signatures valid.
    func checkRepository(_ repo: [String: Any], packages: [String: String], file: StaticString = #filePath,
                         line: UInt = #line) {
        let objects = repo["objects"] as! [String: [String: Any]]
        let indexes = repo["indexes"] as! [String: [String: Any]]
        let pk = repo["packages"] as! [String: [String: Any]]
        let keyObject = "keys/" + TestKeys.keyName
        XCTAssertNotNil(objects[keyObject], "public key missing at \(keyObject)", file: file, line: line)
        let arches = Set(packages.keys.map { String($0.split(separator: "/")[0]) })
        XCTAssertEqual(Set(indexes.keys), Set(arches.map { "\($0)/APKINDEX.tar.gz" }), file: file, line: line)
        for (key, _) in packages {
            let info = pk[key]!
            XCTAssertEqual(info["same"] as? Bool, true, "\(key): stored bytes differ from the local package", file: file, line: line)
            let o = objects[key] ?? [:]
            XCTAssertEqual(o["type"] as? String, "application/octet-stream", key, file: file, line: line)
            XCTAssertEqual(o["cache"] as? String, "public, max-age=31536000, immutable", key, file: file, line: line)
            XCTAssertEqual(o["sha256"] as? String, info["sha256"] as? String, "\(key): x-amz-meta-sha256", file: file, line: line)
            if key.contains("+") {
                // The copy under the space-for-plus name, which S3 serves for a GET of the '+' name.
                let alias = key.replacingOccurrences(of: "+", with: " ")
                XCTAssertEqual(objects[alias]?["sha256"] as? String, info["sha256"] as? String, "\(alias): copy", file: file, line: line)
                XCTAssertEqual(objects[alias]?["size"] as? Int, info["size"] as? Int, alias, file: file, line: line)
            }
            let arch = String(key.split(separator: "/")[0])
            let entries = (indexes["\(arch)/APKINDEX.tar.gz"]?["entries"] as? [[String: String]]) ?? []
            let file_ = String(key.split(separator: "/")[1])
            let matching = entries.filter { "\($0["P"] ?? "")-\($0["V"] ?? "").apk" == file_ }
            XCTAssertEqual(matching.count, 1, "\(key): \(matching.count) index entries", file: file, line: line)
            XCTAssertEqual(matching.first?["C"], info["C"] as? String, "\(key): C:", file: file, line: line)
            XCTAssertEqual(matching.first?["S"], "\(info["size"] as! Int)", "\(key): S:", file: file, line: line)
        }
        for (key, idx) in indexes {
            let entries = idx["entries"] as! [[String: String]]
            let arch = String(key.split(separator: "/")[0])
            let expected = Set(packages.keys.filter { $0.hasPrefix(arch + "/") })
            XCTAssertEqual(Set(entries.map { "\(arch)/\($0["P"]!)-\($0["V"]!).apk" }), expected, key, file: file, line: line)
            let sigs = idx["signatures"] as! [[String: Any]]
            XCTAssertEqual(Set(sigs.map { $0["name"] as! String }),
                           [".SIGN.RSA.\(TestKeys.keyName)", ".SIGN.RSA256.\(TestKeys.keyName)"], key, file: file, line: line)
            XCTAssertTrue(sigs.allSatisfy { $0["ok"] as! Bool }, "\(key): signature not verified: \(sigs)", file: file, line: line)
            XCTAssertEqual(idx["names"] as? [String], ["DESCRIPTION", "APKINDEX"], key, file: file, line: line)
            XCTAssertEqual(objects[key]?["cache"] as? String, "public, max-age=60", key, file: file, line: line)
        }
    }

    func jsonReport(_ r: ProcessResult) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: r.stdoutData) as! [String: Any]
    }
}
