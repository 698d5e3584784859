import ArgumentParser
import APKFormat

struct Apkit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apkit",
        abstract: "Build, sign, index and publish Alpine and OpenWrt packages (apk v2 and v3) without Alpine.",
        discussion: "apkit --version prints the version.",
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
