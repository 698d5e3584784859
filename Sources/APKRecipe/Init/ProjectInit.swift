import APKFormat
import Foundation

/// `apkit init` for a project without a config: looks at the directory (git remote and tags,
/// the build system's files) and writes an `apkit.yml` that `apkit build` builds as it is.
public enum ProjectInit {
    /// The build systems recognised, in the order they are looked for.
    public enum BuildSystem: String, Sendable, CaseIterable {
        case make, go, cargo, swift, npm, none

        /// The file that gives it away.
        public var marker: String? {
            switch self {
            case .make: return "Makefile"
            case .go: return "go.mod"
            case .cargo: return "Cargo.toml"
            case .swift: return "Package.swift"
            case .npm: return "package.json"
            case .none: return nil
            }
        }
    }

    /// What was found in the directory.
    public struct Project: Sendable, Equatable {
        public var name: String
        /// Where the name came from (`git remote`, `directory`).
        public var nameSource: String
        /// The apk version of the latest tag (`git describe --tags`), nil without a usable tag.
        public var tagVersion: String?
        public var buildSystem: BuildSystem
        /// The executable the build makes, when the build files name one.
        public var executable: String?
        public var description: String?
        public var license: String?
        /// `make install` exists and honours DESTDIR.
        public var makeInstall = false
        /// Makefile has an `install` target that ignores DESTDIR (must not be run: it would write to the host).
        public var makeInstallWithoutDestdir = false
        /// The Go package with `main` (`.` or `./cmd/<x>`).
        public var goMainPackage = "."
        public var npmMain = "index.js"
        public var npmLockfile = false
        public var cargoLockfile = false
    }

    public static func detect(directory: URL, environment: [String: String] = ProcessInfo.processInfo.environment) -> Project {
        let git = GitMetadata.read(directory: directory)
        var name: String
        var nameSource: String
        if git.isTopLevel, let repo = git.repositoryName, PackageName.isValid(repo) {
            name = repo; nameSource = "git remote"
        } else {
            name = GitMetadata.slug(directory.standardizedFileURL.lastPathComponent)
            nameSource = "directory name"
            if !PackageName.isValid(name) { name = "app"; nameSource = "placeholder (the directory name is not a package name)" }
        }
        let tagVersion = git.describe.flatMap(GitMetadata.version(fromDescribe:))
        let system = BuildSystem.allCases.first { s in s.marker.map { exists(directory, $0) } ?? true } ?? .none
        var p = Project(name: name, nameSource: nameSource, tagVersion: tagVersion, buildSystem: system)

        switch system {
        case .make:
            let mk = read(directory, "Makefile") ?? ""
            let targets = makeTargets(mk)
            if targets.contains("install") {
                if mk.contains("DESTDIR") { p.makeInstall = true } else { p.makeInstallWithoutDestdir = true }
            }
            if targets.contains(name) { p.executable = name }
        case .go:
            if !exists(directory, "main.go"), let cmds = try? FileManager.default.contentsOfDirectory(atPath: directory.path + "/cmd") {
                let sorted = cmds.sorted()
                if let pick = sorted.first(where: { $0 == name }) ?? sorted.first(where: { exists(directory, "cmd/\($0)/main.go") }) {
                    p.goMainPackage = "./cmd/" + pick
                }
            }
            p.executable = name
        case .cargo:
            let toml = read(directory, "Cargo.toml") ?? ""
            let pkg = tomlSection(toml, "package")
            p.executable = tomlSection(toml, "[bin]").first(where: { $0.key == "name" })?.value
                ?? pkg.first(where: { $0.key == "name" })?.value ?? name
            p.description = pkg.first(where: { $0.key == "description" })?.value
            p.license = pkg.first(where: { $0.key == "license" })?.value
            p.cargoLockfile = exists(directory, "Cargo.lock")
        case .swift:
            let manifest = read(directory, "Package.swift") ?? ""
            p.executable = firstMatch(in: manifest, after: [".executable(name:", "executableTarget(name:"]) ?? name
        case .npm:
            if let data = FileManager.default.contents(atPath: directory.path + "/package.json"),
               let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                p.description = json["description"] as? String
                p.license = json["license"] as? String
                if let m = json["main"] as? String, !m.isEmpty { p.npmMain = m }
            }
            p.npmLockfile = exists(directory, "package-lock.json")
        case .none:
            break
        }
        if let d = p.description, d.isEmpty || d.contains("\n") { p.description = nil }
        if let l = p.license, l.isEmpty || l.contains("\n") { p.license = nil }
        return p
    }

    /// The commented `apkit.yml` for the project in `directory`.
    public static func generate(directory: URL, host: String = Architecture.host) -> InitResult {
        let p = detect(directory: directory)
        return render(p, host: host)
    }

    public static func render(_ p: Project, host: String) -> InitResult {
        typealias E = YAMLText.Entry
        var notes = ["name \(p.name) (from the \(p.nameSource))"]
        var top: [E] = []
        top.append(E("name", .string(p.name), comment: [
            "Written by `apkit init`; build with: apkit build --key KEY.rsa   (reference: docs/apkit-yml.md)",
            "",
            "Package name (from the \(p.nameSource)).",
        ]))
        if let v = p.tagVersion {
            notes.append("version \(v) from git describe --tags, read again at every build")
            top.append(E("description", .string(p.description ?? p.name), comment: [
                "version: left out, so every build takes it from `git describe --tags` (now \(v));",
                "  a tag v1.2.3 gives 1.2.3, commits after it 1.2.3_pN. Set `version:` to pin it.",
                "release (-rN): $GITHUB_RUN_NUMBER or $CI_PIPELINE_IID in CI, else 0.",
            ]))
        } else {
            notes.append("version 0.1.0 (no git tag yet)")
            top.append(E("version", .string("0.1.0"), comment: [
                "No git tag yet: delete this line once the project is tagged (v0.1.0) and",
                "every build takes the version from `git describe --tags`.",
            ]))
            top.append(E("description", .string(p.description ?? p.name)))
        }
        if let l = p.license { top.append(E("license", .string(l))) } else {
            top.append(E("license", .string(""), comment: ["SPDX expression, e.g. MIT or Apache-2.0."]))
        }
        let kind: Recipe.Kind = p.buildSystem == .npm ? .app : .plain
        top.append(E("type", .raw(kind.rawValue), comment: kind == .plain
            ? ["plain: the package holds what the build installs into $pkgdir (no service user)."]
            : ["app: a service user <name>, the build's files in /var/lib/<name>, an s6 service and an OpenRC script."]))
        top.append(E("architectures", .list([.string(host)]), comment: [
            "One package per arch; the build runs once for each with $CARCH set. [noarch] for scripts only.",
        ]))

        var deps: [E] = []
        let buildDeps: [String]
        switch p.buildSystem {
        case .make: buildDeps = ["make", "cc"]
        case .go: buildDeps = ["go"]
        case .cargo: buildDeps = ["cargo"]
        case .swift: buildDeps = ["swift"]
        case .npm: buildDeps = ["npm"]
        case .none: buildDeps = []
        }
        deps.append(E("build", .list(buildDeps.map { .string($0) }), comment: ["Checked on the build host (a warning when one is missing)."]))
        deps.append(E("runtime", .list(p.buildSystem == .npm ? [.string("nodejs")] : []), comment: [
            "apk packages needed at run time; so:/cmd:/pc: dependencies are found automatically (trace).",
        ]))
        top.append(E("dependencies", .map(deps)))

        var build: [E] = []
        let (command, commandNote) = buildCommand(p)
        notes.append(commandNote)
        build.append(E("command", .string(command), comment: [
            "Runs with bash -e in this directory. $pkgdir is the package's root, $CARCH the target",
            "arch, $pkgname/$pkgver/$pkgrel the package's name, version and release.",
        ]))
        if p.buildSystem == .npm {
            build.append(E("destinations", .list([.string("*")]), comment: ["Copied into /var/lib/<name>/ (the output directory is never copied)."]))
        }
        build.append(E("strip_binary", .raw("true")))
        top.append(E("build", .map(build)))

        if p.buildSystem == .npm {
            top.append(E("run", .map([
                E("services", .list([.map([
                    E("name", .string("web")),
                    E("binary", .string("node")),
                    E("path", .string("/usr/bin")),
                    E("start", .map([E("call", .string("/var/lib/\(p.name)/\(p.npmMain)"))])),
                ])])),
            ]), comment: [
                "The service (s6, OpenRC script in <name>-openrc), run as the user <name>.",
                "Its environment: /etc/<name>/environment (see `environment:`).",
            ]))
        }
        return InitResult(text: YAMLText.map(top).render(), notes: notes)
    }

    static func buildCommand(_ p: Project) -> (String, String) {
        let exe = p.executable ?? p.name
        let q = Shell.quote(exe)
        switch p.buildSystem {
        case .make:
            var lines = [
                "# musl-gcc (Debian/Ubuntu: musl-tools) links against musl, the C library of Alpine.",
                "make CC=\"${CC:-$(command -v musl-gcc || echo cc)}\"",
            ]
            if p.makeInstall {
                lines.append("make install DESTDIR=\"$pkgdir\" PREFIX=/usr")
                return (lines.joined(separator: "\n") + "\n", "build: make, then make install DESTDIR=$pkgdir PREFIX=/usr")
            }
            if p.executable != nil {
                lines.append("install -Dm755 \(q) \"$pkgdir\"/usr/bin/\(q)")
                return (lines.joined(separator: "\n") + "\n", "build: make, then the target \(exe) installed as /usr/bin/\(exe)")
            }
            lines.append("# Install what the package ships under \"$pkgdir\", e.g.:")
            lines.append("#   install -Dm755 bin/tool \"$pkgdir\"/usr/bin/tool")
            let why = p.makeInstallWithoutDestdir ? "the Makefile's install target ignores DESTDIR" : "the Makefile has no install target"
            return (lines.joined(separator: "\n") + "\n", "build: make; \(why): add the install lines to build.command")
        case .go:
            return ("""
                case "$CARCH" in
                  x86_64) export GOARCH=amd64 ;;
                  aarch64) export GOARCH=arm64 ;;
                  x86) export GOARCH=386 ;;
                  armv7) export GOARCH=arm GOARM=7 ;;
                  armhf) export GOARCH=arm GOARM=6 ;;
                  loongarch64) export GOARCH=loong64 ;;
                  *) export GOARCH="$CARCH" ;;
                esac
                CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o "$pkgdir"/usr/bin/\(q) \(p.goMainPackage)

                """, "build: go build \(p.goMainPackage) (static, cross-compiled per $CARCH) to /usr/bin/\(exe)")
        case .cargo:
            return ("""
                # For Alpine, link against musl: rustup target add "$CARCH-unknown-linux-musl", then
                # build with --target "$CARCH-unknown-linux-musl" and install from target/<that>/release.
                cargo build --release\(p.cargoLockfile ? " --locked" : "")
                install -Dm755 target/release/\(q) "$pkgdir"/usr/bin/\(q)

                """, "build: cargo build --release, target/release/\(exe) installed as /usr/bin/\(exe)")
        case .swift:
            return ("""
                # For Alpine, add --swift-sdk "$CARCH-swift-linux-musl" (the Static Linux SDK).
                swift build -c release
                install -Dm755 "$(swift build -c release --show-bin-path)"/\(q) "$pkgdir"/usr/bin/\(q)

                """, "build: swift build -c release, \(exe) installed as /usr/bin/\(exe)")
        case .npm:
            return ("""
                \(p.npmLockfile ? "npm ci" : "npm install")
                npm run build --if-present
                npm prune --omit=dev

                """, "build: npm, the project copied to /var/lib/\(p.name) and run as a service with node \(p.npmMain)")
        case .none:
            return ("""
                # No build system recognised (Makefile, go.mod, Cargo.toml, Package.swift, package.json).
                # Install what the package ships under "$pkgdir", e.g.:
                #   install -Dm755 bin/tool "$pkgdir"/usr/bin/tool
                true

                """, "build: no build system recognised; build.command installs nothing yet")
        }
    }

    // MARK: - reading build files

    static func exists(_ dir: URL, _ rel: String) -> Bool { FileManager.default.fileExists(atPath: dir.path + "/" + rel) }
    static func read(_ dir: URL, _ rel: String) -> String? {
        FileManager.default.contents(atPath: dir.path + "/" + rel).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Rule targets of a Makefile (`name:` at the start of a line, not `name :=`).
    static func makeTargets(_ text: String) -> Set<String> {
        var out: Set<String> = []
        for line in text.split(separator: "\n") {
            guard let f = line.first, f != "\t", f != "#", f != " ", let colon = line.firstIndex(of: ":") else { continue }
            let after = line[line.index(after: colon)...]
            if after.hasPrefix("=") { continue }
            let head = line[..<colon]
            if head.contains("=") { continue }
            for t in head.split(separator: " ") where !t.isEmpty { out.insert(String(t)) }
        }
        return out
    }

    /// `key = "value"` pairs of one TOML table (`[package]`), or of the first `[[bin]]` for `"[bin]"`.
    static func tomlSection(_ text: String, _ table: String) -> [(key: String, value: String)] {
        var out: [(String, String)] = []
        var inside = false
        let header = "[" + table + "]"
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                if inside { break }
                inside = line == header
                continue
            }
            guard inside, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard value.hasPrefix("\""), let end = value.dropFirst().firstIndex(of: "\"") else { continue }
            value = String(value[value.index(after: value.startIndex)..<end])
            out.append((key, value))
        }
        return out
    }

    /// The first string literal after one of `prefixes` (`.executable(name: "x"` -> `x`).
    static func firstMatch(in text: String, after prefixes: [String]) -> String? {
        let compact = text.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "\n", with: "")
        for pre in prefixes.map({ $0.replacingOccurrences(of: " ", with: "") }) {
            guard let r = compact.range(of: pre + "\"") else { continue }
            let rest = compact[r.upperBound...]
            if let end = rest.firstIndex(of: "\"") { return String(rest[..<end]) }
        }
        return nil
    }
}
