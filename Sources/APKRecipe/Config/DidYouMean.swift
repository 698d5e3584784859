/// Suggestions for misspelt keys.
enum DidYouMean {
    /// Levenshtein distance (small strings only).
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }

    /// The closest candidate, if it is close enough to be a likely typo.
    static func suggest(_ word: String, among candidates: [String]) -> String? {
        var best: (String, Int)? = nil
        for c in candidates {
            let d = distance(word, c)
            if best == nil || d < best!.1 { best = (c, d) }
        }
        guard let (c, d) = best else { return nil }
        let limit = max(2, word.count / 3)
        if d <= limit { return c }
        // A different separator or a plural (`strip-binary`, `hooks`).
        let norm = { (s: String) in s.lowercased().filter { $0.isLetter || $0.isNumber } }
        for c in candidates where norm(c) == norm(word) || norm(c) + "s" == norm(word) || norm(c) == norm(word) + "s" {
            return c
        }
        return nil
    }
}
