import Foundation
import APKFormat

/// abuild's per-package tracing switches (APKBUILD `options` and variables).
public struct TraceOptions: Equatable, Sendable {
    /// False for `options="!tracedeps"`: nothing is scanned (only the `pkgconfig` rule still applies, as in abuild).
    public var traceDeps = true
    /// `sonameprefix`: prepended to provided sonames (`so:<prefix><soname>`).
    public var sonamePrefix = ""
    /// `pcprefix`: prepended to provided pkg-config modules.
    public var pcPrefix = ""
    /// `somask`: sonames neither provided nor depended on.
    public var somask: [String] = []
    /// `ldpath`: extra library directories (absolute, inside the package) scanned for provided sonames.
    public var ldpath: [String] = []
    /// `options="ldpath-recursive"`: scan library directories recursively.
    public var ldpathRecursive = false
    /// `options="sover-namecheck"`: skip an unversioned `libfoo.so` whose soname is versioned.
    public var soverNamecheck = false
    public init() {}
}

/// One package of a build (the main package or a subpackage), with its staged tree.
public struct TracePackage: Sendable {
    public var name: String
    public var root: URL
    /// Alpine arch of this package (`noarch` turns off ELF scanning, as in abuild).
    public var arch: String
    /// The package's explicit `depends` (only consulted for the `pkgconfig` rule).
    public var explicitDepends: [String]
    public var options: TraceOptions
    /// The tree as packing reads it, so that it is read once.
    public var snapshot: TreeSnapshot? = nil
    /// Which files start with the ELF magic, as the package writer saw them: only those are
    /// opened to be parsed (files not in it are read as before).
    public var survey: ContentSurvey? = nil
    public init(name: String, root: URL, arch: String, explicitDepends: [String] = [], options: TraceOptions = TraceOptions()) {
        self.name = name; self.root = root; self.arch = arch; self.explicitDepends = explicitDepends; self.options = options
    }
}

/// Another package of the same build, for `trace(root:...siblings:)`.
public struct SiblingPackage: Sendable {
    public var name: String
    public var root: URL
    /// nil: the same arch as the traced package.
    public var arch: String?
    public var options: TraceOptions
    public init(name: String, root: URL, arch: String? = nil, options: TraceOptions = TraceOptions()) {
        self.name = name; self.root = root; self.arch = arch; self.options = options
    }
}

public struct TraceResult: Equatable, Sendable {
    /// `provides = ` lines after `# automatically detected:`, in abuild's order (sorted, unique).
    public var autoProvides: [String] = []
    /// `depend = ` lines after the provides, in abuild's order: symlink and python deps (sorted),
    /// then `pkgconfig`, `so:` and `pc:` deps (sorted).
    public var autoDepends: [String] = []
    /// Needed sonames that no package of this build provides: they must come from the repository
    /// (abuild asks the installed apk database; apkit cannot, so it lists them here).
    public var externalSonames: [String] = []
    /// pkg-config modules required but provided by no package of this build (abuild drops those
    /// that are not installed with a warning; apkit keeps them as `pc:` deps and lists them here).
    public var externalPkgConfig: [String] = []
    /// Library search paths from DT_RPATH/DT_RUNPATH (`$ORIGIN` resolved), abuild's `.rpaths`.
    public var rpaths: [String] = []
    public init() {}
}

/// Native re-implementation of abuild's dependency tracing (`prepare_package`,
/// `scan_shared_objects`, `scan_symlink_targets`, `scan_python3_dependency`,
/// `scan_pkgconfig_depends`, `trace_apk_deps`) without scanelf or pkg-config.
public enum DependencyTracer {
    /// Traces one package; `siblings` are the other packages of the same build (their provides and
    /// files are scanned too, so a soname or module a sibling provides is known to be satisfied, and a
    /// dangling symlink into a sibling becomes a `sibling=<fullVersion>` depend).
    public static func trace(root: URL, packageName: String, fullVersion: String, arch: String,
                             explicitDepends: [String] = [], options: TraceOptions = TraceOptions(),
                             siblings: [SiblingPackage] = [], snapshot: TreeSnapshot? = nil,
                             survey: ContentSurvey? = nil) throws -> TraceResult {
        var me = TracePackage(name: packageName, root: root, arch: arch, explicitDepends: explicitDepends, options: options)
        me.snapshot = snapshot
        me.survey = survey
        let others = siblings.map { TracePackage(name: $0.name, root: $0.root, arch: $0.arch ?? arch, options: $0.options) }
        return try traceAll([me] + others, fullVersion: fullVersion)[0]
    }

    /// Traces every package of a build (as abuild's `create_apks` does), results in input order.
    public static func traceAll(_ packages: [TracePackage], fullVersion: String) throws -> [TraceResult] {
        // Phase 1 (prepare_package): rpaths, pkg-config, command and python provides.
        var states = try packages.map { p -> State in
            var s = State(package: p, tree: TraceTree(root: p.root, snapshot: p.snapshot, survey: p.survey))
            guard p.options.traceDeps else { return s }
            if p.arch != "noarch" { s.rpaths = try rpaths(s.tree) }
            s.pcProvides = try pkgConfigProvides(s.tree, prefix: p.options.pcPrefix)
            s.cmdProvides = commandProvides(s.tree, fullVersion: fullVersion)
            s.pyProvides = pythonProvides(s.tree, fullVersion: fullVersion)
            return s
        }
        let allRpaths = abuildSortUnique(states.flatMap(\.rpaths))
        // Phase 2 (create_apks): shared objects, symlink targets, python, pkg-config depends.
        for i in states.indices {
            let p = states[i].package
            guard p.options.traceDeps else { continue }
            if p.arch != "noarch" {
                let so = try sharedObjects(states[i].tree, options: p.options, rpaths: allRpaths)
                states[i].soProvides = so.provides
                states[i].neededSonames = so.needed.map { musl($0, arch: p.arch) }
                states[i].neededSonames = abuildSortUnique(states[i].neededSonames).filter { n in
                    !abuildGrepWordPrefix("so:" + p.options.sonamePrefix + n, in: so.provides) && !p.options.somask.contains(n)
                }
            }
            states[i].symlinkDepends = try symlinkDepends(index: i, states: states, fullVersion: fullVersion)
            states[i].pythonDepends = try pythonDepends(states[i].tree, name: p.name)
            states[i].neededPkgConfig = try pkgConfigNeeds(states[i].tree, selfProvides: states[i].pcProvides)
        }
        // Phase 3 (trace_apk_deps).
        let allSo = states.flatMap(\.soProvides)
        let allPc = states.flatMap(\.pcProvides)
        return states.map { s in
            let p = s.package
            var r = TraceResult()
            r.rpaths = s.rpaths
            var auto: [String] = []
            let tree = s.tree
            if (tree.isDirectory("usr/lib/pkgconfig") || tree.isDirectory("usr/share/pkgconfig"))
                && !p.explicitDepends.contains(where: { $0.hasPrefix("pkgconfig") }) {
                auto.append("pkgconfig")
            }
            for n in s.neededSonames {
                if abuildGrepWordPrefix("so:" + p.options.sonamePrefix + n, in: allSo) {
                    auto.append("so:" + p.options.sonamePrefix + n)
                } else {
                    auto.append("so:" + n)
                    r.externalSonames.append(n)
                }
            }
            for n in abuildSortUnique(s.neededPkgConfig) {
                let bare = String(n.prefix { !"<>=".contains($0) })
                if abuildGrepWordPrefix("pc:" + p.options.pcPrefix + bare, in: allPc) {
                    auto.append("pc:" + p.options.pcPrefix + n)
                } else {
                    auto.append("pc:" + n)
                    r.externalPkgConfig.append(n)
                }
            }
            r.autoProvides = abuildSortUnique(s.cmdProvides + s.pcProvides + s.pyProvides + s.soProvides)
            r.autoDepends = abuildSortUnique(s.symlinkDepends + s.pythonDepends) + abuildSortUnique(auto)
            return r
        }
    }

    /// abuild's `prepare_metafiles` rule: `["/bin/sh"]` when an install script or trigger of the
    /// package starts with `#!/bin/sh` (`^#!\s*/bin/sh`), unless the origin package is busybox or the
    /// explicit depends already name busybox or /bin/sh. The result belongs in the explicit
    /// `depends` (after the recipe's own), not in the automatic section.
    public static func scriptDepends(scripts: [ScriptKind: Data], explicitDepends: [String], originName: String = "") -> [String] {
        if originName == "busybox" { return [] }
        let names = explicitDepends.map { String($0.prefix { !"<>=~".contains($0) }) }
        if names.contains("busybox") || names.contains("/bin/sh") { return [] }
        for kind in ScriptKind.allCases {
            guard let data = scripts[kind] else { continue }
            let firstLine = data.prefix { $0 != 0x0A }
            guard firstLine.starts(with: [0x23, 0x21]) else { continue } // "#!"
            var rest = firstLine.dropFirst(2)
            while let c = rest.first, c == 0x20 || c == 0x09 || c == 0x0B || c == 0x0C || c == 0x0D { rest = rest.dropFirst() }
            if rest.starts(with: Array("/bin/sh".utf8)) { return ["/bin/sh"] }
        }
        return []
    }

    // MARK: - Pieces (internal so tests can reach them)

    struct State {
        var package: TracePackage
        var tree: TraceTree
        var rpaths: [String] = []
        var pcProvides: [String] = []
        var cmdProvides: [String] = []
        var pyProvides: [String] = []
        var soProvides: [String] = []
        var neededSonames: [String] = []
        var symlinkDepends: [String] = []
        var pythonDepends: [String] = []
        var neededPkgConfig: [String] = []
    }

    /// `prepare_command_provides`: entries directly in bin, sbin, usr/bin, usr/sbin that are
    /// symlinks (any) or executable regular files; names containing `@` and dot-files are skipped.
    static func commandProvides(_ tree: TraceTree, fullVersion: String) -> [String] {
        var out: [String] = []
        for dir in ["bin", "sbin", "usr/bin", "usr/sbin"] {
            for name in tree.list(dir) where !name.hasPrefix(".") && !name.contains("@") {
                guard let (kind, mode) = tree.lstatKind(dir + "/" + name) else { continue }
                if kind == .symlink || (kind == .file && mode & 0o111 != 0) {
                    out.append("cmd:\(name)=\(fullVersion)")
                }
            }
        }
        return out
    }

    static func pcFiles(_ tree: TraceTree) -> [String] {
        ["usr/lib/pkgconfig", "usr/share/pkgconfig"].flatMap { dir in
            tree.list(dir).filter { $0.hasSuffix(".pc") && !$0.hasPrefix(".") && tree.isFile(dir + "/" + $0) }
                .map { dir + "/" + $0 }
        }
    }

    static func pcVersion(_ v: String, file: String) throws -> String {
        guard let a = PkgConfigFile.apkVersion(fromPkgConfig: v) else {
            throw TraceError(path: file, reason: "pkgconf version '\(v)' is not a valid apk version (abuild would stop here too); fix the Version/Requires field")
        }
        return a
    }

    /// `prepare_pkgconfig_provides`: `pc:<module>=<version>` for each .pc file and its `Provides:`.
    static func pkgConfigProvides(_ tree: TraceTree, prefix: String) throws -> [String] {
        var out: [String] = []
        for rel in pcFiles(tree) {
            let pc = try PkgConfigFile(path: tree.full(rel))
            guard pc.version != nil else {
                throw TraceError(path: rel, reason: "pkg-config file has no Version: field (pkgconf rejects it); add one")
            }
            for d in pc.provides {
                if let op = d.op, op != "=" {
                    throw TraceError(path: rel, reason: "Provides: '\(d.name) \(op) \(d.version ?? "")' uses '\(op)'; abuild accepts only '=' here")
                }
                out.append("pc:\(prefix)\(d.name)=\(try pcVersion(d.version ?? "", file: rel))")
            }
            out.append("pc:\(prefix)\(pc.module)=\(try pcVersion(pc.version ?? "", file: rel))")
        }
        return out
    }

    /// `scan_pkgconfig_depends`: `Requires` and `Requires.private` of the package's .pc files, as
    /// `name` or `name<op><apk version>`, minus modules the package provides itself.
    static func pkgConfigNeeds(_ tree: TraceTree, selfProvides: [String]) throws -> [String] {
        var out: [String] = []
        for rel in pcFiles(tree) {
            let pc = try PkgConfigFile(path: tree.full(rel))
            for d in pc.requires + pc.requiresPrivate {
                var s = d.name
                if let op = d.op, let v = d.version {
                    s += op + (op.contains("!") ? v : try pcVersion(v, file: rel))
                }
                if !abuildGrepWordPrefix("pc:" + d.name, in: selfProvides) { out.append(s) }
            }
        }
        return out
    }

    /// `prepare_py_provides`: `py<ver>:<module>=<fullVersion>` for packages and modules in
    /// usr/lib/python*/site-packages.
    static func pythonProvides(_ tree: TraceTree, fullVersion: String) -> [String] {
        var out: [String] = []
        for py in tree.list("usr/lib") where py.hasPrefix("python") && !py.hasPrefix(".") {
            let site = "usr/lib/\(py)/site-packages"
            guard tree.isDirectory(site) else { continue }
            let ver = String(py.dropFirst("python".count))
            for name in tree.list(site) where !name.hasPrefix(".") {
                let rel = site + "/" + name
                if tree.isDirectory(rel) && tree.isFile(rel + "/__init__.py") {
                    out.append("py\(ver):\(name)=\(fullVersion)")
                } else if tree.isFile(rel) && name.hasSuffix(".py") {
                    out.append("py\(ver):\(name.dropLast(3))=\(fullVersion)")
                }
            }
        }
        return out
    }

    /// `scan_python3_dependency`: `python3~<ver>` for a usr/lib/python3.X/site-packages directory.
    static func pythonDepends(_ tree: TraceTree, name: String) throws -> [String] {
        let dirs = tree.list("usr/lib").filter { $0.hasPrefix("python3") && tree.isDirectory("usr/lib/\($0)/site-packages") }
        if dirs.count > 1 {
            throw TraceError(path: "usr/lib", reason: "package contains python3 modules for conflicting python3 versions: \(dirs.joined(separator: ", "))")
        }
        guard let d = dirs.first else { return [] }
        let ver = String(d.dropFirst("python".count))
        if ver.isEmpty || name == "python3" || name == "python\(ver)" { return [] }
        return ["python3~\(ver)"]
    }

    /// `prepare_trace_rpaths`: DT_RPATH/DT_RUNPATH entries of every ELF file, `$ORIGIN` replaced by
    /// the file's directory (absolute, as installed).
    static func rpaths(_ tree: TraceTree) throws -> [String] {
        var out: [String] = []
        try tree.prefetchELF()
        for e in try tree.walk() where e.kind == .file {
            guard let elf = tree.elf(e.path) else { continue }
            let dir = "/" + (e.path as NSString).deletingLastPathComponent
            let origin = dir == "/" ? "" : dir
            for r in elf.rpath + elf.runpath where !r.isEmpty {
                out.append(r.replacingOccurrences(of: "${ORIGIN}", with: origin).replacingOccurrences(of: "$ORIGIN", with: origin))
            }
        }
        return abuildSortUnique(out)
    }

    /// `ld-musl-<x>.so.1` and musl's upstream soname `libc.so` stand for Alpine's `libc.musl-<arch>.so.1`.
    static func musl(_ soname: String, arch: String) -> String {
        if soname == "libc.so" || (soname.hasPrefix("ld-musl-") && soname.hasSuffix(".so.1")) {
            return "libc.musl-\(arch).so.1"
        }
        return soname
    }

    /// True when `s` matches the shell pattern `*.so.[0-9]*`.
    static func hasVersionedSo(_ s: String) -> Bool {
        var search = s[...]
        while let r = search.range(of: ".so.") {
            if let c = search[r.upperBound...].first, c.isASCII, c.isNumber { return true }
            search = search[search.index(after: r.lowerBound)...]
        }
        return false
    }

    /// `scan_shared_objects`: provided sonames from library directories, needed sonames from every
    /// ELF executable or shared object.
    static func sharedObjects(_ tree: TraceTree, options o: TraceOptions, rpaths: [String]) throws -> (provides: [String], needed: [String]) {
        var dirs = ["lib", "usr/lib"]
        for p in o.ldpath + rpaths {
            let rel = String(p.drop { $0 == "/" })
            if !rel.isEmpty && tree.isDirectory(rel) && !dirs.contains(rel) { dirs.append(rel) }
        }
        // (soname, sover, from a regular file)
        var found: [(String, String, Bool)] = []
        for dir in dirs {
            let entries: [String] = o.ldpathRecursive
                ? tree.walk(dir).filter { $0.kind != .directory }.map { dir + "/" + $0.path }
                : tree.list(dir).map { dir + "/" + $0 }
            for rel in entries {
                guard let (kind, _) = tree.lstatKind(rel), kind == .file || kind == .symlink,
                      let target = tree.resolve(rel), target.kind == .file,
                      let elf = tree.elf(target.path) else { continue }
                let fileName = (rel as NSString).lastPathComponent
                var soname = elf.soname ?? ""
                if elf.soname == nil {
                    if rel.hasPrefix("usr/lib/debug/") && rel.hasSuffix(".debug") { continue }
                    soname = fileName
                }
                if soname.hasSuffix(".o") { continue }
                guard soname.hasSuffix(".so") || hasVersionedSo(soname) || soname.hasSuffix(".c32") else { continue }
                var sover = "0"
                if hasVersionedSo(fileName) {
                    sover = String(fileName[fileName.range(of: ".so.", options: .backwards)!.upperBound...])
                } else if fileName.hasSuffix(".so") && hasVersionedSo(soname) && o.soverNamecheck {
                    continue
                }
                if o.somask.contains(soname) { continue }
                guard APKVersion.isValid(sover) else {
                    throw TraceError(path: rel, reason: "library version '\(sover)' (from the file name) is not a valid apk version; rename the file or set somask")
                }
                found.append((o.sonamePrefix + soname, sover, kind == .file))
            }
        }
        // abuild keeps the first non-zero version scanelf reports (directory order); apkit prefers
        // the real file over symlinks to it, then scan order, so the result does not depend on readdir.
        var best: [String: (sover: String, real: Bool)] = [:]
        for (name, sover, real) in found {
            let zero = (Double(sover) ?? 1) == 0
            if let cur = best[name] {
                let curZero = (Double(cur.sover) ?? 1) == 0
                if curZero && !zero || (!zero && real && !cur.real) { best[name] = (sover, real) }
            } else {
                best[name] = (sover, real)
            }
        }
        let provides = abuildSortUnique(best.map { "so:\($0.key)=\($0.value.sover)" })

        var needed: [String] = []
        for e in try tree.walk() where e.kind == .file {
            guard let elf = tree.elf(e.path),
                  elf.type == .executable || elf.type == .sharedObject else { continue }
            needed += elf.needed
        }
        return (provides, abuildSortUnique(needed))
    }

    /// `prepare_symlinks` + `scan_symlink_targets`: a symlink whose target is missing from its own
    /// package but exists in exactly one other package of the build depends on that package.
    static func symlinkDepends(index: Int, states: [State], fullVersion: String) throws -> [String] {
        let me = states[index]
        var out: [String] = []
        for e in try me.tree.walk() where e.kind == .symlink {
            guard let target = me.tree.readlink(e.path) else { continue }
            let norm = TraceTree.normalize(target: target, link: "/" + e.path)
            if me.tree.exists(String(norm.dropFirst())) { continue }
            let rel = String(norm.dropFirst())
            let owners = states.filter { $0.tree.lstatKind(rel) != nil }
            if owners.count == 1, owners[0].package.name != me.package.name {
                out.append("\(owners[0].package.name)=\(fullVersion)")
            }
        }
        return out
    }
}
