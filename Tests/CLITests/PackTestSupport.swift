import Foundation
import TestSupport
import XCTest

/// A key pair made once per test process (RSA generation is slow).
enum TestKeys {
    static let dir = TempDir("apkit-keys")
    static let (privateKey, publicKey): (String, String) = {
        let r = try! apkit(["keygen", "--name", "tester", "--bits", "2048", "--output-dir", dir.path])
        precondition(r.status == 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        return (lines[0], lines[1])
    }()
    static var keyName: String { (publicKey as NSString).lastPathComponent }

    /// A second, unrelated key.
    static let other: (String, String) = {
        let r = try! apkit(["keygen", "--name", "other", "--bits", "2048", "--output-dir", dir.sub("other")])
        precondition(r.status == 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        return (lines[0], lines[1])
    }()
}

var checkerScript: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools/apk_check.py").path
}

/// Runs the independent Python reader on a package and decodes its JSON report.
func independentCheck(_ apk: String, pubkey: String? = TestKeys.publicKey) throws -> [String: Any] {
    var args = [checkerScript, apk]
    if let pubkey { args += ["--pubkey", pubkey] }
    let r = try runProcess("python3", args)
    guard r.status == 0 else { throw NSError(domain: "apk_check", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
    return try JSONSerialization.jsonObject(with: r.stdoutData) as! [String: Any]
}

/// Packs `stage` with the test key; returns the .apk path.
func pack(_ stage: String, name: String = "hello", version: String = "1.0-r0", output: String,
          extra: [String] = [], environment: [String: String] = ["SOURCE_DATE_EPOCH": "1700000000"]) throws -> String {
    let r = try apkit(["pack", stage, "--name", name, "--version", version, "--key", TestKeys.privateKey,
                       "--output", output, "--arch", "x86_64"] + extra, environment: environment)
    XCTAssertEqual(r.status, 0, "pack failed: \(r.stderr)")
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The `key = value` lines of a .PKGINFO as pairs, in order.
func pkginfoLines(_ text: String) -> [(String, String)] {
    text.split(separator: "\n").compactMap { line in
        guard !line.hasPrefix("#"), let r = line.range(of: " = ") else { return nil }
        return (String(line[..<r.lowerBound]), String(line[r.upperBound...]))
    }
}

/// Splits a file into its gzip members with Python's zlib (independent of apkit).
func gzipMembers(_ path: String) throws -> [Data] {
    let r = try runPython("""
    import sys, zlib, base64
    data = open(sys.argv[1], 'rb').read(); pos = 0
    while pos < len(data):
        d = zlib.decompressobj(31); d.decompress(data[pos:]); used = len(data) - pos - len(d.unused_data)
        print(base64.b64encode(data[pos:pos+used]).decode()); pos += used
    """, [path])
    XCTAssertEqual(r.status, 0, r.stderr)
    return r.stdout.split(separator: "\n").map { Data(base64Encoded: String($0))! }
}
