import Foundation
import APKFormat

/// The parts of a pkg-config `.pc` file abuild's tracing reads, parsed as pkgconf does:
/// `name=value` variables, `Key: value` fields, `${var}` expansion, `#` comments and
/// backslash line continuation.
public struct PkgConfigFile: Equatable, Sendable {
    /// The module name: the file name without `.pc` (what `pkg-config --print-provides` prints).
    public var module: String
    public var variables: [String: String] = [:]
    /// Fields by keyword, values already variable-expanded.
    public var fields: [String: String] = [:]

    public var version: String? { fields["Version"] }

    public struct Dependency: Equatable, Sendable {
        public var name: String
        /// `<`, `<=`, `=`, `!=`, `>=`, `>`, or nil when there is no version constraint.
        public var op: String?
        public var version: String?
        public init(name: String, op: String? = nil, version: String? = nil) {
            self.name = name; self.op = op; self.version = version
        }
    }

    public var requires: [Dependency] { PkgConfigFile.parseDependencies(fields["Requires"] ?? "") }
    public var requiresPrivate: [Dependency] { PkgConfigFile.parseDependencies(fields["Requires.private"] ?? "") }
    public var provides: [Dependency] { PkgConfigFile.parseDependencies(fields["Provides"] ?? "") }

    public init(module: String, text: String) {
        self.module = module
        var logical: [String] = []
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.hasSuffix("\\") {
                pending += line.dropLast()
                continue
            }
            logical.append(pending + line)
            pending = ""
        }
        if !pending.isEmpty { logical.append(pending) }
        for var line in logical {
            line = PkgConfigFile.stripComment(line)
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard let sep = trimmed.firstIndex(where: { $0 == ":" || $0 == "=" }) else { continue }
            let key = trimmed[..<sep].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }) else { continue }
            let value = trimmed[trimmed.index(after: sep)...].trimmingCharacters(in: .whitespaces)
            if trimmed[sep] == "=" {
                variables[key] = expand(value, depth: 0)
            } else if fields[key] == nil {
                fields[key] = expand(value, depth: 0)
            }
        }
    }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TraceError(path: path, reason: "cannot read the pkg-config file")
        }
        var name = (path as NSString).lastPathComponent
        if name.hasSuffix(".pc") { name.removeLast(3) }
        self.init(module: name, text: String(decoding: data, as: UTF8.self))
    }

    static func stripComment(_ s: String) -> String {
        var out = ""
        var escaped = false
        for c in s {
            if escaped { out.append(c); escaped = false; continue }
            if c == "\\" { escaped = true; out.append(c); continue }
            if c == "#" { break }
            out.append(c)
        }
        return out.replacingOccurrences(of: "\\#", with: "#")
    }

    func expand(_ s: String, depth: Int) -> String {
        guard depth < 32, s.contains("${") else { return s }
        var out = ""
        var rest = Substring(s)
        while let r = rest.range(of: "${") {
            out += rest[..<r.lowerBound]
            let after = rest[r.upperBound...]
            guard let close = after.firstIndex(of: "}") else { out += rest[r.lowerBound...]; rest = ""; break }
            let name = String(after[..<close])
            out += expand(variables[name] ?? "", depth: depth + 1)
            rest = after[after.index(after: close)...]
        }
        return out + rest
    }

    /// Splits a `Requires:`-style list: entries separated by commas or whitespace, each a module
    /// name optionally followed by an operator and a version.
    public static func parseDependencies(_ s: String) -> [Dependency] {
        enum Tok { case word(String), op(String), sep }
        var toks: [Tok] = []
        var cur = ""
        var curIsOp = false
        func flush() {
            if !cur.isEmpty { toks.append(curIsOp ? .op(cur) : .word(cur)) }
            cur = ""
        }
        let opChars: Set<Character> = ["<", ">", "=", "!"]
        for c in s {
            if c == "," { flush(); toks.append(.sep); continue }
            if c == " " || c == "\t" || c == "\n" { flush(); continue }
            let isOp = opChars.contains(c)
            if !cur.isEmpty && isOp != curIsOp { flush() }
            curIsOp = isOp
            cur.append(c)
        }
        flush()
        var out: [Dependency] = []
        var i = 0
        while i < toks.count {
            guard case .word(let name) = toks[i] else { i += 1; continue }
            if i + 2 < toks.count, case .op(let op) = toks[i + 1], case .word(let v) = toks[i + 2] {
                out.append(Dependency(name: name, op: op, version: v))
                i += 3
            } else {
                out.append(Dependency(name: name))
                i += 1
            }
        }
        return out
    }

    /// abuild's `pc_to_apk_ver`: `.alpha`/`-alpha` (and beta, rc, pre) become `_alpha`, a leading
    /// `v` is dropped, empty becomes `0`. Nil when the result is not a valid apk version.
    public static func apkVersion(fromPkgConfig v: String) -> String? {
        var v = v
        for word in ["alpha", "beta", "rc", "pre"] {
            // bash ${v/[.-]word/_word}: only the first match is replaced
            if let r = firstMatch(in: v, word: word) {
                v.replaceSubrange(r, with: "_" + word)
            }
        }
        if v.hasPrefix("v") { v.removeFirst() }
        if v.isEmpty { v = "0" }
        return APKVersion.isValid(v) ? v : nil
    }

    private static func firstMatch(in s: String, word: String) -> Range<String.Index>? {
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "." || s[i] == "-" {
                let next = s.index(after: i)
                if s[next...].hasPrefix(word) {
                    return i..<s.index(next, offsetBy: word.count)
                }
            }
            i = s.index(after: i)
        }
        return nil
    }
}
