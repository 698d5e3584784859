import APKFormat
@testable import APKRecipe
import Foundation
import TestSupport
import XCTest

final class ServiceScriptsTests: XCTestCase {
    func svc(_ name: String, _ binary: String, path: String? = nil, call: String? = nil) -> Recipe.Service {
        Recipe.Service(name: Located(name, line: 1), binary: Located(binary, line: 1),
                       path: path.map { Located($0, line: 1) }, call: call.map { Located($0, line: 1) })
    }

    /// Every generated script, for a typical app.
    func allScripts(_ s: ServiceScripts) throws -> [(String, String)] {
        [("pre-install", ServiceScripts.preInstall(user: s.name, home: s.home, hook: "echo hook")),
         ("initd", try s.initd()), ("run", try s.run()), ("finish", s.finish()), ("log", s.logRun()),
         ("environment", s.environment()), ("env-exec", s.envExec()),
         ("hook", ServiceScripts.hook("rc-service shop stop")),
         ("env-file", ServiceScripts.environmentFile([("A", "b c")]))]
    }

    func syntaxCheck(_ text: String, label: String) throws {
        let d = TempDir()
        let p = d.write("script", text)
        // busybox ash is Alpine's /bin/sh.
        var shells = [["sh"], ["dash"], ["bash"]]
        if (try? runProcess("busybox", ["true"]))?.status == 0 { shells.append(["busybox", "sh"]) }
        for shell in shells {
            let r = try runProcess(shell[0], Array(shell.dropFirst()) + ["-n", p])
            XCTAssertEqual(r.status, 0, "\(shell) -n \(label): \(r.stderr)\n\(text)")
        }
    }

    func testEveryGeneratedScriptPassesShN() throws {
        let s = ServiceScripts(name: "shop", serviceName: "shop", user: "shop",
                               services: [svc("web", "rails", call: "server -b 0.0.0.0"), svc("worker", "bundle", call: "exec sidekiq")],
                               commands: [svc("migrate", "rails", call: "db:migrate"), svc("console", "iex", path: "/usr/bin")])
        for (label, text) in try allScripts(s) { try syntaxCheck(text, label: label) }
    }

    func testInitdHasPakmanShape() throws {
        let s = ServiceScripts(name: "shop", services: [svc("web", "rails", call: "server")],
                               commands: [svc("migrate", "rails", call: "db:migrate")])
        let initd = try s.initd()
        XCTAssertTrue(initd.hasPrefix("#!/sbin/openrc-run\n"))
        XCTAssertTrue(initd.contains("supervisor=s6\n"))
        XCTAssertTrue(initd.contains("extra_commands=migrate\n"))
        XCTAssertTrue(initd.contains("\tneed net s6-svscan\n"))
        XCTAssertTrue(initd.contains("ln -s /var/lib/shop/service \"${RC_SVCDIR}/s6-scan/shop\""))
        XCTAssertTrue(initd.contains("migrate() {\n"))
        XCTAssertTrue(initd.contains("/var/lib/shop/bin/env-exec -- /var/lib/shop/bin/rails db:migrate\n"))
        let run = try s.run()
        XCTAssertTrue(run.contains("case \"${SERVICE_MODE:-}\" in\nweb)\n\texec /var/lib/shop/bin/rails server 2>&1\n"))
        XCTAssertTrue(run.contains("*)\n\texec /var/lib/shop/bin/rails server 2>&1\n"))
        XCTAssertEqual(s.finish(), "#!/bin/execlineb -P\ns6-permafailon 60 5 1,101-103,SIGSEGV,SIGBUS\n")
        XCTAssertEqual(s.logRun(), "#!/bin/execlineb -P\ns6-log -b n20 s1000000 T /var/log/shop\n")
    }

    /// Runs a generated `service/run` for real (home moved to a temp dir) with hostile values:
    /// the program receives them as plain arguments and nothing else executes.
    func testHostileValuesStayInert() throws {
        let d = TempDir()
        let pwned = d.sub("pwned")
        let hostile = [
            "x\"; touch \(pwned); \"y",
            "; touch \(pwned) #",
            "$(touch \(pwned))",
            "`touch \(pwned)`",
            "'; touch \(pwned); '",
            "a && touch \(pwned) || touch \(pwned)",
        ]
        let bin = d.sub("my bin$(touch \(pwned))")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        // The program prints each argument on its own line.
        d.write("my bin$(touch \(pwned))/prog;x", "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n", mode: 0o755)
        // A value that is not a complete word list is refused, never passed on.
        XCTAssertThrowsError(try ServiceScripts(name: "app", services: [svc("web", "p", call: "\"; touch \(pwned) #")]).run())
        for value in hostile {
            let s = ServiceScripts(name: "app", services: [svc("web;touch", "prog;x", path: bin, call: value)],
                                   commands: [svc("migrate", "prog;x", path: bin, call: value)])
            // Relocate the app home into the temp dir so the script can run here.
            let home = d.sub("home")
            d.write("home/bin/environment", s.environment().replacingOccurrences(of: "/etc/app/environment", with: d.sub("env")), mode: 0o755)
            d.write("env", "SERVICE_MODE=web;touch\nX=$(touch \(pwned))\n")
            let run = try s.run().replacingOccurrences(of: "/var/lib/app", with: home)
            let p = d.write("run", run, mode: 0o755)
            let r = try runProcess("sh", [p])
            XCTAssertEqual(r.status, 0, r.stderr)
            if (try? runProcess("busybox", ["true"]))?.status == 0 {
                let rb = try runProcess("busybox", ["sh", p])
                XCTAssertEqual(rb.stdout, try ShellWords.split(value).map { "[\($0)]\n" }.joined(), "busybox sh: \(value)")
            }
            let words = try ShellWords.split(value)
            XCTAssertEqual(r.stdout, words.map { "[\($0)]\n" }.joined(), value)
            XCTAssertFalse(FileManager.default.fileExists(atPath: pwned), "value executed: \(value)")

            // The init.d command function, called directly.
            let initd = try s.initd().replacingOccurrences(of: "/var/lib/app", with: home)
            d.write("home/bin/env-exec", s.envExec().replacingOccurrences(of: "/var/lib/app", with: home), mode: 0o755)
            let fn = initd.components(separatedBy: "migrate() {")[1].components(separatedBy: "\n}")[0]
            let r2 = try runProcess("sh", ["-c", fn])
            XCTAssertEqual(r2.status, 0, r2.stderr)
            XCTAssertEqual(r2.stdout, words.map { "[\($0)]\n" }.joined())
            XCTAssertFalse(FileManager.default.fileExists(atPath: pwned), "value executed via initd: \(value)")
            for (label, text) in try allScripts(s) { try syntaxCheck(text, label: label) }
        }
    }

    /// bin/environment exports NAME=value lines literally and skips invalid names.
    func testEnvironmentLoaderIsLiteral() throws {
        let d = TempDir()
        let s = ServiceScripts(name: "app")
        let pwned = d.sub("pwned")
        d.write("env", "# comment\nGREETING=Hello world\nQ='quoted'\nCMD=$(touch \(pwned))\n1BAD=x\nBAD-NAME=y\nLAST=no newline")
        let env = d.write("environment", s.environment().replacingOccurrences(of: "/etc/app/environment", with: d.sub("env")))
        let r = try runProcess("sh", ["-c", ". \"$1\"; printf '%s|' \"$GREETING\" \"$Q\" \"$CMD\" \"$LAST\"; env | grep -c BAD || true", "sh", env])
        XCTAssertEqual(r.stdout, "Hello world|'quoted'|$(touch \(pwned))|no newline|0\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: pwned))
    }

    func testQuote() throws {
        for v in ["plain", "", "it's", "a b", "$HOME", "`x`", "\\", "line\nbreak", "'", "\"\"'"] {
            let r = try runProcess("sh", ["-c", "printf '%s' \(ShellWords.quote(v))"])
            XCTAssertEqual(r.stdout, v)
        }
    }
}
