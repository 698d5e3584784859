import APKFormat
import ArgumentParser
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a package's .PKGINFO fields, signatures and files (or an index's entries).",
        discussion: "--json prints one JSON object; its schema is documented in docs/inspect-json.md.")

    @Argument(help: "A .apk or APKINDEX.tar.gz file.") var file: String
    @Flag(name: .long, help: "Machine-readable output.") var json = false
    @OptionGroup var trust: TrustOptions

    func run() throws {
        try runReportingErrors {
            var reader = ArchiveReader(keyring: trust.keyring())
            reader.allowUntrusted = true
            reader.collectFiles = true
            let r = reader.read(path: file)
            if case .unreadable(let why)? = r.problem { throw CLIError(why) }
            if case .malformed(let why)? = r.problem { throw CLIError("\(file): \(why)") }
            let report = InspectReport(file: file, report: r, trustedKeys: !trust.keyring().keys.isEmpty)
            if json {
                try printJSON(report)
            } else {
                print(report.text())
            }
        }
    }
}

/// The `inspect --json` document (schema version 1; documented in docs/inspect-json.md).
struct InspectReport: Encodable {
    struct Signature: Encodable { var type: String; var key: String }
    struct File: Encodable {
        var path: String; var type: String; var mode: String; var owner: String
        var size: Int64; var mtime: Int64; var sha1: String?; var link: String?; var xattrs: [String]?
    }
    var schema = 1
    var file: String
    var kind: String
    var size: Int64
    var pkginfo: [String: [String]]?
    var signatures: [Signature]
    var verification: String
    var controlChecksum: String
    var datahash: String?
    var files: [File]?
    var index: [String: String]?

    init(file: String, report r: ArchiveReport, trustedKeys: Bool) {
        self.file = file
        kind = r.kind.rawValue
        size = r.fileSize
        signatures = r.signatures.map { Signature(type: $0.tag, key: $0.keyName) }
        verification = r.problem.map { "\($0)" } ?? "OK"
        controlChecksum = "Q1" + Data(r.controlSHA1).base64EncodedString()
        if let text = r.pkginfoText {
            var fields: [String: [String]] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let eq = line.range(of: " = ") else { continue }
                fields[String(line[..<eq.lowerBound]), default: []].append(String(line[eq.upperBound...]))
            }
            pkginfo = fields
            datahash = r.info?.dataHash
        }
        if r.kind == .package {
            files = r.files.map {
                File(path: $0.path, type: $0.type, mode: String(format: "%04o", $0.mode), owner: "\($0.userName):\($0.groupName)",
                     size: $0.size, mtime: $0.mtime, sha1: $0.sha1, link: $0.linkTarget.isEmpty ? nil : $0.linkTarget,
                     xattrs: $0.xattrs.isEmpty ? nil : $0.xattrs)
            }
        } else {
            index = ["description": r.indexDescription ?? "", "apkindex": r.indexText ?? ""]
        }
    }

    func text() -> String {
        var out = "\(file) (\(kind), \(size) bytes)\n"
        out += "verification: \(verification)\n"
        for s in signatures { out += "signature: \(s.type) \(s.key)\n" }
        out += "control checksum: \(controlChecksum)\n"
        if let p = pkginfo {
            out += "\n.PKGINFO:\n"
            for k in p.keys.sorted() { for v in p[k]! { out += "  \(k) = \(v)\n" } }
        }
        if let files {
            out += "\nfiles (\(files.count)):\n"
            for f in files {
                var line = "  \(f.type.padding(toLength: 8, withPad: " ", startingAt: 0)) \(f.mode) \(f.owner) \(String(f.size).leftPad(10)) \(f.path)"
                if let l = f.link { line += " -> \(l)" }
                if let s = f.sha1 { line += "  sha1:\(s)" }
                out += line + "\n"
            }
        }
        if let index {
            out += "\nDESCRIPTION: \(index["description"] ?? "")\n\nAPKINDEX:\n\(index["apkindex"] ?? "")"
        }
        return out
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
