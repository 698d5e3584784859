@testable import APKRecipe
import Foundation
import TestSupport
import XCTest

/// `apkit init`'s detection and YAML writing, below the CLI: every generated config loads as
/// `apkit build` reads it.
final class InitTests: XCTestCase {
    func generated(_ files: [String: String]) throws -> (ProjectInit.Project, InitResult) {
        let t = TempDir("init")
        let dir = t.sub("gadget")
        for (path, text) in files { t.write("gadget/" + path, text) }
        if files.isEmpty { t.mkdir("gadget") }
        let url = URL(fileURLWithPath: dir)
        let p = ProjectInit.detect(directory: url)
        let r = ProjectInit.generate(directory: url, host: "x86_64")
        XCTAssertNoThrow(try r.validate(file: dir + "/apkit.yml", directory: url), r.text)
        let recipe = try RecipeLoader.parse(r.text, file: "apkit.yml", format: .apkit, sourceDirectory: url)
        XCTAssertEqual(recipe.name?.value, "gadget")
        XCTAssertEqual(recipe.version?.value, "0.1.0")
        XCTAssertEqual(recipe.architectures.map(\.value), ["x86_64"])
        return (p, r)
    }

    func testBuildSystems() throws {
        var (p, r) = try generated(["Makefile": "all:\n\tcc -o gadget main.c\ngadget: main.c\n\tcc -o $@ main.c\n"])
        XCTAssertEqual(p.buildSystem, .make)
        XCTAssertFalse(p.makeInstall)
        XCTAssertTrue(r.text.contains("install -Dm755 gadget \"$pkgdir\"/usr/bin/gadget"), r.text)

        (p, r) = try generated(["Makefile": "install:\n\tcp gadget /usr/bin/\n"])
        XCTAssertTrue(p.makeInstallWithoutDestdir)
        XCTAssertFalse(r.text.contains("make install"), "an install target without DESTDIR would write to the host")

        (p, r) = try generated(["go.mod": "module example.org/x/gadget\n", "cmd/gadget/main.go": "package main\n"])
        XCTAssertEqual(p.buildSystem, .go)
        XCTAssertTrue(r.text.contains("go build -trimpath -ldflags \"-s -w\" -o \"$pkgdir\"/usr/bin/gadget ./cmd/gadget"), r.text)

        (p, r) = try generated(["Cargo.toml": "[package]\nname = \"gadget-cli\"\ndescription = \"A gadget\"\nlicense = \"MIT OR Apache-2.0\"\n\n[dependencies]\nname = \"nope\"\n",
                                "Cargo.lock": ""])
        XCTAssertEqual(p.executable, "gadget-cli")
        XCTAssertTrue(r.text.contains("cargo build --release --locked\n"), r.text)
        XCTAssertTrue(r.text.contains("description: A gadget\n") && r.text.contains("license: MIT OR Apache-2.0\n"), r.text)

        (p, r) = try generated(["Package.swift": "let package = Package(name: \"x\", products: [.executable(name: \"gadgetd\", targets: [\"G\"])])\n"])
        XCTAssertEqual(p.executable, "gadgetd")
        XCTAssertTrue(r.text.contains("/gadgetd \"$pkgdir\"/usr/bin/gadgetd"), r.text)

        (p, r) = try generated(["package.json": #"{"name": "gadget", "main": "server.js", "license": "ISC"}"#, "package-lock.json": "{}"])
        XCTAssertEqual(p.buildSystem, .npm)
        let recipe = try RecipeLoader.parse(r.text, file: "apkit.yml", format: .apkit, sourceDirectory: URL(fileURLWithPath: "/tmp"))
        XCTAssertEqual(recipe.kind, .app)
        XCTAssertEqual(recipe.run?.services.first?.call?.value, "/var/lib/gadget/server.js")
        XCTAssertEqual(recipe.runtimeDepends.map(\.value), ["nodejs"])
        XCTAssertTrue(r.text.contains("npm ci\n"), r.text)

        (p, r) = try generated([:])
        XCTAssertEqual(p.buildSystem, ProjectInit.BuildSystem.none)
    }

    func testMakefileTargets() {
        XCTAssertEqual(ProjectInit.makeTargets("CC := gcc\nX = a:b\nall install: x\n\techo a:b\n.PHONY: all\nfoo::\n"),
                       ["all", "install", ".PHONY", "foo"])
    }

    func testYAMLScalarsRoundTrip() throws {
        for s in ["plain", "0644", "true", "no", "1.0", "null", "~", "", " lead", "a: b", "x #y", "- item", "-flag", "*star",
                  "\"quoted\"", "it's", "tab\there", "${CARCH}", "[a]", "@x", "100%", "ünïcode"] {
            let text = YAMLText.map([.init("k", .string(s)), .init("l", .string(s + "\nsecond\n"))]).render()
            XCTAssertEqual(YAMLText.readBack(text, key: "k"), s, text)
            XCTAssertEqual(YAMLText.readBack(text, key: "l"), s + "\nsecond\n", text)
        }
        XCTAssertEqual(YAMLText.scalar("0644"), "\"0644\"")
        XCTAssertEqual(YAMLText.scalar("x86_64"), "x86_64")
    }

    func testNFPMHelpers() {
        XCTAssertEqual(NFPMConversion.apkDependency("libfoo (>= 1.2)"), "libfoo>=1.2")
        XCTAssertEqual(NFPMConversion.apkDependency("libfoo (>> 1.2)"), "libfoo>1.2")
        XCTAssertEqual(NFPMConversion.apkDependency("so:libc.musl-x86_64.so.1"), "so:libc.musl-x86_64.so.1")
        XCTAssertEqual(NFPMConversion.octalMode("0o755"), "0755")
        XCTAssertEqual(NFPMConversion.octalMode("644"), "0644")
        XCTAssertNil(NFPMConversion.octalMode("999"))
        XCTAssertEqual(NFPMConversion.archMap["arm64"], "aarch64")
    }
}
