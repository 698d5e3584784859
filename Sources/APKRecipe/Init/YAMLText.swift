import Foundation
import Yams

/// A small ordered YAML document model for the configs `apkit init` writes: mappings keep their
/// order, each entry may carry a comment line above it, multi-line strings become literal blocks.
public indirect enum YAMLText: Sendable, Equatable {
    /// A string, quoted when YAML would read it as something else (a number, bool, null) or
    /// when it has characters plain style cannot hold.
    case string(String)
    /// A value written exactly as given (numbers, bools, `[]`).
    case raw(String)
    case list([YAMLText])
    case map([Entry])

    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: YAMLText
        /// Comment lines written above the key (without `#`).
        public var comment: [String]
        public init(_ key: String, _ value: YAMLText, comment: [String] = []) {
            self.key = key
            self.value = value
            self.comment = comment
        }
    }

    /// The document as YAML text (a mapping at the top).
    public func render() -> String {
        var out = ""
        write(into: &out, indent: 0)
        return out
    }

    private var isEmptyCollection: Bool {
        switch self {
        case .list(let l): return l.isEmpty
        case .map(let m): return m.isEmpty
        default: return false
        }
    }

    private func write(into out: inout String, indent: Int) {
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .map(let entries):
            for e in entries {
                for c in e.comment { out += pad + (c.isEmpty ? "#" : "# " + c) + "\n" }
                out += pad + YAMLText.key(e.key) + ":"
                e.value.writeValue(into: &out, indent: indent)
            }
        case .list(let items):
            for item in items {
                out += pad + "-"
                switch item {
                case .map(let entries) where !entries.isEmpty:
                    // First key on the dash line, the rest aligned under it.
                    var first = ""
                    YAMLText.map([entries[0]]).write(into: &first, indent: indent + 2)
                    out += " " + first.dropFirst(indent + 2)
                    if entries.count > 1 { YAMLText.map(Array(entries.dropFirst())).write(into: &out, indent: indent + 2) }
                default:
                    item.writeValue(into: &out, indent: indent)
                }
            }
        default:
            writeValue(into: &out, indent: indent)
        }
    }

    /// Writes the part after `key:` or `-`.
    private func writeValue(into out: inout String, indent: Int) {
        switch self {
        case .string(let s) where s.contains("\n"):
            // A literal block; `|-` when there is no final newline, `|+` is never needed here.
            let body = s.hasSuffix("\n") ? String(s.dropLast()) : s
            let leadingSpace = body.first == " "
            out += " |" + (leadingSpace ? "2" : "") + (s.hasSuffix("\n") ? "" : "-") + "\n"
            let pad = String(repeating: " ", count: indent + 2)
            for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
                out += line.isEmpty ? "\n" : pad + line + "\n"
            }
        case .string(let s):
            out += " " + YAMLText.scalar(s) + "\n"
        case .raw(let s):
            out += " " + s + "\n"
        case .list, .map:
            if isEmptyCollection {
                out += self == .list([]) ? " []\n" : " {}\n"
            } else {
                out += "\n"
                write(into: &out, indent: indent + 2)
            }
        }
    }

    static func key(_ k: String) -> String { scalar(k) }

    /// A one-line string in plain style when YAML reads it back as the same string, else double-quoted.
    public static func scalar(_ s: String) -> String {
        if isPlainSafe(s) { return s }
        var q = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": q += "\\\""
            case "\\": q += "\\\\"
            case "\n": q += "\\n"
            case "\t": q += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    q += String(format: "\\x%02X", u.value)
                } else {
                    q.unicodeScalars.append(u)
                }
            }
        }
        return q + "\""
    }

    static func isPlainSafe(_ s: String) -> Bool {
        guard let f = s.first, let l = s.last else { return false }
        if f == " " || l == " " || l == ":" { return false }
        if "-?:,[]{}#&*!|>'\"%@`".contains(f) {
            // `-x`, `?x`, `:x` are plain when followed by a non-space; keep it simple and quote.
            if !(f == "-" && s.count > 1 && !s.hasPrefix("- ") && !s.hasPrefix("---")) { return false }
        }
        if s.contains(": ") || s.contains(" #") || s.contains("\t") { return false }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) { return false }
        // Would it come back as a string? Ask the YAML library itself.
        guard let node = try? Yams.compose(yaml: "k: " + s), let v = node["k"], let scalar = v.scalar else { return false }
        return scalar.string == s && v.bool == nil && v.int == nil && v.float == nil && v.null == nil
    }

    /// The string a top-level `key` reads back as (for tests of the writer).
    static func readBack(_ text: String, key: String) -> String? {
        (try? Yams.compose(yaml: text))??[key]?.string
    }
}
