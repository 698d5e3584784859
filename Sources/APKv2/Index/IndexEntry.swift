import APKCore
import APKCrypto
import Foundation
import SystemIO

/// One package block of an `APKINDEX`: `X:value` lines, kept as the exact text apk-tools would
/// write (for new packages) or as it was read (for entries of an existing index, unknown fields
/// included), plus the fields used to identify, sort and prune it.
public struct IndexEntry: Sendable, Equatable {
    /// The block's lines without the separating empty line, each ending in `\n`.
    public private(set) var text: [UInt8]
    public private(set) var name: String
    public private(set) var version: String
    /// Empty when the entry has no `A:` line.
    public private(set) var arch: String
    /// The `C:` value (`Q1` + base64 SHA-1), empty if absent.
    public private(set) var checksum: String
    /// `t:` build time, 0 if absent (used for a deterministic index mtime).
    public private(set) var buildTime: Int64
    /// `S:` file size, 0 if absent or not a number (the last one if repeated).
    public private(set) var fileSize: Int64

    init(text: [UInt8], name: String, version: String, arch: String, checksum: String, buildTime: Int64, fileSize: Int64) {
        self.text = text; self.name = name; self.version = version; self.arch = arch
        self.checksum = checksum; self.buildTime = buildTime; self.fileSize = fileSize
    }

    /// The value of field `field` (e.g. `"P"`), the last one if repeated; nil if absent.
    public func value(of field: Character) -> String? {
        var result: String? = nil
        for line in text.split(separator: 0x0A, omittingEmptySubsequences: true) {
            guard line.count >= 2, line[line.startIndex + 1] == 0x3A,
                  Character(UnicodeScalar(line[line.startIndex])) == field else { continue }
            result = String(decoding: line.dropFirst(2), as: UTF8.self)
        }
        return result
    }

    /// Every field in order, as (letter, value) pairs.
    public var fields: [(Character, String)] {
        text.split(separator: 0x0A, omittingEmptySubsequences: true).compactMap { line in
            guard line.count >= 2 else { return nil }
            return (Character(UnicodeScalar(line[line.startIndex])), String(decoding: line.dropFirst(2), as: UTF8.self))
        }
    }

    /// `Q1` + base64 of a SHA-1 digest: apk's `C:` notation.
    public static func checksumString(sha1: [UInt8]) -> String {
        "Q1" + Data(sha1).base64EncodedString()
    }

    /// The entry apk-tools 2.14 writes (`apk_pkg_write_index_header`) for a package whose
    /// `.PKGINFO` is `pkginfo`, whose compressed control member has SHA-1 `controlSHA1`, and whose
    /// file is `fileSize` bytes long.
    ///
    /// `.PKGINFO` is interpreted as apk's `read_info_line` does: `key = value` lines, comments and
    /// unknown keys skipped, the last value of a single field wins, `depend`/`provides`/`install_if`
    /// lines accumulate and every dependency is parsed and re-printed in apk's normal form
    /// (`[!]name[op version]`, `@tag` dropped, unparsable tails dropped). Fields are then written
    /// in apk's order: `C P V A S I T U L o m t c k D p i`, with `A o m c` only when present,
    /// `t k` only when non-zero, `D p i` only when non-empty.
    /// - Parameter rewriteArch: the arch to write in `A:` instead of the package's own, as
    ///   `apk index --rewrite-arch` does (abuild passes `$CARCH`): apk fetches a package from
    ///   `<repo>/<A:>/`, so a noarch package stored under `x86_64/` must be listed as x86_64.
    public static func make(pkginfo: String, controlSHA1: [UInt8], fileSize: Int64,
                            rewriteArch: String? = nil) throws -> IndexEntry {
        var name: String? = nil, version: String? = nil
        var desc = "", url = "", license = ""
        var arch: String? = nil, origin: String? = nil, maintainer: String? = nil, commit: String? = nil
        var installed: UInt64 = 0, buildTime: UInt64 = 0, priority: UInt64 = 0
        var depends: [String] = [], provides: [String] = [], installIf: [String] = []

        for raw in pkginfo.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = Substring(raw)
            if line.hasPrefix("#") { continue }
            guard let r = line.range(of: " = ") else { continue }
            let k = line[..<r.lowerBound], v = String(line[r.upperBound...])
            switch k {
            case "pkgname": name = v
            case "pkgver": version = v
            case "pkgdesc": desc = v
            case "url": url = v
            case "size": installed = pullUInt(v)
            case "license": license = v
            case "arch": arch = rewriteArch ?? v
            case "depend": depends += parseDependencies(v)
            case "install_if": installIf += parseDependencies(v)
            case "provides": provides += parseDependencies(v)
            case "origin": origin = v
            case "maintainer": maintainer = v
            case "builddate": buildTime = pullUInt(v)
            case "commit": commit = v
            case "provider_priority": priority = pullUInt(v)
            default: break
            }
        }
        guard let name, !name.isEmpty else { throw FormatError.malformed(".PKGINFO: no pkgname") }
        guard let version, !version.isEmpty else { throw FormatError.malformed(".PKGINFO of \(name): no pkgver") }
        for (what, v) in [("pkgname", name), ("pkgver", version), ("pkgdesc", desc), ("url", url), ("license", license)]
        where v.contains("\n") || v.contains("\r") {
            throw FormatError.malformed(".PKGINFO of \(name): \(what) contains a line break")
        }

        let csum = checksumString(sha1: controlSHA1)
        var out = "C:\(csum)\nP:\(name)\nV:\(version)\n"
        if let arch { out += "A:\(arch)\n" }
        out += "S:\(fileSize)\nI:\(installed)\nT:\(desc)\nU:\(url)\nL:\(license)\n"
        if let origin { out += "o:\(origin)\n" }
        if let maintainer { out += "m:\(maintainer)\n" }
        if buildTime != 0 { out += "t:\(buildTime)\n" }
        if let commit { out += "c:\(commit)\n" }
        if priority != 0 { out += "k:\(priority)\n" }
        if !depends.isEmpty { out += "D:" + depends.joined(separator: " ") + "\n" }
        if !provides.isEmpty { out += "p:" + provides.joined(separator: " ") + "\n" }
        if !installIf.isEmpty { out += "i:" + installIf.joined(separator: " ") + "\n" }
        return IndexEntry(text: Array(out.utf8), name: name, version: version, arch: arch ?? "",
                          checksum: csum, buildTime: Int64(clamping: buildTime), fileSize: fileSize)
    }

    /// apk's `apk_blob_pull_uint`: the leading decimal digits, 0 if none.
    static func pullUInt(_ s: String) -> UInt64 {
        var v: UInt64 = 0
        for c in s.utf8 {
            guard c >= 0x30 && c <= 0x39 else { break }
            v = v &* 10 &+ UInt64(c - 0x30)
        }
        return v
    }

    /// apk-tools 2.14 `apk_blob_pull_deps` followed by `apk_blob_push_dep`: splits on spaces and
    /// newlines, parses `[!]name[@tag][ops version]`, stops at the first dependency it cannot parse,
    /// and re-prints each one normalised (operator from its mask, repository tag dropped).
    public static func parseDependencies(_ value: String) -> [String] {
        var out: [String] = []
        let bytes = Array(value.utf8)
        var i = 0
        func isSep(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A }
        func isOp(_ c: UInt8) -> Bool { c == 0x3C || c == 0x3D || c == 0x3E || c == 0x7E }
        while i < bytes.count {
            var j = i
            while j < bytes.count && !isSep(bytes[j]) { j += 1 }
            var tok = bytes[i..<j]
            i = j
            while i < bytes.count && isSep(bytes[i]) { i += 1 }
            if tok.isEmpty { continue }
            var conflict = false
            if tok.first == 0x21 { conflict = true; tok = tok.dropFirst() }
            var namePart = tok
            var opString = ""
            var versionPart: ArraySlice<UInt8> = []
            if let opStart = tok.firstIndex(where: isOp) {
                namePart = tok[tok.startIndex..<opStart]
                var opEnd = opStart
                while opEnd < tok.endIndex && isOp(tok[opEnd]) { opEnd += 1 }
                if opEnd == tok.endIndex { break } // operator without a version: apk stops here
                var mask = 0
                for c in tok[opStart..<opEnd] {
                    switch c {
                    case 0x3C: mask |= 2
                    case 0x3E: mask |= 4
                    case 0x7E: mask |= 8 | 1
                    default: mask |= 1
                    }
                }
                versionPart = tok[opEnd...]
                let checksumMask = 2 | 4
                if mask & checksumMask != checksumMask,
                   !APKVersion.isValid(String(decoding: versionPart, as: UTF8.self), dialect: .apkTools2) {
                    break
                }
                switch mask {
                case 2: opString = "<"
                case 3: opString = "<="
                case 9, 8: opString = "~"
                case 1: opString = "="
                case 5: opString = ">="
                case 4: opString = ">"
                case 6: opString = "><"
                default: opString = "?"
                }
            }
            if let at = namePart.firstIndex(of: 0x40) { namePart = namePart[namePart.startIndex..<at] }
            var s = conflict ? "!" : ""
            s += String(decoding: namePart, as: UTF8.self)
            if !opString.isEmpty { s += opString + String(decoding: versionPart, as: UTF8.self) }
            out.append(s)
        }
        return out
    }
}
