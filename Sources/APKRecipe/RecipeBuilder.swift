import APKFormat
import Foundation

/// `apkit build`: loads nothing itself; takes a `Recipe`, resolves metadata, stages each
/// architecture's package set and writes the signed packages to `<output>/<arch>/`.
/// Nothing is written to the output directory unless every package of every arch succeeds.
public final class RecipeBuilder {
    public struct Options: Sendable {
        /// Output directory (`packages/` by default, relative to the current directory).
        public var outputDirectory: String
        /// `--arch` values: which of the recipe's architectures to build (for noarch: which arch
        /// directories receive the package). Empty: all configured, or the host's.
        public var architectures: [String] = []
        public var environment: [String: String] = ProcessInfo.processInfo.environment
        public init(outputDirectory: String = "packages") { self.outputDirectory = outputDirectory }
    }

    public let recipe: Recipe
    public let options: Options
    public let writer: PackageWriter
    /// Where warnings, progress lines and the build command's output go.
    struct Reporting {
        let warn: WarningSink
        let log: (String) -> Void
        let output: (Data) -> Void
        /// Details for `--verbose`: the commands' directory and variables, each package's size.
        let detail: (String) -> Void
    }
    let reporting: Reporting
    var warn: WarningSink { reporting.warn }
    var log: (String) -> Void { reporting.log }

    /// - Parameters:
    ///   - log: progress lines (`==> build.command (x86_64)`), shown on stderr by the CLI.
    ///   - output: the build command's raw output, streamed through.
    ///   - detail: details for `--verbose` (where and with which variables commands run, sizes).
    public init(recipe: Recipe, options: Options, writer: PackageWriter,
                warn: @escaping WarningSink, log: @escaping (String) -> Void = { _ in },
                output: @escaping (Data) -> Void = { _ in }, detail: @escaping (String) -> Void = { _ in }) {
        self.recipe = recipe
        self.options = options
        self.writer = writer
        reporting = Reporting(warn: warn, log: log, output: output, detail: detail)
    }

    /// The architectures to build, each with the arch directories its packages go to.
    public func plan() throws -> [(arch: String, outputArches: [String])] {
        let configured = recipe.architectures.map(\.value)
        for a in options.architectures where !Architecture.isValid(a) || Architecture.isArchitectureIndependent(a) {
            let alpine = Architecture.known.filter { $0 != "noarch" }.joined(separator: ", ")
            throw RecipeError("--arch \(a): not an Alpine or OpenWrt architecture (\(alpine); or e.g. aarch64_cortex-a53)")
        }
        if configured.count == 1, Architecture.isArchitectureIndependent(configured[0]) {
            let dirs = options.architectures.isEmpty ? [Architecture.host] : options.architectures
            return [(configured[0], dirs)]
        }
        if configured.isEmpty {
            let arches = options.architectures.isEmpty ? [Architecture.host] : options.architectures
            return arches.map { ($0, [$0]) }
        }
        if options.architectures.isEmpty { return configured.map { ($0, [$0]) } }
        for a in options.architectures where !configured.contains(a) {
            throw RecipeError(file: recipe.file, line: recipe.architectures.first?.line,
                              "--arch \(a): not in architectures: [\(configured.joined(separator: ", "))]")
        }
        return options.architectures.map { ($0, [$0]) }
    }

    /// Stages and writes everything; returns the written packages (final paths).
    @discardableResult
    public func run() throws -> [BuiltPackage] {
        let git = GitMetadata.read(directory: recipe.sourceDirectory)
        let meta = try ResolvedMetadata.resolve(recipe, git: git, environment: options.environment)
        let plan = try plan()
        HostCheck.checkBuildDependencies(recipe, warn: warn)
        log("==> \(meta.name) \(meta.fullVersion)")
        reporting.detail("    config \(recipe.file), format \(writer.format.name.rawValue), "
            + "architectures: \(plan.map { $0.arch == $0.outputArches.joined() ? $0.arch : "\($0.arch) -> \($0.outputArches.joined(separator: ","))" }.joined(separator: " "))")

        let fm = FileManager.default
        let outDir = URL(fileURLWithPath: options.outputDirectory).standardizedFileURL
        // Packages are written to a work directory and moved into the output directory only when
        // all of them succeeded: a failure leaves no partial output.
        let work = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("apkit-build-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let tmpOut = work.appendingPathComponent("out")
        defer { try? fm.removeItem(at: work) }
        try FileTree.mkdirs(tmpOut.path)
        var exclude: Set<String> = [outDir.path, tmpOut.path, work.path]
        if let real = FileTree.realPath(outDir.path) { exclude.insert(real) }

        let stager = Stager(recipe: recipe, meta: meta, work: work, exclude: exclude, reporting: reporting)
        var written: [(tmp: String, final: String, pkg: BuiltPackage)] = []
        for (arch, outArches) in plan {
            var staged = try stager.stage(arch: arch, outputArches: outArches)
            try DependencyStep.apply(&staged, recipe: recipe, arch: arch, warn: warn)
            for s in staged {
                for dir in s.outputArches {
                    let tmpDir = tmpOut.appendingPathComponent(dir).path
                    try FileTree.mkdirs(tmpDir)
                    let fileName = writer.fileName(for: s.spec.info)
                    let tmpPath = tmpDir + "/" + fileName
                    let started = Date()
                    var built = try writer.write(s.spec, to: tmpPath)
                    reporting.detail(String(format: "    %@: %lld bytes, installed size %lld, %.2f s",
                                            fileName, built.fileSize, built.info.size, Date().timeIntervalSince(started)))
                    let final = outDir.appendingPathComponent(dir).appendingPathComponent(fileName).path
                    built.path = final
                    written.append((tmpPath, final, built))
                }
            }
        }
        for w in written {
            try FileTree.mkdirs((w.final as NSString).deletingLastPathComponent)
            do {
                try moveFileAtomically(from: w.tmp, to: w.final)
            } catch {
                throw RecipeError("cannot write \(w.final): \(error)")
            }
        }
        return written.map(\.pkg)
    }
}
