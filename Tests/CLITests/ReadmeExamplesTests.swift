import Foundation
import TestSupport
import XCTest

/// Every shell example of README.md and docs/*.md is run, so the README cannot rot (issue 12).
///
/// `Tests/tools/readme_examples.py` extracts every code block; each command of a shell block (and
/// each shell line of a CI job's YAML: `script:`, `run:`) is either run here or listed in
/// `allowList` with the reason it cannot run in a test. Nothing else is skipped: a new example is
/// run as soon as it is in the README, and fails the test until it works. The commands run in
/// README order, one section (`##` heading) at a time in a fresh copy of a work directory that
/// holds what the examples take for granted (a staged tree `stage/`, keys named as the examples
/// name them, a project; in a section that builds nothing, a package built already), with HOME in the same temporary world, the built
/// `apkit` first on PATH, and `/tmp/...`, `/srv/repo`, `s3://BUCKET` and the S3 endpoint pointed
/// into the world or at the local S3 test server. Within a section, the working directory and
/// exported variables carry over from one command to the next, as in one terminal.
///
/// Checks: exit status 0 (or what the README says); the output the README shows (an output block
/// after a command, `# prints ...`); every package and index an example writes or publishes is
/// verified by `apkit verify` and by an independent reader (`apk_check.py` for v2,
/// `adb_reader.py` for v3) against the keys in the world; plus the checks in `checkCommand`.
final class ReadmeExamplesTests: XCTestCase {
    struct Command: Decodable {
        let line: Int; let text: String; let comment: String; let key: String?
        /// The lines a `console` block shows after the command.
        let output: [String]?
    }
    struct Block: Decodable {
        let file: String; let line: Int; let section: String; let kind: String; let text: String
        let commands: [Command]; let follows: Int?; let index: Int
    }
    struct Extracted: Decodable { let blocks: [Block] }

    /// An example that is not run: `pattern` (a regular expression, matched from the start) is
    /// matched against the command (or, with `wholeBlock`, the block's first command).
    struct Allowed {
        let file: String
        let pattern: String
        var key: String? = nil
        var wholeBlock = false
        /// Run instead from the files of the packages the section built (extracted into a
        /// directory), and its output checked against the README's `# comment`.
        var runFromPackages = false
        let reason: String
    }

    static let allowList: [Allowed] = [
        Allowed(file: "README.md", pattern: #"apkit\.yml / PAKman's instellar\.yml"#, wholeBlock: true,
                reason: "the pipeline diagram at the top: not a command"),
        Allowed(file: "README.md", pattern: #"bash \.ci/run quickstart$"#,
                reason: "set-up: apt-get installs the system libraries (root) and builds apkit in release mode; "
                    + "the `apkit quickstart` it ends with is run by QuickstartTests"),
        Allowed(file: "README.md", pattern: #"bash \.ci/run$"#,
                reason: "set-up: apt-get installs, fuzzes for minutes and runs the whole test suite, this test included"),
        Allowed(file: "README.md", pattern: #"apk add --repository "#,
                reason: "apk-tools on an Alpine host, as root"),
        Allowed(file: "README.md", pattern: #"hello-svc greet "#, runFromPackages: true,
                reason: "runs the program the `apk add` above installs on an Alpine host; "
                    + "the test runs it from the built package's files instead"),
        Allowed(file: "README.md", pattern: #"rc-update add "#,
                reason: "OpenRC on an Alpine host, as root"),
        Allowed(file: "README.md", pattern: #".*/etc/apk/"#,
                reason: "writes the apk configuration (/etc/apk) of an Alpine host or OpenWrt router, as root"),
        Allowed(file: "README.md", pattern: #"apk update && apk add "#,
                reason: "apk-tools on an OpenWrt router"),
        Allowed(file: "README.md", pattern: #"apkit index --key KEY\.rsa \["#,
                reason: "a synopsis with [optional] parts, not a command: each option it names is checked against "
                    + "`apkit index --help` instead, and `apkit index` runs in the v3 section"),
        Allowed(file: "README.md", pattern: #"python3 Benchmarks/run\.py"#,
                reason: "the benchmark suite: 4 to 22 minutes, needs nfpm and pigz"),
        Allowed(file: "README.md", pattern: #"make install"#,
                reason: "a static release build (about 9 minutes) installed into /usr/local; "
                    + "InstallTests runs it into a temp prefix (APKIT_TEST_INSTALL=1)"),
        Allowed(file: "README.md", pattern: #"sha256sum -c apkit-"#,
                reason: "needs a downloaded release tarball (`make release`, a static release build of minutes); "
                    + "InstallTests checks make release's checksum file"),
        Allowed(file: "README.md", pattern: #"sudo tar -xzf apkit-"#,
                reason: "installs a release tarball into /usr/local as root"),
        Allowed(file: "docs/ci.md", pattern: #"sudo apt-get install "#, key: "run",
                reason: "installs system packages on a GitHub runner"),
        Allowed(file: "docs/ci.md", pattern: #"."#, key: "before_script",
                reason: "the GitLab image's set-up: apt-get installs, and downloads a release of OWNER/apkit "
                    + "(a placeholder) from GitHub"),
    ]

    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    static var tools: URL { repoRoot.appendingPathComponent("Tests/tools") }

    /// README.md, then docs/*.md.
    static func extract() throws -> [Block] {
        let docs = try FileManager.default.contentsOfDirectory(atPath: repoRoot.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        let r = try runProcess("python3", [tools.appendingPathComponent("readme_examples.py").path, "README.md"] + docs,
                               cwd: repoRoot.path,
                               environment: ["PATH": productsDirectory.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")])
        guard r.status == 0 else { throw NSError(domain: "readme_examples", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        return try JSONDecoder().decode(Extracted.self, from: r.stdoutData).blocks
    }

    static func matches(_ pattern: String, _ text: String) -> Bool {
        text.range(of: "^(" + pattern + ")", options: .regularExpression) != nil
    }

    static func allowed(_ c: Command, in b: Block) -> Allowed? {
        allowList.first { a in
            a.file == b.file && (a.key == nil || a.key == c.key)
                && matches(a.pattern, a.wholeBlock ? (b.commands.first?.text ?? "") : c.text)
        }
    }

    // MARK: - The plan: every example is run or allow-listed

    /// Static checks: every allow-list entry is used, the set-up section has exactly the two
    /// commands, every output block follows a command that is run, and the allow-listed synopsis
    /// only names options `apkit index --help` knows.
    func testEveryExampleIsRunOrAllowListed() throws {
        let blocks = try Self.extract()
        XCTAssertTrue(blocks.contains { $0.file == "README.md" && $0.kind == "shell" }, "no shell example found in README.md")
        var used = Set<Int>()
        var run = 0
        for b in blocks {
            for c in b.commands {
                if let a = Self.allowed(c, in: b) {
                    used.insert(Self.allowList.firstIndex { $0.file == a.file && $0.pattern == a.pattern && $0.key == a.key }!)
                } else {
                    run += 1
                }
            }
            if b.kind == "output" {
                guard let f = b.follows, let last = blocks[f].commands.last else {
                    XCTFail("\(b.file):\(b.line): an output block that follows no command"); continue
                }
                XCTAssertNil(Self.allowed(last, in: blocks[f]),
                             "\(b.file):\(b.line): output shown for an allow-listed command cannot be checked")
            }
        }
        for (i, a) in Self.allowList.enumerated() {
            XCTAssertTrue(used.contains(i), "allow-list entry matches no example any more: \(a.file): \(a.pattern)")
            XCTAssertFalse(a.reason.isEmpty)
        }
        XCTAssertGreaterThan(run, 20, "fewer examples run than expected")

        // README: exactly two set-up commands for a fresh machine.
        let setup = blocks.filter { $0.file == "README.md" && $0.section.hasPrefix("Set up on a fresh machine") }
            .flatMap(\.commands).map(\.text)
        XCTAssertEqual(setup, ["bash .ci/run quickstart", "bash .ci/run"])
        let ci = try String(contentsOf: Self.repoRoot.appendingPathComponent(".ci/run"), encoding: .utf8)
        XCTAssertTrue(ci.contains("exec swift run -c release apkit quickstart"), "bash .ci/run quickstart no longer runs apkit quickstart")
        XCTAssertTrue(ci.contains("\nswift test"), "bash .ci/run no longer runs swift test")

        // Synopses (allow-listed `apkit SUB ... [--opt ...]`): every option exists.
        for b in blocks {
            for c in b.commands where c.text.hasPrefix("apkit ") && c.text.contains(" [") {
                let sub = c.text.split(separator: " ")[1]
                let help = try apkit([String(sub), "--help"])
                XCTAssertEqual(help.status, 0, help.stderr)
                let options = c.text.matches(of: #/--[a-z][a-z0-9-]*/#).map { String($0.output) }
                XCTAssertFalse(options.isEmpty)
                for o in options {
                    XCTAssertTrue(help.stdout.contains(o), "\(b.file):\(c.line): apkit \(sub) has no option \(o)")
                }
            }
        }
    }

    // MARK: - Running the examples

    /// Every example that needs no S3 server, section by section.
    func testLocalExamplesRun() throws {
        let blocks = try Self.extract()
        let world = try ReadmeWorld(s3: nil)
        try runSections(blocks, world: world) { steps in !steps.contains { $0.text.contains("s3://") } }
    }

    /// The sections with an `s3://` example, against the local moto server.
    func testS3ExamplesRun() throws {
        guard let endpoint = ProcessInfo.processInfo.environment["APKIT_TEST_MOTO_ENDPOINT"] else {
            throw XCTSkip("S3 test servers are not running: run `source .ci/s3-servers.sh` first")
        }
        let blocks = try Self.extract()
        let world = try ReadmeWorld(s3: endpoint)
        try runSections(blocks, world: world) { steps in steps.contains { $0.text.contains("s3://") } }
    }

    /// Runs, in order, every section whose runnable commands `select` accepts.
    func runSections(_ blocks: [Block], world: ReadmeWorld, select: ([Command]) -> Bool) throws {
        var sections: [(key: String, blocks: [Block])] = []
        for b in blocks {
            let key = b.file + "#" + b.section
            if sections.last?.key == key { sections[sections.count - 1].blocks.append(b) } else { sections.append((key, [b])) }
        }
        var ran = 0
        for (n, s) in sections.enumerated() {
            let runnable = s.blocks.flatMap { b in b.commands.filter { Self.allowed($0, in: b) == nil } }
            guard !runnable.isEmpty, select(runnable) else { continue }
            // A section that builds starts from a project that has not been built yet; one that
            // does not, from one built with the key its examples name (KEY.rsa when none).
            let builds = runnable.contains { $0.text.contains("apkit build") || $0.text.contains("build.sh") }
            let key = runnable.lazy.compactMap { $0.text.firstMatch(of: #/--key ([\w.-]+)/#).map { String($0.output.1) } }.first
            let session = try world.session(n, builtWith: builds ? nil : key ?? "KEY.rsa")
            var lastResult: [Int: (ProcessResult, String)] = [:]
            for b in s.blocks {
                if b.kind == "output", let f = b.follows {
                    guard let (r, cwd) = lastResult[f] else { XCTFail("\(b.file):\(b.line): the command before this output did not run"); continue }
                    checkOutputBlock(b, r, cwd: cwd)
                    continue
                }
                defer { XCTAssertNoThrow(try session.checkNewArtifacts("\(b.file):\(b.line) (the block's examples)")) }
                for c in b.commands {
                    if let a = Self.allowed(c, in: b) {
                        if a.runFromPackages { try session.runFromPackages(c, block: b) }
                        continue
                    }
                    let started = Date()
                    let r = try session.run(c, block: b)
                    print(String(format: "readme example %@:%d: exit %d, %.1f s: %@", b.file, c.line, r.status,
                                 Date().timeIntervalSince(started), c.text))
                    lastResult[b.index] = (r, session.cwd)
                    ran += 1
                }
            }
        }
        XCTAssertGreaterThan(ran, 0, "no example ran")
    }

    /// An output block: each line (up to two spaces, after which the README comments it) is a
    /// line the command printed; `wrote FILE` names a file that exists.
    func checkOutputBlock(_ b: Block, _ r: ProcessResult, cwd: String) {
        let printed = Set((r.stdout + r.stderr).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        for line in b.text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let shown = String(line.split(separator: "  ", maxSplits: 1, omittingEmptySubsequences: false)[0])
                .trimmingCharacters(in: .whitespaces)
            XCTAssertTrue(printed.contains(shown), "\(b.file):\(b.line): README shows `\(shown)`; the command printed:\n\(r.stdout)\(r.stderr)")
            if shown.hasPrefix("wrote ") {
                XCTAssertTrue(FileManager.default.fileExists(atPath: cwd + "/" + shown.dropFirst(6)), "\(shown): no such file")
            }
        }
    }
}

// MARK: - The world the examples run in

/// A temporary HOME, /tmp, /srv and the template of the work directory each section starts from.
final class ReadmeWorld {
    let t = TempDir("apkit-readme")
    let s3: String?
    var home: String { t.sub("home") }
    var template: String { t.sub("template") }
    private(set) var pem = ""
    let bucketSuffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)

    init(s3: String?) throws {
        self.s3 = s3
        for d in ["home/.abuild", "home/.apkit", "tmp", "srv", "keysrc", "template/stage/usr/bin", "template/keys",
                  "template/my-project"] {
            t.mkdir(d)
        }
        // Keys named as the examples name them.
        func keygen(_ args: [String]) throws -> String {
            let r = try apkit(["keygen", "--output-dir", t.sub("keysrc")] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stdout.split(separator: "\n").first.map(String.init) ?? ""
        }
        let fm = FileManager.default
        func place(_ key: String, _ destinations: [String]) throws {
            for d in destinations {
                try fm.copyItem(atPath: key, toPath: d)
                try fm.copyItem(atPath: key + ".pub", toPath: d + ".pub")
            }
        }
        let rsa = try keygen(["--name", "KEY", "--bits", "2048"])
        try place(rsa, [t.sub("template/KEY.rsa")])
        let me = try keygen(["--name", "me", "--bits", "2048"])
        try place(me, [t.sub("template/me.rsa"), t.sub("home/.apkit/me.rsa"), t.sub("home/.abuild/me-1234abcd.rsa")])
        let ec = try keygen(["--type", "ec", "--name", "owrt"])
        try place(ec, [t.sub("template/owrt.ec.pem")])
        pem = try String(contentsOfFile: rsa, encoding: .utf8)

        // A staged tree, a script, a built package, a project for `apkit build` (Fixtures/apps/greet),
        // one for `apkit init` (a Makefile), and the repository's Fixtures and .github.
        t.write("template/stage/usr/bin/hello", "#!/bin/sh\necho \"Hello world\"\n", mode: 0o755)
        t.write("template/stage/usr/share/doc/hello/README", "hello\n")
        t.write("template/pre.sh", "#!/bin/sh\nexit 0\n", mode: 0o755)
        let greet = fixturesDirectory.appendingPathComponent("apps/greet").path
        for f in try fm.contentsOfDirectory(atPath: greet) {
            try fm.copyItem(atPath: greet + "/" + f, toPath: t.sub("template/" + f))
        }
        t.write("template/my-project/Makefile", """
            all:
            \tprintf '#!/bin/sh\\necho my-project\\n' > my-project
            install:
            \tinstall -D -m 0755 my-project $(DESTDIR)$(PREFIX)/bin/my-project

            """)
        try fm.createSymbolicLink(atPath: t.sub("template/Fixtures"), withDestinationPath: fixturesDirectory.path)
        try fm.createSymbolicLink(atPath: t.sub("template/.github"),
                                  withDestinationPath: ReadmeExamplesTests.repoRoot.appendingPathComponent(".github").path)
    }

    /// The S3 bucket standing for the README's `name`.
    func bucket(_ name: String) -> String { "readme-\(name.replacingOccurrences(of: ".", with: "-"))-\(bucketSuffix)" }

    /// The README's placeholders pointed into the world.
    func substitute(_ text: String) -> String {
        var s = text
        s = s.replacing(#/(^|[\s"'=])\/tmp\//#) { m in m.output.1 + t.sub("tmp/") }
        s = s.replacingOccurrences(of: "/srv/repo", with: t.sub("srv/repo"))
        s = s.replacing(#/[^\s="]*\.build\/release\/apkit/#) { _ in apkitBinary }
        s = s.replacing(#/s3:\/\/([a-z0-9][a-z0-9.-]*)/#) { m in "s3://" + bucket(String(m.output.1)) }
        if let s3 { s = s.replacingOccurrences(of: "http://127.0.0.1:9000", with: s3) }
        return s
    }

    /// The buckets a (substituted) command names.
    func buckets(in text: String) -> [String] {
        text.matches(of: #/s3:\/\/([a-z0-9][a-z0-9.-]*)/#).map { String($0.output.1) }
    }

    var environment: [String: String] {
        let parent = ProcessInfo.processInfo.environment
        var e = ["PATH": productsDirectory.path + ":" + (parent["PATH"] ?? "/usr/bin:/bin"), "HOME": home, "TMPDIR": t.sub("tmp"),
                 "USER": "tester", "LANG": "C.UTF-8", "APK_PRIVATE_KEY": pem]
        for (k, v) in parent where k.hasPrefix("PYENV") { e[k] = v }
        if let s3 {
            e["AWS_ACCESS_KEY_ID"] = "AKIAREADMEEXAMPLES00"
            e["AWS_SECRET_ACCESS_KEY"] = "readme-examples-secret-0123456789"
            e["AWS_REGION"] = "us-east-1"
            e["AWS_ENDPOINT_URL"] = s3
        }
        return e
    }

    /// A copy of the template. With `builtWith`, the project is built already, signed with that
    /// key: `packages/x86_64/hello-1.2.3-r0.apk` (as the README's `apkit pack` example makes it)
    /// and the public key in `keys/`.
    func session(_ n: Int, builtWith key: String?) throws -> ReadmeSession {
        let work = t.sub("work-\(n)")
        let cp = try runProcess("cp", ["-a", template, work])
        XCTAssertEqual(cp.status, 0, cp.stderr)
        if let key {
            let built = try apkit(["pack", "stage/", "--name", "hello", "--version", "1.2.3-r0", "--key", key, "--arch", "x86_64",
                                   "--output", "packages/x86_64/"], cwd: work)
            XCTAssertEqual(built.status, 0, built.stderr)
            try FileManager.default.copyItem(atPath: work + "/" + key + ".pub", toPath: work + "/keys/" + key + ".pub")
        }
        return try ReadmeSession(world: self, work: work)
    }

    /// Every package and index under the world, with its size and mtime.
    func artifacts() throws -> [String: String] {
        let r = try runProcess("find", [t.path, "-type", "f", "(", "-name", "*.apk", "-o", "-name", "APKINDEX.tar.gz", "-o", "-name", "*.adb", ")",
                                        "-printf", "%p\t%s %T@\n"])
        var out: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            if parts.count == 2 { out[String(parts[0])] = String(parts[1]) }
        }
        return out
    }

    /// The public keys in the world, by file name, in one directory.
    func trustedKeys() throws -> String {
        let dir = t.sub("trusted")
        try? FileManager.default.removeItem(atPath: dir)
        t.mkdir("trusted")
        let r = try runProcess("find", [t.path, "-name", "*.pub", "-type", "f", "-not", "-path", dir + "/*"])
        for p in r.stdout.split(separator: "\n").map(String.init) {
            let dest = dir + "/" + (p as NSString).lastPathComponent
            if !FileManager.default.fileExists(atPath: dest) { try FileManager.default.copyItem(atPath: p, toPath: dest) }
        }
        return dir
    }
}

/// One section's terminal: the working directory and exported variables carry over.
final class ReadmeSession {
    let world: ReadmeWorld
    let work: String
    let state: String
    private(set) var cwd: String
    private var artifacts: [String: String]

    init(world: ReadmeWorld, work: String) throws {
        self.world = world
        self.work = work
        state = work + ".state"
        cwd = work
        artifacts = try world.artifacts()
        let setup = "export CI_PROJECT_DIR=\(q(work))\ncd \(q(work))\n"
        guard FileManager.default.createFile(atPath: state, contents: Data(setup.utf8)) else { throw CocoaError(.fileWriteUnknown) }
    }

    func run(_ c: ReadmeExamplesTests.Command, block b: ReadmeExamplesTests.Block) throws -> ProcessResult {
        let where_ = "\(b.file):\(c.line): `\(c.text)`"
        let text = world.substitute(c.text)
        for name in world.buckets(in: c.text) { try createBucket(world.bucket(name)) }
        var cwdOverride: String?
        if let m = text.firstMatch(of: #/^apkit init --from (\S+)/#) { cwdOverride = try initProject(String(m.output.1)) }
        let saveTo = cwdOverride == nil ? state : state + ".init"
        let script = """
            source \(q(state)) || exit 97
            \(cwdOverride.map { "cd \(q($0))" } ?? "")
            trap '__s=$?; { export -p; printf "cd %q\\n" "$PWD"; } > \(q(saveTo)); printf %s "$PWD" > \(q(saveTo + ".cwd")); exit $__s' EXIT
            set -o pipefail
            \(text)
            """
        let env = world.environment
        let r = try runProcess("/usr/bin/env", ["-i"] + env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + ["bash", "-c", script])
        if cwdOverride == nil, let d = try? String(contentsOfFile: state + ".cwd", encoding: .utf8), !d.isEmpty { cwd = d }
        let ranIn = cwdOverride ?? cwd
        checkCommand(c, text: text, r, cwd: ranIn, where_)
        for name in world.buckets(in: c.text) where r.status == 0 { try download(world.bucket(name), where_) }
        return r
    }

    // MARK: Checks of single commands

    /// Exit status 0 unless the README says otherwise, plus what the README says the command
    /// prints or writes.
    func checkCommand(_ c: ReadmeExamplesTests.Command, text: String, _ r: ProcessResult, cwd: String, _ w: String) {
        let out = r.stdout.split(separator: "\n").map(String.init)
        if c.text.hasPrefix("apkit vercmp --check ") {
            // "prints the invalid ones, exit status = how many"
            let args = c.text.split(separator: " ").dropFirst(3).map(String.init)
            XCTAssertEqual(Int(r.status), out.count, "\(w): exit status is not the number of invalid versions: \(r.stdout)")
            XCTAssertGreaterThan(out.count, 0, "\(w): the example shows no invalid version")
            for v in out { XCTAssertTrue(args.contains(v), "\(w): printed \(v)") }
            return
        }
        XCTAssertEqual(r.status, 0, "\(w) failed (exit \(r.status)):\n\(r.stdout)\(r.stderr)")
        guard r.status == 0 else { return }
        let printed = Set((r.stdout + r.stderr).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        for shown in c.output ?? [] {
            XCTAssertTrue(printed.contains(shown.trimmingCharacters(in: .whitespaces)), "\(w): README shows `\(shown)`; it printed:\n\(r.stdout)\(r.stderr)")
        }
        if c.text.hasPrefix("apkit vercmp ") {
            XCTAssertTrue(["<", "=", ">"].contains(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(w): printed \(r.stdout)")
        }
        if c.text.hasPrefix("apkit keygen") {
            // "prints the .rsa and .rsa.pub paths" (or .ec.pem): the private key 0600, then its .pub.
            XCTAssertEqual(out.count, 2, "\(w): \(r.stdout)")
            if out.count == 2 {
                XCTAssertEqual(out[1], out[0] + ".pub")
                let p = out[0].hasPrefix("/") ? out[0] : cwd + "/" + out[0]
                let mode = (try? FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as? Int) ?? nil
                XCTAssertEqual(mode, 0o600, "\(w): \(p)")
                XCTAssertTrue(FileManager.default.fileExists(atPath: (out[1].hasPrefix("/") ? "" : cwd + "/") + out[1]))
                if c.comment.contains("owrt-<hex>.ec.pem") {
                    XCTAssertNotNil(out[0].firstMatch(of: #/owrt-[0-9a-f]{8}\.ec\.pem$/#), "\(w): \(out[0])")
                }
            }
        }
        if c.text.hasPrefix("apkit --version") {
            XCTAssertNotNil(r.stdout.firstMatch(of: #/^\d+\.\d+\.\d+/#), "\(w): \(r.stdout)")
        }
        if c.text.hasPrefix("apkit verify") {
            XCTAssertFalse(out.isEmpty)
            for l in out { XCTAssertTrue(l.hasSuffix(": OK"), "\(w): \(l)") }
        }
        if c.text.hasPrefix("apkit inspect "), let name = c.text.split(separator: "/").last?.split(separator: "-").first {
            XCTAssertTrue(r.stdout.contains(String(name)), "\(w): \(r.stdout)")
        }
        if c.text.hasPrefix("tar -tvzf ") {
            // "GNU tar reads all three members": signature, control, data.
            XCTAssertTrue(r.stdout.contains(".SIGN.RSA"), "\(w): \(r.stdout)")
            XCTAssertTrue(r.stdout.contains(".PKGINFO"), "\(w): \(r.stdout)")
            XCTAssertTrue(r.stdout.contains(" usr/"), "\(w): \(r.stdout)")
        }
        if c.text.hasPrefix("apkit pack ") || c.text.contains("apkit build") || c.text.hasPrefix("apkit index ") {
            // Every file it names (a package, an index, a repository) is there.
            for path in out.compactMap({ l -> String? in
                let p = l.hasPrefix("wrote ") ? String(l.dropFirst(6)) : l.components(separatedBy: ": ").first ?? l
                return p.hasSuffix(".apk") || p.hasSuffix(".adb") || p.hasSuffix(".tar.gz") ? p : nil
            }) where !path.hasPrefix("s3://") {
                XCTAssertFalse(path.contains("//"), "\(w): prints \(path)")
                XCTAssertTrue(FileManager.default.fileExists(atPath: path.hasPrefix("/") ? path : cwd + "/" + path), "\(w): \(path) not written")
            }
        }
        if c.text.hasPrefix("apkit publish --to ") && !c.text.contains("s3://"),
           let to = text.firstMatch(of: #/--to (\S+)/#).map({ String($0.output.1) }) {
            let repo = to.hasPrefix("/") ? to : cwd + "/" + to
            let keys = (try? FileManager.default.contentsOfDirectory(atPath: repo + "/keys")) ?? []
            XCTAssertFalse(keys.isEmpty, "\(w): no public key in \(repo)/keys")
            let archs = ((try? FileManager.default.contentsOfDirectory(atPath: repo)) ?? []).filter { $0 != "keys" && !$0.hasPrefix(".") }
            XCTAssertFalse(archs.isEmpty, "\(w): nothing published")
            for a in archs {
                let files = (try? FileManager.default.contentsOfDirectory(atPath: repo + "/" + a)) ?? []
                XCTAssertTrue(files.contains("APKINDEX.tar.gz") || files.contains("packages.adb"), "\(w): no index in \(a): \(files)")
                XCTAssertTrue(files.contains { $0.hasSuffix(".apk") }, "\(w): no package in \(a)")
            }
        }
        if c.text.contains("apkit init") && !c.text.contains("--stdout") {
            XCTAssertTrue(FileManager.default.fileExists(atPath: cwd + "/apkit.yml") || FileManager.default.fileExists(atPath: cwd + "/my-project/apkit.yml"),
                          "\(w): no apkit.yml written")
        }
        if let m = text.firstMatch(of: #/^apkit init --from (\S+)/#) { checkConverted(String(m.output.1), r, cwd: cwd, w) }
    }

    /// An example that runs an installed program: every package under the working directory is
    /// extracted (GNU tar reads the three members) into one root, and the program is run from
    /// its `/usr/bin`; it must print what the README's `# comment` shows.
    func runFromPackages(_ c: ReadmeExamplesTests.Command, block b: ReadmeExamplesTests.Block) throws {
        let w = "\(b.file):\(c.line): `\(c.text)`"
        let installed = TempDir("apkit-readme-installed")  // outside the world: not scanned for packages and keys
        let root = installed.path
        let found = try runProcess("find", [cwd, "-name", "*.apk", "-type", "f"])
        let packages = found.stdout.split(separator: "\n").map(String.init)
        XCTAssertFalse(packages.isEmpty, "\(w): no package built before it")
        for p in packages {
            let x = try runProcess("tar", ["-xzf", p, "-C", root, "--warning=no-unknown-keyword"])
            XCTAssertEqual(x.status, 0, "\(w): tar -xzf \(p): \(x.stderr)")
        }
        let words = c.text.split(separator: " ").map(String.init)
        let r = try runProcess(root + "/usr/bin/" + words[0], Array(words.dropFirst()))
        XCTAssertEqual(r.status, 0, "\(w): \(r.stderr)")
        XCTAssertFalse(c.comment.isEmpty, "\(w): the README shows no output to check")
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), c.comment, w)
    }

    /// `apkit init --from FILE` runs in a project holding FILE (a git repository tagged v1.0.0).
    func initProject(_ file: String) throws -> String {
        let dir = work + "/from-" + file
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        switch file {
        case "instellar.yml":
            for f in ["instellar.yml", "app.sh"] {
                try FileManager.default.copyItem(atPath: fixturesDirectory.appendingPathComponent("apps/pakman-demo/" + f).path, toPath: dir + "/" + f)
            }
        case "nfpm.yaml":
            try Data("""
                name: hello-nfpm
                version: v1.4.0
                prerelease: rc1
                release: 1
                arch: amd64
                description: |
                  Hello from nFPM
                  More text.
                maintainer: Me <me@example.org>
                homepage: https://example.org
                license: MIT
                vendor: Acme
                depends:
                  - musl (>= 1.2)
                contents:
                  - src: hello.sh
                    dst: /usr/bin/hello-nfpm
                    file_info:
                      mode: 0755

                """.utf8).write(to: URL(fileURLWithPath: dir + "/nfpm.yaml"))
            try Data("#!/bin/sh\necho hello\n".utf8).write(to: URL(fileURLWithPath: dir + "/hello.sh"))
        default:
            XCTFail("apkit init --from \(file): no sample of that file in this test")
        }
        let git = "git init -q && git add -A && git -c user.name=t -c user.email=t@example.org commit -qm init && git tag v1.0.0"
        let g = try runProcess("bash", ["-c", git], cwd: dir)
        XCTAssertEqual(g.status, 0, g.stderr)
        return dir
    }

    /// The converted apkit.yml builds; from instellar.yml, byte-identical packages to the original's.
    func checkConverted(_ file: String, _ r: ProcessResult, cwd: String, _ w: String) {
        do {
            let env = ["SOURCE_DATE_EPOCH": "1700000000", "HOME": world.home]
            let a = try apkit(["build", "apkit.yml", "--key", world.template + "/KEY.rsa", "--output", "out-apkit"], cwd: cwd, environment: env)
            XCTAssertEqual(a.status, 0, "\(w): the converted apkit.yml does not build: \(a.stderr)")
            if file == "instellar.yml" {
                let b = try apkit(["build", "instellar.yml", "--key", world.template + "/KEY.rsa", "--output", "out-pakman"], cwd: cwd, environment: env)
                XCTAssertEqual(b.status, 0, b.stderr)
                let diff = try runProcess("diff", ["-r", "out-apkit", "out-pakman"], cwd: cwd)
                XCTAssertEqual(diff.status, 0, "\(w): packages from apkit.yml and instellar.yml differ: \(diff.stdout)")
            } else {
                XCTAssertTrue(r.stderr.contains("apkit: not converted: vendor"), "\(w): \(r.stderr)")
                XCTAssertTrue(a.stdout.contains("hello-nfpm-1.4.0_rc1-r1.apk"), "\(w): \(a.stdout)")
            }
        } catch { XCTFail("\(w): \(error)") }
    }

    // MARK: S3

    func boto(_ script: String, _ args: [String]) throws -> ProcessResult {
        try runPython("""
            import sys, os, boto3
            from botocore.config import Config
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='AKIAREADMEEXAMPLES00',
                              aws_secret_access_key='readme-examples-secret-0123456789', config=Config(s3={'addressing_style': 'path'}))

            """ + script, [world.s3 ?? ""] + args)
    }

    func createBucket(_ name: String) throws {
        XCTAssertNotNil(world.s3, "an s3:// example runs without an S3 server")
        let r = try boto("""
            try: s3.create_bucket(Bucket=sys.argv[2])
            except s3.exceptions.BucketAlreadyOwnedByYou: pass
            """, [name])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    /// Downloads the bucket into the world (so the packages and indexes in it are verified) and
    /// checks it holds a repository: packages, an index per arch, the public key.
    func download(_ bucket: String, _ w: String) throws {
        let dir = world.t.sub("s3/" + bucket)
        let r = try boto("""
            for o in s3.list_objects_v2(Bucket=sys.argv[2]).get('Contents', []):
                p = os.path.join(sys.argv[3], o['Key']); os.makedirs(os.path.dirname(p), exist_ok=True)
                s3.download_file(sys.argv[2], o['Key'], p); print(o['Key'])
            """, [bucket, dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let keys = r.stdout.split(separator: "\n")
        XCTAssertTrue(keys.contains { $0.hasSuffix(".apk") }, "\(w): no package in the bucket: \(keys)")
        XCTAssertTrue(keys.contains { $0.hasSuffix("/APKINDEX.tar.gz") || $0.hasSuffix("/packages.adb") }, "\(w): no index in the bucket: \(keys)")
        XCTAssertTrue(keys.contains { $0.contains("keys/") && $0.hasSuffix(".pub") }, "\(w): no public key in the bucket: \(keys)")
    }

    // MARK: Packages and indexes

    /// Every package or index written (or changed) by the last block (checked after the block:
    /// a CI job's key may only be published by its last command): `apkit verify` and the
    /// independent reader of its format accept it with the world's public keys.
    func checkNewArtifacts(_ w: String) throws {
        let now = try world.artifacts()
        let changed = now.filter { artifacts[$0.key] != $0.value }.keys.sorted()
        artifacts = now
        guard !changed.isEmpty else { return }
        let keys = try world.trustedKeys()
        let pubs = try FileManager.default.contentsOfDirectory(atPath: keys).map { keys + "/" + $0 }
        for f in changed {
            let v = try apkit(["verify", "--keys-dir", keys, f])
            XCTAssertEqual(v.status, 0, "\(w): apkit verify \(f): \(v.stdout)\(v.stderr)")
            let head = (FileHandle(forReadingAtPath: f)?.readData(ofLength: 3)).map { [UInt8]($0) } ?? []
            if head.starts(with: [0x1f, 0x8b]) {
                try checkV2(f, keys: keys, w)
            } else if head == Array("ADB".utf8) {
                let r = try runProcess("python3", [ReadmeExamplesTests.tools.appendingPathComponent("adb_reader.py").path, "verify", f, "--pubkey"] + pubs)
                XCTAssertEqual(r.status, 0, "\(w): adb_reader.py verify \(f): \(r.stdout)\(r.stderr)")
            } else {
                XCTFail("\(w): \(f) is neither a v2 nor a v3 file")
            }
        }
    }

    func checkV2(_ f: String, keys: String, _ w: String) throws {
        let script = ReadmeExamplesTests.tools.appendingPathComponent("apk_check.py").path
        let first = try runProcess("python3", [script, f])
        XCTAssertEqual(first.status, 0, "\(w): apk_check.py \(f): \(first.stderr)")
        guard first.status == 0, let report = try JSONSerialization.jsonObject(with: first.stdoutData) as? [String: Any],
              let sigs = report["signatures"] as? [String], let sig = sigs.first else {
            return XCTFail("\(w): \(f): no signature")
        }
        // .SIGN.RSA256.NAME.rsa.pub: the key's file name follows the third dot.
        let keyName = sig.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false).last.map(String.init) ?? ""
        XCTAssertTrue(FileManager.default.fileExists(atPath: keys + "/" + keyName), "\(w): \(f): signed by \(keyName), which is nowhere in the world")
        let signed = try runProcess("python3", [script, f, "--pubkey", keys + "/" + keyName])
        let full = try JSONSerialization.jsonObject(with: signed.stdoutData) as? [String: Any] ?? [:]
        let valid = full["signature_valid"] as? [String: Bool] ?? [:]
        XCTAssertEqual(valid.count, sigs.count, "\(w): \(f)")
        XCTAssertTrue(valid.values.allSatisfy { $0 }, "\(w): \(f): signatures \(valid)")
        if (full["members"] as? Int) == 3 {
            XCTAssertEqual(full["checksum_mismatches"] as? [String], [], "\(w): \(f)")
            let pkginfo = full["pkginfo"] as? String ?? ""
            XCTAssertTrue(pkginfo.contains("datahash = \(full["datahash"] as? String ?? "?")\n"), "\(w): \(f): datahash")
        } else {
            XCTAssertEqual(full["members"] as? Int, 2, "\(w): \(f)")
            XCTAssertTrue((full["apkindex"] as? String ?? "").contains("\nP:"), "\(w): \(f): no entry in APKINDEX")
        }
    }
}

private func q(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
