import Foundation
import TestSupport
import XCTest

/// `apkit verify` on good, corrupted and hostile files.
final class VerifyTests: XCTestCase {
    func makePackage(_ t: TempDir, name: String = "hello", content: String = "hello\n", key: String = TestKeys.privateKey) throws -> String {
        t.write("\(name)-stage/usr/bin/\(name)", "#!/bin/sh\necho \(content)\n", mode: 0o755)
        t.write("\(name)-stage/usr/share/\(name)/data.txt", String(repeating: content, count: 200))
        symlink(name, t.sub("\(name)-stage/usr/bin/\(name)-link"))
        let r = try apkit(["pack", t.sub("\(name)-stage"), "--name", name, "--version", "1.0-r0", "--key", key,
                           "--output", t.sub("out"), "--arch", "x86_64"], environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func verify(_ files: [String], extra: [String] = []) throws -> ProcessResult {
        try apkit(["verify", "--keys-dir", TestKeys.dir.path] + extra + files)
    }

    func testGoodAndUntrusted() throws {
        let t = TempDir()
        let apk = try makePackage(t)
        XCTAssertEqual(try verify([apk]).stdout, "\(apk): OK\n")
        let other = try apkit(["verify", "--keys-dir", t.sub("nokeys"), apk])
        XCTAssertEqual(other.stdout, "\(apk): UNTRUSTED signature\n")
        XCTAssertEqual(other.status, 1)
        XCTAssertEqual(try apkit(["verify", "--allow-untrusted", apk]).status, 0)
    }

    func testWrongKeyIsUntrusted() throws {
        let t = TempDir()
        let apk = try makePackage(t, key: TestKeys.other.0)
        let r = try apkit(["verify", "--keys-dir", TestKeys.dir.path, apk])
        XCTAssertEqual(r.stdout, "\(apk): UNTRUSTED signature\n")
        // A key file with the right name but other content: the signature is bad.
        let fake = t.sub("fakekeys")
        try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestKeys.publicKey, toPath: fake + "/" + (TestKeys.other.1 as NSString).lastPathComponent)
        let bad = try apkit(["verify", "--keys-dir", fake, apk])
        XCTAssertEqual(bad.stdout, "\(apk): BAD signature\n")
    }

    func testDataSwappedBetweenPackagesIsBadDatahash() throws {
        let t = TempDir()
        let a = try makePackage(t, name: "alpha", content: "alpha")
        let b = try makePackage(t, name: "beta", content: "beta")
        let ma = try gzipMembers(a), mb = try gzipMembers(b)
        let swapped = t.sub("swapped.apk")
        _ = FileManager.default.createFile(atPath: swapped, contents: ma[0] + ma[1] + mb[2])
        XCTAssertEqual(try verify([swapped]).stdout, "\(swapped): BAD datahash\n")
        // Control swapped instead: the signature no longer matches.
        let swapped2 = t.sub("swapped2.apk")
        _ = FileManager.default.createFile(atPath: swapped2, contents: ma[0] + mb[1] + ma[2])
        XCTAssertEqual(try verify([swapped2]).stdout, "\(swapped2): BAD signature\n")
    }

    func testForgedFileContentIsBadChecksum() throws {
        // Rewrite the data tar with other content but the old pax checksum, recompute datahash and
        // re-sign the control member with the real key (Python + openssl, independent of apkit):
        // only the per-file checksum can catch it.
        let t = TempDir()
        let apk = try makePackage(t)
        let forged = t.sub("forged.apk")
        let r = try runPython("""
        import sys, zlib, gzip, io, tarfile, hashlib, subprocess, tempfile, os
        src, dst, key, keyname = sys.argv[1:5]
        data = open(src, 'rb').read(); members = []; pos = 0
        while pos < len(data):
            d = zlib.decompressobj(31); raw = d.decompress(data[pos:]); used = len(data) - pos - len(d.unused_data)
            members.append(raw); pos += used
        tin = tarfile.open(fileobj=io.BytesIO(members[2])); out = io.BytesIO()
        tout = tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT)
        for m in tin.getmembers():
            body = tin.extractfile(m).read() if m.isfile() else None
            if m.name == 'usr/share/hello/data.txt':
                body = body.replace(b'hello', b'HELLO')
            tout.addfile(m, io.BytesIO(body) if body is not None else None)
        tout.close()
        datagz = gzip.compress(out.getvalue(), mtime=0)
        ctl = tarfile.open(fileobj=io.BytesIO(members[1] + b'\\0' * 1024))
        pkginfo = ctl.extractfile('.PKGINFO').read().decode()
        pkginfo = ''.join(l + '\\n' for l in pkginfo.splitlines() if not l.startswith('datahash'))
        pkginfo += 'datahash = ' + hashlib.sha256(datagz).hexdigest() + '\\n'
        cbuf = io.BytesIO(); ct = tarfile.open(fileobj=cbuf, mode='w', format=tarfile.PAX_FORMAT)
        ti = tarfile.TarInfo('.PKGINFO'); ti.size = len(pkginfo); ct.addfile(ti, io.BytesIO(pkginfo.encode())); ct.close()
        ctlraw = cbuf.getvalue()
        ctlraw = ctlraw[:len(ctlraw) - 1024].rstrip(b'\\0')
        ctlraw += b'\\0' * ((512 - len(ctlraw) % 512) % 512)
        ctlgz = gzip.compress(ctlraw, mtime=0)
        with tempfile.TemporaryDirectory() as d:
            open(d + '/c', 'wb').write(ctlgz)
            sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', key, d + '/c'], capture_output=True, check=True).stdout
        sbuf = io.BytesIO(); st = tarfile.open(fileobj=sbuf, mode='w', format=tarfile.USTAR_FORMAT)
        ti = tarfile.TarInfo('.SIGN.RSA256.' + keyname); ti.size = len(sig); st.addfile(ti, io.BytesIO(sig)); st.close()
        sraw = sbuf.getvalue(); sraw = sraw[:512 + ((len(sig) + 511) // 512) * 512]
        open(dst, 'wb').write(gzip.compress(sraw, mtime=0) + ctlgz + datagz)
        """, [apk, forged, TestKeys.privateKey, TestKeys.keyName])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try verify([forged]).stdout, "\(forged): BAD checksum usr/share/hello/data.txt\n")
    }

    func testBitFlipsAndTruncationsNeverPass() throws {
        let t = TempDir()
        let apk = try makePackage(t)
        let data = FileManager.default.contents(atPath: apk)!
        var files: [String] = []
        // Truncations at many points, and single bit flips spread over the whole file.
        for (i, cut) in stride(from: 1, to: data.count, by: max(1, data.count / 40)).enumerated() {
            let p = t.sub("trunc-\(i).apk")
            _ = FileManager.default.createFile(atPath: p, contents: data.prefix(cut))
            files.append(p)
        }
        for (i, pos) in stride(from: 0, to: data.count, by: max(1, data.count / 60)).enumerated() {
            var d = data
            d[pos] ^= 0x10
            let p = t.sub("flip-\(i).apk")
            _ = FileManager.default.createFile(atPath: p, contents: d)
            files.append(p)
        }
        let r = try verify(files)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, files.count, r.stderr)
        // Gzip header bytes like MTIME/OS do not change content; every other flip must be caught.
        let ok = lines.filter { $0.hasSuffix(": OK") }
        for line in ok { XCTAssertTrue(line.contains("flip-"), "a truncated package passed: \(line)") }
        XCTAssertLessThanOrEqual(ok.count, 6, "too many corrupted packages passed: \(ok)")
        XCTAssertEqual(Int(r.status), min(255, files.count - ok.count))
        for line in lines where !line.hasSuffix(": OK") {
            let reason = line.split(separator: ":", maxSplits: 1)[1]
            XCTAssertTrue(["UNTRUSTED", "BAD", "malformed"].contains { reason.contains($0) }, String(line))
        }
    }

    func testHostileInputs() throws {
        let t = TempDir()
        // Random garbage, an empty file, a gzip bomb of zeros, a huge pax header claim, a directory.
        t.write("empty.apk", "")
        var rng = SystemRandomNumberGenerator()
        t.write("garbage.apk", Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        let bomb = try runPython("import gzip,sys; sys.stdout.buffer.write(gzip.compress(b'\\0' * (64 << 20)))")
        t.write("zeros.apk", bomb.stdoutData)
        let pax = try runPython("""
        import gzip, sys
        h = bytearray(512); h[0:5] = b'x/abc'; h[100:108] = b'0000644\\0'; h[124:136] = b'77777777777\\0'
        h[156] = ord('x'); h[257:263] = b'ustar\\0'; h[263:265] = b'00'; h[148:156] = b' ' * 8
        s = sum(h); h[148:155] = ('%06o' % s).encode() + b'\\0'
        sys.stdout.buffer.write(gzip.compress(bytes(h) + b'1' * 4096))
        """)
        t.write("paxbomb.apk", pax.stdoutData)
        t.mkdir("dir.apk")
        let names = ["empty.apk", "garbage.apk", "zeros.apk", "paxbomb.apk", "dir.apk", "missing.apk"]
        let r = try verify(names.map { t.sub($0) })
        XCTAssertEqual(Int(r.status), names.count, r.stdout + r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, names.count)
        XCTAssertTrue(lines.allSatisfy { !$0.hasSuffix(": OK") })
        XCTAssertTrue(lines[3].contains("malformed"), lines[3])
    }

    func testIndexFilesAreVerifiedToo() throws {
        // An index-shaped file (signature member + one tar with DESCRIPTION and APKINDEX), made with Python + openssl.
        let t = TempDir()
        let idx = t.sub("APKINDEX.tar.gz")
        let r = try runPython("""
        import sys, gzip, io, tarfile, subprocess, tempfile
        dst, key, keyname = sys.argv[1:4]
        b = io.BytesIO(); tf = tarfile.open(fileobj=b, mode='w', format=tarfile.USTAR_FORMAT)
        for n, c in (('DESCRIPTION', b'test'), ('APKINDEX', b'C:Q1abc=\\nP:x\\nV:1-r0\\nA:x86_64\\nS:1\\nI:1\\nT:x\\nU:\\nL:\\n\\n')):
            ti = tarfile.TarInfo(n); ti.size = len(c); tf.addfile(ti, io.BytesIO(c))
        tf.close(); body = gzip.compress(b.getvalue(), mtime=0)
        with tempfile.TemporaryDirectory() as d:
            open(d + '/i', 'wb').write(body)
            sig = subprocess.run(['openssl', 'dgst', '-sha1', '-sign', key, d + '/i'], capture_output=True, check=True).stdout
        s = io.BytesIO(); st = tarfile.open(fileobj=s, mode='w', format=tarfile.USTAR_FORMAT)
        ti = tarfile.TarInfo('.SIGN.RSA.' + keyname); ti.size = len(sig); st.addfile(ti, io.BytesIO(sig))
        raw = s.getvalue()[:512 + ((len(sig) + 511) // 512) * 512]
        open(dst, 'wb').write(gzip.compress(raw, mtime=0) + body)
        """, [idx, TestKeys.privateKey, TestKeys.keyName])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try verify([idx]).stdout, "\(idx): OK\n")
        let ins = try apkit(["inspect", "--json", idx])
        let json = try JSONSerialization.jsonObject(with: ins.stdoutData) as! [String: Any]
        XCTAssertEqual(json["kind"] as? String, "index")
        XCTAssertEqual((json["index"] as! [String: String])["description"], "test")
        // Tamper with the index body: BAD signature.
        let m = try gzipMembers(idx)
        _ = FileManager.default.createFile(atPath: idx + ".body", contents: m[1])
        let tampered = try runPython("import gzip,sys; sys.stdout.buffer.write(gzip.compress(gzip.decompress(open(sys.argv[1],'rb').read()).replace(b'P:x', b'P:y'), mtime=0))", [idx + ".body"]).stdoutData
        _ = FileManager.default.createFile(atPath: t.sub("tampered.tar.gz"), contents: m[0] + tampered)
        XCTAssertEqual(try verify([t.sub("tampered.tar.gz")]).stdout, "\(t.sub("tampered.tar.gz")): BAD signature\n")
    }
}
