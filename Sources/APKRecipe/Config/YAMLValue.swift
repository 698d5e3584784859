import Foundation
import Yams

/// A YAML node with its dotted key path and file, with typed accessors whose errors name
/// the file, line and key.
struct YAMLValue {
    let node: Node
    /// e.g. `build.destinations[1]`
    let path: String
    let file: String

    var line: Int? { node.mark?.line }

    func error(_ message: String) -> RecipeError {
        RecipeError(file: file, line: line, "\(path): \(message)")
    }

    var isNull: Bool {
        if case .scalar(let s) = node { return s.style == .plain && (s.string.isEmpty || s.string == "~" || ["null", "Null", "NULL"].contains(s.string)) }
        return false
    }

    var kindName: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s):
            if isNull { return "nothing (null)" }
            if s.style == .plain {
                if node.bool != nil { return "a boolean" }
                if Double(s.string) != nil { return "a number" }
            }
            return "a string"
        }
    }

    /// A scalar as text (numbers keep their spelling: `1.10` stays `1.10`).
    func string() throws -> String {
        guard case .scalar(let s) = node, !isNull else { throw error("expected a string, found \(kindName)") }
        return s.string
    }

    func located() throws -> Located<String> { Located(try string(), line: line) }

    func bool() throws -> Bool {
        guard case .scalar(let s) = node, s.style == .plain, let b = node.bool else { throw error("expected true or false, found \(kindName)") }
        return b
    }

    func int() throws -> Int {
        guard case .scalar(let s) = node, let i = Int(s.string) else { throw error("expected a whole number, found \(kindName)") }
        return i
    }

    func list() throws -> [YAMLValue] {
        guard case .sequence(let seq) = node else {
            throw error("expected a list (e.g. [a, b] or '- a' lines), found \(kindName)")
        }
        return seq.enumerated().map { YAMLValue(node: $1, path: "\(path)[\($0)]", file: file) }
    }

    func stringList() throws -> [Located<String>] {
        try list().map { try $0.located() }
    }

    /// The mapping's entries, checked: keys are strings, no duplicates, unknown keys warned
    /// about with a suggestion. `ignored` keys are accepted silently and not returned.
    func mapping(known: [String], ignored: [String] = [], warn: WarningSink) throws -> Fields {
        guard case .mapping(let m) = node else { throw error("expected a mapping (key: value lines), found \(kindName)") }
        var out: [String: YAMLValue] = [:]
        var order: [String] = []
        for (k, v) in m {
            guard case .scalar(let ks) = k else {
                throw RecipeError(file: file, line: k.mark?.line, "\(path.isEmpty ? "" : path + ": ")keys must be plain names")
            }
            let key = ks.string
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if out[key] != nil || order.contains(key) {
                throw RecipeError(file: file, line: k.mark?.line, "\(childPath): key given twice")
            }
            if ignored.contains(key) { order.append(key); continue }
            if !known.contains(key) {
                var msg = "\(file):\(k.mark?.line ?? 0): unknown key '\(childPath)'"
                if let s = DidYouMean.suggest(key, among: known) { msg += " (did you mean '\(s)'?)" }
                msg += ", ignored"
                warn(msg)
                order.append(key)
                continue
            }
            order.append(key)
            let value = YAMLValue(node: v, path: childPath, file: file)
            if value.isNull { continue }  // `key:` with nothing is the same as absent
            out[key] = value
        }
        return Fields(values: out, parent: self)
    }
}

/// The present (non-null) fields of a mapping.
struct Fields {
    let values: [String: YAMLValue]
    let parent: YAMLValue
    subscript(_ key: String) -> YAMLValue? { values[key] }

    func require(_ key: String) throws -> YAMLValue {
        guard let v = values[key] else {
            let p = parent.path.isEmpty ? key : "\(parent.path).\(key)"
            throw RecipeError(file: parent.file, line: parent.line, "\(p): missing (required)")
        }
        return v
    }
}
