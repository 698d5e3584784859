import ArgumentParser
import APKFormat

struct Apkit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apkit",
        abstract: "Build, sign, index and publish Alpine packages without Alpine.",
        version: APKFormatVersion.string,
        subcommands: [
            QuickstartCommand.self,
            KeygenCommand.self,
            PackCommand.self,
            BuildCommand.self,
            VerifyCommand.self,
            InspectCommand.self,
            IndexCommand.self,
            PublishCommand.self,
            VercmpCommand.self,
            InitCommand.self,
        ])
}
