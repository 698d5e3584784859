import Foundation
import TestSupport
import XCTest

/// `make install` and `make release` (the README's install path): a release build with the Swift
/// runtime linked statically, run with a bare environment. A release build takes minutes, so this
/// runs only with APKIT_TEST_INSTALL=1.
final class InstallTests: XCTestCase {
    var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// A build directory of its own (`.build-install` in the repository, git-ignored), never the
    /// one of this test run: `swift test` holds that directory's lock while the tests run, so a
    /// `swift build` there would wait for ever. APKIT_TEST_SCRATCH overrides it.
    var scratch: String {
        if let s = ProcessInfo.processInfo.environment["APKIT_TEST_SCRATCH"], !s.isEmpty { return s }
        return repositoryRoot + "/.build-install"
    }

    func testMakeInstallGivesABinaryThatRunsWithoutSwift() throws {
        guard ProcessInfo.processInfo.environment["APKIT_TEST_INSTALL"] == "1" else {
            throw XCTSkip("set APKIT_TEST_INSTALL=1 to run make install (a release build, minutes)")
        }
        let t = TempDir("apkit-install")
        let prefix = t.sub("prefix")
        // Bounded: a build that hangs fails the test instead of the CI run.
        let make = try runProcess("timeout", ["1500", "make", "-C", repositoryRoot, "install", "PREFIX=\(prefix)", "SCRATCH=\(scratch)"])
        XCTAssertEqual(make.status, 0, String(make.stdout.suffix(3000)) + make.stderr)
        let bin = prefix + "/bin/apkit"

        // Only C libraries: no libswift*.so, no Foundation, no dispatch.
        let ldd = try runProcess("ldd", [bin])
        XCTAssertEqual(ldd.status, 0, ldd.stderr)
        let libs = ldd.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertFalse(libs.contains { $0.contains("libswift") || $0.contains("Foundation") || $0.contains("libdispatch") }, ldd.stdout)
        for lib in ["libssl", "libcrypto", "libz.so", "libdeflate", "libzstd", "libcurl", "libc.so.6"] {
            XCTAssertTrue(libs.contains { $0.hasPrefix(lib) }, "\(lib) in \(ldd.stdout)")
        }

        // A bare environment: no Swift on PATH, no HOME, no TMPDIR.
        func bare(_ args: [String], cwd: String? = nil) throws -> ProcessResult {
            try runProcess("/usr/bin/env", ["-i", "PATH=/usr/bin:/bin", "SOURCE_DATE_EPOCH=1700000000", bin] + args, cwd: cwd)
        }
        let v = try bare(["--version"])
        XCTAssertEqual(v.status, 0, v.stderr)
        XCTAssertEqual(v.stdout, try apkit(["--version"]).stdout)
        t.write("stage/usr/share/hello/greeting", "hello\n")
        let k = try bare(["keygen", "--name", "bare", "--bits", "2048", "--output-dir", t.sub("keys")])
        XCTAssertEqual(k.status, 0, k.stderr)
        let key = k.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let p = try bare(["pack", t.sub("stage"), "--name", "hello", "--version", "1.0-r0", "--arch", "noarch",
                          "--key", key, "--output", t.sub("out")])
        XCTAssertEqual(p.status, 0, p.stderr)
        let verify = try bare(["verify", "--keys-dir", t.sub("keys"), t.sub("out/hello-1.0-r0.apk")])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertEqual(verify.stdout, "\(t.sub("out/hello-1.0-r0.apk")): OK\n")

        // Completions and man pages.
        let fm = FileManager.default
        let bash = prefix + "/share/bash-completion/completions/apkit"
        let loaded = try runProcess("bash", ["-c", "source \"$1\" && complete -p apkit", "-", bash])
        XCTAssertEqual(loaded.status, 0, loaded.stderr)
        XCTAssertTrue(loaded.stdout.contains("apkit"), loaded.stdout)
        XCTAssertTrue(try String(contentsOfFile: prefix + "/share/zsh/site-functions/_apkit", encoding: .utf8).hasPrefix("#compdef apkit"))
        XCTAssertTrue(try String(contentsOfFile: prefix + "/share/fish/vendor_completions.d/apkit.fish", encoding: .utf8).contains("complete -c 'apkit'"))
        let man = try fm.contentsOfDirectory(atPath: prefix + "/share/man/man1").sorted()
        XCTAssertTrue(man.contains("apkit.1") && man.contains("apkit.build.1") && man.contains("apkit.init.1"), "\(man)")
        let page = try String(contentsOfFile: prefix + "/share/man/man1/apkit.build.1", encoding: .utf8)
        XCTAssertTrue(page.contains(".Dt APKIT.BUILD 1") || page.contains(".TH"), String(page.prefix(400)))

        // make release: a versioned tarball and a checksum file sha256sum -c accepts.
        let release = try runProcess("timeout", ["900", "make", "-C", repositoryRoot, "release", "SCRATCH=\(scratch)"])
        XCTAssertEqual(release.status, 0, String(release.stdout.suffix(2000)) + release.stderr)
        let version = v.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let name = "apkit-\(version)-linux-\(try runProcess("uname", ["-m"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))"
        let dist = repositoryRoot + "/dist"
        let check = try runProcess("sha256sum", ["-c", name + ".tar.gz.sha256"], cwd: dist)
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        let listing = try runProcess("tar", ["-tzf", dist + "/" + name + ".tar.gz"])
        XCTAssertTrue(listing.stdout.contains("\(name)/bin/apkit\n"), listing.stdout)
        XCTAssertTrue(listing.stdout.contains("\(name)/share/man/man1/apkit.1\n"), listing.stdout)
    }
}
