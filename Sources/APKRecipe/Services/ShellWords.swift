/// Shell quoting for generated scripts, and splitting of `call:` strings into words.
public enum ShellWords {
    /// `value` as one POSIX shell word that expands to exactly itself: `'...'`, with each `'`
    /// written as `'\''`. Nothing inside is ever expanded or executed.
    public static func quote(_ value: String) -> String {
        if !value.isEmpty, value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/._-+=:,@%".contains($0)) }) {
            return value
        }
        return "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    public struct SplitError: Error { public var message: String }

    /// Splits `s` into words the way a shell reads quotes and backslashes (`a "b c" d\ e` is
    /// three words), WITHOUT expanding anything: `$x`, backquotes, `;`, `|`, `&`, `>` and the
    /// like stay literal characters of the words. Used for PAKman's `call:` strings.
    public static func split(_ s: String) throws -> [String] {
        var words: [String] = []
        var cur = ""
        var inWord = false
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            switch c {
            case " ", "\t", "\n":
                if inWord { words.append(cur); cur = ""; inWord = false }
            case "'":
                inWord = true
                guard let end = s[s.index(after: i)...].firstIndex(of: "'") else {
                    throw SplitError(message: "unterminated ' quote in '\(s)'")
                }
                cur += s[s.index(after: i)..<end]
                i = end
            case "\"":
                inWord = true
                var j = s.index(after: i)
                var closed = false
                while j < s.endIndex {
                    let d = s[j]
                    if d == "\"" { closed = true; break }
                    if d == "\\", s.index(after: j) < s.endIndex, "\"\\$`".contains(s[s.index(after: j)]) {
                        j = s.index(after: j)
                        cur.append(s[j])
                    } else {
                        cur.append(d)
                    }
                    j = s.index(after: j)
                }
                guard closed else { throw SplitError(message: "unterminated \" quote in '\(s)'") }
                i = j
            case "\\":
                inWord = true
                let n = s.index(after: i)
                if n < s.endIndex {
                    if s[n] != "\n" { cur.append(s[n]) }
                    i = n
                }
            default:
                if c == "\0" { throw SplitError(message: "NUL character in '\(s)'") }
                inWord = true
                cur.append(c)
            }
            i = s.index(after: i)
        }
        if inWord { words.append(cur) }
        return words
    }

    /// The words of `call`, each quoted: safe to paste after a command in a script.
    public static func quotedWords(_ call: String?) throws -> String {
        guard let call else { return "" }
        return try split(call).map(quote).joined(separator: " ")
    }
}
