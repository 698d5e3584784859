import XCTest
import TestSupport
import APKFormat
@testable import APKRepository

private let repoKey: SigningKey = try! SigningKey.generate(bits: 2048)
private let strangerKey: SigningKey = try! SigningKey.generate(bits: 2048)

// Unchecked: the concurrency tests call this case's helpers from several threads; they only read its constants.
final class PublisherTests: XCTestCase, @unchecked Sendable {
    var tmp: TempDir!
    override func setUp() { tmp = TempDir("apkit-publish") }
    override func tearDown() { tmp = nil }

    let keyName = "repo-abcd1234.rsa.pub"
    var signer: Signer { Signer(key: repoKey, keyName: keyName) }

    /// Builds a package; `salt` changes its content (so the same name+version can differ).
    func build(_ name: String, _ version: String, arch: String = "x86_64", salt: String = "",
               key: SigningKey = repoKey, keyName: String? = nil) throws -> String {
        let root = tmp.sub("stage-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(atPath: root + "/usr/share/\(name)", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/usr/share/\(name)/data", contents: Data("\(name) \(version) \(salt)\n".utf8))
        var info = PackageInfo(name: name, version: version)
        info.arch = arch
        info.description = "test package \(name)"
        var spec = PackageSpec(info: info, root: URL(fileURLWithPath: root))
        spec.sourceDateEpoch = 1_700_000_000
        let dir = tmp.sub("pkgs-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let s = Signer(key: key, keyName: keyName ?? self.keyName)
        return try PackageBuilder(signer: s, engine: ZlibGzipEngine(level: 6)).build(spec, to: dir + "/\(name)-\(version).apk").path
    }

    func publisher(_ root: String, _ configure: (inout PublishOptions) -> Void = { _ in }) throws -> Publisher {
        var o = PublishOptions()
        o.noarchArch = "x86_64"
        configure(&o)
        return try Publisher(storage: try LocalDirectoryStorage(root: root), signer: signer, keyring: Keyring(), options: o)
    }

    func index(_ root: String, arch: String = "x86_64") throws -> APKIndex {
        var k = Keyring()
        k.add(try PublicKey(pem: try repoKey.publicKeyPEM(), name: keyName))
        return try APKIndex.read(path: root + "/\(arch)/APKINDEX.tar.gz", keyring: k)
    }

    func names(_ idx: APKIndex) -> [String] { idx.entries.map { "\($0.name)-\($0.version)" } }

    func testPublishLayoutKeyAndIndex() throws {
        let repo = tmp.sub("repo")
        let a = try build("alpha", "1.0-r0"), b = try build("beta", "2.0-r1"), n = try build("gamma", "1-r0", arch: "noarch")
        let c = try build("delta", "3-r0", arch: "aarch64")
        let report = try publisher(repo).publish([a, b, n, c])
        XCTAssertEqual(report.packages.map { $0.status }, [.added, .added, .added, .added])
        XCTAssertEqual(report.publicKeyStatus, .added)
        for f in ["x86_64/alpha-1.0-r0.apk", "x86_64/beta-2.0-r1.apk", "x86_64/gamma-1-r0.apk", "aarch64/delta-3-r0.apk",
                  "keys/\(keyName)", "x86_64/APKINDEX.tar.gz", "aarch64/APKINDEX.tar.gz"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: repo + "/" + f), f)
        }
        XCTAssertEqual(FileManager.default.contents(atPath: repo + "/x86_64/alpha-1.0-r0.apk"), FileManager.default.contents(atPath: a))
        XCTAssertEqual(FileManager.default.contents(atPath: repo + "/keys/\(keyName)"), try repoKey.publicKeyPEM())
        XCTAssertEqual(names(try index(repo)), ["alpha-1.0-r0", "beta-2.0-r1", "gamma-1-r0"])
        XCTAssertEqual(names(try index(repo, arch: "aarch64")), ["delta-3-r0"])
        // The published entry's C: is that of the stored file.
        var reader = ArchiveReader(keyring: Keyring())
        reader.controlOnly = true
        reader.allowUntrusted = true
        let r = reader.read(path: repo + "/x86_64/alpha-1.0-r0.apk")
        XCTAssertEqual(try index(repo).entries[0].checksum, IndexEntry.checksumString(sha1: r.controlSHA1))
    }

    func testPublishingTheSamePackageTwiceIsANoOp() throws {
        let repo = tmp.sub("repo")
        let a = try build("alpha", "1.0-r0")
        _ = try publisher(repo).publish([a])
        let storage = try LocalDirectoryStorage(root: repo)
        let before = try XCTUnwrap(try storage.stat("x86_64/APKINDEX.tar.gz", wantSHA256: false)).version
        let pkgBefore = try XCTUnwrap(try storage.stat("x86_64/alpha-1.0-r0.apk", wantSHA256: false)).version
        let report = try publisher(repo).publish([a])
        XCTAssertEqual(report.packages.map { $0.status }, [.unchanged])
        XCTAssertEqual(report.publicKeyStatus, .unchanged)
        XCTAssertEqual(report.indexes.map { $0.unchanged }, [true])
        XCTAssertEqual(try storage.stat("x86_64/APKINDEX.tar.gz", wantSHA256: false)?.version, before)
        XCTAssertEqual(try storage.stat("x86_64/alpha-1.0-r0.apk", wantSHA256: false)?.version, pkgBefore)
    }

    func testDifferentPackageUnderSameNameIsRefusedUnlessOverwrite() throws {
        let repo = tmp.sub("repo")
        let a1 = try build("alpha", "1.0-r0", salt: "one")
        let a2 = try build("alpha", "1.0-r0", salt: "two")
        let other = try build("omega", "1-r0")
        _ = try publisher(repo).publish([a1])
        let indexBefore = FileManager.default.contents(atPath: repo + "/x86_64/APKINDEX.tar.gz")
        XCTAssertThrowsError(try publisher(repo).publish([other, a2])) { e in
            XCTAssertEqual("\(e)", "\(repo)/x86_64/alpha-1.0-r0.apk already exists with different content; bump the package release (-rN) or pass --overwrite to replace it")
        }
        // Refused before anything was written: no omega, same index, same alpha.
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo + "/x86_64/omega-1-r0.apk"))
        XCTAssertEqual(FileManager.default.contents(atPath: repo + "/x86_64/APKINDEX.tar.gz"), indexBefore)
        XCTAssertEqual(FileManager.default.contents(atPath: repo + "/x86_64/alpha-1.0-r0.apk"), FileManager.default.contents(atPath: a1))

        let report = try publisher(repo) { $0.overwrite = true }.publish([a2])
        XCTAssertEqual(report.packages.map { $0.status }, [.replaced])
        XCTAssertEqual(FileManager.default.contents(atPath: repo + "/x86_64/alpha-1.0-r0.apk"), FileManager.default.contents(atPath: a2))
        let idx = try index(repo)
        XCTAssertEqual(names(idx), ["alpha-1.0-r0"])
        var reader = ArchiveReader(keyring: Keyring())
        reader.controlOnly = true
        reader.allowUntrusted = true
        XCTAssertEqual(idx.entries[0].checksum, IndexEntry.checksumString(sha1: reader.read(path: a2).controlSHA1))
    }

    func testUntrustedPackagesAndIndexesAreRefused() throws {
        let repo = tmp.sub("repo")
        let foreign = try build("alien", "1-r0", key: strangerKey, keyName: "stranger.rsa.pub")
        XCTAssertThrowsError(try publisher(repo).publish([foreign])) { e in
            XCTAssertEqual("\(e)", "\(foreign): UNTRUSTED signature (add its public key with --keys-dir, or pass --allow-untrusted)")
        }
        // An existing index signed by a key we do not trust.
        let strangerIndex = APKIndex(description: "theirs")
        try FileManager.default.createDirectory(atPath: repo + "/x86_64", withIntermediateDirectories: true)
        try strangerIndex.write(to: repo + "/x86_64/APKINDEX.tar.gz", signer: Signer(key: strangerKey, keyName: "stranger.rsa.pub"))
        let mine = try build("alpha", "1.0-r0")
        XCTAssertThrowsError(try publisher(repo).publish([mine])) { e in
            XCTAssertTrue("\(e)".contains("x86_64/APKINDEX.tar.gz: UNTRUSTED index: it is signed by stranger.rsa.pub"), "\(e)")
        }
        // Refused before any write: neither the package nor our public key were stored.
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo + "/x86_64/alpha-1.0-r0.apk"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo + "/keys"))
        // With allowUntrusted the old index is taken over (and re-signed with our key).
        _ = try publisher(repo) { $0.allowUntrusted = true }.publish([mine])
        XCTAssertEqual(names(try index(repo)), ["alpha-1.0-r0"])
        XCTAssertEqual(try index(repo).description, "theirs")
    }

    func testPruneInPublish() throws {
        let repo = tmp.sub("repo")
        for v in ["1.0-r0", "1.0-r1", "1.1-r0", "1.10-r0", "1.9-r0"] {
            _ = try publisher(repo) { $0.prune = 2 }.publish([try build("alpha", v)])
        }
        XCTAssertEqual(names(try index(repo)), ["alpha-1.9-r0", "alpha-1.10-r0"])
    }

    /// Eight publishers at once (threads, each with its own storage object and lock file handle):
    /// every package lands in the index.
    func testConcurrentPublishersAllLand() throws {
        let repo = tmp.sub("repo")
        let pkgs = try (0..<8).map { try build("pkg\($0)", "1.0-r0") }
        let errors = ErrorBox()
        DispatchQueue.concurrentPerform(iterations: pkgs.count) { i in
            do { _ = try publisher(repo).publish([pkgs[i]]) } catch { errors.add("\(error)") }
        }
        XCTAssertEqual(errors.all, [])
        XCTAssertEqual(Set(names(try index(repo))), Set((0..<8).map { "pkg\($0)-1.0-r0" }))
    }

    /// The same with eight `apkit publish` processes.
    func testConcurrentPublishProcessesAllLand() throws {
        let repo = tmp.sub("repo")
        let keyPath = tmp.write(keyName.replacingOccurrences(of: ".pub", with: ""), try repoKey.privateKeyPEM(), mode: 0o600)
        let pkgs = try (0..<8).map { try build("proc\($0)", "2.0-r0") }
        let results = ErrorBox()
        DispatchQueue.concurrentPerform(iterations: pkgs.count) { i in
            do {
                let r = try apkit(["publish", "--to", repo, "--key", keyPath, "--keys-dir", tmp.path, pkgs[i]])
                if r.status != 0 { results.add("exit \(r.status): \(r.stderr)") }
            } catch { results.add("\(error)") }
        }
        XCTAssertEqual(results.all, [])
        XCTAssertEqual(Set(names(try index(repo))), Set((0..<8).map { "proc\($0)-2.0-r0" }))
    }

    func testLocalStoragePreconditions() throws {
        let s = try LocalDirectoryStorage(root: tmp.sub("store"))
        let f1 = tmp.write("f1", "one"), f2 = tmp.write("f2", "two!")
        let v1 = try s.put("a/b.txt", from: f1, precondition: .mustNotExist, contentType: nil, sha256: nil)
        XCTAssertThrowsError(try s.put("a/b.txt", from: f2, precondition: .mustNotExist, contentType: nil, sha256: nil)) { e in
            XCTAssertEqual(e as? StorageError, .conflict(key: "a/b.txt"))
        }
        let v2 = try s.put("a/b.txt", from: f2, precondition: .mustMatch(v1), contentType: nil, sha256: nil)
        XCTAssertNotEqual(v1, v2)
        XCTAssertThrowsError(try s.put("a/b.txt", from: f1, precondition: .mustMatch(v1), contentType: nil, sha256: nil))
        let got = tmp.sub("got")
        XCTAssertEqual(try s.get("a/b.txt", to: got)?.version, v2)
        XCTAssertEqual(try String(contentsOfFile: got, encoding: .utf8), "two!")
        XCTAssertNil(try s.get("a/missing", to: got))
        XCTAssertEqual(try s.stat("a/b.txt", wantSHA256: true)?.sha256, Digest.hash(.sha256, Array("two!".utf8)).hexString)
        XCTAssertEqual(try s.list(prefix: ""), ["a/b.txt"])
        for bad in ["../x", "/abs", "a//b", "a/./b", ""] {
            XCTAssertThrowsError(try s.put(bad, from: f1, precondition: .none, contentType: nil, sha256: nil), bad)
        }
        // No temp files left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.sub("store/a")), ["b.txt"])
    }
}

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
