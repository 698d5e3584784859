import Foundation
import TestSupport
import XCTest

/// `apkit quickstart`: the README's main job, end to end.
final class QuickstartTests: XCTestCase {
    func testBuildsAndPublishesTheSampleToALocalRepository() throws {
        let t = TempDir()
        let r = try apkit(["quickstart", "--repo", t.sub("repo"), "--keys-dir", t.sub("keys")], cwd: t.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        let keys = try FileManager.default.contentsOfDirectory(atPath: t.sub("keys")).sorted()
        XCTAssertEqual(keys.count, 2, "\(keys)")
        XCTAssertTrue(keys[0].hasSuffix(".rsa") && keys[1] == keys[0] + ".pub")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: t.sub("repo/keys")), [keys[1]])

        let arch = try FileManager.default.contentsOfDirectory(atPath: t.sub("repo")).filter { $0 != "keys" && !$0.hasPrefix(".") }
        XCTAssertEqual(arch.count, 1)
        let dir = t.sub("repo/\(arch[0])")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(files, ["APKINDEX.tar.gz", "hello-apkit-1.0.0-r0.apk", "hello-apkit-doc-1.0.0-r0.apk",
                               "hello-apkit-openrc-1.0.0-r0.apk"])
        // Everything verifies against the published key.
        let v = try apkit(["verify", "--keys-dir", t.sub("repo/keys")] + files.map { dir + "/" + $0 })
        XCTAssertEqual(v.status, 0, v.stdout)

        // The index lists every package under the directory's arch (noarch rewritten, as
        // `apk index --rewrite-arch` does), with C: matching each file's control member.
        let index = try runPython("""
        import sys, gzip, io, tarfile, zlib, hashlib, base64, os
        d = open(sys.argv[1], 'rb').read(); pos = 0; members = []
        while pos < len(d):
            z = zlib.decompressobj(31); raw = z.decompress(d[pos:]); used = len(d) - pos - len(z.unused_data)
            members.append(raw); pos += used
        t = tarfile.open(fileobj=io.BytesIO(members[1]))
        print(t.extractfile('APKINDEX').read().decode())
        for f in sorted(os.listdir(sys.argv[2])):
            if not f.endswith('.apk'): continue
            b = open(os.path.join(sys.argv[2], f), 'rb').read()
            z = zlib.decompressobj(31); z.decompress(b); first = len(b) - len(z.unused_data)
            rest = b[first:]; z = zlib.decompressobj(31); z.decompress(rest); second = len(rest) - len(z.unused_data)
            print('CHECK ' + f + ' Q1' + base64.b64encode(hashlib.sha1(rest[:second]).digest()).decode())
        """, [dir + "/APKINDEX.tar.gz", dir])
        XCTAssertEqual(index.status, 0, index.stderr)
        let text = index.stdout
        XCTAssertEqual(text.components(separatedBy: "\nA:\(arch[0])\n").count - 1, 3, text)
        XCTAssertFalse(text.contains("A:noarch"))
        for line in text.split(separator: "\n") where line.hasPrefix("CHECK ") {
            let c = line.split(separator: " ")[2]
            XCTAssertTrue(text.contains("C:\(c)\n"), "\(line) not in the index")
        }
        XCTAssertTrue(text.contains("P:hello-apkit-openrc\n"))

        // Running it again changes nothing.
        let before = try FileManager.default.attributesOfItem(atPath: dir + "/APKINDEX.tar.gz")[.modificationDate] as! Date
        let again = try apkit(["quickstart", "--repo", t.sub("repo"), "--keys-dir", t.sub("keys")], cwd: t.path)
        XCTAssertEqual(again.status, 0, again.stderr)
        let after = try FileManager.default.attributesOfItem(atPath: dir + "/APKINDEX.tar.gz")[.modificationDate] as! Date
        XCTAssertEqual(before, after)
    }
}
