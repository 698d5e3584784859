import APKFormat
@testable import APKRecipe
import Foundation
import TestSupport
import XCTest

final class RecipeConfigTests: XCTestCase {
    func testLoadsApkitYmlFixture() throws {
        let log = WarningLog()
        let path = fixturesDirectory.appendingPathComponent("apps/hello-svc/apkit.yml").path
        let r = try RecipeLoader.load(file: path, warn: log.sink)
        XCTAssertEqual(log.all, [])
        XCTAssertEqual(r.format, .apkit)
        XCTAssertEqual(r.name?.value, "hello-svc")
        XCTAssertEqual(r.name?.line, 5)
        XCTAssertEqual(r.version?.value, "1.0.0")
        XCTAssertEqual(r.kind, .app)
        XCTAssertEqual(r.architectures.map(\.value), ["x86_64"])
        XCTAssertEqual(r.destinations.map(\.value), ["out/${CARCH}/bin"])
        XCTAssertEqual(r.files.count, 3)
        XCTAssertEqual(r.files[0].mode?.value, 0o644)
        XCTAssertEqual(r.files[1].destination.value, "/usr/share/doc/hello-svc/")
        XCTAssertEqual(r.run?.services.map(\.name.value), ["web"])
        XCTAssertEqual(r.run?.services.first?.call?.value, "serve")
        XCTAssertEqual(r.run?.commands.map(\.name.value), ["greet"])
        XCTAssertEqual(Set(r.hooks.keys), [.postInstall, .preDeinstall])
        XCTAssertEqual(r.subpackages.map(\.suffix.value), ["-doc"])
        XCTAssertEqual(r.subpackages.first?.paths.map(\.value), ["usr/share/doc", "usr/share/man"])
        XCTAssertEqual(r.environment.map(\.key), ["GREETING", "INTERVAL"])
        XCTAssertTrue(r.trace)
    }

    func testLoadsPakmanInstellarYmlUnchanged() throws {
        let log = WarningLog()
        let path = fixturesDirectory.appendingPathComponent("apps/pakman-demo/instellar.yml").path
        let r = try RecipeLoader.load(file: path, warn: log.sink)
        XCTAssertEqual(log.all, [], "deployment keys such as stack: are accepted silently")
        XCTAssertEqual(r.format, .pakman)
        XCTAssertNil(r.name)
        XCTAssertEqual(r.kind, .app)
        XCTAssertEqual(r.run?.name?.value, "pakman-demo")
        XCTAssertEqual(r.run?.services.map(\.name.value), ["web", "worker"])
        XCTAssertEqual(r.run?.commands.first?.call?.value, "migrate")
        XCTAssertEqual(Set(r.hooks.keys), [.postInstall, .preUpgrade, .postUpgrade])
        XCTAssertEqual(r.destinations.map(\.value), ["bin"])
    }

    /// The example from PAKman's documentation, as users have it.
    func testPakmanDocumentationExample() throws {
        let d = TempDir()
        let yaml = """
        dependencies:
          trace: true
          build: [ruby, ruby-bundler, ruby-dev, libpq-dev]
          runtime: [bash, curl, s6, ca-certificates, ruby, ruby-bundler, libpq, shop-openrc]
        architectures: [x86_64, aarch64]
        build:
          strip_binary: false
          command: |
            bundle config set deployment true
            bundle install
          destinations: ["*", ".bundle"]
        run:
          name: shop
          commands:
            - {name: migrate, binary: rails, call: "db:migrate"}
          services:
            - {name: web, binary: rails, start: {call: server}}
            - {name: worker, binary: bundle, start: {call: "exec sidekiq"}}
        hook:
          post-install: |
            rc-update add shop
          pre-upgrade: rc-service shop stop
          post-upgrade: rc-service shop start
        kits: [{name: web}]
        """
        let r = try parseRecipe(yaml, in: d, file: "instellar.yml")
        XCTAssertEqual(r.runtimeDepends.count, 8)
        XCTAssertEqual(r.architectures.map(\.value), ["x86_64", "aarch64"])
        XCTAssertFalse(r.stripBinary)
        XCTAssertEqual(r.run?.services[1].call?.value, "exec sidekiq")
        XCTAssertEqual(r.hooks[.preUpgrade]?.value, "rc-service shop stop")
        XCTAssertEqual(r.hooks[.postInstall]?.line, 20, "the line of the key")
    }

    func testUnknownKeysWarnWithSuggestion() throws {
        let d = TempDir()
        let log = WarningLog()
        let yaml = """
        name: x
        version: 1.0
        dependancies:
          runtime: [a]
        build:
          comand: make
          destinations: [a]
        stack: alpine
        """
        _ = try parseRecipe(yaml, in: d, warn: log.sink)
        XCTAssertEqual(log.all, [
            "apkit.yml:3: unknown key 'dependancies' (did you mean 'dependencies'?), ignored",
            "apkit.yml:6: unknown key 'build.comand' (did you mean 'command'?), ignored",
            "apkit.yml:8: unknown key 'stack', ignored",
        ])
    }

    func testVersionKeepsItsSpellingAndDropsLeadingV() throws {
        let d = TempDir()
        XCTAssertEqual(try parseRecipe("version: 1.10\nbuild: {command: 'true'}\n", in: d).version?.value, "1.10")
        XCTAssertEqual(try parseRecipe("version: v2.0.1_rc3\nbuild: {command: 'true'}\n", in: d).version?.value, "2.0.1_rc3")
    }

    func testModeAcceptsQuotedAndUnquotedOctal() throws {
        let d = TempDir()
        let r = try parseRecipe("""
        files:
          - {source: a, destination: /a, mode: "0750"}
          - {source: b, destination: /b, mode: 0644}
          - {source: c, destination: /c, mode: 755, owner: "daemon:adm"}
        """, in: d)
        XCTAssertEqual(r.files.map { $0.mode?.value }, [0o750, 0o644, 0o755])
        XCTAssertEqual(r.files[2].owner?.value, "daemon")
        XCTAssertEqual(r.files[2].group?.value, "adm")
    }

    /// Bad configs, each giving exactly one line naming file, line and key.
    func testConfigErrorsTable() throws {
        let cases: [(String, String)] = [
            ("build: make\n",
             "apkit.yml:1: build: expected a mapping (key: value lines), found a string"),
            ("architectures: x86_64\nbuild: {command: 'true'}\n",
             "apkit.yml:1: architectures: expected a list (e.g. [a, b] or '- a' lines), found a string"),
            ("architectures: [x86_64, amd64]\nbuild: {command: 'true'}\n",
             "apkit.yml:1: architectures[1]: 'amd64' is not an Alpine or OpenWrt architecture: use one of x86_64, x86, aarch64, armhf, armv7, ppc64le, s390x, riscv64, loongarch64, noarch, or an OpenWrt name such as aarch64_cortex-a53 (did you mean 'x86_64'?)"),
            ("build: {command: 'true'}\ndependencies:\n  trace: maybe\n",
             "apkit.yml:3: dependencies.trace: expected true or false, found a string"),
            ("version: 1.2.3-r4\nbuild: {command: 'true'}\n",
             "apkit.yml:1: version: '1.2.3-r4' is not an apk version (digits and dots, optional letter and _suffix, e.g. 1.2.3 or 1.2.3_rc1; the release goes in release:)"),
            ("version: 1.0\nrelease: two\nbuild: {command: 'true'}\n",
             "apkit.yml:2: release: 'two' is not a release number (a whole number >= 0, abuild's pkgrel)"),
            ("name: Hello World\nbuild: {command: 'true'}\n",
             "apkit.yml:1: name: package name 'Hello World' has characters other than letters, digits and '+-._': ' '"),
            ("type: servce\nbuild: {command: 'true'}\n",
             "apkit.yml:1: type: 'servce' is not a package type: use one of app, static, custom, plain"),
            ("files:\n  - source: ../etc/passwd\n    destination: /etc/x\n",
             "apkit.yml:2: files[0].source: '../etc/passwd' leaves the source directory ('..' is not allowed)"),
            ("files:\n  - source: /etc/passwd\n    destination: /etc/x\n",
             "apkit.yml:2: files[0].source: '/etc/passwd' is an absolute path: paths are relative to the source directory"),
            ("files:\n  - source: a\n    destination: etc/x\n",
             "apkit.yml:3: files[0].destination: 'etc/x' must be an absolute install path (e.g. /usr/bin/hello)"),
            ("files:\n  - {source: a, destination: /a/../../x}\n",
             "apkit.yml:2: files[0].destination: '/a/../../x' must not contain '..'"),
            ("files:\n  - {source: a, destination: /a, mode: \"999\"}\n",
             "apkit.yml:2: files[0].mode: '999' is not an octal file mode (e.g. \"0755\"; quote it so YAML keeps the leading 0)"),
            ("build:\n  destinations: [\"../*\"]\n",
             "apkit.yml:2: build.destinations[0]: '../*' leaves the source directory ('..' is not allowed)"),
            ("build: {command: 'true'}\nrun:\n  services:\n    - name: web\n",
             "apkit.yml:4: run.services[0].binary: missing (required)"),
            ("build: {command: 'true'}\nrun:\n  services:\n    - {name: web, binary: app, start: {call: \"'unterminated\"}}\n",
             "apkit.yml:4: run.services[0].start.call: unterminated ' quote in ''unterminated'"),
            ("build: {command: 'true'}\nrun:\n  services: [{name: web, binary: app}]\n  commands: [{name: stop, binary: app}]\n",
             "apkit.yml:4: run.commands[0].name: 'stop' cannot be an OpenRC command: use letters, digits and _ (not a built-in like start or status)"),
            ("build: {command: 'true'}\nhook:\n  trigger: echo hi\n",
             "apkit.yml:3: hook.trigger: a trigger script needs the paths it watches: add triggers: [/some/dir]"),
            ("build: {command: 'true'}\ntriggers: [usr/share/x]\nhook: {trigger: echo}\n",
             "apkit.yml:2: triggers[0]: 'usr/share/x' must be an absolute path (glob allowed) without spaces"),
            ("build: {command: 'true'}\ndependencies:\n  runtime: [\"foo bar\"]\n",
             "apkit.yml:3: dependencies.runtime[0]: 'foo bar' is not a dependency (name, name>=version, so:lib.so.1, cmd:prog or !conflict)"),
            ("name: a\nname: b\nbuild: {command: 'true'}\n",
             "apkit.yml:2: name: key given twice"),
            ("build:\n  command: [make]\n",
             "apkit.yml:2: build.command: expected a string, found a list"),
            ("build: {command: 'true'}\nsubpackages:\n  - suffix: -doc\n    paths: [/usr/../etc]\n",
             "apkit.yml:4: subpackages[0].paths[0]: 'usr/../etc' leaves the source directory ('..' is not allowed)"),
            ("build: {command: 'true'\n",
             "apkit.yml:2: not valid YAML: did not find expected ',' or '}' while parsing a flow mapping"),
            ("name: x\n",
             "apkit.yml:1: nothing to package: add build.command, build.destinations or files"),
            ("type: plain\nbuild:\n  destinations: [dist]\n",
             "apkit.yml:3: build.destinations: a plain package has no /var/lib/<name>: map files with files: (source, destination) or install into $pkgdir"),
        ]
        let d = TempDir()
        for (yaml, expected) in cases {
            XCTAssertThrowsError(try parseRecipe(yaml, in: d), yaml) { e in
                XCTAssertEqual("\(e)", expected, yaml)
                XCTAssertFalse("\(e)".contains("\n"))
            }
        }
    }

    func testShellWordsSplitWithoutExpansion() throws {
        XCTAssertEqual(try ShellWords.split("exec sidekiq"), ["exec", "sidekiq"])
        XCTAssertEqual(try ShellWords.split("eval \"App.Release.migrate\""), ["eval", "App.Release.migrate"])
        XCTAssertEqual(try ShellWords.split("a 'b c' d\\ e \"f \\\"g\\\"\""), ["a", "b c", "d e", "f \"g\""])
        XCTAssertEqual(try ShellWords.split("$(touch /tmp/x); rm -rf / #"), ["$(touch", "/tmp/x);", "rm", "-rf", "/", "#"])
        XCTAssertEqual(try ShellWords.split("''"), [""])
        XCTAssertThrowsError(try ShellWords.split("\"open"))
    }

    func testDidYouMean() {
        XCTAssertEqual(DidYouMean.suggest("destination", among: ["command", "destinations", "strip_binary"]), "destinations")
        XCTAssertEqual(DidYouMean.suggest("strip-binary", among: ["command", "destinations", "strip_binary"]), "strip_binary")
        XCTAssertNil(DidYouMean.suggest("zzz", among: ["command", "destinations"]))
    }
}
