import APKFormat
@testable import APKRecipe
import Foundation
import TestSupport
import XCTest

/// The engine, in process: staging, ownership, subpackages, scripts, errors at build time.
final class RecipeBuildTests: XCTestCase {
    func testAppPackageOwnershipScriptsAndOpenRCSubpackage() throws {
        let d = TempDir()
        d.write("src/app.sh", "#!/bin/sh\necho hi\n", mode: 0o755)
        d.write("static/index.html", "<p>hi</p>\n")
        let yaml = """
        name: shop
        version: 1.4.0
        description: The shop
        build:
          command: |
            mkdir -p dist/bin
            cp src/app.sh dist/bin/shop
            ln -sf shop dist/bin/shop-alias
            echo "built $pkgname $pkgver-r$pkgrel for $CARCH in $srcdir" > dist/BUILDINFO
          destinations: [dist/*, static]
        run:
          services:
            - {name: web, binary: shop, start: {call: serve}}
          commands:
            - {name: migrate, binary: shop, call: migrate}
        hook:
          post-install: echo installed
          pre-upgrade: echo upgrading
          post-upgrade: echo upgraded
          pre-deinstall: echo bye
          post-deinstall: echo gone
        """
        let built = try buildRecipe(yaml, in: d, arches: ["x86_64"], environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        XCTAssertEqual(built.map { ($0.path as NSString).lastPathComponent }, ["shop-1.4.0-r0.apk", "shop-openrc-1.4.0-r0.apk"])
        XCTAssertEqual(built.map(\.path), [d.sub("packages/x86_64/shop-1.4.0-r0.apk"), d.sub("packages/x86_64/shop-openrc-1.4.0-r0.apk")])

        let main = try checkPackage(built[0].path)
        XCTAssertTrue(main.signaturesValid)
        XCTAssertEqual(main.report["checksum_mismatches"] as? [String], [])
        XCTAssertEqual(main.controlNames.first, ".PKGINFO")
        XCTAssertEqual(Set(main.controlNames), [".PKGINFO", ".post-deinstall", ".post-install", ".post-upgrade", ".pre-deinstall", ".pre-install", ".pre-upgrade"])
        XCTAssertEqual(main.values("pkgname"), ["shop"])
        XCTAssertEqual(main.values("arch"), ["x86_64"])
        XCTAssertEqual(main.values("builddate"), ["1700000000"])
        XCTAssertTrue(main.values("depend").contains("/bin/sh"))
        XCTAssertEqual(main.values("license"), [""])
        // Everything under /var/lib/shop is the user's, except the generated service/env scripts.
        for name in ["var/lib/shop", "var/lib/shop/bin", "var/lib/shop/bin/shop", "var/lib/shop/bin/shop-alias",
                     "var/lib/shop/BUILDINFO", "var/lib/shop/static", "var/lib/shop/static/index.html"] {
            XCTAssertEqual(main.entry(name)?["uname"] as? String, "shop", name)
            XCTAssertEqual(main.entry(name)?["gname"] as? String, "shop", name)
        }
        for name in ["var/lib/shop/service/run", "var/lib/shop/service/finish", "var/lib/shop/service/log/run",
                     "var/lib/shop/bin/environment", "var/lib/shop/bin/env-exec", "var", "var/lib", "var/log/shop"] {
            XCTAssertEqual(main.entry(name)?["uname"] as? String, "root", name)
        }
        XCTAssertEqual(main.entry("var/lib/shop/bin/shop")?["mode"] as? Int, 0o755)
        XCTAssertEqual(main.entry("var/lib/shop/static/index.html")?["mode"] as? Int, 0o644)
        XCTAssertEqual(main.entry("var/lib/shop/bin/shop-alias")?["type"] as? String, "2")
        XCTAssertEqual(main.entry("var/lib/shop/bin/shop-alias")?["linkname"] as? String, "shop")
        XCTAssertEqual(main.entry("var/lib/shop/bin/shop")?["mtime"] as? Int, 1700000000)
        XCTAssertNil(main.entry("etc/init.d/shop"), "the init script is in the -openrc package")
        let buildInfo = try extractFromPackage(built[0].path, "var/lib/shop/BUILDINFO")
        XCTAssertEqual(buildInfo, "built shop 1.4.0-r0 for x86_64 in \(d.url.standardizedFileURL.path)\n")

        let preInstall = try extractFromPackage(built[0].path, ".pre-install")
        XCTAssertTrue(preInstall.contains("addgroup -S shop"))
        XCTAssertTrue(preInstall.contains("adduser -S -D -H -h /var/lib/shop -s /sbin/nologin -G shop -g shop shop"))
        XCTAssertEqual(try extractFromPackage(built[0].path, ".pre-upgrade"), "#!/bin/sh\n\necho upgrading\n")
        let run = try extractFromPackage(built[0].path, "var/lib/shop/service/run")
        XCTAssertTrue(run.contains("exec s6-setuidgid shop /var/lib/shop/bin/shop serve 2>&1"), run)

        let openrc = try checkPackage(built[1].path)
        XCTAssertTrue(openrc.signaturesValid)
        XCTAssertEqual(openrc.names, ["etc", "etc/init.d", "etc/init.d/shop"])
        XCTAssertEqual(openrc.entry("etc/init.d/shop")?["mode"] as? Int, 0o755)
        XCTAssertEqual(openrc.values("install_if"), ["openrc shop=1.4.0-r0"])
        XCTAssertEqual(openrc.values("depend"), ["s6"])
        XCTAssertEqual(openrc.controlNames, [".PKGINFO"])
        let initd = try extractFromPackage(built[1].path, "etc/init.d/shop")
        for (label, text) in [("initd", initd), ("run", run), ("pre-install", preInstall)] {
            let p = d.write("check-\(label)", text)
            XCTAssertEqual(try runProcess("sh", ["-n", p]).status, 0, label)
        }
    }

    func testSubpackageSplittingAndFileMappings() throws {
        let d = TempDir()
        let yaml = """
        name: libgreet
        version: 2.0
        type: plain
        description: Greeting library
        build:
          command: |
            install -Dm644 /dev/null "$pkgdir"/usr/lib/libgreet.so.2
            ln -s libgreet.so.2 "$pkgdir"/usr/lib/libgreet.so
            install -Dm644 greet.h "$pkgdir"/usr/include/greet.h
            mkdir -p "$pkgdir"/usr/lib/pkgconfig
            printf 'Name: greet\\nVersion: 2.0\\nDescription: g\\nLibs: -lgreet\\n' > "$pkgdir"/usr/lib/pkgconfig/greet.pc
            install -Dm644 README "$pkgdir"/usr/share/doc/libgreet/README
        files:
          - {source: greet.1, destination: /usr/share/man/man1/, mode: "0600", owner: "daemon:adm"}
          - {source: conf, destination: /etc/libgreet}
        subpackages:
          - suffix: -dev
            paths: [usr/include, usr/lib/pkgconfig, usr/lib/*.so]
            depends: ["libgreet=2.0-r0"]
          - suffix: doc
            paths: [/usr/share/doc, usr/share/man, usr/share/info]
            description: Greeting docs
            install_if: ["docs", "libgreet=2.0-r0"]
            arch: noarch
        """
        d.write("greet.h", "int greet(void);\n")
        d.write("README", "readme\n")
        d.write("greet.1", ".TH GREET 1\n")
        d.write("conf/a.conf", "a=1\n")
        d.write("conf/sub/b.conf", "b=2\n", mode: 0o600)
        let log = WarningLog()
        let built = try buildRecipe(yaml, in: d, arches: ["x86_64"], warn: log.sink)
        XCTAssertEqual(built.map(\.info.name), ["libgreet", "libgreet-dev", "libgreet-doc"])
        XCTAssertEqual(log.all, ["apkit.yml:21: subpackage libgreet-doc: 'usr/share/info' matches nothing in the package"])

        let main = try checkPackage(built[0].path)
        XCTAssertEqual(main.names, ["etc", "etc/libgreet", "etc/libgreet/a.conf", "etc/libgreet/sub", "etc/libgreet/sub/b.conf",
                                    "usr", "usr/lib", "usr/lib/libgreet.so.2"])
        XCTAssertEqual(main.entry("etc/libgreet/sub/b.conf")?["mode"] as? Int, 0o600)
        XCTAssertEqual(main.controlNames, [".PKGINFO"], "a plain package has no user")

        let dev = try checkPackage(built[1].path)
        XCTAssertEqual(dev.names, ["usr", "usr/include", "usr/include/greet.h", "usr/lib", "usr/lib/libgreet.so",
                                   "usr/lib/pkgconfig", "usr/lib/pkgconfig/greet.pc"])
        XCTAssertEqual(dev.values("pkgdesc"), ["Greeting library (dev)"])
        XCTAssertTrue(dev.values("depend").contains("libgreet=2.0-r0"))
        XCTAssertTrue(dev.values("provides").contains("pc:greet=2.0"), "\(dev.pkginfo)")

        let doc = try checkPackage(built[2].path)
        XCTAssertEqual(doc.names, ["usr", "usr/share", "usr/share/doc", "usr/share/doc/libgreet", "usr/share/doc/libgreet/README",
                                   "usr/share/man", "usr/share/man/man1", "usr/share/man/man1/greet.1"])
        XCTAssertEqual(doc.values("arch"), ["noarch"])
        XCTAssertEqual(doc.values("pkgdesc"), ["Greeting docs"])
        XCTAssertEqual(doc.values("install_if"), ["docs libgreet=2.0-r0"])
        XCTAssertEqual(doc.entry("usr/share/man/man1/greet.1")?["mode"] as? Int, 0o600)
        XCTAssertEqual(doc.entry("usr/share/man/man1/greet.1")?["uname"] as? String, "daemon")
        XCTAssertEqual(doc.entry("usr/share/man/man1/greet.1")?["gname"] as? String, "adm")
    }

    func testPerArchArtifactsWithCARCH() throws {
        let d = TempDir()
        d.write("prebuilt/x86_64/tool", "x86 tool\n", mode: 0o755)
        d.write("prebuilt/aarch64/tool", "arm tool\n", mode: 0o755)
        let yaml = """
        name: tool
        version: 1.0
        type: plain
        architectures: [x86_64, aarch64]
        build:
          command: echo "$CARCH" > "arch-$CARCH.txt"
          strip_binary: false
        files:
          - {source: "prebuilt/${CARCH}/tool", destination: /usr/bin/tool}
          - {source: "arch-${CARCH}.txt", destination: /usr/share/tool/arch}
        """
        let built = try buildRecipe(yaml, in: d)
        XCTAssertEqual(built.map(\.path), [d.sub("packages/x86_64/tool-1.0-r0.apk"), d.sub("packages/aarch64/tool-1.0-r0.apk")])
        XCTAssertEqual(try extractFromPackage(built[0].path, "usr/bin/tool"), "x86 tool\n")
        XCTAssertEqual(try extractFromPackage(built[1].path, "usr/bin/tool"), "arm tool\n")
        XCTAssertEqual(try extractFromPackage(built[1].path, "usr/share/tool/arch"), "aarch64\n")
        XCTAssertEqual(try checkPackage(built[1].path).values("arch"), ["aarch64"])

        // --arch picks from the list.
        try FileManager.default.removeItem(atPath: d.sub("packages"))
        let one = try buildRecipe(yaml, in: d, arches: ["aarch64"])
        XCTAssertEqual(one.map(\.path), [d.sub("packages/aarch64/tool-1.0-r0.apk")])
        XCTAssertThrowsError(try buildRecipe(yaml, in: d, arches: ["riscv64"])) { e in
            XCTAssertEqual("\(e)", "apkit.yml:4: --arch riscv64: not in architectures: [x86_64, aarch64]")
        }
    }

    func testStaticTypeAndCustomType() throws {
        let d = TempDir()
        d.write("public/index.html", "hi\n")
        d.write("nginx.conf", "server { listen 80; }\n")
        let built = try buildRecipe("name: site\nversion: 1\ntype: static\nbuild:\n  destinations: [public]\n", in: d, arches: ["x86_64"])
        XCTAssertEqual(built.map(\.info.name), ["site"])
        let p = try checkPackage(built[0].path)
        XCTAssertTrue(p.values("depend").contains("nginx"))
        XCTAssertNotNil(p.entry("etc/site/default.conf"))
        XCTAssertNotNil(p.entry("var/lib/site/public/index.html"))
        XCTAssertNil(p.entry("var/lib/site/service/run"))
        XCTAssertTrue(p.controlNames.contains(".pre-install"))

        let c = TempDir()
        c.write("x", "x\n")
        let built2 = try buildRecipe("name: thing\nversion: 1\ntype: custom\nbuild:\n  destinations: [x]\nhook:\n  post-install: echo hi\n", in: c, arches: ["x86_64"])
        let q = try checkPackage(built2[0].path)
        XCTAssertEqual(Set(q.controlNames), [".PKGINFO", ".post-install", ".pre-install"])
        XCTAssertNil(q.entry("var/lib/thing/bin/env-exec"))
        XCTAssertEqual(q.entry("var/lib/thing/x")?["uname"] as? String, "thing")
    }

    func testTriggerAndNoarch() throws {
        let d = TempDir()
        d.write("s.sh", "#!/bin/sh\necho s\n", mode: 0o755)
        let yaml = """
        name: s
        version: 1
        type: plain
        architectures: [noarch]
        files: [{source: s.sh, destination: /usr/bin/s}]
        triggers: [/usr/share/s/*, /usr/lib/s]
        hook:
          trigger: echo "$@"
        """
        let built = try buildRecipe(yaml, in: d, arches: ["x86_64", "aarch64"])
        XCTAssertEqual(built.map(\.path), [d.sub("packages/x86_64/s-1-r0.apk"), d.sub("packages/aarch64/s-1-r0.apk")])
        let p = try checkPackage(built[0].path)
        XCTAssertEqual(p.values("arch"), ["noarch"])
        XCTAssertEqual(p.values("triggers"), ["/usr/share/s/* /usr/lib/s"])
        XCTAssertEqual(p.controlNames, [".PKGINFO", ".trigger"])
    }

    /// Errors found while building: one line with file:line, and nothing in the output directory.
    func testBuildTimeErrorsTable() throws {
        let d = TempDir()
        d.write("real/file", "x\n")
        symlink("/etc", d.sub("escape"))
        symlink("/etc/passwd", d.sub("hostlink"))
        let cases: [(String, String, Int32)] = [
            ("name: a\nversion: 1\nbuild:\n  destinations: [\"dist/*\"]\n",
             "apkit.yml:4: build.destinations[0]: 'dist/*' matches nothing in \(d.url.standardizedFileURL.path)", 1),
            ("name: a\nversion: 1\nfiles:\n  - {source: missing.txt, destination: /x}\n",
             "apkit.yml:4: files[0].source: 'missing.txt' does not exist in \(d.url.standardizedFileURL.path)", 1),
            ("name: a\nversion: 1\nbuild:\n  destinations: [\"escape/passwd\"]\n",
             "apkit.yml:4: build.destinations[0]: 'escape/passwd' is reached through a symlink that leads out of the source directory", 1),
            ("name: a\nversion: 1\nfiles:\n  - {source: hostlink, destination: /x}\n",
             "apkit.yml:4: files[0].source: 'hostlink' is a symlink that leads out of the source directory", 1),
            ("name: a\nversion: 1\nbuild:\n  command: |\n    echo starting\n    echo 'compiler exploded' >&2\n    exit 3\n",
             "apkit.yml:4: build.command failed with exit status 3 (CARCH=x86_64): compiler exploded", 3),
            ("name: a\nversion: 1\ntype: static\nbuild:\n  destinations: [real]\n",
             "apkit.yml:3: type: static needs nginx.conf in the source directory (it is installed as /etc/a/default.conf)", 1),
        ]
        for (yaml, expected, code) in cases {
            XCTAssertThrowsError(try buildRecipe(yaml, in: d, arches: ["x86_64"]), yaml) { e in
                XCTAssertEqual("\(e)", expected)
                XCTAssertEqual((e as? RecipeError)?.exitCode, code)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: d.sub("packages")), "partial output after: \(expected)")
        }
        // A failure in the second arch leaves nothing of the first.
        let yaml = "name: a\nversion: 1\ntype: plain\narchitectures: [x86_64, aarch64]\nbuild:\n  command: '[ \"$CARCH\" = x86_64 ]'\nfiles: [{source: real/file, destination: /f}]\n"
        XCTAssertThrowsError(try buildRecipe(yaml, in: d))
        XCTAssertFalse(FileManager.default.fileExists(atPath: d.sub("packages")))
    }

    func testELFLintErrorsOnWrongMachineAndWarnsOnGlibc() throws {
        guard FileManager.default.fileExists(atPath: "/bin/true") else { return }
        let d = TempDir()
        let r = try runProcess("cp", ["/bin/true", d.sub("true-bin")])
        XCTAssertEqual(r.status, 0)
        let yaml = "name: a\nversion: 1\ntype: plain\narchitectures: [aarch64]\nbuild: {strip_binary: false}\nfiles: [{source: true-bin, destination: /usr/bin/t}]\n"
        XCTAssertThrowsError(try buildRecipe(yaml, in: d)) { e in
            XCTAssertTrue("\(e)".hasPrefix("apkit.yml:4: a: /usr/bin/t: "), "\(e)")
            XCTAssertTrue("\(e)".contains("aarch64"), "\(e)")
        }
        // The host's glibc /bin/true in an x86_64 package: a warning that says what to do.
        guard Architecture.host == "x86_64" else { return }
        let log = WarningLog()
        try buildRecipe(yaml.replacingOccurrences(of: "aarch64", with: "x86_64"), in: d, warn: log.sink)
        XCTAssertTrue(log.all.contains { $0.contains("/usr/bin/t") && $0.contains("gcompat") }, "\(log.all)")
    }

    func testBuildDependenciesCheckedOnHost() throws {
        let d = TempDir()
        d.write("f", "x\n")
        let log = WarningLog()
        try buildRecipe("""
        name: a
        version: 1
        type: plain
        dependencies:
          build: [sh, apkit-no-such-tool-xyz]
        files: [{source: f, destination: /f}]
        """, in: d, arches: ["x86_64"], warn: log.sink)
        XCTAssertEqual(log.all, ["apkit.yml:5: dependencies.build: 'apkit-no-such-tool-xyz' is neither a command in PATH nor an installed package on this host; the build may fail"])
    }

    /// PAKman's raw `package:` body runs in $pkgdir instead of copying destinations; a
    /// pre-install hook runs after the user is created.
    func testPackageScriptAndPreInstallHook() throws {
        let d = TempDir()
        d.write("app/run.sh", "#!/bin/sh\n", mode: 0o755)
        let yaml = """
        name: legacy
        version: 1
        type: custom
        build:
          destinations: [nothing-matches-but-unused]
        package: |
          mkdir -p "$pkgdir/var/lib/$pkgname"
          cp -r "$srcdir"/app ./var/lib/$pkgname/
          [ "$pkgusers" = legacy ]
        hook:
          pre-install: |
            #!/bin/sh
            echo "hook after user"
        """
        let built = try buildRecipe(yaml, in: d, arches: ["x86_64"])
        let p = try checkPackage(built[0].path)
        XCTAssertEqual(p.entry("var/lib/legacy/app/run.sh")?["uname"] as? String, "legacy")
        let pre = try extractFromPackage(built[0].path, ".pre-install")
        let userAt = try XCTUnwrap(pre.range(of: "adduser -S"))
        let hookAt = try XCTUnwrap(pre.range(of: "echo \"hook after user\""))
        XCTAssertLessThan(userAt.lowerBound, hookAt.lowerBound)
        XCTAssertEqual(pre.components(separatedBy: "#!/bin/sh").count, 2, "one shebang: \(pre)")
        XCTAssertTrue(pre.hasSuffix("exit 0\n"))
    }

    /// PAKman's `destinations: ["*"]` never picks up earlier output (packages/) or dotfiles.
    func testStarDestinationSkipsOutputDirectoryAndDotfiles() throws {
        let d = TempDir()
        d.write("app.rb", "puts 1\n")
        d.write(".env", "SECRET=1\n")
        d.write(".bundle/config", "x\n")
        let yaml = "name: rb\nversion: 1\ntype: custom\nbuild:\n  destinations: [\"*\", .bundle]\n"
        try buildRecipe(yaml, in: d, arches: ["x86_64"])
        try FileManager.default.removeItem(atPath: d.sub("packages/x86_64/rb-1-r0.apk"))
        let built = try buildRecipe(yaml, in: d, arches: ["x86_64"])
        let names = try checkPackage(built[0].path).names.filter { $0.hasPrefix("var/lib/rb/") }
        XCTAssertEqual(names, ["var/lib/rb/.bundle", "var/lib/rb/.bundle/config", "var/lib/rb/app.rb"])
    }
}
