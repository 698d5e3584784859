import APKFormat
import Foundation

/// One package to write from a staged tree: what `apkit pack` asks for, checked and completed
/// (scripts read, `/bin/sh` and traced dependencies added, SOURCE_DATE_EPOCH applied) before the
/// format writes it. `apkit build` stages its packages through the recipe and then the same
/// writer; the checks on names, versions, arches and dependencies are these.
public struct PackagePlan {
    public var stageDir, name, version, arch, description, url, license, origin, maintainer, packager, commit: String
    public var depends, provides, replaces, installIf, triggers: [String]
    public var providerPriority, replacesPriority: Int?
    /// `EVENT=FILE` pairs.
    public var scripts: [String]
    public var users, groups: [String]
    public var trace: Bool

    public init(stageDir: String, name: String, version: String, arch: String, description: String, url: String,
                license: String, origin: String, maintainer: String, packager: String, commit: String,
                depends: [String], provides: [String], replaces: [String], installIf: [String], triggers: [String],
                providerPriority: Int?, replacesPriority: Int?, scripts: [String], users: [String], groups: [String],
                trace: Bool) {
        self.stageDir = stageDir; self.name = name; self.version = version; self.arch = arch
        self.description = description; self.url = url; self.license = license; self.origin = origin
        self.maintainer = maintainer; self.packager = packager; self.commit = commit; self.depends = depends
        self.provides = provides; self.replaces = replaces; self.installIf = installIf; self.triggers = triggers
        self.providerPriority = providerPriority; self.replacesPriority = replacesPriority; self.scripts = scripts
        self.users = users; self.groups = groups; self.trace = trace
    }

    /// Checks, completes and writes the package to `outputDir/NAME-VERSION.apk`.
    public func pack(with writer: PackageWriter, outputDir: String, environment: [String: String]) throws -> BuiltPackage {
        if let p = PackageName.problem(name) { throw PlanError("--name '\(name)': \(p)") }
        guard APKVersion.isValid(version) else {
            throw PlanError("--version '\(version)' is not a valid apk version (e.g. 1.2.3-r0, 2.0_rc1-r1)")
        }
        guard Architecture.isValid(arch) else {
            throw PlanError("--arch '\(arch)' is not an architecture name (x86_64, aarch64, noarch; OpenWrt: aarch64_cortex-a53, mipsel_24kc, all, ...)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: stageDir, isDirectory: &isDir), isDir.boolValue else {
            throw PlanError("\(stageDir): staged tree not found or not a directory")
        }
        for (flag, values) in [("--depend", depends), ("--provide", provides), ("--replace", replaces), ("--install-if", installIf)] {
            for v in values where v.isEmpty || v.contains(where: { $0.isWhitespace }) {
                throw PlanError("\(flag) '\(v)': a dependency is one word without spaces (e.g. 'so:libc.musl-x86_64.so.1', 'foo>=1.2')")
            }
        }

        var scriptData: [ScriptKind: Data] = [:]
        for s in scripts {
            guard let eq = s.firstIndex(of: "="), let kind = ScriptKind(rawValue: String(s[..<eq])) else {
                throw PlanError("--script '\(s)': expected EVENT=FILE with EVENT one of \(ScriptKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let file = String(s[s.index(after: eq)...])
            guard let d = FileManager.default.contents(atPath: file) else { throw PlanError("\(file): cannot read --script \(kind.rawValue) file") }
            scriptData[kind] = d
        }
        if !triggers.isEmpty && scriptData[.trigger] == nil {
            throw PlanError("--trigger needs a trigger script: add --script trigger=FILE")
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
        if let e = environment["SOURCE_DATE_EPOCH"], !e.isEmpty {
            guard let v = Int64(e), v >= 0 else { throw PlanError("SOURCE_DATE_EPOCH='\(e)' is not a whole number of seconds") }
            spec.sourceDateEpoch = v
        }
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        return try writer.write(spec, to: outputDir + "/" + writer.fileName(for: info))
    }
}

/// A plan that cannot be written: one line naming the option or file and what to do.
public struct PlanError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
