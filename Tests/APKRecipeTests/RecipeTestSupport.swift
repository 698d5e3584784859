import APKFormat
@testable import APKRecipe
import Foundation
import TestSupport
import XCTest

/// Collects warnings (thread-safe enough for the serial code under test).
final class WarningLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
    var sink: WarningSink { { [self] w in lock.lock(); items.append(w); lock.unlock() } }
}

enum RecipeKeys {
    /// One signing key for the whole test run, written to disk for the CLI tests too.
    static let dir = TempDir("apkit-recipe-keys")
    static let key: SigningKey = try! SigningKey.generate(bits: 2048)
    static let privateKeyPath: String = {
        let p = dir.sub("recipe-test.rsa")
        _ = FileManager.default.createFile(atPath: p, contents: try! key.privateKeyPEM(), attributes: [.posixPermissions: 0o600])
        return p
    }()
    static let publicKeyPath: String = {
        let p = dir.sub("recipe-test.rsa.pub")
        _ = FileManager.default.createFile(atPath: p, contents: try! key.publicKeyPEM())
        return p
    }()
    static var signer: Signer { Signer(key: key, keyName: "recipe-test.rsa.pub") }
}

/// Parses `yaml` as `apkit.yml` (or `instellar.yml`) of `dir`; messages name the bare file name.
func parseRecipe(_ yaml: String, in dir: TempDir, file: String = "apkit.yml", warn: @escaping WarningSink = { _ in }) throws -> Recipe {
    try RecipeLoader.parse(yaml, file: file, format: file.hasPrefix("instellar") ? .pakman : .apkit,
                           sourceDirectory: dir.url, warn: warn)
}

/// Builds `yaml` in `dir` into `dir/packages`; returns the written packages.
@discardableResult
func buildRecipe(_ yaml: String, in dir: TempDir, file: String = "apkit.yml", arches: [String] = [],
                 environment: [String: String] = [:], warn: @escaping WarningSink = { _ in }) throws -> [BuiltPackage] {
    let recipe = try parseRecipe(yaml, in: dir, file: file, warn: warn)
    var options = RecipeBuilder.Options(outputDirectory: dir.sub("packages"))
    options.architectures = arches
    options.environment = environment
    return try RecipeBuilder(recipe: recipe, options: options, writer: PackageWriter(format: V2Format(), signer: RecipeKeys.signer, compression: .default),
                             warn: warn).run()
}

var apkCheckScript: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools/apk_check.py").path
}

/// An independent reading of a package (Python zlib/tarfile + openssl), see Tests/tools/apk_check.py.
struct CheckedPackage {
    let report: [String: Any]
    var entries: [[String: Any]] { report["entries"] as? [[String: Any]] ?? [] }
    var names: [String] { entries.compactMap { $0["name"] as? String } }
    func entry(_ name: String) -> [String: Any]? { entries.first { $0["name"] as? String == name } }
    var pkginfo: [(String, String)] {
        (report["pkginfo"] as? String ?? "").split(separator: "\n").compactMap { l in
            guard let r = l.range(of: " = ") else { return nil }
            return (String(l[..<r.lowerBound]), String(l[r.upperBound...]))
        }
    }
    func values(_ key: String) -> [String] { pkginfo.filter { $0.0 == key }.map(\.1) }
    var controlNames: [String] { (report["control"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } }
    var signaturesValid: Bool {
        guard let v = report["signature_valid"] as? [String: Bool], !v.isEmpty else { return false }
        return v.values.allSatisfy { $0 }
    }
}

func checkPackage(_ path: String) throws -> CheckedPackage {
    let r = try runProcess("python3", [apkCheckScript, path, "--pubkey", RecipeKeys.publicKeyPath])
    guard r.status == 0 else { throw NSError(domain: "apk_check", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
    return CheckedPackage(report: try JSONSerialization.jsonObject(with: r.stdoutData) as! [String: Any])
}

/// Extracts one control or data member file of a package with Python (independent of apkit).
func extractFromPackage(_ apk: String, _ member: String) throws -> String {
    let script = """
    import sys, zlib, tarfile, io
    data = open(sys.argv[1], 'rb').read()
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        raw = d.decompress(data[pos:]) + d.flush()
        used = len(data) - pos - len(d.unused_data)
        pos += used
        t = tarfile.open(fileobj=io.BytesIO(raw + b'\\0' * 1024), mode='r:')
        for m in t.getmembers():
            if m.name == sys.argv[2] and m.isfile():
                sys.stdout.write(t.extractfile(m).read().decode()); sys.exit(0)
    sys.exit(3)
    """
    let r = try runPython(script, [apk, member])
    guard r.status == 0 else { throw NSError(domain: "extract", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: "\(member) not in \(apk)"]) }
    return r.stdout
}

/// Runs git in `dir` with a fixed identity.
@discardableResult
func git(_ dir: String, _ args: String...) throws -> String {
    let r = try runProcess("git", ["-C", dir, "-c", "user.email=t@example.org", "-c", "user.name=T",
                                   "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"] + args)
    guard r.status == 0 else { throw NSError(domain: "git", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Copies a fixture app into a new temp directory named like the fixture.
func copyFixture(_ name: String) throws -> (TempDir, String) {
    let t = TempDir("fixture")
    let dst = t.sub(name)
    let r = try runProcess("cp", ["-R", fixturesDirectory.appendingPathComponent("apps/\(name)").path, dst])
    precondition(r.status == 0, r.stderr)
    try? FileManager.default.removeItem(atPath: dst + "/packages")
    return (t, dst)
}

/// Writes one data-tar file of a package to `path` (binary safe), with Python.
func extractFileFromPackage(_ apk: String, _ member: String, to path: String) throws {
    let script = """
    import sys, zlib, tarfile, io, os
    data = open(sys.argv[1], 'rb').read()
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        raw = d.decompress(data[pos:]) + d.flush()
        pos += len(data) - pos - len(d.unused_data)
        t = tarfile.open(fileobj=io.BytesIO(raw + b'\\0' * 1024), mode='r:')
        for m in t.getmembers():
            if m.name == sys.argv[2] and m.isfile():
                open(sys.argv[3], 'wb').write(t.extractfile(m).read()); os.chmod(sys.argv[3], m.mode); sys.exit(0)
    sys.exit(3)
    """
    let r = try runPython(script, [apk, member, path])
    guard r.status == 0 else { throw NSError(domain: "extract", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: "\(member) not in \(apk): \(r.stderr)"]) }
}
