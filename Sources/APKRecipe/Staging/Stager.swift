import APKFormat
import Foundation

/// One package ready to be written: its spec (staged tree, scripts, owners) and where it goes.
public struct StagedPackage: Sendable {
    public var spec: PackageSpec
    /// The arch directories it is written to (one, or several for noarch).
    public var outputArches: [String]
}

/// Builds and stages one architecture's package set: runs the build, copies destinations and
/// file mappings, generates service files, strips, splits subpackages, and sets owners.
final class Stager {
    let recipe: Recipe
    let meta: ResolvedMetadata
    let work: URL
    let exclude: Set<String>
    let reporting: RecipeBuilder.Reporting
    var warn: WarningSink { reporting.warn }
    var log: (String) -> Void { reporting.log }
    var output: (Data) -> Void { reporting.output }

    init(recipe: Recipe, meta: ResolvedMetadata, work: URL, exclude: Set<String>, reporting: RecipeBuilder.Reporting) {
        (self.recipe, self.meta, self.work, self.exclude, self.reporting) = (recipe, meta, work, exclude, reporting)
    }

    var name: String { meta.name }
    var src: URL { recipe.sourceDirectory }
    var home: String { "var/lib/\(name)" }
    var hasUser: Bool { recipe.kind != .plain }

    func err(_ line: Int?, _ msg: String) -> RecipeError { RecipeError(file: recipe.file, line: line, msg) }

    /// `${CARCH}`, `$CARCH`, `${pkgname}`, `${pkgver}`, `${pkgrel}` in a config path.
    func expand(_ s: String, carch: String) -> String {
        var out = s
        for (k, v) in [("CARCH", carch), ("pkgname", name), ("pkgver", meta.version), ("pkgrel", String(meta.release))] {
            out = out.replacingOccurrences(of: "${\(k)}", with: v).replacingOccurrences(of: "$\(k)", with: v)
        }
        return out
    }

    func environment(pkgdir: String, carch: String) -> [String: String] {
        var env = ["srcdir": src.path, "startdir": src.path, "builddir": src.path, "pkgdir": pkgdir,
                   "pkgname": name, "pkgver": meta.version, "pkgrel": String(meta.release),
                   "CARCH": carch, "CBUILD": Architecture.host]
        if let e = meta.sourceDateEpoch { env["SOURCE_DATE_EPOCH"] = String(e) }
        if hasUser { env["pkgusers"] = name; env["pkggroups"] = name }
        return env
    }

    func runShell(_ script: Located<String>, key: String, cwd: URL, env: [String: String], carch: String) throws {
        log("==> \(key) (\(carch))")
        reporting.detail("    bash -e (\(recipe.file):\(script.line.map(String.init) ?? "?")) in \(cwd.path)")
        reporting.detail("    " + env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        do {
            try CommandRunner.run(script.value, cwd: cwd, environment: env, output: output)
        } catch let f as CommandRunner.Failed {
            let last = f.lastLines.last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty })
            var msg = "\(key) failed with exit status \(f.status) (CARCH=\(carch))"
            if let last { msg += ": \(last.trimmingCharacters(in: .whitespaces))" }
            throw RecipeError(file: recipe.file, line: script.line, msg, exitCode: f.status)
        } catch let f as FileTree.Failure {
            throw err(script.line, "\(key): \(f.message)")
        }
    }

    /// Stages the package set of `arch` (`noarch` builds with the host's CARCH).
    func stage(arch: String, outputArches: [String]) throws -> [StagedPackage] {
        let carch = arch == "noarch" ? (outputArches.first ?? Architecture.host) : arch
        let base = work.appendingPathComponent(arch)
        let root = base.appendingPathComponent("pkg").path
        try? FileManager.default.removeItem(at: base)
        try FileTree.mkdirs(root)
        let env = environment(pkgdir: root, carch: carch)

        if let cmd = recipe.buildCommand {
            try runShell(cmd, key: "build.command", cwd: src, env: env, carch: carch)
        }
        if hasUser { try FileTree.mkdirs(root + "/" + home) }
        // Paths whose owner is decided explicitly (file mappings) and generated root-owned files.
        var explicitOwners: [String: Ownership] = [:]
        var rootOwned: Set<String> = []

        if let pkg = recipe.packageScript {
            try runShell(pkg, key: "package", cwd: URL(fileURLWithPath: root), env: env, carch: carch)
        } else {
            for (i, d) in recipe.destinations.enumerated() {
                let pattern = expand(d.value, carch: carch)
                let key = "build.destinations[\(i)]"
                if pattern.split(separator: "/").contains("..") { throw err(d.line, "\(key): '\(pattern)' leaves the source directory") }
                let matches = FileTree.glob(pattern, in: src, exclude: exclude)
                if matches.isEmpty {
                    throw err(d.line, "\(key): '\(pattern)' matches nothing in \(src.path)\(pattern != d.value ? " (from '\(d.value)')" : "")")
                }
                for m in matches {
                    let from = src.path + "/" + m
                    let parent = (from as NSString).deletingLastPathComponent
                    guard FileTree.isInside(parent, root: src.path) else {
                        throw err(d.line, "\(key): '\(m)' is reached through a symlink that leads out of the source directory")
                    }
                    let to = root + "/" + home + "/" + (m as NSString).lastPathComponent
                    do { try FileTree.copy(from, to: to) } catch let f as FileTree.Failure { throw err(d.line, "\(key): \(f.message)") }
                }
            }
        }

        if recipe.kind == .static {
            let conf = src.path + "/nginx.conf"
            guard FileTree.exists(conf), FileTree.isInside(conf, root: src.path) else {
                throw err(recipe.kindLine, "type: static needs nginx.conf in the source directory (it is installed as /etc/\(name)/default.conf)")
            }
            try FileTree.mkdirs(root + "/etc/\(name)")
            try FileTree.copyFile(conf, to: root + "/etc/\(name)/default.conf", mode: 0o644)
        }

        for (i, m) in recipe.files.enumerated() {
            let key = "files[\(i)]"
            let s = expand(m.source.value, carch: carch)
            if s.split(separator: "/").contains("..") { throw err(m.source.line, "\(key).source: '\(s)' leaves the source directory") }
            let from = src.path + "/" + s
            guard FileTree.exists(from) else {
                throw err(m.source.line, "\(key).source: '\(s)' does not exist in \(src.path)\(s != m.source.value ? " (from '\(m.source.value)')" : "")")
            }
            guard FileTree.isInside(from, root: src.path) else {
                throw err(m.source.line, "\(key).source: '\(s)' is a symlink that leads out of the source directory")
            }
            var dest = expand(m.destination.value, carch: carch)
            if dest.hasSuffix("/") { dest += (s as NSString).lastPathComponent }
            let rel = String(dest.drop(while: { $0 == "/" }))
            let to = root + "/" + rel
            try FileTree.mkdirs((to as NSString).deletingLastPathComponent)
            var created: [String] = []
            do {
                if FileTree.isDirectory(from) {
                    try FileTree.copy(from, to: to) { created.append($0) }
                } else {
                    // A file mapping copies the content (a symlink source is followed).
                    var st = stat()
                    stat(from, &st)
                    if FileTree.isDirectory(to) { throw FileTree.Failure(message: "destination \(dest) is a directory") }
                    unlink(to)
                    try FileTree.copyFile(from, to: to, mode: mode_t(st.st_mode & 0o7777))
                    created.append(to)
                }
            } catch let f as FileTree.Failure {
                throw err(m.line, "\(key): \(f.message)")
            }
            for c in created {
                if let mode = m.mode?.value {
                    var st = stat()
                    if lstat(c, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { chmod(c, mode_t(mode)) }
                }
                if m.owner != nil || m.group != nil {
                    let relc = String(c.dropFirst(root.count + 1))
                    explicitOwners[relc] = Ownership(user: m.owner?.value ?? "root", group: m.group?.value ?? m.owner?.value ?? "root")
                }
            }
        }

        // Generated service files.
        let scripts = ServiceScripts(name: name, serviceName: recipe.run?.name?.value,
                                     user: recipe.run?.user?.value ?? (recipe.format == .apkit && recipe.run != nil ? name : nil),
                                     services: recipe.run?.services ?? [], commands: recipe.run?.commands ?? [])
        func gen(_ rel: String, _ content: String, mode: mode_t = 0o755) throws {
            try FileTree.write(content, to: root + "/" + rel, mode: mode)
            rootOwned.insert(rel)
        }
        do {
            if recipe.kind == .app {
                try gen("\(home)/bin/environment", scripts.environment())
                try gen("\(home)/bin/env-exec", scripts.envExec())
                if let run = recipe.run, !run.services.isEmpty {
                    try gen("\(home)/service/run", scripts.run())
                    try gen("\(home)/service/finish", scripts.finish())
                    try gen("\(home)/service/log/run", scripts.logRun())
                    rootOwned.formUnion(["\(home)/service", "\(home)/service/log"])
                    try gen("etc/init.d/\(scripts.serviceName)", scripts.initd())
                    try FileTree.mkdirs(root + "/var/log/\(name)")
                }
            }
            if !recipe.environment.isEmpty {
                try gen("etc/\(name)/environment", ServiceScripts.environmentFile(recipe.environment), mode: 0o640)
                explicitOwners["etc/\(name)/environment"] = Ownership(user: "root", group: hasUser ? name : "root")
            }
        } catch let e as ShellWords.SplitError {
            throw err(recipe.run?.line, "run: \(e.message)")
        }

        if recipe.stripBinary && arch != "noarch" {
            let n = Stripper.strip(root: root, arch: arch, warn: warn)
            if n > 0 { log("    stripped \(n) ELF file(s)") }
        }

        // Subpackages: -openrc first (as abuild's default_openrc), then the configured ones.
        var subs: [(info: PackageInfo, root: String)] = []
        var subArch: [String: String] = [:]
        let desc = recipe.description ?? name
        let openrcPaths = ["etc/init.d", "etc/conf.d"].filter { FileTree.exists(root + "/" + $0) }
        if !openrcPaths.isEmpty {
            let r = base.appendingPathComponent("openrc").path
            try FileTree.mkdirs(r)
            for p in openrcPaths { try FileTree.move(p, from: root, to: r) }
            var info = PackageInfo(name: "\(name)-openrc", version: meta.fullVersion)
            info.description = "\(desc) (OpenRC init scripts)"
            info.installIf = ["openrc", "\(name)=\(meta.fullVersion)"]
            if recipe.run?.services.isEmpty == false { info.depends = ["s6"] }
            subs.append((info, r))
        }
        for sp in recipe.subpackages {
            let subName = name + sp.suffix.value
            let r = base.appendingPathComponent("sub" + sp.suffix.value).path
            try FileTree.mkdirs(r)
            for p in sp.paths {
                let pattern = expand(p.value, carch: carch)
                let matches = FileTree.glob(pattern, in: URL(fileURLWithPath: root))
                if matches.isEmpty {
                    warn("\(recipe.file):\(p.line ?? 0): subpackage \(subName): '\(pattern)' matches nothing in the package")
                }
                for m in matches where FileTree.exists(root + "/" + m) { try FileTree.move(m, from: root, to: r) }
            }
            var info = PackageInfo(name: subName, version: meta.fullVersion)
            info.description = sp.description ?? "\(desc) (\(sp.suffix.value.dropFirst()))"
            info.depends = sp.depends.map(\.value)
            info.installIf = sp.installIf.map(\.value)
            subs.append((info, r))
            if sp.arch != nil { subArch[subName] = "noarch" }
        }

        // The main package.
        var info = PackageInfo(name: name, version: meta.fullVersion)
        info.description = desc
        var deps = recipe.runtimeDepends.map(\.value)
        if recipe.kind == .static, !deps.contains("nginx") { deps.append("nginx") }
        info.depends = deps
        info.provides = recipe.provides.map(\.value)
        info.replaces = recipe.replaces.map(\.value)
        info.triggers = recipe.triggerPaths.map(\.value)
        var mainScripts: [ScriptKind: Data] = [:]
        for (k, h) in recipe.hooks { mainScripts[k] = Data(ServiceScripts.hook(h.value).utf8) }
        if hasUser {
            mainScripts[.preInstall] = Data(ServiceScripts.preInstall(user: name, home: "/" + home, hook: recipe.hooks[.preInstall]?.value).utf8)
        }

        var out: [StagedPackage] = []
        let all: [(PackageInfo, String, [ScriptKind: Data])] = [(info, root, mainScripts)] + subs.map { ($0.info, $0.root, [:]) }
        for (var i, r, sc) in all {
            i.arch = subArch[i.name] ?? arch
            i.url = meta.url
            i.origin = name
            i.commit = meta.commit
            i.license = recipe.license ?? (recipe.format == .pakman ? "MIT" : "")
            i.maintainer = recipe.maintainer ?? ""
            i.packager = ProcessInfo.processInfo.environment["PACKAGER"] ?? "Unknown"
            var spec = PackageSpec(info: i, root: URL(fileURLWithPath: r))
            spec.scripts = sc
            spec.sourceDateEpoch = meta.sourceDateEpoch
            var users: Set<String> = hasUser ? [name] : []
            var groups = users
            for o in explicitOwners.values {
                if o.user != "root" { users.insert(o.user) }
                if o.group != "root" { groups.insert(o.group) }
            }
            spec.users = users
            spec.groups = groups
            spec.ownerOverrides = try owners(root: r, explicit: explicitOwners, rootOwned: rootOwned)
            out.append(StagedPackage(spec: spec, outputArches: outputArches))
        }
        return out
    }

    /// Owner of every entry of a staged tree: explicit mapping owners win; everything under
    /// `/var/lib/<name>` (and the directory itself) belongs to the user, except generated
    /// scripts, which stay root's; the rest is root.
    func owners(root: String, explicit: [String: Ownership], rootOwned: Set<String>) throws -> [String: Ownership] {
        var out: [String: Ownership] = [:]
        let user = Ownership(user: name, group: name)
        for rel in try FileTree.walk(root).map(\.path) {
            if let o = explicit[rel] { out[rel] = o; continue }
            if hasUser, rel == home || rel.hasPrefix(home + "/") {
                let generated = rootOwned.contains(rel) || rel.hasPrefix(home + "/service/")
                out[rel] = generated ? .root : user
            } else {
                out[rel] = .root
            }
        }
        return out
    }
}
