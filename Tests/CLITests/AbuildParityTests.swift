import Foundation
import TestSupport
import XCTest

/// The data tar apkit writes is byte for byte what abuild 3.18's pipeline writes for the same
/// staged tree (GNU tar with abuild's flags + abuild-tar's checksum records, made independently
/// by Tests/tools/abuild_data_tar.py).
final class AbuildParityTests: XCTestCase {
    func testDataTarIsByteIdenticalToAbuilds() throws {
        let t = TempDir()
        let s = "stage"
        t.write("\(s)/usr/bin/hello", "#!/bin/sh\necho hello\n", mode: 0o755)
        t.write("\(s)/usr/bin/su-helper", "setuid\n", mode: 0o4755)
        t.mkdir("\(s)/tmp/sticky", mode: 0o1777)
        t.write("\(s)/etc/hello/empty.conf", "", mode: 0o600)
        t.mkdir("\(s)/var/lib/hello/emptydir")
        t.write("\(s)/usr/share/doc/hello/name with spaces.txt", "spaces\n")
        t.write("\(s)/usr/share/doc/hello/ünïcødé.txt", "utf8\n")
        t.write("\(s)/usr/share/\(String(repeating: "d", count: 90))/\(String(repeating: "f", count: 120)).txt", "long\n")
        t.write("\(s)/usr-local-like/x", "sorts between usr and usr/...\n")
        symlink("hello", t.sub("\(s)/usr/bin/hello-link"))
        symlink("/" + String(repeating: "t", count: 150), t.sub("\(s)/usr/bin/long-target"))
        link(t.sub("\(s)/usr/bin/hello"), t.sub("\(s)/usr/bin/a-hardlink"))
        t.write("\(s)/usr/bin/capped", "cap\n", mode: 0o755)
        _ = try runPython("import os,sys; os.setxattr(sys.argv[1], 'user.apkit', b'v1', follow_symlinks=False)", [t.sub("\(s)/usr/bin/capped")])
        t.write("\(s)/var/lib/hello/data.db", "owned by the app\n", mode: 0o640)
        chown(t.sub("\(s)/var/lib/hello/data.db"), 65534, 65534)
        let big = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) })
        t.write("\(s)/usr/lib/big.bin", big)

        let apk = try pack(t.sub(s), output: t.sub("out"), extra: ["--user", "nobody", "--group", "nogroup"])
        let ours = try gzipMembers(apk)[2]
        let dataFile = t.write("data.tar.gz", ours)
        let decompressed = try runProcess("gzip", ["-dc", dataFile]).stdoutData
        let toolsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("tools")
        // abuild maps the package's users by name: nobody's files keep "nobody" with uid 0.
        let reference = try runProcess("python3", [toolsDir.appendingPathComponent("abuild_data_tar.py").path, t.sub(s), "1700000000", "user:nobody", "group:nogroup"])
        XCTAssertEqual(reference.status, 0, reference.stderr)
        XCTAssertGreaterThan(reference.stdoutData.count, 10_000)
        if decompressed != reference.stdoutData {
            let a = [UInt8](decompressed), b = [UInt8](reference.stdoutData)
            let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
            let block = first / 512 * 512
            XCTFail("data tars differ at byte \(first) (sizes \(a.count) vs \(b.count)); ours: \(String(decoding: a[block..<min(a.count, block + 160)], as: UTF8.self)) reference: \(String(decoding: b[block..<min(b.count, block + 160)], as: UTF8.self))")
        }
    }
}
