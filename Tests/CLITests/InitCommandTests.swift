import Foundation
import TestSupport
import XCTest

/// `apkit init`: a new apkit.yml that `apkit build` builds as it is, and conversions of PAKman's
/// instellar.yml and nFPM's nfpm.yaml with what could not be converted listed on stderr.
final class InitCommandTests: XCTestCase {
    let epoch = ["SOURCE_DATE_EPOCH": "1700000000"]

    /// A small C project with a Makefile whose install target honours DESTDIR and PREFIX.
    func cProject(_ t: TempDir) {
        t.write("hello.c", "#include <stdio.h>\nint main(void) { puts(\"hello from init\"); return 0; }\n")
        t.write("Makefile", """
            CC ?= cc
            PREFIX ?= /usr/local

            hello: hello.c
            \t$(CC) -O2 -o $@ hello.c

            install: hello
            \tinstall -Dm755 hello $(DESTDIR)$(PREFIX)/bin/hello

            """)
    }

    func git(_ args: [String], _ dir: String) throws {
        let r = try runProcess("git", ["-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main",
                                       "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"] + args, cwd: dir)
        XCTAssertEqual(r.status, 0, "git \(args): \(r.stderr)")
    }

    func apkFiles(_ dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".apk") }.sorted()
    }

    func testInitInACProjectWithGitThenBuild() throws {
        let t = TempDir()
        cProject(t)
        try git(["init", "-q"], t.path)
        try git(["remote", "add", "origin", "git@github.com:acme/Hello_World.git"], t.path)
        try git(["add", "."], t.path)
        try git(["commit", "-qm", "initial"], t.path)
        try git(["tag", "v1.2.0"], t.path)

        let r = try apkit(["init"], cwd: t.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "wrote apkit.yml\n")
        XCTAssertTrue(r.stderr.contains("name hello-world (from the git remote)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("version 1.2.0 from git describe --tags"), r.stderr)
        let yml = try String(contentsOfFile: t.sub("apkit.yml"), encoding: .utf8)
        XCTAssertTrue(yml.contains("name: hello-world\n"), yml)
        XCTAssertFalse(yml.contains("\nversion:"), "the version is left to git describe: \(yml)")
        XCTAssertTrue(yml.contains("make install DESTDIR=\"$pkgdir\" PREFIX=/usr"), yml)
        XCTAssertTrue(yml.contains("# "), "commented")

        // apkit build builds it as written.
        let b = try apkit(["build", "--key", TestKeys.privateKey], cwd: t.path,
                          environment: epoch.merging(["GITHUB_RUN_NUMBER": "7"]) { $1 })
        XCTAssertEqual(b.status, 0, b.stderr)
        let files = apkFiles(t.sub("packages"))
        XCTAssertEqual(files.count, 1, "\(files)")
        XCTAssertTrue(files[0].hasSuffix("/hello-world-1.2.0-r7.apk"), files[0])
        let pkg = t.sub("packages/" + files[0])
        let v = try apkit(["verify", "--keys-dir", TestKeys.dir.path, pkg])
        XCTAssertEqual(v.status, 0, v.stdout + v.stderr)
        let i = try apkit(["inspect", "--json", pkg])
        XCTAssertEqual(i.status, 0, i.stderr)
        XCTAssertTrue(i.stdout.contains("usr/bin/hello"), i.stdout)

        // The packaged program runs (built for this host by the Makefile).
        let x = TempDir()
        let tar = try runProcess("tar", ["-xzf", pkg, "-C", x.path])
        XCTAssertEqual(tar.status, 0, tar.stderr)
        let run = try runProcess(x.sub("usr/bin/hello"), [])
        if run.status == 0 { XCTAssertEqual(run.stdout, "hello from init\n") }

        // A second init does not replace the config unless asked.
        let again = try apkit(["init"], cwd: t.path)
        XCTAssertEqual(again.status, 1)
        XCTAssertEqual(again.stderr, "apkit: error: apkit.yml already exists: pass --force to replace it, or --output FILE\n")
        XCTAssertEqual(try apkit(["init", "--force"], cwd: t.path).status, 0)
    }

    func testInitWithoutGitWritesAPlaceholderVersionAndBuilds() throws {
        let t = TempDir()
        let dir = t.sub("My Tool")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = TempDir()
        cProject(p)
        for f in ["hello.c", "Makefile"] { try FileManager.default.copyItem(atPath: p.sub(f), toPath: dir + "/" + f) }
        let r = try apkit(["init"], cwd: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let yml = try String(contentsOfFile: dir + "/apkit.yml", encoding: .utf8)
        XCTAssertTrue(yml.contains("name: my-tool\n"), yml)
        XCTAssertTrue(yml.contains("version: 0.1.0\n"), yml)
        let b = try apkit(["build", "--key", TestKeys.privateKey, "--output", t.sub("out")], cwd: dir, environment: epoch)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(apkFiles(t.sub("out")).map { ($0 as NSString).lastPathComponent }, ["my-tool-0.1.0-r0.apk"])
    }

    func testStdoutWritesNothing() throws {
        let t = TempDir()
        t.write("go.mod", "module example.org/acme/gadget\n\ngo 1.22\n")
        let r = try apkit(["init", "--stdout"], cwd: t.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("CGO_ENABLED=0 GOOS=linux go build"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: t.sub("apkit.yml")))
    }

    // MARK: - conversions

    static let nfpmYAML = """
        name: tool
        arch: amd64
        platform: linux
        version: v1.4.0
        prerelease: rc1
        release: 2
        epoch: 1
        section: utils
        priority: optional
        maintainer: Jane Doe <jane@example.org>
        description: |
          A tool.
          It does things.
        vendor: ACME
        homepage: https://example.org/tool
        license: Apache-2.0
        changelog: changelog.yaml
        depends: [bash, "libfoo (>= 1.2)"]
        recommends: [curl]
        suggests: [zsh]
        conflicts: [oldtool]
        provides: [tool-bin]
        replaces: [tool-legacy]
        contents:
          - src: dist/tool
            dst: /usr/bin/tool
            file_info: {mode: 0755, mtime: 2020-01-01T00:00:00Z}
          - src: conf/tool.conf
            dst: /etc/tool/tool.conf
            type: config|noreplace
            file_info: {mode: 0640, owner: root, group: wheel}
          - src: /usr/bin/tool
            dst: /usr/local/bin/tool
            type: symlink
          - dst: /var/lib/tool
            type: dir
            file_info: {mode: 0700}
          - src: dist/*.1
            dst: /usr/share/man/man1/
          - src: deb/tool.conf
            dst: /etc/tool/deb.conf
            packager: deb
          - dst: /var/log/tool.log
            type: ghost
        scripts:
          postinstall: scripts/postinstall.sh
          preremove: scripts/preremove.sh
        overrides:
          deb:
            depends: [libc6]
          apk:
            provides: [tool-bin, cmd:tool]
        rpm:
          group: Unspecified
        apk:
          scripts:
            postupgrade: scripts/postupgrade.sh
          signature:
            key_file: key.rsa
            key_name: origin

        """

    func testConvertsNFPMListingWhatItCannot() throws {
        let t = TempDir()
        t.write("nfpm.yaml", Self.nfpmYAML)
        t.write("dist/tool", "#!/bin/sh\necho tool\n", mode: 0o755)
        t.write("dist/tool.1", ".TH TOOL 1\n")
        t.write("conf/tool.conf", "level=1\n")
        t.write("scripts/postinstall.sh", "#!/bin/sh\necho installed\n")
        t.write("scripts/preremove.sh", "#!/bin/sh\necho removing\n")
        t.write("scripts/postupgrade.sh", "echo upgraded\n")

        let r = try apkit(["init", "--from", "nfpm.yaml"], cwd: t.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "wrote apkit.yml\n")
        let listed = r.stderr.split(separator: "\n").filter { $0.hasPrefix("apkit: not converted: ") }
            .map { String($0.dropFirst("apkit: not converted: ".count).prefix { $0 != ":" }) }
        XCTAssertEqual(Set(listed), ["overrides.deb", "description", "epoch", "section", "priority", "vendor", "changelog",
                                     "recommends", "suggests", "rpm", "contents[0].file_info.mtime", "contents[5]",
                                     "contents[6]", "apk.signature.key_file", "apk.signature.key_name"], r.stderr)
        XCTAssertEqual(listed.count, Set(listed).count, "each listed once: \(r.stderr)")

        let b = try apkit(["build", "--key", TestKeys.privateKey], cwd: t.path, environment: epoch)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(b.stdout, "wrote packages/x86_64/tool-1.4.0_rc1-r2.apk\n")
        let pkg = t.sub("packages/x86_64/tool-1.4.0_rc1-r2.apk")
        XCTAssertEqual(try apkit(["verify", "--keys-dir", TestKeys.dir.path, pkg]).status, 0)

        let info = try inspectJSON(pkg)
        let meta = info["info"] as? [String: Any] ?? [:]
        XCTAssertEqual(meta["description"] as? String, "A tool.", "\(meta)")
        XCTAssertEqual(meta["url"] as? String, "https://example.org/tool")
        XCTAssertEqual(meta["maintainer"] as? String, "Jane Doe <jane@example.org>")
        XCTAssertEqual(meta["license"] as? String, "Apache-2.0")
        XCTAssertEqual(meta["depends"] as? [String], ["bash", "libfoo>=1.2", "!oldtool", "/bin/sh"], "the scripts add /bin/sh")
        XCTAssertEqual(meta["provides"] as? [String], ["tool-bin", "cmd:tool"], "overrides.apk replaces provides")
        XCTAssertEqual(meta["replaces"] as? [String], ["tool-legacy"])
        let entries = info["files"] as? [[String: Any]] ?? []
        let owners = Dictionary(uniqueKeysWithValues: entries.map { ($0["path"] as? String ?? "", $0["owner"] as? String ?? "") })
        XCTAssertEqual(owners["etc/tool/tool.conf"], "root:wheel")

        // Files: the mapped ones with their modes and owners, the symlink, the directory, the glob.
        let x = TempDir()
        let tar = try runProcess("tar", ["-xzf", pkg, "-C", x.path, "--no-same-owner"])
        XCTAssertEqual(tar.status, 0, tar.stderr)
        let fm = FileManager.default
        XCTAssertEqual(try String(contentsOfFile: x.sub("usr/bin/tool"), encoding: .utf8), "#!/bin/sh\necho tool\n")
        XCTAssertEqual((try fm.attributesOfItem(atPath: x.sub("usr/bin/tool")))[.posixPermissions] as? Int, 0o755)
        XCTAssertEqual((try fm.attributesOfItem(atPath: x.sub("etc/tool/tool.conf")))[.posixPermissions] as? Int, 0o640)
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: x.sub("usr/local/bin/tool")), "/usr/bin/tool")
        XCTAssertEqual((try fm.attributesOfItem(atPath: x.sub("var/lib/tool")))[.posixPermissions] as? Int, 0o700)
        XCTAssertTrue(fm.fileExists(atPath: x.sub("usr/share/man/man1/tool.1")))
        XCTAssertFalse(fm.fileExists(atPath: x.sub("etc/tool/deb.conf")))
        // Scripts: nFPM's file names become the scripts' text.
        XCTAssertEqual(try String(contentsOfFile: x.sub(".post-install"), encoding: .utf8), "#!/bin/sh\necho installed\n")
        XCTAssertEqual(try String(contentsOfFile: x.sub(".pre-deinstall"), encoding: .utf8), "#!/bin/sh\necho removing\n")
        XCTAssertTrue(try String(contentsOfFile: x.sub(".post-upgrade"), encoding: .utf8).contains("echo upgraded"))
    }

    func testConvertsInstellarAndBuildsTheSamePackages() throws {
        let t = TempDir()
        t.write("app.sh", "#!/bin/sh\necho \"demo $*\"\n", mode: 0o755)
        t.write("instellar.yml", """
            dependencies:
              build: []
              runtime: [curl]
            stack: alpine/3.19
            kits:
              - name: web
                variables: []
            source:
              - https://example.org/src.tar.gz
            build:
              command: |
                mkdir -p bin
                install -m 0755 app.sh bin/demo
              destinations:
                - bin
            run:
              name: demo
              commands:
                - {name: migrate, binary: demo, call: migrate}
              services:
                - name: web
                  binary: demo
                  start:
                    call: serve --port "8080"
            hook:
              post-install: |
                echo "demo installed"

            """)
        try git(["init", "-q"], t.path)
        try git(["remote", "add", "origin", "https://github.com/acme/demo.git"], t.path)
        try git(["add", "."], t.path)
        try git(["commit", "-qm", "initial"], t.path)
        try git(["tag", "v2.0.0"], t.path)

        let r = try apkit(["init", "--from", "instellar.yml"], cwd: t.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        let listed = r.stderr.split(separator: "\n").filter { $0.hasPrefix("apkit: not converted: ") }
            .map { String($0.dropFirst("apkit: not converted: ".count).prefix { $0 != ":" }) }
        XCTAssertEqual(listed, ["stack", "kits", "source"], r.stderr)
        let yml = try String(contentsOfFile: t.sub("apkit.yml"), encoding: .utf8)
        XCTAssertTrue(yml.contains("license: MIT\n"), yml)
        XCTAssertTrue(yml.contains("  user: root\n"), yml)
        XCTAssertFalse(yml.contains("stack"), yml)

        // apkit.yml builds exactly what instellar.yml builds.
        let a = try apkit(["build", "instellar.yml", "--key", TestKeys.privateKey, "--output", t.sub("from-instellar")],
                          cwd: t.path, environment: epoch)
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try apkit(["build", "apkit.yml", "--key", TestKeys.privateKey, "--output", t.sub("from-apkit")],
                          cwd: t.path, environment: epoch)
        XCTAssertEqual(b.status, 0, b.stderr)
        let names = apkFiles(t.sub("from-apkit"))
        XCTAssertEqual(names, apkFiles(t.sub("from-instellar")))
        XCTAssertEqual(names.map { ($0 as NSString).lastPathComponent }, ["demo-2.0.0-r0.apk", "demo-openrc-2.0.0-r0.apk"])
        for n in names {
            XCTAssertEqual(FileManager.default.contents(atPath: t.sub("from-apkit/" + n)),
                           FileManager.default.contents(atPath: t.sub("from-instellar/" + n)), "\(n) differs")
        }
    }

    func testUnknownSourceIsAnError() throws {
        let t = TempDir()
        t.write("config.yml", "foo: 1\n")
        let r = try apkit(["init", "--from", "config.yml"], cwd: t.path)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("apkit: error: config.yml: cannot tell whether"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1)
    }

    func inspectJSON(_ pkg: String) throws -> [String: Any] {
        let r = try apkit(["inspect", "--json", pkg])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any] ?? [:]
    }
}
