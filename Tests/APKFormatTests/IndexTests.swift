import XCTest
import TestSupport
@testable import APKCore
@testable import APKv2
import APKFormat

/// A 2048-bit key shared by the index tests (generation is slow).
private let testKey: SigningKey = try! SigningKey.generate(bits: 2048)
private let otherKey: SigningKey = try! SigningKey.generate(bits: 2048)

/// Splits a file into its gzip members with Python's zlib and prints, per member, its SHA-1 (base64)
/// and length: an independent view of what `C:` and the signatures cover.
private let splitMembers = """
import sys, zlib, hashlib, base64
d = open(sys.argv[1], 'rb').read()
while d:
    o = zlib.decompressobj(31)
    o.decompress(d)
    rest = o.unused_data
    m = d[:len(d) - len(rest)]
    print(base64.b64encode(hashlib.sha1(m).digest()).decode(), len(m))
    d = rest
"""

final class IndexTests: XCTestCase {
    var tmp: TempDir!
    override func setUp() { tmp = TempDir("apkit-index") }
    override func tearDown() { tmp = nil }

    func signer(_ key: SigningKey = testKey, name: String = "test-1234.rsa.pub", types: [SignatureType] = [.rsa256, .rsa]) -> Signer {
        Signer(key: key, keyName: name, types: types)
    }

    func keyring(_ key: SigningKey = testKey, name: String = "test-1234.rsa.pub") throws -> Keyring {
        var k = Keyring()
        k.add(try PublicKey(pem: try key.publicKeyPEM(), name: name))
        return k
    }

    /// Builds a small package at test time.
    func build(_ info: PackageInfo, files: [String: String] = ["usr/bin/tool": "#!/bin/sh\necho hi\n"]) throws -> BuiltPackage {
        let root = tmp.sub("stage-\(info.name)-\(info.version)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (p, c) in files {
            let full = root + "/" + p
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: full, contents: Data(c.utf8))
        }
        var spec = PackageSpec(info: info, root: URL(fileURLWithPath: root))
        spec.sourceDateEpoch = 1_700_000_000
        let out = tmp.sub("out/\(info.name)-\(info.version).apk")
        try FileManager.default.createDirectory(atPath: tmp.sub("out"), withIntermediateDirectories: true)
        return try PackageBuilder(signer: signer(), engine: ZlibGzipEngine(level: 6)).build(spec, to: out)
    }

    func entry(for built: BuiltPackage) throws -> IndexEntry {
        var reader = ArchiveReader(keyring: try keyring())
        reader.controlOnly = true
        let r = reader.read(path: built.path)
        XCTAssertNil(r.problem)
        return try IndexEntry.make(pkginfo: r.pkginfoText!, controlSHA1: r.controlSHA1, fileSize: r.fileSize)
    }

    /// (sha1-base64, length) of each gzip member, computed by Python.
    func members(_ path: String) throws -> [(String, Int)] {
        let r = try runPython(splitMembers, [path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").map { l in
            let p = l.split(separator: " ")
            return (String(p[0]), Int(p[1])!)
        }
    }

    // MARK: entries

    func testEntryFieldByFieldForBuiltPackage() throws {
        var info = PackageInfo(name: "hello", version: "1.2.3-r4")
        info.description = "Hello, world"
        info.url = "https://example.org/hello"
        info.arch = "x86_64"
        info.license = "MIT AND BSD-2-Clause"
        info.maintainer = "Alice <alice@example.org>"
        info.commit = "0123456789abcdef"
        info.origin = "hello-src"
        info.providerPriority = 10
        info.depends = ["musl>=1.2", "!conflicting", "virt=2.0"]
        info.autoDepends = ["so:libc.musl-x86_64.so.1"]
        info.provides = ["hello-compat=1.2.3-r4"]
        info.autoProvides = ["cmd:hello=1.2.3-r4"]
        info.installIf = ["hello-base=1.2.3-r4", "bash"]
        let built = try build(info)
        let e = try entry(for: built)

        // Expected lines, from the format rules (format page, section 5).
        let m = try members(built.path)
        XCTAssertEqual(m.count, 3)
        var st = stat()
        XCTAssertEqual(stat(built.path, &st), 0)
        let expected: [(Character, String)] = [
            ("C", "Q1" + m[1].0),
            ("P", "hello"), ("V", "1.2.3-r4"), ("A", "x86_64"),
            ("S", String(st.st_size)), ("I", String(built.info.size)),
            ("T", "Hello, world"), ("U", "https://example.org/hello"), ("L", "MIT AND BSD-2-Clause"),
            ("o", "hello-src"), ("m", "Alice <alice@example.org>"), ("t", "1700000000"),
            ("c", "0123456789abcdef"), ("k", "10"),
            ("D", "musl>=1.2 !conflicting virt=2.0 so:libc.musl-x86_64.so.1"),
            ("p", "hello-compat=1.2.3-r4 cmd:hello=1.2.3-r4"),
            ("i", "hello-base=1.2.3-r4 bash"),
        ]
        let got = e.fields
        XCTAssertEqual(got.count, expected.count, "\(got)")
        for (g, x) in zip(got, expected) {
            XCTAssertEqual(g.0, x.0)
            XCTAssertEqual(g.1, x.1, "field \(x.0)")
        }
        XCTAssertEqual(e.name, "hello")
        XCTAssertEqual(e.arch, "x86_64")
        XCTAssertEqual(e.checksum, "Q1" + m[1].0)
        XCTAssertEqual(e.checksum, IndexEntry.checksumString(sha1: built.identity))
    }

    func testOptionalFieldsFollowApkRules() throws {
        // Written when the .PKGINFO line exists, even empty (o, m, c); t and k only when non-zero;
        // D p i only when non-empty; A only when present; replaces and triggers never.
        // ("key =" without the space after "=" is not a "key = value" line: skipped, as by apk.)
        let pkginfo = [
            "# Generated by someone", "pkgname = a", "pkgver = 1.0-r0", "pkgdesc = x", "url =", "builddate = 0",
            "size = 42", "origin = a", "commit = ", "maintainer = ", "provider_priority = 0", "replaces = b",
            "triggers = /usr/share/foo/*", "license = GPL-2.0-only", "unknownkey = whatever",
        ].joined(separator: "\n") + "\n"
        let e = try IndexEntry.make(pkginfo: pkginfo, controlSHA1: [UInt8](repeating: 0xAB, count: 20), fileSize: 99)
        XCTAssertEqual(String(decoding: e.text, as: UTF8.self), """
            C:Q1q6urq6urq6urq6urq6urq6urq6s=
            P:a
            V:1.0-r0
            S:99
            I:42
            T:x
            U:
            L:GPL-2.0-only
            o:a
            m:
            c:

            """)
        XCTAssertEqual(e.arch, "")
        XCTAssertNil(e.value(of: "A"))
    }

    func testDependenciesAreNormalisedAsApkDoes() {
        XCTAssertEqual(IndexEntry.parseDependencies("foo=>1.0 bar@edge baz~2 q<=3 r>4 s<5 !t"),
                       ["foo>=1.0", "bar", "baz~2", "q<=3", "r>4", "s<5", "!t"])
        // A dependency whose version is invalid ends the list, as apk_blob_pull_deps does.
        XCTAssertEqual(IndexEntry.parseDependencies("a>=1.0 b>=not..valid c"), ["a>=1.0"])
        // An operator without a version also ends it.
        XCTAssertEqual(IndexEntry.parseDependencies("a b>= c"), ["a"])
        // Several separators are one.
        XCTAssertEqual(IndexEntry.parseDependencies("a  b"), ["a", "b"])
        // Depends accumulate over lines, duplicates kept.
        let e = try! IndexEntry.make(pkginfo: "pkgname = x\npkgver = 1\ndepend = a\ndepend = a b\n",
                                     controlSHA1: [UInt8](repeating: 0, count: 20), fileSize: 1)
        XCTAssertEqual(e.value(of: "D"), "a a b")
        // The last value of a single field wins.
        let f = try! IndexEntry.make(pkginfo: "pkgname = x\npkgname = y\npkgver = 1\n",
                                     controlSHA1: [UInt8](repeating: 0, count: 20), fileSize: 1)
        XCTAssertEqual(f.name, "y")
    }

    func testMissingNameIsAnError() {
        XCTAssertThrowsError(try IndexEntry.make(pkginfo: "pkgver = 1\n", controlSHA1: [], fileSize: 0))
    }

    // MARK: parse

    func testParseKeepsEntriesVerbatimAndReportsLineNumbers() throws {
        let text = "C:Q1abc=\nP:foo\nV:1.0-r0\nA:x86_64\nZ:future field\nS:1\n\nP:bar\nV:2\n\n"
        let entries = try APKIndex.parse(text)
        XCTAssertEqual(entries.map { $0.name }, ["foo", "bar"])
        XCTAssertEqual(entries[0].value(of: "Z"), "future field")
        XCTAssertEqual(entries[0].checksum, "Q1abc=")
        XCTAssertEqual(APKIndex(entries: entries).render(), text)
        // No trailing empty line: still parsed, rendered normalised.
        XCTAssertEqual(APKIndex(entries: try APKIndex.parse("P:a\nV:1")).render(), "P:a\nV:1\n\n")

        XCTAssertThrowsError(try APKIndex.parse("P:foo\nV:1\n\nP:bar\nthis is not a field\n")) { e in
            XCTAssertEqual("\(e)", "APKINDEX: APKINDEX line 5: expected 'X:value', found 'this is not a field'")
        }
        XCTAssertThrowsError(try APKIndex.parse("P:foo\nV:1\n\nC:Q1x\nV:2\n\n", source: "old.tar.gz")) { e in
            XCTAssertEqual("\(e)", "old.tar.gz: APKINDEX line 4: package entry has no P: (name) line")
        }
        XCTAssertThrowsError(try APKIndex.parse("P:foo\n\n")) { e in
            XCTAssertTrue("\(e)".contains("line 1: entry for foo has no V:"), "\(e)")
        }
        let long = "P:" + String(repeating: "x", count: APKIndex.maxLineLength + 1) + "\n"
        XCTAssertThrowsError(try APKIndex.parse(long)) { e in XCTAssertTrue("\(e)".contains("line 1 is longer")) }
    }

    // MARK: merge, prune, sort

    func makeEntry(_ name: String, _ version: String, arch: String = "x86_64", size: Int = 1) -> IndexEntry {
        try! IndexEntry.make(pkginfo: "pkgname = \(name)\npkgver = \(version)\narch = \(arch)\nsize = \(size)\n",
                             controlSHA1: Array(Digest.hash(.sha1, Array("\(name)\(version)\(arch)\(size)".utf8))),
                             fileSize: Int64(size))
    }

    func testMergeReplacesSameNameVersionArch() {
        var idx = APKIndex(entries: [makeEntry("a", "1.0"), makeEntry("b", "1.0"), makeEntry("a", "1.0", arch: "aarch64")])
        let replaced = idx.merge([makeEntry("a", "1.0", size: 7), makeEntry("a", "1.1")])
        XCTAssertEqual(replaced, 1)
        XCTAssertEqual(idx.entries.count, 4)
        idx.sort()
        XCTAssertEqual(idx.entries.map { "\($0.name)-\($0.version)-\($0.arch)" },
                       ["a-1.0-aarch64", "a-1.0-x86_64", "a-1.1-x86_64", "b-1.0-x86_64"])
        XCTAssertEqual(idx.entries[1].value(of: "S"), "7")
        // Merging the identical entry again changes nothing.
        XCTAssertEqual(idx.merge([makeEntry("a", "1.1")]), 0)
        XCTAssertEqual(idx.entries.count, 4)
    }

    func testSortIsByNameCaseInsensitiveThenApkVersionOrder() {
        var idx = APKIndex(entries: [
            makeEntry("zlib", "1.10"), makeEntry("zlib", "1.9"), makeEntry("Zeta", "1"), makeEntry("alpha", "2.0_rc1"),
            makeEntry("alpha", "2.0"), makeEntry("alpha", "2.0-r1"), makeEntry("Alpha", "1"), makeEntry("alpha", "2.0_p1"),
        ])
        idx.sort()
        XCTAssertEqual(idx.entries.map { "\($0.name)-\($0.version)" },
                       ["Alpha-1", "alpha-2.0_rc1", "alpha-2.0", "alpha-2.0-r1", "alpha-2.0_p1", "Zeta-1", "zlib-1.9", "zlib-1.10"])
    }

    func testPruneKeepsNewestVersionsPerName() {
        var idx = APKIndex(entries: ["1.0", "1.10", "1.9", "1.2_rc1", "1.2", "0.9"].map { makeEntry("a", $0) }
                           + [makeEntry("a", "1.10", arch: "aarch64"), makeEntry("b", "5")])
        let removed = idx.prune(keep: 2)
        idx.sort()
        XCTAssertEqual(idx.entries.map { "\($0.name)-\($0.version)-\($0.arch)" },
                       ["a-1.9-x86_64", "a-1.10-aarch64", "a-1.10-x86_64", "b-5-x86_64"])
        XCTAssertEqual(Set(removed.map { $0.version }), ["1.0", "1.2_rc1", "1.2", "0.9"])
    }

    // MARK: archive

    func testArchiveLayoutSignatureAndDeterminism() throws {
        let a = try build({ var i = PackageInfo(name: "one", version: "1.0-r0"); i.arch = "x86_64"; return i }())
        let b = try build({ var i = PackageInfo(name: "two", version: "2.0-r0"); i.arch = "x86_64"; return i }())
        var idx = APKIndex(description: "test repo v1")
        idx.merge([try entry(for: b), try entry(for: a)])
        let path = tmp.sub("APKINDEX.tar.gz")
        try idx.write(to: path, signer: signer(types: [.rsa256, .rsa]))

        // Two gzip members: signature, then the index.
        let m = try members(path)
        XCTAssertEqual(m.count, 2)

        // Python tarfile: the 2nd member is a normal tar holding DESCRIPTION then APKINDEX.
        let py = """
            import sys, zlib, tarfile, io
            d = open(sys.argv[1], 'rb').read()
            o = zlib.decompressobj(31); sig = o.decompress(d); rest = o.unused_data
            member = rest
            open(sys.argv[2], 'wb').write(member)
            t = tarfile.open(fileobj=io.BytesIO(zlib.decompress(member, 31)))
            for x in t.getmembers():
                print(x.name, x.size, oct(x.mode), x.uname)
            print("--")
            sys.stdout.write(t.extractfile('APKINDEX').read().decode())
            print("--")
            sys.stdout.write(t.extractfile('DESCRIPTION').read().decode())
            print()
            # signature entries from the (cut) signature tar
            names = []
            st = tarfile.open(fileobj=io.BytesIO(sig))
            for x in st.getmembers():
                open(sys.argv[3] + '/' + x.name, 'wb').write(st.extractfile(x).read())
                names.append(x.name)
            print(' '.join(names))
            """
        let sigDir = tmp.sub("sigs")
        try FileManager.default.createDirectory(atPath: sigDir, withIntermediateDirectories: true)
        let memberPath = tmp.sub("index-member.gz")
        let r = try runPython(py, [path, memberPath, sigDir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let parts = r.stdout.components(separatedBy: "--\n")
        XCTAssertEqual(parts.count, 3, r.stdout)
        let listing = parts[0].split(separator: "\n").map(String.init)
        XCTAssertEqual(listing.count, 2)
        XCTAssertTrue(listing[0].hasPrefix("DESCRIPTION 12 0o644 root"), listing[0])
        XCTAssertTrue(listing[1].hasPrefix("APKINDEX "), listing[1])
        let text = parts[1]
        XCTAssertEqual(try APKIndex.parse(text).map { $0.name }, ["one", "two"])
        XCTAssertTrue(parts[2].hasPrefix("test repo v1\n"))
        let sigNames = parts[2].split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertEqual(sigNames, ".SIGN.RSA256.test-1234.rsa.pub .SIGN.RSA.test-1234.rsa.pub")

        // openssl verifies both signatures over the compressed index member.
        let pub = tmp.write("test.pub", try testKey.publicKeyPEM())
        for (type, dgst) in [("RSA", "-sha1"), ("RSA256", "-sha256")] {
            let v = try runProcess("openssl", ["dgst", dgst, "-verify", pub, "-signature",
                                               sigDir + "/.SIGN.\(type).test-1234.rsa.pub", memberPath])
            XCTAssertEqual(v.status, 0, "\(type): \(v.stdout) \(v.stderr)")
            XCTAssertTrue(v.stdout.contains("Verified OK"))
        }

        // Same entries (any order) -> the same bytes.
        var again = APKIndex(description: "test repo v1")
        again.merge([try entry(for: a), try entry(for: b)])
        let path2 = tmp.sub("APKINDEX2.tar.gz")
        try again.write(to: path2, signer: signer(types: [.rsa256, .rsa]))
        XCTAssertEqual(FileManager.default.contents(atPath: path), FileManager.default.contents(atPath: path2))

        // And our own reader accepts it with the key, round-tripping the entries.
        let back = try APKIndex.read(path: path, keyring: try keyring())
        XCTAssertEqual(back.description, "test repo v1")
        XCTAssertEqual(back.entries.map { $0.text }, idx.entries.sorted(by: APKIndex.precedes).map { $0.text })
    }

    func testUntrustedAndTamperedIndexesAreRefused() throws {
        var idx = APKIndex(description: "d")
        idx.merge([makeEntry("a", "1.0"), makeEntry("b", "2.0")])
        let path = tmp.sub("APKINDEX.tar.gz")
        try idx.write(to: path, signer: signer())

        // Signed by a key that is not trusted.
        XCTAssertThrowsError(try APKIndex.read(path: path, keyring: try keyring(otherKey, name: "other.rsa.pub"))) { e in
            XCTAssertEqual("\(e)", "\(path): UNTRUSTED index: it is signed by test-1234.rsa.pub, which is not among the trusted keys (add the public key with --keys-dir, or pass --allow-untrusted)")
        }
        XCTAssertEqual(try APKIndex.read(path: path, keyring: Keyring(), allowUntrusted: true).entries.count, 2)

        // A key of the same name that is not the signer's: BAD signature, even with allowUntrusted.
        XCTAssertThrowsError(try APKIndex.read(path: path, keyring: try keyring(otherKey), allowUntrusted: true)) { e in
            XCTAssertTrue("\(e)".contains("BAD signature"), "\(e)")
        }

        // Tampered: the index member re-made with one entry changed, the old signature kept.
        let original = try XCTUnwrap(FileManager.default.contents(atPath: path))
        let m = try members(path)
        let sig = original.prefix(m[0].1)
        var changed = idx
        changed.merge([makeEntry("a", "1.0", size: 666)])
        let forged = try changed.archive(signer: signer()).dropFirst(0)
        let forgedMembers: Data = {
            let p = tmp.sub("forged-full.tar.gz")
            _ = FileManager.default.createFile(atPath: p, contents: forged)
            let fm = try! members(p)
            return forged.suffix(fm[1].1)
        }()
        let tampered = tmp.sub("tampered.tar.gz")
        _ = FileManager.default.createFile(atPath: tampered, contents: sig + forgedMembers)
        XCTAssertThrowsError(try APKIndex.read(path: tampered, keyring: try keyring())) { e in
            XCTAssertEqual("\(e)", "\(tampered): BAD signature: the index was modified after it was signed (or the key of that name differs); refusing to use it")
        }
        XCTAssertThrowsError(try APKIndex.read(path: tampered, keyring: try keyring(), allowUntrusted: true))

        // Tampered: one byte flipped inside the compressed index member.
        var flipped = original
        let at = m[0].1 + m[1].1 / 2
        flipped[at] ^= 0x01
        let flippedPath = tmp.sub("flipped.tar.gz")
        _ = FileManager.default.createFile(atPath: flippedPath, contents: flipped)
        XCTAssertThrowsError(try APKIndex.read(path: flippedPath, keyring: try keyring())) { e in
            let s = "\(e)"
            XCTAssertTrue(s.hasPrefix(flippedPath + ": "), s)
            XCTAssertTrue(s.contains("BAD signature") || s.contains("cannot read the index"), s)
        }

        // Not an index at all.
        let junk = tmp.write("junk.tar.gz", "not gzip")
        XCTAssertThrowsError(try APKIndex.read(path: junk, keyring: try keyring())) { e in
            XCTAssertTrue("\(e)".hasPrefix(junk + ": cannot read the index"), "\(e)")
        }
    }
}
