import Foundation
import TestSupport
import XCTest

/// The bad-input catalog (issue 11): one row per bad input across the CLI — configs, keys, trees,
/// packages, indexes, flags, environment, a full disk. Every row runs the real `apkit` binary and
/// checks the contract written down in docs/exit-codes.md:
///
/// - the documented exit code (1 for errors, a failed build command's own status, the number of
///   bad files for `verify` and `vercmp --check`, 64 for usage errors found by ArgumentParser);
/// - stderr: exactly one `apkit: error: ...` line, the last one, naming the file, key, flag or
///   line (`file:line:` for configs), and no raw Foundation error dump. Lines before it may only be
///   `apkit: warning: ...` and, for `apkit build`, the progress log (`==> ...`) and the build
///   command's own output. Usage errors are ArgumentParser's block (`Error: ...`, `Usage: apkit ...`);
///   `verify`/`vercmp --check` print their verdicts on stdout and nothing on stderr;
/// - nothing left behind: every file under the row's directory is as it was (no package, no
///   index, no temp file), except the ones a row allows (publish's lock file and public key);
/// - no passphrase is ever echoed.
///
/// `formerGaps` are rows where apkit fell short when this catalog was written, each with what was
/// wrong and the fix; they are fixed and run with the rest of the table.
final class BadInputCatalogTests: XCTestCase {

    // MARK: - The table

    func testCatalog() throws {
        let rows = Self.rows
        XCTAssertGreaterThanOrEqual(rows.count, 40)
        XCTAssertEqual(Set(rows.map(\.id)).count, rows.count, "row ids must be unique")
        for row in rows {
            for p in try Self.problems(row) {
                XCTFail("[\(row.id)] \(p)")
            }
        }
    }

    /// Files the process cannot read. chmod 000 does not keep root out (CAP_DAC_OVERRIDE), so as
    /// root (CI) each row's apkit runs as nobody (uid/gid 65534, no groups, through util-linux's
    /// `setpriv`), with the row's directory handed to nobody; skipped only when neither works.
    func testUnreadableFiles() throws {
        let probe = TempDir("apkit-badinput-probe")
        let p = probe.write("probe", "x", mode: 0o000)
        var dropTo: [String]? = nil
        if access(p, R_OK) == 0 {
            let setpriv = "/usr/bin/setpriv"
            guard getuid() == 0, FileManager.default.isExecutableFile(atPath: setpriv) else {
                throw XCTSkip("running as uid \(getuid()) with CAP_DAC_OVERRIDE and no \(setpriv) to drop it: chmod 000 does not stop this process reading a file, so 'unreadable' cannot be produced")
            }
            // A copy of apkit nobody can reach whatever the build directory's permissions; dropped
            // to nobody, a temporary file must be readable, the chmod 000 one not, apkit runnable.
            let binary = probe.sub("apkit")
            try FileManager.default.copyItem(atPath: apkitBinary, toPath: binary)
            chmod(probe.path, 0o755)
            let readable = probe.write("readable", "x")
            let cat = try runProcess(setpriv, Self.nobody + ["/bin/cat", p])
            let catOK = try runProcess(setpriv, Self.nobody + ["/bin/cat", readable])
            let help = try runProcess(setpriv, Self.nobody + [binary, "--help"])
            guard cat.status != 0, catOK.status == 0, help.status == 0 else {
                throw XCTSkip("cannot run apkit as nobody through setpriv (reading a chmod 000 file: exit \(cat.status), a 0644 one: exit \(catOK.status); apkit --help: exit \(help.status), \(help.stderr.prefix(200)))")
            }
            dropTo = [setpriv] + Self.nobody + [binary]
        }
        for row in Self.unreadableRows {
            for p in try Self.problems(row, runAs: dropTo) { XCTFail("[\(row.id)] \(p)") }
        }
    }

    /// `setpriv` arguments that run a command as nobody: uid and gid 65534, no supplementary groups.
    static let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"]

    /// A full disk while writing: a 64 KiB tmpfs as the output (needs mount, i.e. root).
    func testFullDisk() throws {
        for row in Self.fullDiskRows {
            let t = TempDir("apkit-badinput")
            t.mkdir("tiny")
            let m = try runProcess("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", t.sub("tiny")])
            guard m.status == 0 else {
                throw XCTSkip("cannot mount a 64k tmpfs for ENOSPC (needs root / CAP_SYS_ADMIN): \(m.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            defer { _ = try? runProcess("umount", [t.sub("tiny")]) }
            for p in try Self.problems(row, in: t) { XCTFail("[\(row.id)] \(p)") }
        }
    }

    // MARK: - Row model

    struct Invocation: Sendable {
        var args: [String]
        var cwd: String? = nil
        var env: [String: String] = [:]
    }

    enum Kind: Sendable {
        /// One `apkit: error:` line (last), exit `code`.
        case error
        /// ArgumentParser's usage block, exit 64.
        case usage
        /// Exit 0 with an `apkit: warning:` line.
        case warning
        /// Verdicts on stdout (`FILE: reason`), stderr empty, exit = number of bad inputs.
        case report
    }

    struct Expect: Sendable {
        var kind: Kind
        var code: Int32
        /// Each must appear in the error/warning line (usage: in stderr; report: in stdout).
        var mentions: [String]
        /// New files allowed under the row directory (path prefixes relative to it).
        var allowNew: [String] = []
        /// stderr lines allowed before the error besides warnings and `==> ` (a build command's output).
        var log: [String] = []
    }

    struct Row: Sendable {
        let id: String
        let expect: Expect
        let make: @Sendable (Ctx) throws -> Invocation
    }

    /// What a row builds its invocation from: the shared fixtures and its own directory.
    struct Ctx {
        let t: TempDir
        var f: BadInputFixtures { BadInputFixtures.shared }
        /// Writes a config into `c/` of the row directory; returns that directory.
        @discardableResult
        func config(_ name: String, _ text: String) -> String {
            t.write("c/" + name, text)
            return t.sub("c")
        }
        /// `apkit build` in `c/` with the RSA key, output `c/out`.
        func build(_ extra: [String] = [], env: [String: String] = [:]) -> Invocation {
            Invocation(args: ["build"] + extra + ["--key", f.rsa, "--output", "out"], cwd: t.sub("c"), env: env)
        }
        /// `apkit pack` of the fixture stage into `out/`.
        func pack(_ extra: [String], stage: String? = nil, output: String? = nil, env: [String: String] = [:]) -> Invocation {
            var args = ["pack", stage ?? f.stage, "--output", output ?? t.sub("out")]
            if !extra.contains("--key") { args += ["--key", f.rsa] }
            if !extra.contains(where: { $0.hasPrefix("--name") }) { args += ["--name", "x"] }
            if !extra.contains(where: { $0.hasPrefix("--version") }) { args += ["--version", "1.0-r0"] }
            return Invocation(args: args + extra, env: env)
        }
    }

    static func err(_ mentions: String..., code: Int32 = 1, allowNew: [String] = [], log: [String] = []) -> Expect {
        Expect(kind: .error, code: code, mentions: mentions, allowNew: allowNew, log: log)
    }
    static func usage(_ mentions: String...) -> Expect { Expect(kind: .usage, code: 64, mentions: mentions) }
    static func report(_ mentions: String..., code: Int32 = 1) -> Expect { Expect(kind: .report, code: code, mentions: mentions) }
    static func warning(_ mentions: String..., allowNew: [String]) -> Expect {
        Expect(kind: .warning, code: 0, mentions: mentions, allowNew: allowNew)
    }

    /// A minimal valid apkit.yml body (plain, noarch, one file `a` -> /a); append keys to break it.
    static let plain = "name: x\nversion: \"1.0\"\ntype: plain\narchitectures: [noarch]\n"

    // MARK: - The rows

    static let rows: [Row] = configRows + keyRows + treeRows + packageRows + flagRows + nameRows + environmentRows
        + formerGaps.map(\.row)

    static let configRows: [Row] = [
        Row(id: "config-yaml-syntax", expect: err("apkit.yml:3:", "YAML")) { c in
            c.config("apkit.yml", "name: x\nversion: 1.0\n  bad: [\n"); return c.build()
        },
        Row(id: "config-yaml-tab", expect: err("apkit.yml:4:", "YAML")) { c in
            c.config("apkit.yml", "name: x\nversion: \"1.0\"\nfiles:\n\t- a\n"); return c.build()
        },
        Row(id: "instellar-yaml-syntax", expect: err("instellar.yml:", "YAML")) { c in
            c.config("instellar.yml", "dependencies:\n  build: [\nbuild:\n"); return c.build()
        },
        Row(id: "config-empty", expect: err("apkit.yml:1:", "empty")) { c in
            c.config("apkit.yml", ""); return c.build()
        },
        Row(id: "config-top-level-list", expect: err("apkit.yml:1:", "mapping")) { c in
            c.config("apkit.yml", "- a\n- b\n"); return c.build()
        },
        Row(id: "config-duplicate-key", expect: err("apkit.yml:3:", "version", "twice")) { c in
            c.config("apkit.yml", "name: x\nversion: \"1.0\"\nversion: \"2.0\"\n"); return c.build()
        },
        Row(id: "config-wrong-type-list", expect: err("apkit.yml:4:", "architectures", "list")) { c in
            c.config("apkit.yml", "name: x\nversion: \"1.0\"\ntype: plain\narchitectures: noarch\n"); return c.build()
        },
        Row(id: "config-wrong-type-mapping", expect: err("apkit.yml:5:", "files", "list")) { c in
            c.config("apkit.yml", plain + "files: {source: a}\n"); return c.build()
        },
        Row(id: "instellar-wrong-type", expect: err("instellar.yml:2:", "dependencies.runtime")) { c in
            c.config("instellar.yml", "dependencies:\n  runtime: 5\nbuild:\n  command: \"true\"\n"); return c.build()
        },
        Row(id: "config-release-not-a-number", expect: err("apkit.yml:3:", "release", "abc")) { c in
            c.config("apkit.yml", "name: x\nversion: \"1.0\"\nrelease: abc\ntype: plain\narchitectures: [noarch]\n"); return c.build()
        },
        Row(id: "config-bad-name", expect: err("apkit.yml:1:", "name", "Bad Name")) { c in
            c.config("apkit.yml", "name: Bad Name\nversion: \"1.0\"\ntype: plain\narchitectures: [noarch]\n"); return c.build()
        },
        Row(id: "config-bad-version", expect: err("apkit.yml:2:", "version", "1.0-rX")) { c in
            c.config("apkit.yml", "name: x\nversion: 1.0-rX\ntype: plain\narchitectures: [noarch]\n"); return c.build()
        },
        Row(id: "config-bad-arch", expect: err("apkit.yml:4:", "architectures[0]", "sparc64!")) { c in
            c.config("apkit.yml", "name: x\nversion: \"1.0\"\ntype: plain\narchitectures: [sparc64!]\n"); return c.build()
        },
        Row(id: "config-bad-type", expect: err("apkit.yml:3:", "type", "weird")) { c in
            c.config("apkit.yml", "name: x\nversion: \"1.0\"\ntype: weird\narchitectures: [noarch]\n"); return c.build()
        },
        Row(id: "config-bad-dependency", expect: err("apkit.yml:6:", "dependencies.runtime[0]", "a b")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "dependencies:\n  runtime: [\"a b\"]\nfiles:\n  - {source: a, destination: /a}\n"); return c.build()
        },
        Row(id: "config-bad-mode", expect: err("apkit.yml:8:", "files[0].mode", "999")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "files:\n  - source: a\n    destination: /etc/x\n    mode: \"999\"\n"); return c.build()
        },
        Row(id: "config-bad-owner", expect: err("apkit.yml:6:", "files[0].owner", "bad user")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "files:\n  - {source: a, destination: /a, owner: \"bad user\"}\n"); return c.build()
        },
        Row(id: "config-relative-trigger", expect: err("apkit.yml:5:", "triggers[0]", "relative/path")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "triggers: [relative/path]\nfiles:\n  - {source: a, destination: /a}\n"); return c.build()
        },
        Row(id: "config-openrc-builtin-command", expect: err("apkit.yml:5:", "run.commands[0].name", "start")) { c in
            c.config("apkit.yml", "name: x\nversion: \"1.0\"\nrun:\n  commands:\n    - {name: start, binary: x, call: y}\nbuild:\n  command: \"true\"\n  destinations: [a]\n")
            return c.build()
        },
        Row(id: "config-unknown-key-warns", expect: warning("apkit.yml:5:", "descriptoin", "description", allowNew: ["c/out/"])) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "descriptoin: hi\nfiles:\n  - {source: a, destination: /a}\n"); return c.build()
        },
        Row(id: "instellar-unknown-key-warns", expect: warning("instellar.yml:3:", "buldd", allowNew: ["c/out/"])) { c in
            c.config("a", "a\n")
            c.config("instellar.yml", "name: x\nversion: \"1.0\"\nbuldd:\n  command: \"true\"\nfiles:\n  - source: a\n    destination: /a\n")
            return c.build()
        },
        Row(id: "config-none-in-directory", expect: err("apkit.yml", "instellar.yml")) { c in
            c.t.mkdir("c"); return c.build()
        },
        Row(id: "config-file-missing", expect: err("nope.yml")) { c in
            c.t.mkdir("c"); return c.build(["nope.yml"])
        },
        Row(id: "config-is-a-directory", expect: err("stage")) { c in
            c.t.mkdir("c/stage"); return c.build(["stage"])
        },
        // Path traversal and symlink escapes in staging.
        Row(id: "config-destination-traversal", expect: err("apkit.yml:7:", "files[0].destination", "../../etc/x")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "files:\n  - source: a\n    destination: ../../etc/x\n"); return c.build()
        },
        Row(id: "config-destination-dotdot-absolute", expect: err("apkit.yml:7:", "files[0].destination", "..")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "files:\n  - source: a\n    destination: /usr/../../etc/x\n"); return c.build()
        },
        Row(id: "config-source-dotdot", expect: err("apkit.yml:6:", "files[0].source", "../secret")) { c in
            c.t.write("secret", "s\n")
            c.config("apkit.yml", plain + "files:\n  - source: ../secret\n    destination: /etc/x\n"); return c.build()
        },
        Row(id: "config-source-symlink-escape", expect: err("apkit.yml:6:", "files[0].source", "link", "symlink")) { c in
            c.config("apkit.yml", plain + "files:\n  - source: link\n    destination: /etc/x\n")
            symlink("/etc/passwd", c.t.sub("c/link"))
            return c.build()
        },
        Row(id: "config-destinations-dotdot", expect: err("apkit.yml:6:", "build.destinations[0]", "../../etc")) { c in
            c.config("apkit.yml", "name: x\nversion: \"1.0\"\narchitectures: [noarch]\nbuild:\n  command: \"true\"\n  destinations: [../../etc]\n")
            return c.build()
        },
        Row(id: "config-subpackage-path-dotdot", expect: err("apkit.yml:6:", "subpackages[0].paths[0]", "../etc")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "subpackages:\n  - {suffix: -doc, paths: [../etc]}\nfiles:\n  - {source: a, destination: /a}\n")
            return c.build()
        },
        Row(id: "config-source-missing", expect: err("apkit.yml:6:", "files[0].source", "nothere")) { c in
            c.config("apkit.yml", plain + "files:\n  - source: nothere\n    destination: /etc/x\n"); return c.build()
        },
        Row(id: "config-build-command-fails", expect: err("apkit.yml:6:", "build.command", "exit status 7", "boom", code: 7, log: ["boom"])) { c in
            c.config("apkit.yml", plain + "build:\n  command: |\n    echo boom\n    exit 7\n"); return c.build()
        },
    ]

    static let keyRows: [Row] = [
        Row(id: "key-missing", expect: err("missing.rsa")) { c in c.pack(["--key", c.t.sub("missing.rsa")]) },
        Row(id: "key-is-a-directory", expect: err("keydir")) { c in
            c.t.mkdir("keydir"); return c.pack(["--key", c.t.sub("keydir")])
        },
        Row(id: "key-not-a-key", expect: err("notakey.rsa")) { c in
            c.pack(["--key", c.t.write("notakey.rsa", "hello\n")])
        },
        Row(id: "key-ed25519", expect: err("ed25519.pem", "neither an RSA nor an EC key")) { c in c.pack(["--key", c.f.ed25519]) },
        Row(id: "key-ec-secp384r1", expect: err("p384.pem", "P-256")) { c in c.pack(["--key", c.f.p384]) },
        Row(id: "key-encrypted-no-passphrase", expect: err("enc.rsa", "encrypted", "--passphrase-file")) { c in
            c.pack(["--key", c.f.encrypted])
        },
        Row(id: "key-wrong-passphrase-env", expect: err("enc.rsa", "passphrase")) { c in
            c.pack(["--key", c.f.encrypted], env: ["APKIT_KEY_PASSPHRASE": BadInputFixtures.wrongPassphrase])
        },
        Row(id: "key-wrong-passphrase-file", expect: err("enc.rsa", "passphrase")) { c in
            c.pack(["--key", c.f.encrypted, "--passphrase-file", c.t.write("pass.txt", BadInputFixtures.wrongPassphrase + "\n")])
        },
        Row(id: "key-passphrase-file-missing", expect: err("nopass.txt", "passphrase")) { c in
            c.pack(["--key", c.f.encrypted, "--passphrase-file", c.t.sub("nopass.txt")])
        },
        Row(id: "key-public-rsa-for-private", expect: err(".rsa.pub", "public key")) { c in c.pack(["--key", c.f.rsaPub]) },
        Row(id: "key-public-ec-for-private", expect: err(".ec.pem.pub", "public key")) { c in
            c.pack(["--key", c.f.ecPub, "--format", "v3"])
        },
        Row(id: "key-none", expect: err("--key", "PACKAGER_PRIVKEY")) { c in
            Invocation(args: ["pack", c.f.stage, "--name", "x", "--version", "1-r0", "--output", c.t.sub("out")])
        },
        Row(id: "key-name-is-a-path", expect: err("--key-name", "../x.pub")) { c in c.pack(["--key-name", "../x.pub"]) },
        // "A public key that does not match the private key": the repository already has another key under the name.
        Row(id: "publish-public-key-mismatch", expect: err("keys/", ".rsa.pub", "--overwrite")) { c in
            c.t.write("repo/keys/" + (c.f.rsaPub as NSString).lastPathComponent, FileManager.default.contents(atPath: c.f.otherPub)!)
            return Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, c.f.v2])
        },
    ]

    static let treeRows: [Row] = [
        Row(id: "tree-missing", expect: err("nostage")) { c in c.pack([], stage: c.t.sub("nostage")) },
        Row(id: "tree-is-a-file", expect: err("afile")) { c in c.pack([], stage: c.t.write("afile", "a\n")) },
        Row(id: "tree-socket", expect: err("zz.sock")) { c in
            c.t.write("st/ok", "ok\n")
            try bindSocket(c.t.sub("st/zz.sock"))
            return c.pack([], stage: c.t.sub("st"))
        },
        Row(id: "build-tree-socket", expect: err("apkit.yml:6:", "s.sock")) { c in
            c.config("d/a", "a\n")
            try bindSocket(c.t.sub("c/d/s.sock"))
            c.config("apkit.yml", plain + "files:\n  - {source: d, destination: /usr/share/x/}\n")
            return c.build()
        },
    ]

    static let packageRows: [Row] = [
        Row(id: "verify-empty", expect: report("empty.apk: ", "empty")) { c in verify(c, [c.f.empty]) },
        Row(id: "verify-random", expect: report("random.apk: ", "not an apk")) { c in verify(c, [c.f.random]) },
        Row(id: "verify-truncated-v2", expect: report("trunc2.apk: ", "truncated")) { c in verify(c, [c.f.truncV2]) },
        Row(id: "verify-truncated-v3", expect: report("trunc3.apk: ", "ends early")) { c in verify(c, [c.f.truncV3]) },
        Row(id: "verify-missing", expect: report("missing.apk: ", "No such file")) { c in verify(c, [c.t.sub("missing.apk")]) },
        Row(id: "verify-a-directory", expect: report("adir: ", "directory")) { c in
            c.t.mkdir("adir"); return verify(c, [c.t.sub("adir")])
        },
        Row(id: "verify-three-bad-one-good", expect: report("empty.apk: ", "random.apk: ", "trunc2.apk: ", "hello-1.0-r0.apk: OK", code: 3)) { c in
            verify(c, [c.f.empty, c.f.random, c.f.truncV2, c.f.v2])
        },
        Row(id: "verify-untrusted-package", expect: report("oth-1.0-r0.apk: UNTRUSTED")) { c in verify(c, [c.f.untrustedPkg]) },
        Row(id: "verify-untrusted-index", expect: report("APKINDEX.tar.gz: UNTRUSTED")) { c in verify(c, [c.f.untrustedIndex]) },
        Row(id: "inspect-empty", expect: err("empty.apk", "empty")) { c in Invocation(args: ["inspect", c.f.empty]) },
        Row(id: "inspect-random", expect: err("random.apk", "not an apk")) { c in Invocation(args: ["inspect", c.f.random]) },
        Row(id: "inspect-truncated-v2", expect: err("trunc2.apk", "truncated")) { c in Invocation(args: ["inspect", c.f.truncV2]) },
        Row(id: "inspect-truncated-v3", expect: err("trunc3.apk", "ends early")) { c in Invocation(args: ["inspect", c.f.truncV3, "--json"]) },
        Row(id: "inspect-missing", expect: err("missing.apk", "No such file")) { c in Invocation(args: ["inspect", c.t.sub("missing.apk")]) },
        Row(id: "index-mixed-v2-v3", expect: err("hello3-1.0-r0.apk", "hello-1.0-r0.apk", "v3", "v2")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.v2, c.f.v3])
        },
        Row(id: "index-empty-package", expect: err("empty.apk")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.empty])
        },
        Row(id: "index-truncated-v3", expect: err("trunc3.apk")) { c in
            Invocation(args: ["index", "--key", c.f.ec, "-o", c.t.sub("out/packages.adb"), c.f.truncV3])
        },
        Row(id: "index-untrusted-package", expect: err("oth-1.0-r0.apk", "UNTRUSTED", "--keys-dir")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.untrustedPkg])
        },
        Row(id: "index-merge-untrusted-index", expect: err("APKINDEX.tar.gz", "UNTRUSTED", "--allow-untrusted")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "--merge", c.f.untrustedIndex, "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.v2])
        },
        Row(id: "index-merge-random", expect: err("random.apk", "index")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "--merge", c.f.random, "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.v2])
        },
        Row(id: "index-merge-missing", expect: err("nope.tar.gz", "No such file")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "--merge", c.t.sub("nope.tar.gz"), "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.v2])
        },
        Row(id: "index-keeps-old-index-on-error", expect: err("random.apk")) { c in
            // A failed run leaves the index it was asked to replace untouched.
            c.t.write("out/APKINDEX.tar.gz", FileManager.default.contents(atPath: c.f.untrustedIndex)!)
            return Invocation(args: ["index", "--key", c.f.rsa, "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.v2, c.f.random])
        },
        Row(id: "publish-mixed-v2-v3", expect: err("hello3-1.0-r0.apk", "v3", "v2")) { c in
            Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, c.f.v2, c.f.v3])
        },
        Row(id: "publish-random", expect: err("random.apk")) { c in
            Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, c.f.random])
        },
        Row(id: "publish-truncated-v2", expect: err("trunc2.apk", "truncated")) { c in
            Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, c.f.truncV2])
        },
        Row(id: "publish-one-bad-of-two", expect: err("empty.apk")) { c in
            Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, c.f.v2, c.f.empty])
        },
        Row(id: "publish-missing-package", expect: err("nope.apk", "No such file")) { c in
            Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, c.t.sub("nope.apk")])
        },
        Row(id: "publish-untrusted-index-in-repo", expect: err("x86_64/APKINDEX.tar.gz", "UNTRUSTED")) { c in
            c.t.write("repo/x86_64/APKINDEX.tar.gz", FileManager.default.contents(atPath: c.f.untrustedIndex)!)
            return Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, c.f.v2])
        },
        Row(id: "publish-to-a-file", expect: err("afile", "not a directory")) { c in
            Invocation(args: ["publish", "--to", c.t.write("afile", "x"), "--key", c.f.rsa, c.f.v2])
        },
        Row(id: "publish-bad-s3-url", expect: err("--to", "s3://")) { c in
            Invocation(args: ["publish", "--to", "s3://", "--key", c.f.rsa, c.f.v2])
        },
    ]

    static let flagRows: [Row] = [
        Row(id: "flag-compression-zstd-99", expect: err("--compression", "zstd:99", "1...22")) { c in
            c.pack(["--format", "v3", "--key", c.f.ec, "--compression", "zstd:99"])
        },
        Row(id: "flag-v2-with-zstd", expect: err("--compression zstd", "v3")) { c in
            c.pack(["--format", "v2", "--compression", "zstd"])
        },
        Row(id: "flag-v2-with-none", expect: err("--compression none", "v3")) { c in c.pack(["--compression", "none"]) },
        Row(id: "flag-compression-unknown", expect: err("--compression", "turbo")) { c in c.pack(["--compression", "turbo"]) },
        Row(id: "flag-deflate-level-0", expect: err("--compression", "deflate:0", "1...12")) { c in c.pack(["--compression", "deflate:0"]) },
        Row(id: "flag-compression-level-13", expect: err("--compression-level", "13")) { c in c.pack(["--compression-level", "13"]) },
        Row(id: "flag-threads-0", expect: err("--threads", "0")) { c in c.pack(["--threads", "0"]) },
        Row(id: "flag-threads-not-a-number", expect: usage("--threads", "'x'")) { c in c.pack(["--threads", "x"]) },
        Row(id: "flag-signature-unknown", expect: usage("--signature", "md5")) { c in c.pack(["--signature", "md5"]) },
        Row(id: "flag-format-unknown", expect: usage("--format", "v4")) { c in
            c.config("apkit.yml", plain); return c.build(["--format", "v4"])
        },
        Row(id: "flag-pack-arch-unknown", expect: err("--arch", "sparc")) { c in c.pack(["--arch", "sparc"]) },
        Row(id: "flag-build-arch-invalid", expect: err("--arch", "bad arch")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "files:\n  - {source: a, destination: /a}\n"); return c.build(["--arch", "bad arch"])
        },
        Row(id: "flag-build-arch-not-in-config", expect: err("apkit.yml:4:", "--arch aarch64")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", "name: x\nversion: \"1.0\"\ntype: plain\narchitectures: [x86_64]\nfiles:\n  - {source: a, destination: /a}\n")
            return c.build(["--arch", "aarch64"])
        },
        Row(id: "flag-index-prune-0", expect: err("--prune", "0")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "--prune", "0", "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.v2])
        },
        Row(id: "flag-publish-prune-0", expect: err("--prune", "0")) { c in
            Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, "--prune", "0", c.f.v2])
        },
        Row(id: "flag-index-format-mismatch", expect: err("--format v3", "v2")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "--format", "v3", "-o", c.t.sub("out/packages.adb"), c.f.v2])
        },
        Row(id: "flag-index-bad-pkgname-spec", expect: err("--pkgname-spec", "${nope")) { c in
            Invocation(args: ["index", "--key", c.f.ec, "--pkgname-spec", "${nope", "-o", c.t.sub("out/packages.adb"), c.f.v3])
        },
        Row(id: "flag-index-pkgname-spec-on-v2", expect: err("--pkgname-spec", "v3 indexes")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "--pkgname-spec", "${name}-${version}.apk", "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.v2])
        },
        Row(id: "flag-index-no-packages", expect: err("no packages", "--merge")) { c in
            Invocation(args: ["index", "--key", c.f.rsa, "-o", c.t.sub("out/APKINDEX.tar.gz")])
        },
        Row(id: "flag-index-no-output", expect: usage("--output")) { c in Invocation(args: ["index", "--key", c.f.rsa, c.f.v2]) },
        Row(id: "flag-verify-no-files", expect: usage("<files>")) { _ in Invocation(args: ["verify"]) },
        Row(id: "flag-unknown-subcommand", expect: usage("bogus")) { _ in Invocation(args: ["bogus"]) },
        Row(id: "flag-keygen-bits-512", expect: err("--bits", "512")) { c in
            Invocation(args: ["keygen", "--bits", "512", "--name", "k", "--output-dir", c.t.sub("out")])
        },
        Row(id: "flag-keygen-type-dsa", expect: usage("--type", "dsa")) { c in
            Invocation(args: ["keygen", "--type", "dsa", "--output-dir", c.t.sub("out")])
        },
        Row(id: "flag-keygen-name-with-slash", expect: err("--name", "a/b")) { c in
            Invocation(args: ["keygen", "--name", "a/b", "--bits", "2048", "--output-dir", c.t.sub("out")])
        },
    ]

    static let nameRows: [Row] = [
        Row(id: "name-with-space", expect: err("--name", "Bad Name")) { c in c.pack(["--name", "Bad Name"]) },
        Row(id: "name-leading-dash", expect: err("--name", "-x")) { c in c.pack(["--name=-x"]) },
        Row(id: "version-bad-release", expect: err("--version", "1.0-rX")) { c in c.pack(["--version", "1.0-rX"]) },
        Row(id: "version-double-dot", expect: err("--version", "1..0-r0")) { c in c.pack(["--version", "1..0-r0"]) },
        Row(id: "depend-with-space", expect: err("--depend", "a b")) { c in c.pack(["--depend", "a b"]) },
        Row(id: "vercmp-invalid", expect: err("1..0")) { _ in Invocation(args: ["vercmp", "1.0", "1..0"]) },
        Row(id: "vercmp-check-two-invalid", expect: report("1..0", "x", code: 2)) { _ in Invocation(args: ["vercmp", "--check", "1.0", "1..0", "x"]) },
    ]

    static let environmentRows: [Row] = [
        Row(id: "env-sde-not-a-number-pack", expect: err("SOURCE_DATE_EPOCH", "abc")) { c in
            c.pack([], env: ["SOURCE_DATE_EPOCH": "abc"])
        },
        Row(id: "env-sde-negative-pack", expect: err("SOURCE_DATE_EPOCH", "-5")) { c in
            c.pack([], env: ["SOURCE_DATE_EPOCH": "-5"])
        },
        Row(id: "env-sde-not-a-number-build", expect: err("SOURCE_DATE_EPOCH", "abc")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "files:\n  - {source: a, destination: /a}\n")
            return c.build(env: ["SOURCE_DATE_EPOCH": "abc"])
        },
        Row(id: "env-wrong-passphrase-build", expect: err("enc.rsa", "passphrase")) { c in
            c.config("a", "a\n")
            c.config("apkit.yml", plain + "files:\n  - {source: a, destination: /a}\n")
            return Invocation(args: ["build", "--key", c.f.encrypted, "--output", "out"], cwd: c.t.sub("c"),
                              env: ["APKIT_KEY_PASSPHRASE": BadInputFixtures.wrongPassphrase])
        },
        Row(id: "env-wrong-passphrase-index", expect: err("enc.rsa", "passphrase")) { c in
            Invocation(args: ["index", "--key", c.f.encrypted, "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.v2],
                       env: ["APKIT_KEY_PASSPHRASE": BadInputFixtures.wrongPassphrase])
        },
    ]

    /// Run only when chmod 000 keeps the test process out (not as root).
    static let unreadableRows: [Row] = [
        Row(id: "unreadable-key", expect: err("locked.rsa")) { c in
            let k = c.t.write("locked.rsa", FileManager.default.contents(atPath: c.f.rsa)!, mode: 0o000)
            return c.pack(["--key", k])
        },
        Row(id: "unreadable-config", expect: err("apkit.yml")) { c in
            c.config("apkit.yml", plain); chmod(c.t.sub("c/apkit.yml"), 0)
            return c.build()
        },
        Row(id: "unreadable-passphrase-file", expect: err("pass.txt")) { c in
            c.pack(["--key", c.f.encrypted, "--passphrase-file", c.t.write("pass.txt", "x\n", mode: 0o000)])
        },
        Row(id: "unreadable-package-verify", expect: report("locked.apk: ")) { c in
            verify(c, [c.t.write("locked.apk", FileManager.default.contents(atPath: c.f.v2)!, mode: 0o000)])
        },
        Row(id: "unreadable-file-in-tree", expect: err("secret")) { c in
            c.t.write("st/ok", "ok\n")
            c.t.write("st/secret", "s\n", mode: 0o000)
            return c.pack([], stage: c.t.sub("st"))
        },
    ]

    /// Run with `tiny/` a 64 KiB tmpfs: each writes more than fits.
    static let fullDiskRows: [Row] = [
        Row(id: "enospc-pack-v2", expect: err("tiny/", "No space left on device")) { c in
            c.pack([], stage: c.f.bigStage, output: c.t.sub("tiny"))
        },
        Row(id: "enospc-pack-v3", expect: err("tiny/", "No space left on device")) { c in
            c.pack(["--format", "v3", "--key", c.f.ec, "--compression", "none"], stage: c.f.bigStage, output: c.t.sub("tiny"))
        },
        Row(id: "enospc-index-keeps-old", expect: err("tiny/", "No space left on device")) { c in
            let old = c.t.sub("tiny/APKINDEX.tar.gz")
            try setup(["index", "--key", c.f.rsa, "-o", old, c.f.v2])
            _ = try runProcess("sh", ["-c", "head -c 200000 /dev/zero > \"$1\" 2>/dev/null; true", "sh", c.t.sub("tiny/fill")])
            return Invocation(args: ["index", "--key", c.f.rsa, "-o", old, c.f.v2, c.f.v2big])
        },
        Row(id: "enospc-publish", expect: err("tiny/repo", "No space left on device", allowNew: ["tiny/repo/.apkit.lock", "tiny/repo/keys/"])) { c in
            Invocation(args: ["publish", "--to", c.t.sub("tiny/repo"), "--key", c.f.rsa, c.f.v2big])
        },
    ]

    // MARK: - Known gaps

    struct Gap: Sendable { let reason: String; let row: Row }

    static let formerGaps: [Gap] = [
        Gap(reason: "`apkit pack --name x --version 1.0-r0 --key K` without STAGEDIR prints apkit's own version (0.1.0) and exits 0: ArgumentParser treats --version as the built-in version flag once the subcommand fails to parse, because Apkit.configuration sets `version:`. Fix in Sources/CLI/Apkit.swift: drop `version:` from the root CommandConfiguration and give the root command its own `--version` flag (or a `version` subcommand), so a missing argument is the usage error 64",
            row: Row(id: "pack-missing-stagedir", expect: usage("<stage-dir>")) { c in
                Invocation(args: ["pack", "--name", "x", "--version", "1.0-r0", "--key", c.f.rsa, "--output", c.t.sub("out")])
            }),
        Gap(reason: "`apkit pack --output FILE` prints a raw Foundation error (`Error Domain=NSCocoaErrorDomain Code=516 ... NSFilePath=...`). Fix: PackagePlan.pack (Sources/APKRecipe/Plan/PackagePlan.swift) creates the output directory with FileManager.createDirectory; throw `\\(outputDir): not a directory (--output must be a directory)` instead, or map CocoaError/NSError (NSFilePathErrorKey + NSUnderlyingError's POSIX code) to `PATH: strerror` in runReportingErrors (Sources/CLI/Support/CLIError.swift)",
            row: Row(id: "pack-output-is-a-file", expect: err("ofile", "directory")) { c in
                c.pack([], output: c.t.write("ofile", "x"))
            }),
        Gap(reason: "`apkit index -o FILE/APKINDEX.tar.gz` where FILE is a regular file prints a raw Foundation error. Fix: IndexCommand.run (Sources/CLI/Commands/IndexCommand.swift) calls FileManager.createDirectory for the output's directory; report `PATH: Not a directory` (or map NSError generally in runReportingErrors)",
            row: Row(id: "index-output-dir-is-a-file", expect: err("ofile", "directory")) { c in
                Invocation(args: ["index", "--key", c.f.rsa, "-o", c.t.write("ofile", "x") + "/APKINDEX.tar.gz", c.f.v2])
            }),
        Gap(reason: "`apkit build --output FILE` prints a raw Foundation error (`Error Domain=NSCocoaErrorDomain Code=512 \"(null)\" ... Not a directory`). Fix: the output-directory creation in RecipeBuilder/StageFiles (Sources/APKRecipe/Build/StageFiles.swift, createDirectory) should throw RecipeError(`--output PATH: not a directory`) (or map NSError in runReportingErrors)",
            row: Row(id: "build-output-is-a-file", expect: err("ofile", "directory", log: [])) { c in
                c.config("a", "a\n")
                c.config("apkit.yml", plain + "files:\n  - {source: a, destination: /a}\n")
                c.t.write("ofile", "x")
                return Invocation(args: ["build", "--key", c.f.rsa, "--output", c.t.sub("ofile")], cwd: c.t.sub("c"))
            }),
        Gap(reason: "`apkit keygen --output-dir FILE` prints a raw Foundation error. Fix: KeygenCommand.run (Sources/CLI/Commands/KeygenCommand.swift) createDirectory: report `--output-dir PATH: not a directory`",
            row: Row(id: "keygen-output-dir-is-a-file", expect: err("ofile", "directory")) { c in
                Invocation(args: ["keygen", "--name", "k", "--bits", "2048", "--output-dir", c.t.write("ofile", "x")])
            }),
        Gap(reason: "a world-readable private key is warned about as `warning: KEY is readable by other users ...`, without the `apkit: warning:` prefix every other warning has (so a CI grep for `apkit: warning:` misses the leaked key). Fix: warnIfReadableByOthers (Sources/CLI/Support/SigningOptions.swift) should call warn(...) from CLIError.swift",
            row: Row(id: "key-world-readable-warning", expect: warning("open.rsa", "chmod 600", allowNew: ["out/"])) { c in
                c.pack(["--key", c.t.write("open.rsa", FileManager.default.contents(atPath: c.f.rsa)!, mode: 0o644)])
            }),
        Gap(reason: "publishing v3 packages into a repository whose <arch>/ already has a v2 APKINDEX.tar.gz succeeds and leaves both APKINDEX.tar.gz and packages.adb side by side, although the README says a repository holds one format and a mix is refused before anything is written. Fix: Publisher.publish (Sources/APKRepository/Publisher.swift), before copying anything: for each target arch, if the other format's index (`<arch>/APKINDEX.tar.gz` vs `<arch>/packages.adb`) exists, throw `<arch>/APKINDEX.tar.gz: this repository holds v2 packages; publish v3 packages to another repository`",
            row: Row(id: "publish-v3-into-v2-repo", expect: err("APKINDEX.tar.gz", "v2", allowNew: ["repo/.apkit.lock"])) { c in
                try setup(["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, c.f.v2])
                return Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.ec, c.f.v3])
            }),
        Gap(reason: "`apkit index --merge packages.adb` with v2 packages says `packages.adb: cannot read the index: malformed gzip stream: garbage after member -1`, as if the file were corrupt. Fix: IndexCommand.run (Sources/CLI/Commands/IndexCommand.swift): detect the --merge file's format (PackageFormats.detect) and, when it differs from the packages', throw `--merge packages.adb is a v3 index but the packages are v2`",
            row: Row(id: "index-merge-v3-index-v2-packages", expect: err("packages.adb", "v3", "v2")) { c in
                Invocation(args: ["index", "--key", c.f.rsa, "--merge", c.f.v3Index, "-o", c.t.sub("out/APKINDEX.tar.gz"), c.f.v2])
            }),
        Gap(reason: "`apkit publish --arch bad/arch NOARCH.apk` says `NOARCH.apk: invalid arch 'bad/arch'`, blaming the package for the flag's value. Fix: PublishCommand.run (Sources/CLI/Commands/PublishCommand.swift) should validate --arch (Architecture's validation, as pack does) and throw `--arch 'bad/arch' is not an architecture name ...`",
            row: Row(id: "publish-noarch-bad-arch", expect: err("--arch", "bad/arch")) { c in
                Invocation(args: ["publish", "--to", c.t.sub("repo"), "--key", c.f.rsa, "--arch", "bad/arch", c.f.noarch])
            }),
        Gap(reason: "with the key taken from $PACKAGER_PRIVKEY, a missing file gives `/nope/k.rsa: cannot read private key file`: neither where the path came from nor why. Fix: SigningOptions.makeSigner (Sources/CLI/Support/SigningOptions.swift) should say `$PACKAGER_PRIVKEY=/nope/k.rsa: No such file or directory (pass --key or fix PACKAGER_PRIVKEY)`",
            row: Row(id: "key-from-env-missing", expect: err("PACKAGER_PRIVKEY", "/nope/k.rsa", "No such file")) { c in
                Invocation(args: ["pack", c.f.stage, "--name", "x", "--version", "1-r0", "--output", c.t.sub("out")],
                           env: ["PACKAGER_PRIVKEY": "/nope/k.rsa"])
            }),
        Gap(reason: "a missing or unreadable --key says only `cannot read private key file`, not why (no such file / permission denied / is a directory). Fix: SigningKey.init(file:passphrase:) (Sources/APKCrypto/Keys.swift) reads with FileManager.contents(atPath:), which drops errno; read with SystemIO's file reader (or open(2)) and put strerror(errno) in CryptoError.key's reason",
            row: Row(id: "key-missing-reason", expect: err("missing.rsa", "No such file")) { c in c.pack(["--key", c.t.sub("missing.rsa")]) }),
    ]

    // MARK: - Running a row

    static func verify(_ c: Ctx, _ files: [String]) -> Invocation {
        Invocation(args: ["verify", "--keys-dir", c.f.trusted] + files)
    }

    struct SetupFailed: Error { let message: String }

    /// A successful apkit run that prepares a row.
    static func setup(_ args: [String]) throws {
        let r = try apkit(args, environment: ["PACKAGER_PRIVKEY": "", "APKIT_KEY_PASSPHRASE": ""])
        guard r.status == 0 else { throw SetupFailed(message: "\(args): \(r.stderr)") }
    }

    static func bindSocket(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let r = try runPython("import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])", [path])
        precondition(r.status == 0, r.stderr)
    }

    /// Runs a row in a fresh directory (or `dir`) and returns what is wrong with apkit's answer.
    /// `runAs`: a command that runs apkit as another user (`setpriv ... -- /path/to/apkit`); the row's
    /// directory is then handed to that user (65534), and shared inputs only the owner may read
    /// (private keys) are copied into it first, so that only the row's own unreadable file is.
    static func problems(_ row: Row, in dir: TempDir? = nil, runAs: [String]? = nil) throws -> [String] {
        let t = dir ?? TempDir("apkit-badinput")
        var inv = try row.make(Ctx(t: t))
        // Nothing from the developer's environment leaks in: no default key, passphrase or epoch.
        var env = ["PACKAGER_PRIVKEY": "", "APKIT_KEY_PASSPHRASE": "", "SOURCE_DATE_EPOCH": "1700000000", "PACKAGER": ""]
        if runAs != nil {
            inv.args = try inv.args.map { arg in
                var st = stat()
                guard !arg.hasPrefix(t.path + "/"), stat(arg, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o004 == 0
                else { return arg }
                let copy = t.sub("shared-inputs/" + (arg as NSString).lastPathComponent)
                try FileManager.default.createDirectory(atPath: t.sub("shared-inputs"), withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: arg, toPath: copy)
                chmod(copy, st.st_mode & 0o7777)
                return copy
            }
            let chown = try runProcess("chown", ["-R", "65534:65534", t.path])
            guard chown.status == 0 else { return ["cannot hand \(t.path) to nobody: \(chown.stderr)"] }
            env["HOME"] = t.path
        }
        let before = snapshot(t.path)
        env.merge(inv.env) { _, new in new }
        let r = try runAs.map { try runProcess($0[0], Array($0.dropFirst()) + inv.args, cwd: inv.cwd, environment: env) }
            ?? apkit(inv.args, cwd: inv.cwd, environment: env)
        var p: [String] = []
        let e = row.expect
        let shown = "\(inv.args.joined(separator: " ")) -> exit \(r.status), stderr: \(r.stderr.debugDescription), stdout: \(r.stdout.prefix(300).debugDescription)"
        if r.status != e.code { p.append("exit \(r.status), expected \(e.code)") }
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        switch e.kind {
        case .error:
            let errors = lines.filter { $0.hasPrefix("apkit: error: ") }
            if errors.count != 1 { p.append("\(errors.count) `apkit: error:` lines, expected 1") }
            if let last = lines.last, !last.hasPrefix("apkit: error: ") { p.append("the last stderr line is not the error") }
            for l in lines.dropLast() where !(l.hasPrefix("apkit: warning: ") || l.hasPrefix("==> ") || e.log.contains(l)) {
                p.append("unexpected stderr line \(l.debugDescription)")
            }
            let line = errors.first ?? ""
            for m in e.mentions where !line.contains(m) { p.append("the error does not mention \(m.debugDescription)") }
            for raw in ["Error Domain=", "NSCocoaErrorDomain", "Fatal error", "(null)"] where line.contains(raw) {
                p.append("the error is a raw dump (\(raw)), not a sentence")
            }
        case .usage:
            if !r.stderr.hasPrefix("Error: ") || !r.stderr.contains("Usage: apkit") {
                p.append("not ArgumentParser's usage message")
            }
            let first = lines.first ?? ""
            for m in e.mentions where !first.contains(m) { p.append("the usage error does not mention \(m.debugDescription)") }
        case .warning:
            if lines.contains(where: { $0.hasPrefix("apkit: error:") }) { p.append("an error where a warning was expected") }
            let w = lines.filter { $0.hasPrefix("apkit: warning: ") && e.mentions.allSatisfy($0.contains) }
            if w.isEmpty { p.append("no `apkit: warning:` line mentioning \(e.mentions)") }
        case .report:
            if !r.stderr.isEmpty { p.append("stderr should be empty (verdicts go to stdout)") }
            for m in e.mentions where !r.stdout.contains(m) { p.append("stdout does not mention \(m.debugDescription)") }
        }
        for s in BadInputFixtures.secrets where r.stdout.contains(s) || r.stderr.contains(s) {
            p.append("a passphrase is echoed")
        }
        // Nothing left behind: no new file (package, index, temp file) and no changed one.
        let after = snapshot(t.path)
        for (path, content) in after.sorted(by: { $0.key < $1.key }) {
            if let old = before[path] {
                if old != content { p.append("\(path) was changed by a failed run") }
            } else if !e.allowNew.contains(where: { path.hasPrefix($0) }) {
                p.append("left behind: \(path)")
            }
        }
        for path in before.keys where after[path] == nil { p.append("\(path) was removed by a failed run") }
        if !p.isEmpty { p.append("ran: apkit \(shown)") }
        return p
    }

    /// Every non-directory entry under `root` (relative path -> content, link target or type).
    static func snapshot(_ root: String) -> [String: Data] {
        var result: [String: Data] = [:]
        guard let e = FileManager.default.enumerator(atPath: root) else { return result }
        while let rel = e.nextObject() as? String {
            let p = root + "/" + rel
            var st = stat()
            guard lstat(p, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: continue
            case S_IFREG: result[rel] = FileManager.default.contents(atPath: p) ?? Data("unreadable \(st.st_size) \(st.st_mtim.tv_sec)".utf8)
            case S_IFLNK: result[rel] = Data(((try? FileManager.default.destinationOfSymbolicLink(atPath: p)) ?? "").utf8)
            default: result[rel] = Data("special \(st.st_mode)".utf8)
            }
        }
        return result
    }
}

/// Inputs shared by the rows, made once: keys of every kind, good and broken packages, indexes.
final class BadInputFixtures: Sendable {
    static let shared = BadInputFixtures()
    static let passphrase = "s3cret-Pass-4711"
    static let wrongPassphrase = "WRONG-pass-0815"
    static var secrets: [String] { [passphrase, wrongPassphrase] }

    let dir = TempDir("apkit-badinput-fixtures")
    let rsa, rsaPub, ec, ecPub, other, otherPub: String
    let ed25519, p384, encrypted, trusted: String
    let stage, bigStage: String
    let v2, v3, noarch, v2big, untrustedPkg, untrustedIndex, v3Index: String
    let empty, random, truncV2, truncV3: String

    private init() {
        func keygen(_ args: [String]) -> (String, String) {
            let r = try! apkit(["keygen"] + args)
            precondition(r.status == 0, r.stderr)
            let lines = r.stdout.split(separator: "\n").map(String.init)
            return (lines[0], lines[1])
        }
        func run(_ tool: String, _ args: [String]) {
            let r = try! runProcess(tool, args, environment: ["SOURCE_DATE_EPOCH": "1700000000", "PACKAGER_PRIVKEY": "", "APKIT_KEY_PASSPHRASE": ""])
            precondition(r.status == 0, "\(tool) \(args): \(r.stderr)")
        }
        (rsa, rsaPub) = keygen(["--name", "bad-input", "--bits", "2048", "--output-dir", dir.sub("keys")])
        (ec, ecPub) = keygen(["--type", "ec", "--name", "bad-input-ec", "--output-dir", dir.sub("keys")])
        (other, otherPub) = keygen(["--name", "stranger", "--bits", "2048", "--output-dir", dir.sub("other")])
        trusted = dir.sub("trusted")
        dir.mkdir("trusted")
        for p in [rsaPub, ecPub] {
            try! FileManager.default.copyItem(atPath: p, toPath: trusted + "/" + (p as NSString).lastPathComponent)
        }
        ed25519 = dir.sub("ed25519.pem")
        run("openssl", ["genpkey", "-algorithm", "ed25519", "-out", ed25519])
        p384 = dir.sub("p384.pem")
        run("openssl", ["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", p384])
        encrypted = dir.sub("enc.rsa")
        run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-aes-256-cbc",
                        "-pass", "pass:" + BadInputFixtures.passphrase, "-out", encrypted])
        for k in [ed25519, p384, encrypted] { chmod(k, 0o600) }

        stage = dir.sub("stage")
        dir.write("stage/usr/share/hello/a.txt", "hello\n")
        bigStage = dir.sub("big")
        var g = SeededGenerator(seed: 11)
        dir.write("big/blob", Data((0..<300_000).map { _ in UInt8.random(in: 0...255, using: &g) }))

        let pk = dir.sub("pkgs")
        run(apkitBinary, ["pack", stage, "--name", "hello", "--version", "1.0-r0", "--arch", "x86_64", "--key", rsa, "--output", pk + "/v2"])
        v2 = pk + "/v2/hello-1.0-r0.apk"
        run(apkitBinary, ["pack", stage, "--name", "hello3", "--version", "1.0-r0", "--arch", "x86_64", "--key", ec,
                          "--format", "v3", "--output", pk + "/v3"])
        v3 = pk + "/v3/hello3-1.0-r0.apk"
        run(apkitBinary, ["pack", stage, "--name", "na", "--version", "1.0-r0", "--arch", "noarch", "--key", rsa, "--output", pk + "/noarch"])
        noarch = pk + "/noarch/na-1.0-r0.apk"
        run(apkitBinary, ["pack", bigStage, "--name", "big", "--version", "1.0-r0", "--arch", "x86_64", "--key", rsa, "--output", pk + "/big"])
        v2big = pk + "/big/big-1.0-r0.apk"
        run(apkitBinary, ["pack", stage, "--name", "oth", "--version", "1.0-r0", "--arch", "x86_64", "--key", other, "--output", pk + "/other"])
        untrustedPkg = pk + "/other/oth-1.0-r0.apk"
        untrustedIndex = dir.sub("untrusted/APKINDEX.tar.gz")
        run(apkitBinary, ["index", "--key", other, "--allow-untrusted", "-o", untrustedIndex, v2])
        v3Index = dir.sub("v3index/packages.adb")
        run(apkitBinary, ["index", "--key", ec, "-o", v3Index, v3])

        empty = dir.write("bad/empty.apk", Data())
        var r = SeededGenerator(seed: 42)
        random = dir.write("bad/random.apk", Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &r) }))
        let d2 = FileManager.default.contents(atPath: v2)!, d3 = FileManager.default.contents(atPath: v3)!
        truncV2 = dir.write("bad/trunc2.apk", d2.prefix(d2.count / 2))
        truncV3 = dir.write("bad/trunc3.apk", d3.prefix(d3.count / 2))
    }
}
