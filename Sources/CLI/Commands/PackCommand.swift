import APKFormat
import APKRecipe
import ArgumentParser
import Foundation

struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Package an already-staged tree into a signed .apk (DIR/NAME-VERSION.apk).")

    @Argument(help: "The staged install tree (abuild's $pkgdir).")
    var stageDir: String

    @Option(name: .long, help: "Package name.") var name: String
    @Option(name: .long, help: "Full apk version including the release, e.g. 1.2.3-r0.") var version: String
    @Option(name: .long, help: "Architecture (default: the host's, in Alpine names; or noarch).") var arch: String?
    @Option(name: .long, help: "One-line description.") var description: String = ""
    @Option(name: .long, help: "Project URL.") var url: String = ""
    @Option(name: .long, help: "License (SPDX expression).") var license: String = ""
    @Option(name: .long, help: "Origin package name (default: --name).") var origin: String?
    @Option(name: .long, help: "Maintainer, e.g. 'Alice <alice@example.org>'.") var maintainer: String = ""
    @Option(name: .long, help: "Packager (default: $PACKAGER).") var packager: String?
    @Option(name: .long, help: "Source commit id.") var commit: String = ""
    @Option(name: .long, help: "Runtime dependency (repeatable).") var depend: [String] = []
    @Option(name: .long, help: "Virtual provide (repeatable).") var provide: [String] = []
    @Option(name: .long, help: "Package this one replaces (repeatable).") var replace: [String] = []
    @Option(name: .long, help: "install_if condition (repeatable).") var installIf: [String] = []
    @Option(name: .long, help: "Trigger path glob (repeatable; needs --script trigger=FILE).") var trigger: [String] = []
    @Option(name: .long, help: "provider_priority.") var providerPriority: Int?
    @Option(name: .long, help: "replaces_priority.") var replacesPriority: Int?
    @Option(name: .long, help: "Install script EVENT=FILE; EVENT is one of pre-install post-install pre-upgrade post-upgrade pre-deinstall post-deinstall trigger.")
    var script: [String] = []
    @Option(name: .long, help: "User of the package: files it owns keep the name (repeatable).") var user: [String] = []
    @Option(name: .long, help: "Group of the package: files it owns keep the name (repeatable).") var group: [String] = []
    @Flag(name: .long, help: "Do not add automatic provides and depends (cmd:, so:, pc:).") var noTrace = false
    @Option(name: .long, help: "Output directory.") var output: String = "."

    @OptionGroup var signing: SigningOptions
    @OptionGroup var compression: CompressionOptions

    func run() throws {
        try runReportingErrors {
            let request = PackRequest(
                stageDir: stageDir, name: name, version: version, arch: arch ?? Architecture.host,
                description: description, url: url, license: license, origin: origin ?? name,
                maintainer: maintainer, packager: packager ?? environment("PACKAGER") ?? "",
                commit: commit, depends: depend, provides: provide, replaces: replace, installIf: installIf,
                triggers: trigger, providerPriority: providerPriority, replacesPriority: replacesPriority,
                scripts: script, users: user, groups: group, trace: !noTrace)
            let built = try request.pack(signer: try signing.makeSigner(), engine: try compression.engine(), outputDir: output)
            print(built.path)
        }
    }
}

/// `apkit pack`'s work, separate from argument parsing.
struct PackRequest {
    var stageDir, name, version, arch, description, url, license, origin, maintainer, packager, commit: String
    var depends, provides, replaces, installIf, triggers: [String]
    var providerPriority, replacesPriority: Int?
    var scripts: [String]
    var users, groups: [String]
    var trace: Bool

    func pack(signer: Signer, engine: CompressionEngine, outputDir: String) throws -> BuiltPackage {
        if let p = PackageName.problem(name) { throw CLIError("--name '\(name)': \(p)") }
        guard APKVersion.isValid(version) else {
            throw CLIError("--version '\(version)' is not a valid apk version (e.g. 1.2.3-r0, 2.0_rc1-r1)")
        }
        guard !arch.isEmpty, arch.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw CLIError("--arch '\(arch)' is not an architecture name (x86_64, aarch64, noarch, ...)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: stageDir, isDirectory: &isDir), isDir.boolValue else {
            throw CLIError("\(stageDir): staged tree not found or not a directory")
        }
        for (flag, values) in [("--depend", depends), ("--provide", provides), ("--replace", replaces), ("--install-if", installIf)] {
            for v in values where v.isEmpty || v.contains(where: { $0.isWhitespace }) {
                throw CLIError("\(flag) '\(v)': a dependency is one word without spaces (e.g. 'so:libc.musl-x86_64.so.1', 'foo>=1.2')")
            }
        }

        var scriptData: [ScriptKind: Data] = [:]
        for s in scripts {
            guard let eq = s.firstIndex(of: "="), let kind = ScriptKind(rawValue: String(s[..<eq])) else {
                throw CLIError("--script '\(s)': expected EVENT=FILE with EVENT one of \(ScriptKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let file = String(s[s.index(after: eq)...])
            guard let d = FileManager.default.contents(atPath: file) else { throw CLIError("\(file): cannot read --script \(kind.rawValue) file") }
            scriptData[kind] = d
        }
        if !triggers.isEmpty && scriptData[.trigger] == nil {
            throw CLIError("--trigger needs a trigger script: add --script trigger=FILE")
        }

        var info = PackageInfo(name: name, version: version)
        info.description = description
        info.url = url
        info.license = license
        info.origin = origin
        info.maintainer = maintainer
        info.packager = packager
        info.commit = commit
        info.arch = arch
        info.replaces = replaces
        info.depends = depends + DependencyTracer.scriptDepends(scripts: scriptData, explicitDepends: depends, originName: origin)
        info.provides = provides
        info.installIf = installIf
        info.triggers = triggers
        info.providerPriority = providerPriority
        info.replacesPriority = replacesPriority

        if trace {
            let t = try DependencyTracer.trace(root: URL(fileURLWithPath: stageDir), packageName: name,
                                               fullVersion: version, arch: arch, explicitDepends: info.depends)
            info.autoProvides = t.autoProvides
            info.autoDepends = t.autoDepends.filter { !info.depends.contains($0) }
        }

        var spec = PackageSpec(info: info, root: URL(fileURLWithPath: stageDir))
        spec.scripts = scriptData
        spec.users = Set(users)
        spec.groups = Set(groups)
        if let e = environment("SOURCE_DATE_EPOCH") {
            guard let v = Int64(e), v >= 0 else { throw CLIError("SOURCE_DATE_EPOCH='\(e)' is not a whole number of seconds") }
            spec.sourceDateEpoch = v
        }
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let out = outputDir + "/\(name)-\(version).apk"
        return try PackageBuilder(signer: signer, engine: engine).build(spec, to: out)
    }
}
