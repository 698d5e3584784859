import APKFormat
import Foundation
import TestSupport
import XCTest

/// `apkit build` (the binary) on each fixture in Fixtures/apps, checked with independent readers
/// (Python zlib/tarfile + openssl via Tests/tools/apk_check.py), `apkit verify` and `sh -n`.
final class BuildFixturesTests: XCTestCase {
    var keyArgs: [String] { ["--key", RecipeKeys.privateKeyPath] }
    var keysDir: String { (RecipeKeys.publicKeyPath as NSString).deletingLastPathComponent }

    func verify(_ paths: [String]) throws {
        let r = try apkit(["verify", "--keys-dir", keysDir] + paths)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
    }

    func syntaxCheck(_ apk: String, _ members: [String]) throws {
        let d = TempDir()
        for m in members {
            let p = d.write("s", try extractFromPackage(apk, m))
            let r = try runProcess("sh", ["-n", p])
            XCTAssertEqual(r.status, 0, "\(m): \(r.stderr)")
        }
    }

    func testStaticCServiceFixture() throws {
        let (_t, dir) = try copyFixture("hello-svc")
        _ = _t
        _ = RecipeKeys.publicKeyPath
        let r = try apkit(["build"] + keyArgs, cwd: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
        wrote packages/x86_64/hello-svc-1.0.0-r0.apk
        wrote packages/x86_64/hello-svc-openrc-1.0.0-r0.apk
        wrote packages/x86_64/hello-svc-doc-1.0.0-r0.apk

        """)
        let main = dir + "/packages/x86_64/hello-svc-1.0.0-r0.apk"
        let openrc = dir + "/packages/x86_64/hello-svc-openrc-1.0.0-r0.apk"
        let doc = dir + "/packages/x86_64/hello-svc-doc-1.0.0-r0.apk"
        try verify([main, openrc, doc])

        let m = try checkPackage(main)
        XCTAssertTrue(m.signaturesValid)
        XCTAssertEqual(m.report["checksum_mismatches"] as? [String], [])
        XCTAssertTrue(m.controlNames.contains(".pre-install"))
        XCTAssertTrue(m.controlNames.contains(".post-install"))
        XCTAssertTrue(m.controlNames.contains(".pre-deinstall"))
        XCTAssertEqual(m.values("arch"), ["x86_64"])
        XCTAssertEqual(m.values("url"), ["https://example.org/hello-svc"])
        XCTAssertEqual(m.entry("var/lib/hello-svc")?["uname"] as? String, "hello-svc")
        XCTAssertEqual(m.entry("var/lib/hello-svc/bin/hello-svc")?["uname"] as? String, "hello-svc")
        XCTAssertEqual(m.entry("var/lib/hello-svc/bin/hello-svc")?["mode"] as? Int, 0o755)
        XCTAssertEqual(m.entry("usr/bin/hello-svc")?["uname"] as? String, "root")
        XCTAssertEqual(m.entry("etc/hello-svc/environment")?["mode"] as? Int, 0o640)
        XCTAssertEqual(m.entry("etc/hello-svc/environment")?["gname"] as? String, "hello-svc")
        XCTAssertNil(m.entry("usr/share/man/man1/hello-svc.1"))
        XCTAssertNil(m.entry("usr/share"), "directories emptied by the -doc split are not left behind")
        // No dynamic dependencies: the binary is static.
        XCTAssertFalse(m.values("depend").contains { $0.hasPrefix("so:") }, "\(m.values("depend"))")
        XCTAssertTrue(m.values("provides").contains("cmd:hello-svc=1.0.0-r0"))
        try syntaxCheck(main, [".pre-install", ".post-install", ".pre-deinstall", "var/lib/hello-svc/service/run",
                               "var/lib/hello-svc/service/finish", "var/lib/hello-svc/service/log/run",
                               "var/lib/hello-svc/bin/environment", "var/lib/hello-svc/bin/env-exec"])
        XCTAssertEqual(try extractFromPackage(main, "etc/hello-svc/environment"),
                       "# Environment of the service: NAME=value lines, read by bin/environment.\nGREETING=Hello\nINTERVAL=5\n")

        let o = try checkPackage(openrc)
        XCTAssertEqual(o.names, ["etc", "etc/init.d", "etc/init.d/hello-svc"])
        try syntaxCheck(openrc, ["etc/init.d/hello-svc"])
        XCTAssertTrue(try extractFromPackage(openrc, "etc/init.d/hello-svc").contains(
            "greet() {\n\tcd /var/lib/hello-svc || return 1\n\tHOME=/var/lib/hello-svc /var/lib/hello-svc/bin/env-exec -- s6-setuidgid hello-svc /var/lib/hello-svc/bin/hello-svc greet operator\n}"))

        let d = try checkPackage(doc)
        XCTAssertEqual(d.names, ["usr", "usr/share", "usr/share/doc", "usr/share/doc/hello-svc", "usr/share/doc/hello-svc/README.md",
                                 "usr/share/man", "usr/share/man/man1", "usr/share/man/man1/hello-svc.1"])

        // The packaged program runs (it is static, so it runs here as on Alpine).
        let t = TempDir()
        let bin = t.sub("hello-svc")
        try extractFileFromPackage(main, "var/lib/hello-svc/bin/hello-svc", to: bin)
        let unstripped = try runProcess("stat", ["-c", "%s", dir + "/out/x86_64/bin/hello-svc"]).stdout
        let packaged = try runProcess("stat", ["-c", "%s", bin]).stdout
        XCTAssertLessThan(Int(packaged.trimmingCharacters(in: .whitespacesAndNewlines)) ?? .max,
                          Int(unstripped.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, "strip_binary stripped it")
        let run = try runProcess(bin, ["greet", "tester"], environment: ["GREETING": "Hi"])
        XCTAssertEqual(run.stdout, "Hi, tester!\n")
        XCTAssertEqual(try runProcess(bin, ["--version"]).stdout, "hello-svc 1.0.0-r0\n")
    }

    func testNoarchScriptFixture() throws {
        let (_t, dir) = try copyFixture("greet")
        _ = _t
        let r = try apkit(["build", "apkit.yml", "--output", "out"] + keyArgs + ["--arch", "x86_64", "--arch", "aarch64"], cwd: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
        wrote out/x86_64/greet-0.3.1-r2.apk
        wrote out/aarch64/greet-0.3.1-r2.apk
        wrote out/x86_64/greet-doc-0.3.1-r2.apk
        wrote out/aarch64/greet-doc-0.3.1-r2.apk

        """)
        let apk = dir + "/out/aarch64/greet-0.3.1-r2.apk"
        try verify([apk, dir + "/out/x86_64/greet-0.3.1-r2.apk"])
        let p = try checkPackage(apk)
        XCTAssertEqual(p.values("arch"), ["noarch"])
        XCTAssertEqual(p.values("triggers"), ["/usr/share/greet/plugins"])
        XCTAssertEqual(Set(p.controlNames), [".PKGINFO", ".post-install", ".trigger"])
        XCTAssertEqual(p.names, ["etc", "etc/greet", "etc/greet/greet.conf", "usr", "usr/bin", "usr/bin/greet"])
        XCTAssertEqual(p.entry("usr/bin/greet")?["mode"] as? Int, 0o755)
        XCTAssertTrue(p.values("depend").contains("/bin/sh"))
        let script = try extractFromPackage(apk, "usr/bin/greet")
        let t = TempDir()
        let out = try runProcess("sh", [t.write("greet", script), "Alpine", "apk"])
        XCTAssertEqual(out.stdout, "Hello, Alpine!\nHello, apk!\n")
        try syntaxCheck(apk, [".trigger", ".post-install"])
    }

    func testPakmanInstellarFixtureWithGitMetadata() throws {
        let (_t, dir) = try copyFixture("pakman-demo")
        _ = _t
        try git(dir, "init", "-q")
        try git(dir, "add", "-A")
        try git(dir, "commit", "-qm", "one")
        try git(dir, "tag", "v2.1.0")
        _ = FileManager.default.createFile(atPath: dir + "/CHANGES", contents: Data("x\n".utf8))
        try git(dir, "add", "CHANGES")
        try git(dir, "commit", "-qm", "two")
        let r = try apkit(["build"] + keyArgs, cwd: dir, environment: ["GITHUB_RUN_NUMBER": "7"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
        wrote packages/x86_64/pakman-demo-2.1.0_p1-r7.apk
        wrote packages/x86_64/pakman-demo-openrc-2.1.0_p1-r7.apk

        """)
        XCTAssertFalse(r.stderr.contains("warning"), r.stderr)
        let main = dir + "/packages/x86_64/pakman-demo-2.1.0_p1-r7.apk"
        let openrc = dir + "/packages/x86_64/pakman-demo-openrc-2.1.0_p1-r7.apk"
        try verify([main, openrc])
        let m = try checkPackage(main)
        XCTAssertEqual(m.values("pkgver"), ["2.1.0_p1-r7"])
        XCTAssertEqual(m.values("license"), ["MIT"], "as PAKman")
        XCTAssertEqual(m.values("commit"), [try git(dir, "rev-parse", "HEAD")])
        XCTAssertEqual(m.entry("var/lib/pakman-demo/bin/pakman-demo")?["uname"] as? String, "pakman-demo")
        XCTAssertEqual(Set(m.controlNames), [".PKGINFO", ".pre-install", ".post-install", ".pre-upgrade", ".post-upgrade"])
        let run = try extractFromPackage(main, "var/lib/pakman-demo/service/run")
        XCTAssertTrue(run.contains("worker)\n\texec /var/lib/pakman-demo/bin/pakman-demo serve 2>&1"), "runs as root, as PAKman: \(run)")
        try syntaxCheck(main, [".pre-install", ".post-install", ".pre-upgrade", ".post-upgrade", "var/lib/pakman-demo/service/run",
                               "var/lib/pakman-demo/bin/environment", "var/lib/pakman-demo/bin/env-exec"])
        try syntaxCheck(openrc, ["etc/init.d/pakman-demo"])
        XCTAssertTrue(try extractFromPackage(openrc, "etc/init.d/pakman-demo").contains("extra_commands=migrate\n"))
    }

    func testCLIErrorsAreOneLineWithNoOutput() throws {
        let cases: [(String, String, Int32)] = [
            ("name: a\nversion: 1\nbiuld:\n  command: 'true'\n",
             "apkit: error: apkit.yml:1: nothing to package: add build.command, build.destinations or files\n", 1),
            ("name: a\nversion: 1\nbuild:\n  command: |\n    echo working\n    exit 3\n",
             "apkit: error: apkit.yml:4: build.command failed with exit status 3 (CARCH=\(hostArch)): working\n", 3),
            ("name: a\nversion: 1\nbuild:\n  destinations: [nothing/*]\n",
             "apkit: error: apkit.yml:4: build.destinations[0]: 'nothing/*' matches nothing in ", 1),
        ]
        for (yaml, expected, code) in cases {
            let d = TempDir()
            d.write("apkit.yml", yaml)
            let r = try apkit(["build"] + keyArgs, cwd: d.path)
            XCTAssertEqual(r.status, code, yaml)
            let errLines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("apkit: error:") }
            XCTAssertEqual(errLines.count, 1, r.stderr)
            XCTAssertTrue((errLines.first.map { String($0) + "\n" } ?? "").hasPrefix(expected), "\(r.stderr) vs \(expected)")
            XCTAssertEqual(r.stdout, "")
            XCTAssertFalse(FileManager.default.fileExists(atPath: d.sub("packages")), "no output on error")
        }
        // The unknown key was warned about, with a suggestion.
        let d = TempDir()
        d.write("apkit.yml", "name: a\nversion: 1\nbiuld:\n  command: 'true'\n")
        let r = try apkit(["build"] + keyArgs, cwd: d.path)
        XCTAssertTrue(r.stderr.contains("apkit: warning: apkit.yml:3: unknown key 'biuld' (did you mean 'build'?), ignored"), r.stderr)

        let empty = TempDir()
        let r2 = try apkit(["build"] + keyArgs, cwd: empty.path)
        XCTAssertEqual(r2.status, 1)
        XCTAssertEqual(r2.stderr, "apkit: error: no apkit.yml or instellar.yml in the current directory: pass the config file path\n")
    }

    var hostArch: String {
        let m = (try? runProcess("uname", ["-m"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
        return m == "arm64" ? "aarch64" : m
    }
}
