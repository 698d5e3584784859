import APKFormat
import Foundation
import Yams

/// Reads `apkit.yml` or PAKman's `instellar.yml` into a `Recipe`, checking every key and type.
public enum RecipeLoader {
    /// The config file names looked for, in order, when none is given.
    public static let defaultNames = ["apkit.yml", "instellar.yml"]

    /// Finds the config: `path` when given, else `apkit.yml` then `instellar.yml` in `directory`.
    public static func locate(_ path: String?, in directory: String) throws -> String {
        let fm = FileManager.default
        if let path {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: path, isDirectory: &isDir) {
                if isDir.boolValue {
                    for n in defaultNames where fm.fileExists(atPath: path + "/" + n) { return path + "/" + n }
                    throw RecipeError(file: path, "no apkit.yml or instellar.yml in this directory")
                }
                return path
            }
            throw RecipeError(file: path, "config file not found")
        }
        for n in defaultNames {
            let p = directory == "." ? n : directory + "/" + n
            if fm.fileExists(atPath: p) { return p }
        }
        throw RecipeError("no apkit.yml or instellar.yml in \(directory == "." ? "the current directory" : directory): pass the config file path")
    }

    public static func load(file: String, warn: @escaping WarningSink = { _ in }) throws -> Recipe {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw RecipeError(file: file, "cannot read the config file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RecipeError(file: file, "not UTF-8 text")
        }
        let dir = URL(fileURLWithPath: file).deletingLastPathComponent().standardizedFileURL
        let base = (file as NSString).lastPathComponent
        let format: Recipe.Format = base.hasPrefix("instellar") ? .pakman : .apkit
        return try parse(text, file: file, format: format, sourceDirectory: dir, warn: warn)
    }

    static let topKeys = ["name", "version", "release", "description", "url", "license", "maintainer", "commit",
                          "type", "architectures", "dependencies", "build", "files", "run", "hook", "triggers",
                          "subpackages", "environment", "package", "source", "format"]
    /// PAKman keys that only describe deployment on its hosting platform.
    static let pakmanDeploymentKeys = ["stack", "kits", "sizes", "plans", "page", "deployment", "targets"]

    public static func parse(_ text: String, file: String, format: Recipe.Format, sourceDirectory: URL,
                             warn: @escaping WarningSink = { _ in }) throws -> Recipe {
        // Warnings are given in file order, also when an error follows.
        let collected = WarningCollector()
        defer { collected.flush(to: warn) }
        return try parseChecked(text, file: file, format: format, sourceDirectory: sourceDirectory, warn: collected.sink)
    }

    /// How deep a config may nest (collections in collections): far more than any real one, and
    /// far less than what overflows the YAML composer's recursion.
    static let maxNesting = 64

    /// The first line at which `text` nests deeper than `maxNesting`, by a cautious scan before
    /// the composer sees it: flow brackets outside quotes and comments, plus, per line, the
    /// indentation steps and the `- ` / `? ` markers that open a block collection. Block scalar
    /// text (after `|` or `>`) is skipped. Nil when it stays within the limit.
    static func nestingTooDeep(_ text: String) -> Int? {
        var flow = 0
        var indents: [Int] = []
        var blockScalarIndent: Int? = nil
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Array(raw.utf8)
            let indent = line.prefix { $0 == UInt8(ascii: " ") }.count
            let content = line[indent...]
            if let b = blockScalarIndent {
                if content.isEmpty || indent > b { continue }
                blockScalarIndent = nil
            }
            if content.isEmpty || content.first == UInt8(ascii: "#") { continue }
            if flow == 0 {
                while let last = indents.last, last >= indent { indents.removeLast() }
                indents.append(indent)
            }
            var markers = 0
            var i = content.startIndex
            while i + 1 < content.endIndex, content[i] == UInt8(ascii: "-") || content[i] == UInt8(ascii: "?"),
                  content[i + 1] == UInt8(ascii: " ") {
                markers += 1
                i += 2
                while i < content.endIndex, content[i] == UInt8(ascii: " ") { i += 1 }
            }
            var quote: UInt8? = nil
            var last: UInt8 = 0
            while i < content.endIndex {
                let c = content[i]
                if let q = quote {
                    if c == q { quote = nil }
                } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                    quote = c
                } else if c == UInt8(ascii: "#") && (last == UInt8(ascii: " ") || last == 0) {
                    break
                } else if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") {
                    flow += 1
                    if indents.count + markers + flow > maxNesting { return n + 1 }
                } else if c == UInt8(ascii: "]") || c == UInt8(ascii: "}") {
                    flow = max(0, flow - 1)
                }
                last = c
                i += 1
            }
            if flow == 0, let l = content.last, l == UInt8(ascii: "|") || l == UInt8(ascii: ">") || content.suffix(2).first == UInt8(ascii: "|") {
                blockScalarIndent = indent
            }
            if indents.count + markers + flow > maxNesting { return n + 1 }
        }
        return nil
    }

    static func parseChecked(_ text: String, file: String, format: Recipe.Format, sourceDirectory: URL,
                             warn: @escaping WarningSink) throws -> Recipe {
        let root: Node?
        if let line = nestingTooDeep(text) {
            throw RecipeError(file: file, line: line, "nested more than \(maxNesting) levels deep; a config is a few levels of keys and lists")
        }
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw yamlError(e, file: file)
        } catch {
            throw RecipeError(file: file, "not valid YAML: \(error)")
        }
        guard let root else { throw RecipeError(file: file, line: 1, "the file is empty: it needs at least build.command or files") }
        var r = Recipe(format: format, file: file, sourceDirectory: sourceDirectory)
        let top = YAMLValue(node: root, path: "", file: file)
        guard case .mapping = root else {
            throw RecipeError(file: file, line: top.line, "the top level must be a mapping of keys (name:, build:, ...), found \(top.kindName)")
        }
        let f = try top.mapping(known: topKeys, ignored: format == .pakman ? pakmanDeploymentKeys : [], warn: warn)

        if let v = f["name"] {
            let n = try v.located()
            if let p = PackageName.problem(n.value) { throw v.error(p) }
            r.name = n
        }
        if let v = f["version"] {
            let s = try v.located()
            var ver = s.value
            if ver.hasPrefix("v"), APKVersion.isValid(String(ver.dropFirst())) { ver.removeFirst() }
            guard APKVersion.isValid(ver), !ver.contains("-r") else {
                throw v.error("'\(s.value)' is not an apk version (digits and dots, optional letter and _suffix, e.g. 1.2.3 or 1.2.3_rc1; the release goes in release:)")
            }
            r.version = Located(ver, line: s.line)
        }
        if let v = f["release"] {
            let s = try v.located()
            guard !s.value.isEmpty, s.value.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw v.error("'\(s.value)' is not a release number (a whole number >= 0, abuild's pkgrel)")
            }
            r.release = s
        }
        if let v = f["description"] { r.description = try singleLine(v) }
        if let v = f["url"] { r.url = try singleLine(v) }
        if let v = f["license"] { r.license = try singleLine(v) }
        if let v = f["maintainer"] { r.maintainer = try singleLine(v) }
        if let v = f["commit"] { r.commit = try singleLine(v) }
        if let v = f["type"] {
            let t = try v.string()
            guard let k = Recipe.Kind(rawValue: t) else {
                var msg = "'\(t)' is not a package type: use one of \(Recipe.Kind.allCases.map(\.rawValue).joined(separator: ", "))"
                if let s = DidYouMean.suggest(t, among: Recipe.Kind.allCases.map(\.rawValue)) { msg += " (did you mean '\(s)'?)" }
                throw v.error(msg)
            }
            r.kind = k
            r.kindLine = v.line
        }
        if let v = f["format"] {
            let t = try v.string()
            guard let fmt = FormatName(rawValue: t) else {
                throw v.error("'\(t)' is not a package format: use v2 (apk-tools 2, the default) or v3 (apk-tools 3, OpenWrt 25.12)")
            }
            r.packageFormat = fmt
        }
        if let v = f["architectures"] {
            r.architectures = try v.stringList()
            if r.architectures.isEmpty { throw v.error("the list is empty: name at least one architecture (e.g. x86_64) or noarch") }
            for (i, a) in r.architectures.enumerated() {
                guard Architecture.isValid(a.value) else {
                    var msg = "'\(a.value)' is not an Alpine or OpenWrt architecture: use one of \(Architecture.known.joined(separator: ", ")), or an OpenWrt name such as aarch64_cortex-a53"
                    if let s = Architecture.alias[a.value] ?? DidYouMean.suggest(a.value, among: Architecture.known) { msg += " (did you mean '\(s)'?)" }
                    throw RecipeError(file: file, line: a.line, "architectures[\(i)]: \(msg)")
                }
            }
            if r.architectures.count > 1, r.architectures.contains(where: { Architecture.isArchitectureIndependent($0.value) }) {
                throw v.error("noarch cannot be combined with other architectures")
            }
        }
        if let v = f["dependencies"] {
            let d = try v.mapping(known: ["build", "runtime", "trace", "provides", "replaces"], warn: warn)
            if let b = d["build"] { r.buildDepends = try b.stringList() }
            if let b = d["runtime"] { r.runtimeDepends = try dependencyList(b) }
            if let b = d["provides"] { r.provides = try dependencyList(b) }
            if let b = d["replaces"] { r.replaces = try dependencyList(b) }
            if let b = d["trace"] { r.trace = try b.bool() }
        }
        if let v = f["build"] {
            let b = try v.mapping(known: ["command", "destinations", "strip_binary"], warn: warn)
            if let c = b["command"] { r.buildCommand = try c.located() }
            if let c = b["destinations"] {
                r.destinations = try c.stringList()
                for (i, d) in r.destinations.enumerated() {
                    try checkRelative(d, key: "build.destinations[\(i)]", file: file)
                }
            }
            if let c = b["strip_binary"] { r.stripBinary = try c.bool() }
        }
        if let v = f["package"] { r.packageScript = try v.located() }
        if let v = f["source"] {
            warn("\(file):\(v.line ?? 0): 'source' is abuild's download list and is ignored: fetch sources in build.command")
        }
        if let v = f["files"] { r.files = try files(v, warn: warn) }
        if let v = f["run"] { r.run = try run(v, format: format, warn: warn) }
        if let v = f["hook"] {
            let h = try v.mapping(known: ScriptKind.allCases.map(\.rawValue), warn: warn)
            for k in ScriptKind.allCases {
                if let s = h[k.rawValue] { r.hooks[k] = try s.located() }
            }
        }
        if let v = f["triggers"] {
            r.triggerPaths = try v.stringList()
            for (i, p) in r.triggerPaths.enumerated() where !p.value.hasPrefix("/") || p.value.contains(where: { $0 == " " || $0 == "\n" }) {
                throw RecipeError(file: file, line: p.line, "triggers[\(i)]: '\(p.value)' must be an absolute path (glob allowed) without spaces")
            }
        }
        if r.hooks[.trigger] != nil, r.triggerPaths.isEmpty {
            throw RecipeError(file: file, line: r.hooks[.trigger]?.line, "hook.trigger: a trigger script needs the paths it watches: add triggers: [/some/dir]")
        }
        if r.hooks[.trigger] == nil, let p = r.triggerPaths.first {
            throw RecipeError(file: file, line: p.line, "triggers: paths given but no hook.trigger script to run")
        }
        if let v = f["subpackages"] { r.subpackages = try subpackages(v, warn: warn) }
        if let v = f["environment"] {
            guard case .mapping(let m) = v.node else { throw v.error("expected a mapping of NAME: value, found \(v.kindName)") }
            for (k, val) in m {
                let key = YAMLValue(node: k, path: "environment", file: file)
                let name = try key.string()
                guard isShellName(name) else {
                    throw RecipeError(file: file, line: k.mark?.line, "environment: '\(name)' is not a variable name (letters, digits, _; not starting with a digit)")
                }
                let value = try YAMLValue(node: val, path: "environment.\(name)", file: file).string()
                if value.contains("\n") || value.contains("\0") {
                    throw RecipeError(file: file, line: val.mark?.line, "environment.\(name): the value must be one line")
                }
                r.environment.append((name, value))
            }
        }

        // Whole-recipe checks.
        if r.buildCommand == nil, r.files.isEmpty, r.destinations.isEmpty, r.packageScript == nil, r.kind != .custom {
            throw RecipeError(file: file, line: top.line, "nothing to package: add build.command, build.destinations or files")
        }
        if r.kind == .app, let run = r.run, run.services.isEmpty {
            throw RecipeError(file: file, line: run.line, "run.services: an app with run: needs at least one service (name, binary)")
        }
        if r.kind == .plain, let d = r.destinations.first {
            throw RecipeError(file: file, line: d.line, "build.destinations: a plain package has no /var/lib/<name>: map files with files: (source, destination) or install into $pkgdir")
        }
        if r.kind == .plain, let run = r.run {
            throw RecipeError(file: file, line: run.line, "run: a plain package has no services: use type: app")
        }
        return r
    }

    // MARK: - sections

    static func run(_ v: YAMLValue, format: Recipe.Format, warn: @escaping WarningSink) throws -> Recipe.Run {
        let f = try v.mapping(known: ["name", "user", "services", "commands"], warn: warn)
        var run = Recipe.Run(line: v.line)
        if let n = f["name"] {
            let s = try n.located()
            if let p = PackageName.problem(s.value) { throw n.error("service name: \(p.replacingOccurrences(of: "package name", with: "name"))") }
            run.name = s
        }
        if let u = f["user"] {
            let s = try u.located()
            guard isUserName(s.value) else { throw u.error("'\(s.value)' is not a user name (lowercase letters, digits, _ and -)") }
            run.user = s
        }
        if let s = f["services"] {
            var seen = Set<String>()
            for item in try s.list() {
                let svc = try service(item, isCommand: false, warn: warn)
                guard seen.insert(svc.name.value).inserted else { throw item.error("service '\(svc.name.value)' given twice") }
                run.services.append(svc)
            }
        }
        if let s = f["commands"] {
            var seen = Set<String>()
            for item in try s.list() {
                let cmd = try service(item, isCommand: true, warn: warn)
                guard seen.insert(cmd.name.value).inserted else { throw item.error("command '\(cmd.name.value)' given twice") }
                run.commands.append(cmd)
            }
        }
        return run
    }

    /// OpenRC's own function names, which a command must not replace.
    static let openRCReserved: Set<String> = ["start", "stop", "restart", "status", "describe", "zap", "depend",
        "start_pre", "start_post", "stop_pre", "stop_post", "reload", "checkconfig", "ebegin", "eend", "einfo",
        "ewarn", "eerror", "command", "name", "supervisor", "description"]

    static func service(_ v: YAMLValue, isCommand: Bool, warn: @escaping WarningSink) throws -> Recipe.Service {
        let f = try v.mapping(known: isCommand ? ["name", "binary", "path", "call"] : ["name", "binary", "path", "start"], warn: warn)
        let nameV = try f.require("name")
        let name = try nameV.located()
        if isCommand {
            guard isShellName(name.value), !openRCReserved.contains(name.value) else {
                throw nameV.error("'\(name.value)' cannot be an OpenRC command: use letters, digits and _ (not a built-in like start or status)")
            }
        } else {
            guard !name.value.isEmpty, name.value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw nameV.error("'\(name.value)' is not a service name (letters, digits, . _ -)")
            }
        }
        let binV = try f.require("binary")
        let bin = try binV.located()
        guard !bin.value.isEmpty, !bin.value.contains("\n"), !bin.value.contains("\0"), !bin.value.split(separator: "/").contains("..") else {
            throw binV.error("'\(bin.value)' is not a program name")
        }
        var svc = Recipe.Service(name: name, binary: bin)
        if let p = f["path"] {
            let s = try p.located()
            guard s.value.hasPrefix("/"), !s.value.contains("\n"), !s.value.split(separator: "/").contains("..") else {
                throw p.error("'\(s.value)' must be an absolute directory (e.g. /var/lib/app/bin)")
            }
            svc.path = s
        }
        var callV: YAMLValue? = f["call"]
        if !isCommand, let st = f["start"] {
            let sf = try st.mapping(known: ["call"], warn: warn)
            callV = sf["call"]
        }
        if let c = callV {
            let s = try c.located()
            do { _ = try ShellWords.split(s.value) } catch let e as ShellWords.SplitError { throw c.error(e.message) }
            svc.call = s
        }
        return svc
    }

    static func files(_ v: YAMLValue, warn: @escaping WarningSink) throws -> [Recipe.FileMapping] {
        var out: [Recipe.FileMapping] = []
        for item in try v.list() {
            let f = try item.mapping(known: ["source", "destination", "mode", "owner", "group"], warn: warn)
            let srcV = try f.require("source"), dstV = try f.require("destination")
            let src = try srcV.located(), dst = try dstV.located()
            try checkRelative(src, key: srcV.path, file: v.file)
            guard dst.value.hasPrefix("/") else { throw dstV.error("'\(dst.value)' must be an absolute install path (e.g. /usr/bin/hello)") }
            guard !dst.value.split(separator: "/").contains(".."), !dst.value.contains("\n") else {
                throw dstV.error("'\(dst.value)' must not contain '..'")
            }
            guard dst.value != "/" else { throw dstV.error("cannot install over /") }
            var m = Recipe.FileMapping(source: src, destination: dst, line: item.line)
            if let modeV = f["mode"] {
                let s = try modeV.string()
                guard let mode = UInt32(s.hasPrefix("0o") ? String(s.dropFirst(2)) : s, radix: 8), mode <= 0o7777 else {
                    throw modeV.error("'\(s)' is not an octal file mode (e.g. \"0755\"; quote it so YAML keeps the leading 0)")
                }
                // YAML reads an unquoted 0755 as the octal-looking integer; `755` means the same.
                m.mode = Located(mode, line: modeV.line)
            }
            if let o = f["owner"] {
                let s = try o.located()
                let parts = s.value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                guard parts.count <= 2, parts.allSatisfy(isUserName) else {
                    throw o.error("'\(s.value)' is not an owner (user or user:group)")
                }
                m.owner = Located(parts[0], line: s.line)
                if parts.count == 2 { m.group = Located(parts[1], line: s.line) }
            }
            if let g = f["group"] {
                let s = try g.located()
                guard isUserName(s.value) else { throw g.error("'\(s.value)' is not a group name") }
                m.group = s
            }
            out.append(m)
        }
        return out
    }

    static func subpackages(_ v: YAMLValue, warn: @escaping WarningSink) throws -> [Recipe.Subpackage] {
        var out: [Recipe.Subpackage] = []
        var seen = Set<String>()
        for item in try v.list() {
            let f = try item.mapping(known: ["suffix", "paths", "description", "depends", "install_if", "arch"], warn: warn)
            let sV = try f.require("suffix")
            var suffix = try sV.located()
            if !suffix.value.hasPrefix("-") { suffix.value = "-" + suffix.value }
            guard suffix.value.count > 1, PackageName.isValid("x" + suffix.value) else {
                throw sV.error("'\(suffix.value)' is not a name suffix (e.g. -doc: letters, digits, '+-._')")
            }
            guard seen.insert(suffix.value).inserted else { throw sV.error("subpackage '\(suffix.value)' given twice") }
            if suffix.value == "-openrc" { throw sV.error("-openrc is generated from run:; do not list it") }
            let pV = try f.require("paths")
            let paths = try pV.stringList()
            if paths.isEmpty { throw pV.error("the list is empty: name the paths (e.g. usr/share/doc) this subpackage takes") }
            for (i, p) in paths.enumerated() {
                var q = p
                if q.value.hasPrefix("/") { q.value.removeFirst() }  // install paths may be written absolute
                try checkRelative(q, key: "\(pV.path)[\(i)]", file: v.file)
            }
            var sp = Recipe.Subpackage(suffix: suffix, paths: paths.map { p in
                var q = p; if q.value.hasPrefix("/") { q.value.removeFirst() }; return q }, line: item.line)
            if let d = f["description"] { sp.description = try singleLine(d) }
            if let d = f["depends"] { sp.depends = try dependencyList(d) }
            if let d = f["install_if"] { sp.installIf = try dependencyList(d) }
            if let d = f["arch"] {
                let a = try d.string()
                guard a == "noarch" else { throw d.error("only noarch can be set here (the rest follows the main package)") }
                sp.arch = a
            }
            out.append(sp)
        }
        return out
    }

    // MARK: - helpers

    static func singleLine(_ v: YAMLValue) throws -> String {
        let s = try v.string()
        guard !s.contains("\n"), !s.contains("\0") else { throw v.error("must be one line") }
        return s
    }

    /// A dependency: `name`, `name>=1.2`, `so:libfoo.so.1`, `cmd:foo`, `!conflict`; no spaces.
    static func dependencyList(_ v: YAMLValue) throws -> [Located<String>] {
        let items = try v.stringList()
        for (i, d) in items.enumerated() {
            var s = d.value
            if s.hasPrefix("!") { s.removeFirst() }
            let nameEnd = s.firstIndex(where: { "<>=~".contains($0) }) ?? s.endIndex
            let name = String(s[..<nameEnd])
            let bare = name.hasPrefix("so:") || name.hasPrefix("cmd:") || name.hasPrefix("pc:") || name.hasPrefix("py3.")
                ? String(name.drop(while: { $0 != ":" }).dropFirst()) : name
            let okName = name.hasPrefix("/") ? !name.contains(" ") : PackageName.isValid(bare.isEmpty ? name : bare)
            var okVersion = true
            if nameEnd != s.endIndex {
                let rest = s[nameEnd...]
                let ver = rest.drop(while: { "<>=~".contains($0) })
                okVersion = APKVersion.isValid(String(ver))
            }
            guard okName, okVersion, !d.value.contains(" ") else {
                throw RecipeError(file: v.file, line: d.line, "\(v.path)[\(i)]: '\(d.value)' is not a dependency (name, name>=version, so:lib.so.1, cmd:prog or !conflict)")
            }
        }
        return items
    }

    /// Relative to the source directory, without `..` or a leading `/`.
    static func checkRelative(_ p: Located<String>, key: String, file: String) throws {
        if p.value.isEmpty { throw RecipeError(file: file, line: p.line, "\(key): empty path") }
        if p.value.hasPrefix("/") {
            throw RecipeError(file: file, line: p.line, "\(key): '\(p.value)' is an absolute path: paths are relative to the source directory")
        }
        if p.value.split(separator: "/").contains("..") {
            throw RecipeError(file: file, line: p.line, "\(key): '\(p.value)' leaves the source directory ('..' is not allowed)")
        }
    }

    static func isShellName(_ s: String) -> Bool {
        guard let f = s.first, f == "_" || (f.isASCII && f.isLetter) else { return false }
        return s.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    static func isUserName(_ s: String) -> Bool {
        guard let f = s.first, f == "_" || (f.isASCII && f.isLowercase) || (f.isASCII && f.isNumber) else { return false }
        return s.count <= 32 && s.allSatisfy { $0 == "_" || $0 == "-" || $0 == "." || ($0.isASCII && ($0.isLowercase || $0.isNumber)) }
    }

    static func yamlError(_ e: YamlError, file: String) -> RecipeError {
        switch e {
        case .scanner(let ctx, let problem, let mark, _), .parser(let ctx, let problem, let mark, _), .composer(let ctx, let problem, let mark, _):
            let c = ctx.map { " \($0.text)" } ?? ""
            return RecipeError(file: file, line: mark.line, "not valid YAML: \(problem)\(c)")
        default:
            return RecipeError(file: file, "not valid YAML: \(e)")
        }
    }
}

/// Holds warnings of the form `file:line: ...` and hands them on sorted by line.
final class WarningCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(line: Int, index: Int, text: String)] = []

    var sink: WarningSink {
        { [self] w in
            lock.lock()
            defer { lock.unlock() }
            // `file:LINE: ...`
            let parts = w.split(separator: ":", maxSplits: 2)
            let line = parts.count > 1 ? Int(parts[1]) ?? Int.max : Int.max
            items.append((line, items.count, w))
        }
    }

    func flush(to warn: WarningSink) {
        lock.lock()
        let sorted = items.sorted { ($0.line, $0.index) < ($1.line, $1.index) }
        items = []
        lock.unlock()
        for w in sorted { warn(w.text) }
    }
}
