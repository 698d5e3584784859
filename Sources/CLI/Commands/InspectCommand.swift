import APKFormat
import ArgumentParser
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a package's metadata, signatures and files (or an index's summary), v2 or v3.",
        discussion: "--json prints one JSON object; its schema is documented in docs/inspect-json.md.")

    @Argument(help: "A package (.apk, v2 or v3) or an index (APKINDEX.tar.gz, packages.adb).") var file: String
    @Flag(name: .long, help: "Machine-readable output.") var json = false
    @OptionGroup var trust: TrustOptions

    func run() throws {
        try runReportingErrors {
            let files = FileCollector()
            let r = PackageFormats.read(path: file, options: ReadOptions(keyring: trust.keyring()), visitor: files)
            if case .unreadable(let why)? = r.problem { throw CLIError(why) }
            if case .malformed(let why)? = r.problem, r.info == nil, r.kind == .package { throw CLIError("\(file): \(why)") }
            let report = InspectReport(file: file, report: r, files: files.entries)
            if json {
                try printJSON(report)
            } else {
                print(report.text())
            }
        }
    }
}

/// Collects the entries a format reports while it reads a package.
final class FileCollector: PackageVisitor {
    var entries: [PackageFileEntry] = []
    func visit(_ entry: PackageFileEntry) { entries.append(entry) }
}

/// The `inspect --json` document (schema version 2; documented in docs/inspect-json.md). The
/// same for every format: the format's own facts are in `details`.
struct InspectReport: Encodable {
    struct Signature: Encodable { var type: String; var key: String }
    struct Metadata: Encodable {
        var name, version, arch, description, url, license, origin, maintainer, packager, commit: String
        var buildDate, installedSize: Int64
        var depends, provides, replaces, installIf, triggers: [String]
        var providerPriority, replacesPriority: Int?
    }
    struct File: Encodable {
        var path: String; var type: String; var mode: String; var owner: String
        var size: Int64; var mtime: Int64; var checksum: String?; var link: String?; var xattrs: [String]?
    }
    var schema = 2
    var file: String
    var format: String
    var kind: String
    var size: Int64
    var info: Metadata?
    var scripts: [String]
    var signatures: [Signature]
    var verification: String
    var details: [String: String]
    var files: [File]?
    var index: [String: String]?

    init(file: String, report r: PackageReport, files entries: [PackageFileEntry]) {
        self.file = file
        format = r.format.rawValue
        kind = r.kind.rawValue
        size = r.fileSize
        scripts = r.scripts
        signatures = r.signatures.map { Signature(type: $0.kind, key: $0.key) }
        verification = r.problem.map { "\($0)" } ?? "OK"
        details = Dictionary(r.details, uniquingKeysWith: { a, _ in a })
        if let i = r.info {
            info = Metadata(name: i.name, version: i.version, arch: i.arch, description: i.description, url: i.url,
                            license: i.license, origin: i.origin, maintainer: i.maintainer, packager: i.packager,
                            commit: i.commit, buildDate: i.buildDate, installedSize: i.size,
                            depends: i.depends + i.autoDepends, provides: i.provides + i.autoProvides,
                            replaces: i.replaces, installIf: i.installIf, triggers: i.triggers,
                            providerPriority: i.providerPriority, replacesPriority: i.replacesPriority)
        }
        if r.kind == .package {
            files = entries.map {
                File(path: $0.path, type: $0.type, mode: String(format: "%04o", $0.mode), owner: "\($0.userName):\($0.groupName)",
                     size: $0.size, mtime: $0.mtime, checksum: $0.checksum.map { c in "\(entries.first?.checksumAlgorithm ?? "sha1"):\(c)" },
                     link: $0.linkTarget.isEmpty ? nil : $0.linkTarget, xattrs: $0.xattrs.isEmpty ? nil : $0.xattrs)
            }
        } else {
            index = ["description": r.indexDescription ?? "", "packages": String(r.indexPackageCount ?? 0)]
        }
    }

    func text() -> String {
        var out = "\(file) (\(format) \(kind), \(size) bytes)\n"
        out += "verification: \(verification)\n"
        for s in signatures { out += "signature: \(s.type) \(s.key)\n" }
        for k in details.keys.sorted() { out += "\(k): \(details[k]!)\n" }
        if let i = info {
            out += "\nname: \(i.name)\nversion: \(i.version)\narch: \(i.arch)\n"
            for (k, v) in [("description", i.description), ("url", i.url), ("license", i.license), ("origin", i.origin),
                           ("maintainer", i.maintainer), ("packager", i.packager), ("commit", i.commit)] where !v.isEmpty {
                out += "\(k): \(v)\n"
            }
            out += "build date: \(i.buildDate)\ninstalled size: \(i.installedSize)\n"
            for (k, v) in [("depends", i.depends), ("provides", i.provides), ("replaces", i.replaces),
                           ("install-if", i.installIf), ("triggers", i.triggers)] where !v.isEmpty {
                out += "\(k): \(v.joined(separator: " "))\n"
            }
            if !scripts.isEmpty { out += "scripts: \(scripts.joined(separator: " "))\n" }
        }
        if let files {
            out += "\nfiles (\(files.count)):\n"
            for f in files {
                var line = "  \(f.type.padding(toLength: 8, withPad: " ", startingAt: 0)) \(f.mode) \(f.owner) \(String(f.size).leftPad(10)) \(f.path)"
                if let l = f.link { line += " -> \(l)" }
                if let s = f.checksum { line += "  \(s)" }
                out += line + "\n"
            }
        }
        if let index {
            out += "\ndescription: \(index["description"] ?? "")\npackages: \(index["packages"] ?? "0")\n"
        }
        return out
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
