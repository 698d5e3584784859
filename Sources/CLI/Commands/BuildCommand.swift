import APKFormat
import APKRecipe
import ArgumentParser
import Foundation

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build signed packages from apkit.yml (or PAKman's instellar.yml): DIR/<arch>/<name>-<version>.apk.",
        discussion: "CONFIG defaults to apkit.yml, then instellar.yml, in the current directory. "
            + "The build command runs in the config's directory with abuild's variables (srcdir, pkgdir, pkgname, "
            + "pkgver, pkgrel, CARCH, SOURCE_DATE_EPOCH). Name, version and release come from the config, else from "
            + "git (remote name, git describe --tags) and the CI run number. Schema: docs/apkit-yml.md.")

    @Argument(help: "Config file (default: apkit.yml, then instellar.yml, in the current directory).")
    var config: String?

    @Option(name: .long, help: "Output directory (packages go to DIR/<arch>/).")
    var output: String = "packages"

    @Option(name: .long, help: "Build only this architecture of the config's list (repeatable); for noarch, the arch directories to write to.")
    var arch: [String] = []

    @Option(name: .long, help: "Package format, overriding the config's format: v2 or v3.")
    var format: FormatName?

    @OptionGroup var signing: SigningOptions
    @OptionGroup var compression: CompressionOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        outputOptions.apply()
        try runReportingErrors {
            let path = try RecipeLoader.locate(config, in: ".")
            let recipe = try RecipeLoader.load(file: path, warn: { warn($0) })
            let signer = try signing.makeSigner()
            let chosen = format ?? recipe.packageFormat
            var options = RecipeBuilder.Options(outputDirectory: output)
            options.architectures = arch
            let builder = RecipeBuilder(
                recipe: recipe, options: options,
                writer: PackageWriter(format: PackageFormats.named(chosen), signer: signer,
                                      compression: try compression.settings(for: chosen)),
                warn: { warn($0) },
                log: { Console.step($0) },
                output: { Console.commandOutput($0) },
                detail: { Console.detail($0) })
            for p in try builder.run() {
                Console.result("wrote \(relative(p.path))")
            }
        }
    }

    private func relative(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        return path.hasPrefix(cwd + "/") ? String(path.dropFirst(cwd.count + 1)) : path
    }
}
