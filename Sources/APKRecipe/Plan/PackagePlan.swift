import APKFormat
import Foundation

/// One package to write from a staged tree: what `apkit pack` asks for, checked and completed
/// (scripts read, `/bin/sh` and traced dependencies added, SOURCE_DATE_EPOCH applied) before the
/// format writes it. The CLI only maps its flags onto `info` and the fields below.
public struct PackagePlan {
    public var stageDir: String
    /// The metadata as given (`origin` defaults to the name, `arch` must be set).
    public var info: PackageInfo
    /// `EVENT=FILE` pairs.
    public var scripts: [String] = []
    public var users: [String] = []
    public var groups: [String] = []
    public var trace = true

    public init(stageDir: String, info: PackageInfo) {
        self.stageDir = stageDir
        self.info = info
    }

    /// Checks, completes and writes the package to `outputDir/NAME-VERSION.apk`.
    public func pack(with writer: PackageWriter, outputDir: String, environment: [String: String]) throws -> BuiltPackage {
        var info = self.info
        if let p = PackageName.problem(info.name) { throw PlanError("--name '\(info.name)': \(p)") }
        guard APKVersion.isValid(info.version) else {
            throw PlanError("--version '\(info.version)' is not a valid apk version (e.g. 1.2.3-r0, 2.0_rc1-r1)")
        }
        guard Architecture.isValid(info.arch) else {
            throw PlanError("--arch '\(info.arch)' is not an architecture name (x86_64, aarch64, noarch; OpenWrt: aarch64_cortex-a53, mipsel_24kc, all, ...)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: stageDir, isDirectory: &isDir), isDir.boolValue else {
            throw PlanError("\(stageDir): staged tree not found or not a directory")
        }
        for (flag, values) in [("--depend", info.depends), ("--provide", info.provides), ("--replace", info.replaces),
                               ("--install-if", info.installIf)] {
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
        if !info.triggers.isEmpty && scriptData[.trigger] == nil {
            throw PlanError("--trigger needs a trigger script: add --script trigger=FILE")
        }

        if info.origin.isEmpty { info.origin = info.name }
        info.depends += DependencyTracer.scriptDepends(scripts: scriptData, explicitDepends: info.depends, originName: info.origin)
        // One read of the tree, for tracing and for the format's writer.
        let snapshot = try TreeSnapshot.take(root: URL(fileURLWithPath: stageDir).path)
        var spec = PackageSpec(info: info, root: URL(fileURLWithPath: stageDir))
        spec.snapshot = snapshot
        if trace {
            // Traced once the writer has read every file: it tells which ones are ELF objects, so
            // that tracing opens only those, not the whole tree a second time.
            let root = URL(fileURLWithPath: stageDir)
            spec.completeInfo = { info, survey in
                let t = try DependencyTracer.trace(root: root, packageName: info.name, fullVersion: info.version,
                                                   arch: info.arch, explicitDepends: info.depends,
                                                   snapshot: snapshot, survey: survey)
                info.autoProvides = t.autoProvides
                info.autoDepends = t.autoDepends.filter { !info.depends.contains($0) }
            }
        }
        spec.scripts = scriptData
        spec.users = Set(users)
        spec.groups = Set(groups)
        if let e = environment["SOURCE_DATE_EPOCH"], !e.isEmpty {
            guard let v = Int64(e), v >= 0 else { throw PlanError("SOURCE_DATE_EPOCH='\(e)' is not a whole number of seconds") }
            spec.sourceDateEpoch = v
        }
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        // `--output packages/` writes (and prints) packages/NAME-VERSION.apk, not packages//...
        return try writer.write(spec, to: joinPath(outputDir, writer.fileName(for: info)))
    }
}

/// A plan that cannot be written: one line naming the option or file and what to do.
public struct PlanError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
