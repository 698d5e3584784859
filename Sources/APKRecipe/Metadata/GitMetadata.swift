import APKFormat
import Foundation

/// What git (and the CI environment) says about the source directory.
public struct GitMetadata: Sendable, Equatable {
    /// Slug of the remote repository's name (`github.com/acme/My_App.git` -> `my-app`).
    public var repositoryName: String?
    /// `git describe --tags` (raw).
    public var describe: String?
    public var commit: String?
    /// https URL of the remote.
    public var url: String?
    /// Commit time of HEAD.
    public var commitTime: Int64?
    public var isTopLevel = false

    public init() {}

    /// Reads git facts for `directory`; every field nil when it is not in a git work tree
    /// or git is absent.
    public static func read(directory: URL) -> GitMetadata {
        var m = GitMetadata()
        func git(_ args: String...) -> String? {
            guard let r = Subprocess.capture("git", ["-C", directory.path] + args), r.status == 0 else { return nil }
            let s = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            return s.isEmpty ? nil : s
        }
        guard let top = git("rev-parse", "--show-toplevel") else { return m }
        let realTop = URL(fileURLWithPath: top).resolvingSymlinksInPath().path
        m.isTopLevel = realTop == directory.resolvingSymlinksInPath().path
        m.commit = git("rev-parse", "HEAD")
        m.describe = git("describe", "--tags")
        if let t = git("log", "-1", "--format=%ct") { m.commitTime = Int64(t) }
        // The configured URL (not `remote get-url`, which applies url.<base>.insteadOf rewrites).
        var remote = git("config", "--get", "remote.origin.url")
        if remote == nil, let first = git("remote")?.split(separator: "\n").first {
            remote = git("config", "--get", "remote.\(first).url")
        }
        if let remote {
            m.url = httpsURL(remote)
            m.repositoryName = slug(repositoryName(fromRemote: remote))
        }
        return m
    }

    /// `git@github.com:acme/app.git`, `https://github.com/acme/app.git` -> `app`.
    static func repositoryName(fromRemote remote: String) -> String {
        var r = remote
        while r.hasSuffix("/") { r.removeLast() }
        if r.hasSuffix(".git") { r.removeLast(4) }
        let last = r.split(whereSeparator: { $0 == "/" || $0 == ":" }).last.map(String.init) ?? r
        return last
    }

    /// A remote URL as a browsable https URL (credentials dropped).
    static func httpsURL(_ remote: String) -> String? {
        var r = remote
        if r.hasSuffix(".git") { r.removeLast(4) }
        if r.hasPrefix("https://") || r.hasPrefix("http://") {
            if var c = URLComponents(string: r) { c.user = nil; c.password = nil; return c.string }
            return nil
        }
        if r.hasPrefix("ssh://") {
            guard let c = URLComponents(string: r), let host = c.host else { return nil }
            return "https://\(host)\(c.path)"
        }
        // scp-like: git@host:path
        if let at = r.firstIndex(of: "@"), let colon = r[at...].firstIndex(of: ":") {
            return "https://\(r[r.index(after: at)..<colon])/\(r[r.index(after: colon)...])"
        }
        return nil
    }

    /// A package-name-safe slug: lowercase, runs of other characters become `-`.
    public static func slug(_ s: String) -> String {
        var out = ""
        for c in s.lowercased() {
            if c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "+") { out.append(c) } else if !out.hasSuffix("-") { out.append("-") }
        }
        while out.hasSuffix("-") || out.hasSuffix(".") { out.removeLast() }
        while let f = out.first, !(f.isLetter || f.isNumber) { out.removeFirst() }
        return out
    }
    static func slug(_ s: String?) -> String? { s.map(slug).flatMap { $0.isEmpty ? nil : $0 } }

    /// `v1.2.3` -> `1.2.3`; `v1.2.3-4-gabc` -> `1.2.3_p4`; `1.2.3-rc.1` -> `1.2.3_rc1`.
    /// nil when the tag cannot be made an apk version.
    public static func version(fromDescribe d: String) -> String? {
        var tag = d
        var past: Int? = nil
        // Strip `-N-gHASH` (commits past the tag).
        let parts = d.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count >= 3, let n = Int(parts[parts.count - 2]), parts.last!.hasPrefix("g"),
           parts.last!.dropFirst().allSatisfy({ $0.isHexDigit }) {
            past = n
            tag = parts.dropLast(2).joined(separator: "-")
        }
        if tag.hasPrefix("v") || tag.hasPrefix("V") { tag.removeFirst() }
        var v = tag
        if !APKVersion.isValid(v) {
            // semver pre-release: 1.2.3-rc.1 / 1.2.3-beta1 -> 1.2.3_rc1
            let pieces = tag.split(separator: "-", maxSplits: 1).map(String.init)
            guard pieces.count == 2 else { return nil }
            var pre = pieces[1].lowercased().replacingOccurrences(of: ".", with: "")
            for (from, to) in [("alpha", "alpha"), ("beta", "beta"), ("rc", "rc"), ("pre", "pre"), ("a", "alpha"), ("b", "beta")] where pre.hasPrefix(from) {
                pre = to + pre.dropFirst(from.count)
                break
            }
            v = pieces[0] + "_" + pre
            guard APKVersion.isValid(v) else { return nil }
        }
        if let past, past > 0 {
            v += "_p\(past)"
            guard APKVersion.isValid(v) else { return nil }
        }
        return v
    }
}
