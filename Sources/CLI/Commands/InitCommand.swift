import APKRecipe
import ArgumentParser
import Foundation
import SystemIO

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a commented apkit.yml for the project in the current directory, or convert an instellar.yml or nfpm.yaml.",
        discussion: """
            Without --from: the name comes from the git remote (else the directory), the version from \
            `git describe --tags` at build time (0.1.0 is written while there is no tag), and the build \
            command from a Makefile, go.mod, Cargo.toml, Package.swift or package.json (first found).

            With --from: PAKman's instellar.yml or nFPM's nfpm.yaml is converted; every field apkit has \
            is kept, and each one it cannot convert is listed on stderr as `apkit: not converted: ...`.

            Examples:
              apkit init && apkit build --key ~/.apkit/me.rsa
              apkit init --from instellar.yml
              apkit init --from nfpm.yaml --output apkit.yml --force
            """)

    @Option(name: .long, help: ArgumentHelp("Convert this instellar.yml or nfpm.yaml instead of looking at the project.", valueName: "FILE"))
    var from: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Where to write the config.", valueName: "FILE"))
    var output: String = "apkit.yml"

    @Flag(name: .long, help: "Replace an existing output file.")
    var force = false

    @Flag(name: .long, help: "Print the config on stdout instead of writing a file.")
    var stdout = false

    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        outputOptions.apply()
        try runReportingErrors {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let result = try from.map { try ConfigConverter.convert(file: $0) } ?? ProjectInit.generate(directory: cwd)
            // The config must load as apkit build will read it (relative to where it is written).
            let target = URL(fileURLWithPath: output, relativeTo: cwd).standardizedFileURL
            try result.validate(file: output, directory: target.deletingLastPathComponent())

            for line in result.unconverted {
                Console.writeStderr("apkit: not converted: \(line)\n")
            }
            if stdout {
                print(result.text, terminator: "")
                return
            }
            if !force, FileManager.default.fileExists(atPath: target.path) {
                throw CLIError("\(output) already exists: pass --force to replace it, or --output FILE")
            }
            guard FileManager.default.createFile(atPath: target.path + ".apkit-tmp", contents: Data(result.text.utf8)) else {
                throw CLIError("\(output): cannot write it (check the directory's permissions)")
            }
            if rename(target.path + ".apkit-tmp", target.path) != 0 {
                let e = currentErrnoText()
                unlink(target.path + ".apkit-tmp")
                throw CLIError("\(output): \(e)")
            }
            for note in result.notes {
                Console.step("apkit: \(note)")
            }
            Console.result("wrote \(output)")
        }
    }
}
