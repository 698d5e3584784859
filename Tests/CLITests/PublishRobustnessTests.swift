import APKFormat
import Foundation
import Synchronization
import TestSupport
import XCTest

/// `apkit publish` into a local directory under stress: many processes at once, and processes
/// killed with SIGKILL at random moments, for every format.
final class PublishRobustnessTests: XCTestCase {
    func packages(_ t: TempDir, count: Int, format: String, bigMiB: Int = 0) throws -> [String] {
        var out: [String] = []
        for i in 0..<count {
            let stage = t.sub("stage\(i)")
            t.write("stage\(i)/usr/share/p\(i)/data", "package \(i)\n")
            if i == 0 && bigMiB > 0 {
                var rng = SeededGenerator(seed: 3)
                t.write("stage0/usr/share/p0/big", Data((0..<(bigMiB << 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
            }
            out.append(try pack(stage, name: "p\(i)", output: t.sub("pkgs"), extra: ["--format", format, "--no-trace", "--compression",
                                                                                     format == "v3" ? "none" : "fast"]))
        }
        return out
    }

    func indexNames(_ repo: String, format: String) throws -> Set<String> {
        let idx = "\(repo)/x86_64/" + (format == "v2" ? "APKINDEX.tar.gz" : "packages.adb")
        XCTAssertEqual(try apkit(["verify", "--keys-dir", "\(repo)/keys", idx]).stdout, "\(idx): OK\n")
        let index = try PackageFormats.named(FormatName(rawValue: format)!).index
            .read(path: idx, keyring: { var k = Keyring(); k.addDirectory("\(repo)/keys"); return k }(), allowUntrusted: false, source: nil)
        return Set(index.records.map { "\($0.name)-\($0.version)" })
    }

    /// 32 `apkit publish` processes into one repository: every package lands, the index verifies;
    /// prints how many index rewrites had to be redone and the slowest publisher's time.
    func testThirtyTwoConcurrentPublishers() throws {
        for format in ["v2", "v3"] {
            let t = TempDir()
            let pkgs = try packages(t, count: 32, format: format)
            let repo = t.sub("repo")
            let results = Mutex<[(attempts: Int, seconds: Double, error: String?)]>([])
            let key = TestKeys.privateKey
            DispatchQueue.concurrentPerform(iterations: pkgs.count) { i in
                let start = Date()
                do {
                    let r = try apkit(["publish", "--to", repo, "--key", key, "--json", pkgs[i]])
                    let seconds = Date().timeIntervalSince(start)
                    guard r.status == 0, let json = try? JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any],
                          let idx = (json["indexes"] as? [[String: Any]])?.first, let attempts = idx["attempts"] as? Int else {
                        results.withLock { $0.append((0, seconds, "exit \(r.status): \(r.stderr)")) }
                        return
                    }
                    results.withLock { $0.append((attempts, seconds, nil)) }
                } catch {
                    results.withLock { $0.append((0, 0, "\(error)")) }
                }
            }
            let all = results.withLock { $0 }
            XCTAssertEqual(all.compactMap(\.error), [], format)
            XCTAssertEqual(try indexNames(repo, format: format), Set((0..<32).map { "p\($0)-1.0-r0" }), format)
            let retries = all.reduce(0) { $0 + max(0, $1.attempts - 1) }
            let slowest = all.map(\.seconds).max() ?? 0
            print("32 concurrent publishers (\(format), local directory): \(retries) index retries, slowest \(String(format: "%.2f", slowest)) s")
        }
    }

    /// Publishes killed with SIGKILL at random moments, then one run to completion: the
    /// repository ends whole (the index verifies and names every package, every package verifies)
    /// and no temporary file of the killed runs is left.
    func testKilledPublishesThenARerunConverge() throws {
        for format in ["v2", "v3"] {
            let t = TempDir()
            let pkgs = try packages(t, count: 4, format: format, bigMiB: 24)
            let repo = t.sub("repo")
            let binary = apkitBinary
            var rng = SeededGenerator(seed: format == "v2" ? 1 : 2)
            var killed = 0
            for _ in 0..<12 {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: binary)
                p.arguments = ["publish", "--to", repo, "--key", TestKeys.privateKey] + pkgs
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                usleep(UInt32(rng.next() % 120_000))
                if p.isRunning { kill(p.processIdentifier, SIGKILL); killed += 1 }
                p.waitUntilExit()
            }
            let before = (try? FileManager.default.subpathsOfDirectory(atPath: repo)) ?? []
            print("\(format): \(killed) of 12 publishes killed; left before the rerun: \(before.filter { ($0 as NSString).lastPathComponent.hasPrefix(".") })")
            let r = try apkit(["publish", "--to", repo, "--key", TestKeys.privateKey] + pkgs)
            XCTAssertEqual(r.status, 0, "\(format): \(r.stderr)")
            XCTAssertEqual(try indexNames(repo, format: format), Set((0..<4).map { "p\($0)-1.0-r0" }), format)
            let stored = (0..<4).map { "\(repo)/x86_64/p\($0)-1.0-r0.apk" }
            XCTAssertEqual(try apkit(["verify", "--keys-dir", "\(repo)/keys"] + stored).status, 0, format)
            let left = try FileManager.default.subpathsOfDirectory(atPath: repo).filter {
                ($0 as NSString).lastPathComponent.hasPrefix(".") && !$0.hasSuffix(".apkit.lock")
            }
            XCTAssertEqual(left, [], "\(format): \(killed) killed runs left temporary files")
        }
    }
}
