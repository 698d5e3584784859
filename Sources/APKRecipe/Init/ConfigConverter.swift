import APKFormat
import Foundation
import Yams

/// `apkit init --from FILE`: turns PAKman's `instellar.yml` or nFPM's `nfpm.yaml` into an
/// `apkit.yml`. Every field with an apkit equivalent is converted; every other one is returned
/// in `InitResult.unconverted` with the reason, never dropped silently.
public enum ConfigConverter {
    public enum Source: String, Sendable { case instellar, nfpm }

    /// Which kind of config `file` is: by name (`instellar*`, `nfpm*`), else by its keys.
    public static func detect(file: String, text: String) throws -> Source {
        let base = (file as NSString).lastPathComponent.lowercased()
        if base.hasPrefix("instellar") { return .instellar }
        if base.hasPrefix("nfpm") { return .nfpm }
        let root = try? Yams.compose(yaml: text)
        let keys = Set((root?.mapping.map { Array($0.keys) } ?? []).compactMap(\.string))
        if !keys.isDisjoint(with: ["contents", "homepage", "arch", "overrides", "scripts"]) { return .nfpm }
        if !keys.isDisjoint(with: ["stack", "kits", "run", "hook", "build"]) { return .instellar }
        throw RecipeError(file: file, "cannot tell whether this is an instellar.yml or an nfpm.yaml: name the file instellar.yml or nfpm.yaml")
    }

    /// Converts `file` (its directory is where relative paths such as nFPM's script files are read).
    public static func convert(file: String) throws -> InitResult {
        guard let data = FileManager.default.contents(atPath: file) else { throw RecipeError(file: file, "cannot read the file") }
        let text = String(decoding: data, as: UTF8.self)
        let dir = URL(fileURLWithPath: file).deletingLastPathComponent().standardizedFileURL
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw RecipeError(file: file, "not valid YAML: \("\(error)".split(separator: "\n").first ?? "")")
        }
        guard let map = root?.mapping else { throw RecipeError(file: file, line: 1, "expected a mapping of keys at the top") }
        switch try detect(file: file, text: text) {
        case .instellar: return try InstellarConversion(file: file, root: map).convert()
        case .nfpm:
            var conversion = NFPMConversion(file: file, directory: dir, root: map)
            return try conversion.convert()
        }
    }

    /// A YAML node as the document model, keeping plain scalars (numbers, bools) unquoted.
    static func text(_ node: Node) -> YAMLText {
        switch node {
        case .scalar(let s):
            if s.style == .plain, !s.string.contains("\n"), node.bool != nil || node.int != nil || node.float != nil || node.null != nil {
                return .raw(s.string.isEmpty ? "null" : s.string)
            }
            return .string(s.string)
        case .sequence(let seq):
            return .list(seq.map(text))
        case .mapping(let m):
            return .map(m.map { YAMLText.Entry($0.key.string ?? "\($0.key)", text($0.value)) })
        }
    }
}

// MARK: - PAKman instellar.yml

/// apkit reads instellar.yml itself; the apkit.yml differs only where PAKman's defaults differ from
/// apkit.yml's: `license` (MIT) and the user services run as (root).
struct InstellarConversion {
    let file: String
    let root: Node.Mapping

    func convert() throws -> InitResult {
        typealias E = YAMLText.Entry
        var entries: [E] = []
        var unconverted: [String] = []
        var notes: [String] = []
        var sawLicense = false
        for (k, v) in root {
            guard let key = k.string else { unconverted.append("\(k): not a string key"); continue }
            if RecipeLoader.pakmanDeploymentKeys.contains(key) {
                unconverted.append("\(key): Instellar hosting metadata; apkit builds and publishes packages, it does not deploy them")
                continue
            }
            if key == "source" {
                unconverted.append("source: abuild's download list; fetch or vendor sources in build.command instead")
                continue
            }
            guard RecipeLoader.topKeys.contains(key) else {
                unconverted.append("\(key): not a PAKman or apkit key")
                continue
            }
            var value = ConfigConverter.text(v)
            var comment: [String] = []
            if key == "license" { sawLicense = true }
            if key == "run", case .map(var run) = value, !run.contains(where: { $0.key == "user" }) {
                let at = run.firstIndex(where: { $0.key == "name" }).map { $0 + 1 } ?? 0
                run.insert(E("user", .string("root"), comment: [
                    "PAKman ran services as root; delete this line to run them as the package's user.",
                ]), at: at)
                value = .map(run)
                notes.append("run.user: root, as PAKman ran services")
            }
            if key == "dependencies", v["trace"] == nil {
                comment = ["PAKman traced no dependencies without `trace: true`; apkit does unless `trace: false`."]
            }
            entries.append(E(key, value, comment: comment))
        }
        if !sawLicense {
            entries.insert(E("license", .string("MIT"), comment: ["PAKman's default license."]), at: 0)
            notes.append("license: MIT, PAKman's default")
        }
        if !entries.isEmpty {
            entries[0].comment = [
                "Converted from \((file as NSString).lastPathComponent) by `apkit init --from`; build with: apkit build --key KEY.rsa",
                "name: the git remote's repository name; version: `git describe --tags` (as PAKman did).",
                "",
            ] + entries[0].comment
        }
        return InitResult(text: YAMLText.map(entries).render(), notes: notes, unconverted: unconverted)
    }
}

// MARK: - nFPM nfpm.yaml

/// nFPM packages prebuilt files: the result is a `plain` package with `files:` mappings; symlinks,
/// empty directories and globs become lines of `build.command` that install into `$pkgdir`.
struct NFPMConversion {
    typealias E = YAMLText.Entry
    let file: String
    let directory: URL
    let root: Node.Mapping

    private var unconverted: [String] = []
    private var notes: [String] = []

    init(file: String, directory: URL, root: Node.Mapping) {
        self.file = file
        self.directory = directory
        self.root = root
    }

    /// nFPM's GOARCH-style names, to Alpine's.
    static let archMap = ["amd64": "x86_64", "arm64": "aarch64", "386": "x86", "arm5": "armhf", "arm6": "armhf",
                          "arm": "armhf", "arm7": "armv7", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
                          "loong64": "loongarch64", "all": "noarch", "noarch": "noarch"]

    static let scriptEvents = ["preinstall": "pre-install", "postinstall": "post-install",
                               "preremove": "pre-deinstall", "postremove": "post-deinstall",
                               "preupgrade": "pre-upgrade", "postupgrade": "post-upgrade"]

    static let otherFormats = ["rpm", "deb", "archlinux", "ipk", "msix"]

    /// Fields nFPM has and apk has not, with the reason printed.
    static let noEquivalent: [String: String] = [
        "epoch": "apk versions have no epoch",
        "version_metadata": "apk versions have no build metadata",
        "version_schema": "apkit always reads the version as an apk version",
        "section": "apk packages have no section",
        "priority": "apk packages have no priority",
        "vendor": "apk packages have no vendor (rpm only)",
        "changelog": "apk packages carry no changelog",
        "mtime": "set SOURCE_DATE_EPOCH (apkit uses it, else the HEAD commit time)",
        "umask": "apkit keeps each file's own mode (set files[].mode)",
        "disable_globbing": "apkit's files: take no globs; globs become build.command lines",
        "recommends": "apk has no weak dependencies",
        "suggests": "apk has no weak dependencies",
    ]

    mutating func convert() throws -> InitResult {
        // The overridable fields, with overrides.apk applied over the top level.
        var fields: [String: Node] = [:]
        var order: [String] = []
        for (k, v) in root {
            guard let key = k.string else { continue }
            fields[key] = v
            order.append(key)
        }
        if let overrides = fields["overrides"]?.mapping {
            for (k, v) in overrides {
                let fmt = k.string ?? "\(k)"
                if fmt == "apk", let m = v.mapping {
                    for (ok, ov) in m { if let s = ok.string { fields[s] = ov } }
                } else {
                    unconverted.append("overrides.\(fmt): for nFPM's \(fmt) packages only")
                }
            }
        }
        let apk = fields["apk"]?.mapping

        var top: [E] = []
        var deps: [E] = []
        var buildLines: [String] = []
        var files: [YAMLText] = []
        var hooks: [E] = []
        var runtime: [YAMLText] = []

        func str(_ key: String) -> String? {
            guard let n = fields[key], let s = n.string else { return nil }
            if s.contains("${") || s.contains("$") && key != "description" {
                unconverted.append("\(key): '\(s)' expands environment variables in nFPM; apkit reads values literally")
                return nil
            }
            return s
        }

        // Identity.
        if let name = str("name") {
            if PackageName.isValid(name) { top.append(E("name", .string(name))) } else { unconverted.append("name: '\(name)' is not an apk package name") }
        } else if fields["name"] == nil {
            notes.append("name: none given, taken from the git remote or the directory at build time")
        }
        if let v = str("version") {
            var candidate = v
            if let pre = str("prerelease") { candidate += "-" + pre }
            if let apkVersion = GitMetadata.version(fromDescribe: candidate) {
                top.append(E("version", .string(apkVersion), comment: apkVersion != v ? ["nFPM's \(candidate)."] : []))
            } else {
                unconverted.append("version: '\(candidate)' is not an apk version (e.g. 1.2.3, 1.2.3_rc1); left to `git describe --tags`")
            }
        } else if fields["version"] == nil {
            notes.append("version: none given, taken from `git describe --tags` at build time")
        }
        if fields["version"] == nil, fields["prerelease"] != nil { unconverted.append("prerelease: no version to attach it to") }
        if let r = fields["release"] {
            if let n = r.int, n >= 0 { top.append(E("release", .raw(String(n)))) } else {
                unconverted.append("release: '\(r.string ?? "")' is not a number (apk's -rN)")
            }
        }
        if let d = str("description") {
            let lines = d.split(separator: "\n", omittingEmptySubsequences: true)
            if let first = lines.first { top.append(E("description", .string(String(first)))) }
            if lines.count > 1 { unconverted.append("description: lines after the first (apk descriptions are one line)") }
        }
        if let u = str("homepage") { top.append(E("url", .string(u))) }
        if let l = str("license") { top.append(E("license", .string(l))) }
        if let m = str("maintainer") { top.append(E("maintainer", .string(m))) }
        top.append(E("type", .raw("plain"), comment: ["plain: just the mapped files (no service user, no /var/lib/<name>)."]))

        // Architecture: apk.arch is already apk's name; arch is GOARCH-style.
        if let a = apk?["arch"]?.string {
            top.append(E("architectures", .list([.string(a)])))
        } else if let a = str("arch") {
            if let mapped = Self.archMap[a] ?? (Architecture.isValid(a) ? a : nil) {
                top.append(E("architectures", .list([.string(mapped)]), comment: mapped != a ? ["nFPM's \(a)."] : []))
            } else {
                unconverted.append("arch: '\(a)' has no apk architecture; set architectures: by hand")
            }
        }
        if let p = str("platform"), p != "linux" { unconverted.append("platform: \(p): apk packages are for Linux") }

        // Dependencies.
        for (from, to) in [("depends", "runtime"), ("provides", "provides"), ("replaces", "replaces")] {
            guard let list = fields[from]?.sequence else { continue }
            let items = list.compactMap { n -> YAMLText? in
                guard let s = n.string else { return nil }
                if s.contains("$") { unconverted.append("\(from): '\(s)' expands an environment variable"); return nil }
                return .string(Self.apkDependency(s))
            }
            if from == "depends" { runtime = items; continue }
            if items.isEmpty { continue }
            deps.append(E(to, .list(items)))
        }
        if let list = fields["conflicts"]?.sequence {
            for n in list {
                guard let s = n.string else { continue }
                if s.contains("$") { unconverted.append("conflicts: '\(s)' expands an environment variable"); continue }
                runtime.append(.string("!" + Self.apkDependency(s)))
            }
        }
        if !runtime.isEmpty { deps.insert(E("runtime", .list(runtime)), at: 0) }
        deps.append(E("trace", .raw("false"), comment: [
            "nFPM adds no automatic dependencies; `true` lets apkit add so:/cmd:/pc: provides and depends.",
        ]))
        top.append(E("dependencies", .map(deps)))

        for key in order {
            if let why = Self.noEquivalent[key] {
                if key == "disable_globbing", fields[key]?.bool == false { continue }
                unconverted.append("\(key): \(why)")
            } else if Self.otherFormats.contains(key) {
                unconverted.append("\(key): settings of nFPM's \(key) packages")
            }
        }

        // Contents.
        if let contents = fields["contents"]?.sequence {
            for (i, item) in contents.enumerated() {
                convertContent(i, item, files: &files, build: &buildLines)
            }
        }
        // nFPM's older `files:` / `config_files:` / `empty_folders:` / `symlinks:` forms.
        for key in ["files", "config_files"] {
            guard let m = fields[key]?.mapping else { continue }
            for (s, d) in m {
                guard let src = s.string, let dst = d.string else { continue }
                if hasGlob(src) { buildLines += globCopy(src, dst, mode: nil) } else {
                    files.append(.map([E("source", .string(src)), E("destination", .string(dst))]))
                }
            }
        }
        if let dirs = fields["empty_folders"]?.sequence {
            for d in dirs { if let p = d.string { buildLines.append("install -d \(Shell.inPkgdir(p))") } }
        }
        if let links = fields["symlinks"]?.mapping {
            for (l, t) in links { if let link = l.string, let target = t.string { buildLines += symlink(link, target) } }
        }

        // Scripts: a file name in nFPM, the script's text in apkit.
        var scripts: [(String, Node)] = []
        if let s = fields["scripts"]?.mapping { for (k, v) in s { if let key = k.string { scripts.append(("scripts." + key, v)) } } }
        if let s = apk?["scripts"]?.mapping { for (k, v) in s { if let key = k.string { scripts.append(("apk.scripts." + key, v)) } } }
        for (key, v) in scripts {
            let event = String(key.split(separator: ".").last!)
            guard let apkEvent = Self.scriptEvents[event] else {
                unconverted.append("\(key): apk has no such script (pre-install, post-install, pre-upgrade, post-upgrade, pre-deinstall, post-deinstall)")
                continue
            }
            guard let path = v.string else { continue }
            let full = path.hasPrefix("/") ? path : directory.path + "/" + path
            guard let body = FileManager.default.contents(atPath: full) else {
                unconverted.append("\(key): \(path) cannot be read (the script's text goes into hook.\(apkEvent))")
                continue
            }
            hooks.append(E(apkEvent, .string(String(decoding: body, as: UTF8.self)), comment: ["From \(path)."]))
        }

        if let sig = apk?["signature"]?.mapping {
            for (k, _) in sig {
                switch k.string {
                case "key_file": unconverted.append("apk.signature.key_file: pass the key to `apkit build --key` (or $PACKAGER_PRIVKEY)")
                case "key_name": unconverted.append("apk.signature.key_name: pass `apkit build --key-name NAME.rsa.pub`")
                default: unconverted.append("apk.signature.\(k.string ?? "?"): apk signatures need only the key")
                }
            }
        }
        if let apk {
            for (k, _) in apk where !["arch", "scripts", "signature"].contains(k.string ?? "") {
                unconverted.append("apk.\(k.string ?? "?"): not an apkit setting")
            }
        }
        let known: Set<String> = ["name", "arch", "platform", "version", "prerelease", "release", "description", "homepage",
                                  "license", "maintainer", "depends", "provides", "replaces", "conflicts", "contents",
                                  "files", "config_files", "empty_folders", "symlinks", "scripts", "overrides", "apk"]
        for key in order where !known.contains(key) && Self.noEquivalent[key] == nil && !Self.otherFormats.contains(key) {
            unconverted.append("\(key): not an nFPM field apkit knows")
        }

        var build: [E] = []
        if !buildLines.isEmpty || files.isEmpty {
            let body = buildLines.isEmpty
                ? "# nfpm.yaml mapped no files: install what the package ships under \"$pkgdir\".\ntrue\n"
                : buildLines.joined(separator: "\n") + "\n"
            build.append(E("command", .string(body), comment: ["Symlinks, empty directories and globbed files of nfpm.yaml, installed into $pkgdir."]))
        }
        build.append(E("strip_binary", .raw("false"), comment: ["nFPM ships files as they are; `true` strips ELF files."]))
        top.append(E("build", .map(build)))
        if !files.isEmpty { top.append(E("files", .list(files), comment: ["nfpm.yaml's contents: source (relative) -> destination in the package."])) }
        if !hooks.isEmpty { top.append(E("hook", .map(hooks))) }

        top[0].comment = [
            "Converted from \((file as NSString).lastPathComponent) by `apkit init --from`; build with: apkit build --key KEY.rsa",
            "",
        ] + top[0].comment
        return InitResult(text: YAMLText.map(top).render(), notes: notes, unconverted: unconverted)
    }

    /// One `contents:` entry.
    mutating func convertContent(_ i: Int, _ item: Node, files: inout [YAMLText], build: inout [String]) {
        let key = "contents[\(i)]"
        guard let m = item.mapping else { unconverted.append("\(key): not a mapping"); return }
        if let packager = m["packager"]?.string, !packager.isEmpty, packager != "apk" {
            unconverted.append("\(key): for nFPM's \(packager) packages only")
            return
        }
        let type = m["type"]?.string ?? ""
        let src = m["src"]?.string
        guard let dst = m["dst"]?.string, !dst.isEmpty else { unconverted.append("\(key): no dst"); return }
        if m["expand"]?.bool == true || (src ?? "").contains("$") || dst.contains("$") {
            unconverted.append("\(key): environment variables in src/dst (expand) are not expanded by apkit")
            return
        }
        if m["disown_subtree"] != nil { unconverted.append("\(key).disown_subtree: apk packages own no directories separately") }
        let info = m["file_info"]?.mapping
        var mode: String?
        if let modeNode = info?["mode"] {
            if let s = modeNode.scalar?.string, let parsed = Self.octalMode(s) { mode = parsed } else {
                unconverted.append("\(key).file_info.mode: '\(modeNode.scalar?.string ?? "")' is not a mode")
            }
        }
        if info?["mtime"] != nil { unconverted.append("\(key).file_info.mtime: set SOURCE_DATE_EPOCH for every file instead") }
        if info?["lang"] != nil { unconverted.append("\(key).file_info.lang: rpm only") }
        let owner = info?["owner"]?.string, group = info?["group"]?.string

        let kinds = Set(type.split(separator: "|").map(String.init))
        switch true {
        case kinds.contains("ghost"):
            unconverted.append("\(key): type ghost (rpm only; nFPM leaves it out of apk packages too)")
        case kinds.contains("symlink"):
            guard let src else { unconverted.append("\(key): symlink without src"); return }
            build += symlink(dst, src)
        case kinds.contains("dir"):
            build.append("install -d\(mode.map { " -m \($0)" } ?? "") \(Shell.inPkgdir(dst))")
            if owner != nil || group != nil { unconverted.append("\(key): the owner of an empty directory (only files: mappings set owners)") }
        default:
            guard let src else { unconverted.append("\(key): no src"); return }
            if kinds.contains("config") && !dst.hasPrefix("/etc/") {
                unconverted.append("\(key): config outside /etc (apk keeps local changes only to /etc files)")
            }
            if hasGlob(src) {
                build += globCopy(src, dst, mode: mode)
                if owner != nil || group != nil { unconverted.append("\(key): owner of globbed files (only files: mappings set owners)") }
                return
            }
            if src.hasPrefix("/") {
                build.append("mkdir -p \(Shell.inPkgdir((dst as NSString).deletingLastPathComponent)) && cp -a \(Shell.quote(src)) \(Shell.inPkgdir(dst))")
                if let mode { build.append("chmod \(mode) \(Shell.inPkgdir(dst))") }
                return
            }
            var isDir: ObjCBool = false
            var dstOut = dst
            if FileManager.default.fileExists(atPath: directory.path + "/" + src, isDirectory: &isDir), isDir.boolValue, dst.hasSuffix("/"), dst.count > 1 {
                dstOut.removeLast()
                notes.append("\(key): the directory \(src) is copied as a tree to \(dstOut)")
            }
            var e: [E] = [E("source", .string(src.hasSuffix("/") && src.count > 1 ? String(src.dropLast()) : src)), E("destination", .string(dstOut))]
            if let mode { e.append(E("mode", .string(mode))) }
            if let owner { e.append(E("owner", .string(owner))) }
            if let group { e.append(E("group", .string(group))) }
            files.append(.map(e))
        }
    }

    func symlink(_ link: String, _ target: String) -> [String] {
        ["mkdir -p \(Shell.inPkgdir((link as NSString).deletingLastPathComponent))",
         "ln -sfn \(Shell.quote(target)) \(Shell.inPkgdir(link))"]
    }

    func hasGlob(_ s: String) -> Bool { s.contains("*") || s.contains("?") || s.contains("[") }

    /// A glob source: every match copied into the destination directory (nFPM's rule for globs).
    func globCopy(_ src: String, _ dst: String, mode: String?) -> [String] {
        let dir = dst.hasSuffix("/") ? String(dst.dropLast()) : dst
        // The glob stays unquoted (bash expands it); only plain path characters are allowed in it.
        let safe = src.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./*?[]+@".contains($0)) }
        let pattern = safe ? src : Shell.quote(src)
        var lines = ["install -d \(Shell.inPkgdir(dir))", "cp -a \(pattern) \(Shell.inPkgdir(dir))/"]
        if let mode { lines.append("for f in \(pattern); do chmod \(mode) \(Shell.inPkgdir(dir))/\"${f##*/}\"; done") }
        return lines
    }

    /// `0644`, `0o644`, `644` (or a YAML int parsed from octal) as a 4-digit octal string.
    static func octalMode(_ s: String) -> String? {
        var t = s.lowercased()
        if t.hasPrefix("0o") { t.removeFirst(2) }
        if let v = UInt32(t, radix: 8), v <= 0o7777 { return String(format: "%04o", v) }
        return nil
    }

    /// Debian-style `name (>= 1.2)` as apk's `name>=1.2`; apk-style strings are kept.
    static func apkDependency(_ s: String) -> String {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard let open = t.firstIndex(of: "("), t.hasSuffix(")") else { return t.replacingOccurrences(of: " ", with: "") }
        let name = t[..<open].trimmingCharacters(in: .whitespaces)
        var cons = t[t.index(after: open)..<t.index(before: t.endIndex)].replacingOccurrences(of: " ", with: "")
        cons = cons.replacingOccurrences(of: ">>", with: ">").replacingOccurrences(of: "<<", with: "<")
        return name + cons
    }
}
