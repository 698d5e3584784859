import XCTest
import TestSupport
@testable import APKCore
@testable import APKv3
import APKFormat

private let v3Key: SigningKey = try! SigningKey.generate(type: .ec)

/// packages.adb rewritten from an older one: entries kept as they lie (the older payload's items
/// followed by the new ones) or, when entries were dropped, the whole payload rebuilt.
final class V3IndexTests: XCTestCase {
    var tmp: TempDir!
    override func setUp() { tmp = TempDir("apkit-v3index") }
    override func tearDown() { tmp = nil }

    let format = V3IndexFormat()
    var signer: Signer { Signer(key: v3Key, keyName: "k.pub") }

    func keyring() throws -> Keyring {
        var k = Keyring()
        k.add(try v3Key.publicKey(name: "k.pub"))
        return k
    }

    var adbReader: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/adb_reader.py").path
    }

    /// A small signed v3 package with the fields an index copies (dependencies, provides, shared
    /// strings); `content` changes its files, hence its identity hash.
    func package(_ name: String, _ version: String = "1.0-r0", content: String = "x") throws -> String {
        let root = tmp.sub("stage-\(name)-\(version)-\(content)")
        try FileManager.default.createDirectory(atPath: root + "/usr/share/\(name)", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/usr/share/\(name)/file", contents: Data(content.utf8))
        var info = PackageInfo(name: name, version: version)
        info.arch = "x86_64"
        info.description = "package \(name)"
        info.license = "MIT"
        info.maintainer = "Test <test@example.org>"
        info.url = "https://example.org/\(name)"
        info.origin = name
        info.depends = ["so:libc.musl-x86_64.so.1", "busybox>=1.36"]
        info.provides = ["cmd:\(name)=\(version)"]
        var spec = PackageSpec(info: info, root: URL(fileURLWithPath: root))
        spec.sourceDateEpoch = 1_700_000_000
        let path = tmp.sub("pkgs/\(name)-\(version)-\(content).apk")
        try FileManager.default.createDirectory(atPath: tmp.sub("pkgs"), withIntermediateDirectories: true)
        _ = try V3Format().write(spec, signer: signer, compression: .v3(.default, threads: 1), to: path)
        return path
    }

    /// Merges `packages` into `old` (nil: a new index) and writes the result to `out`.
    @discardableResult
    func index(_ packages: [String], merge old: String?, to out: String, prune: Int? = nil) throws -> IndexUpdate.Result {
        let current = try old.map { try format.read(path: $0, keyring: keyring(), allowUntrusted: false, source: nil) }
        let records = try packages.map { try format.record(forPackageAt: $0, keyring: keyring(), allowUntrusted: false, rewriteArch: nil).0 }
        let r = try IndexUpdate(records: records, prune: prune).apply(to: current, format: format)
        try r.index.write(to: tmp.sub(out), signer: signer)
        return r
    }

    func read(_ path: String) throws -> V3Index {
        try XCTUnwrap(try format.read(path: tmp.sub(path), keyring: keyring(), allowUntrusted: false, source: nil) as? V3Index)
    }

    /// The ADB block payload, as apkit reads it (signature checked).
    func payload(_ path: String) throws -> [UInt8] {
        try V3Document.open(try ADBBlockStream(path: tmp.sub(path)), keyring: try keyring()).0.payload
    }

    /// The decoded index (root object) by the independent reader, and its verdict.
    func independent(_ path: String) throws -> NSDictionary {
        _ = tmp.write("k.pem", try v3Key.publicKeyPEM())
        let v = try runProcess("python3", [adbReader, "verify", tmp.sub(path), "--pubkey", tmp.sub("k.pem")])
        XCTAssertEqual(v.status, 0, v.stdout + v.stderr)
        let j = try runProcess("python3", [adbReader, "json", tmp.sub(path)])
        XCTAssertEqual(j.status, 0, j.stderr)
        let all = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? NSDictionary)
        return try XCTUnwrap(all["root"] as? NSDictionary)
    }

    func assertSameEntries(_ a: V3Index, _ b: V3Index, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(a.entries.count, b.entries.count, file: file, line: line)
        for (x, y) in zip(a.entries, b.entries) {
            XCTAssertEqual([x.name, x.version, x.arch], [y.name, y.version, y.arch], file: file, line: line)
            XCTAssertEqual(x.hashes, y.hashes, file: file, line: line)
            XCTAssertEqual(x.fileSize, y.fileSize, file: file, line: line)
            XCTAssertEqual(x.buildDate, y.buildDate, file: file, line: line)
            XCTAssertEqual(try x.info, try y.info, file: file, line: line)
        }
    }

    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }

    func testMergeKeepsTheOlderItemsAndEqualsAFreshIndex() throws {
        let p = try ["d", "a", "c", "b", "f", "e"].map { try package($0) }
        try index(Array(p[0..<4]), merge: nil, to: "old.adb")
        let merged = try index(Array(p[4...]), merge: tmp.sub("old.adb"), to: "merged.adb")
        XCTAssertEqual(merged.added, 2)
        try index(p, merge: nil, to: "fresh.adb")

        // The older payload up to its packages vector is the start of the new one, unchanged.
        let old = try payload("old.adb"), new = try payload("merged.adb")
        let vector = try ADBView(old).field(try ADBView(old).root, ADBField.Index.packages)
        XCTAssertGreaterThan(Int(vector.payload), 8)
        let end = Int(vector.payload)
        XCTAssertTrue(new[8..<end].elementsEqual(old[8..<end]), "the older index's items were not kept as they were")

        // Entry by entry, in the index's order, the same as a fresh index of the same packages:
        // read by apkit, and decoded by the independent reader (which also verifies both).
        let m = try read("merged.adb"), f = try read("fresh.adb")
        XCTAssertEqual(m.entries.map(\.name), ["a", "b", "c", "d", "e", "f"])
        try assertSameEntries(m, f)
        XCTAssertEqual(try independent("merged.adb"), try independent("fresh.adb"))

        // Merged again (one more package, a second version of one), still the same as fresh.
        let g = try package("g"), a2 = try package("a", "2.0-r0")
        try index([g, a2], merge: tmp.sub("merged.adb"), to: "merged2.adb")
        try index(p + [g, a2], merge: nil, to: "fresh2.adb")
        XCTAssertTrue(try payload("merged2.adb")[8..<end].elementsEqual(old[8..<end]), "the older index's items were not kept as they were")
        try assertSameEntries(try read("merged2.adb"), try read("fresh2.adb"))
        XCTAssertEqual(try independent("merged2.adb"), try independent("fresh2.adb"))
    }

    /// A replaced or pruned entry's items are not carried over as dead bytes: the payload is
    /// rebuilt, and equals (entry by entry) a fresh index of what is left.
    func testReplacedAndPrunedEntriesAreNotCarriedOver() throws {
        let a1 = try package("a", "1.0-r0"), a2 = try package("a", "2.0-r0"), b = try package("b")
        let b2 = try package("b", content: "rebuilt")
        try index([a1, a2, b], merge: nil, to: "old.adb")
        let before = try read("old.adb")
        let hashOf = { (name: String, version: String) in before.entries.first { $0.name == name && $0.version == version }!.hashes }

        let replaced = try index([b2], merge: tmp.sub("old.adb"), to: "replaced.adb")
        XCTAssertEqual(replaced.replaced, 1)
        XCTAssertFalse(contains(try payload("replaced.adb"), hashOf("b", "1.0-r0")))
        try index([a1, a2, b2], merge: nil, to: "fresh-replaced.adb")
        try assertSameEntries(try read("replaced.adb"), try read("fresh-replaced.adb"))
        XCTAssertEqual(try independent("replaced.adb"), try independent("fresh-replaced.adb"))

        let pruned = try index([], merge: tmp.sub("old.adb"), to: "pruned.adb", prune: 1)
        XCTAssertEqual(pruned.pruned, 1)
        XCTAssertFalse(contains(try payload("pruned.adb"), hashOf("a", "1.0-r0")))
        try index([a2, b], merge: nil, to: "fresh-pruned.adb")
        try assertSameEntries(try read("pruned.adb"), try read("fresh-pruned.adb"))
        XCTAssertEqual(try independent("pruned.adb"), try independent("fresh-pruned.adb"))
    }

    /// The description and pkgname-spec of the older index are kept, or replaced when changed.
    func testDescriptionAndSpecSurviveOrChange() throws {
        let a = try package("a"), b = try package("b"), c = try package("c")
        var r = try IndexUpdate(records: [try format.record(forPackageAt: a, keyring: keyring(), allowUntrusted: false, rewriteArch: nil).0],
                                description: "old description", packageNameSpec: "${arch}/${name}-${version}.apk")
            .apply(to: nil, format: format)
        try r.index.write(to: tmp.sub("old.adb"), signer: signer)
        try index([b], merge: tmp.sub("old.adb"), to: "kept.adb")
        let kept = try read("kept.adb")
        XCTAssertEqual(kept.description, "old description")
        XCTAssertEqual(kept.pkgnameSpec, "${arch}/${name}-${version}.apk")
        XCTAssertEqual(kept.entries.map(\.name), ["a", "b"])

        let current = try format.read(path: tmp.sub("kept.adb"), keyring: keyring(), allowUntrusted: false, source: nil)
        r = try IndexUpdate(records: [try format.record(forPackageAt: c, keyring: keyring(), allowUntrusted: false, rewriteArch: nil).0],
                            description: "new description").apply(to: current, format: format)
        try r.index.write(to: tmp.sub("changed.adb"), signer: signer)
        let changed = try read("changed.adb")
        XCTAssertEqual(changed.description, "new description")
        XCTAssertEqual(changed.pkgnameSpec, "${arch}/${name}-${version}.apk")
        XCTAssertEqual(changed.entries.map(\.name), ["a", "b", "c"])
        let root = try independent("changed.adb")
        XCTAssertEqual(root["description"] as? String, "new description")
    }

    /// A deflated index is inflated whole when it is sound; a damaged one is read by the
    /// streaming reader, which says what is wrong.
    func testDamagedDeflatedIndexesAreRefusedWithTheReason() throws {
        try index([try package("a"), try package("b")], merge: nil, to: "good.adb")
        let good = try Data(contentsOf: URL(fileURLWithPath: tmp.sub("good.adb")))
        XCTAssertEqual(try read("good.adb").entries.map(\.name), ["a", "b"])
        let cases: [(String, Data, String)] = [
            ("truncated.adb", good.prefix(good.count - 9), "truncated"),
            ("trailing.adb", good + Data("more".utf8), "data after the end of the compressed stream"),
            ("corrupt.adb", { var d = good; d[d.count / 2] ^= 0xff; return d }(), ""),
        ]
        for (name, data, reason) in cases {
            _ = tmp.write(name, data)
            XCTAssertThrowsError(try format.read(path: tmp.sub(name), keyring: keyring(), allowUntrusted: false, source: nil), name) { e in
                XCTAssertTrue("\(e)".contains("cannot read the index") || "\(e)".contains("signature"), "\(name): \(e)")
                if !reason.isEmpty { XCTAssertTrue("\(e)".contains(reason), "\(name): \(e)") }
            }
        }
    }

    /// An index listing a name, version and arch twice keeps the last, where the first stood.
    func testUniquedKeepsTheLastOfEachKey() {
        struct E: IndexedPackage { var name, version, arch, tag: String }
        let list = [E(name: "a", version: "1", arch: "x", tag: "first"), E(name: "b", version: "1", arch: "x", tag: "b"),
                    E(name: "a", version: "2", arch: "x", tag: "a2"), E(name: "a", version: "1", arch: "x", tag: "last")]
        XCTAssertEqual(IndexEditing.uniqued(list).map(\.tag), ["last", "b", "a2"])
        var merged: [E] = []
        _ = IndexEditing.merge(&merged, list)
        XCTAssertEqual(IndexEditing.uniqued(list), merged)
        XCTAssertEqual(IndexEditing.uniqued(Array(list[0..<3])), Array(list[0..<3]))
        // In name order (as indexes are written), duplicates are found among neighbours.
        let sorted = [E(name: "a", version: "1", arch: "x", tag: "a1"), E(name: "a", version: "2", arch: "x", tag: "a2"),
                      E(name: "a", version: "1", arch: "y", tag: "a1y"), E(name: "b", version: "1", arch: "x", tag: "b")]
        XCTAssertEqual(IndexEditing.uniqueWhenSortedByName(sorted), true)
        XCTAssertEqual(IndexEditing.uniqued(sorted), sorted)
        let twice = sorted + [E(name: "b", version: "1", arch: "x", tag: "b again")]
        XCTAssertEqual(IndexEditing.uniqueWhenSortedByName(twice), false)
        XCTAssertEqual(IndexEditing.uniqued(twice).map(\.tag), ["a1", "a2", "a1y", "b again"])
        XCTAssertNil(IndexEditing.uniqueWhenSortedByName(list))
        XCTAssertLessThan(IndexEditing.bytewiseCompare("a", "ab"), 0)
        XCTAssertLessThan(IndexEditing.bytewiseCompare("B", "a"), 0)
        XCTAssertGreaterThan(IndexEditing.bytewiseCompare("é", "z"), 0)
        XCTAssertEqual(IndexEditing.bytewiseCompare("", ""), 0)
    }
}
