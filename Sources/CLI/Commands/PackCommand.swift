import APKFormat
import APKRecipe
import ArgumentParser
import Foundation

struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Package an already-staged tree into a signed .apk (DIR/NAME-VERSION.apk), v2 or v3.")

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
    @Option(name: .long, help: "Package format: v2 (apk-tools 2, Alpine) or v3 (apk-tools 3, OpenWrt 25.12).") var format: FormatName = .v2

    @OptionGroup var signing: SigningOptions
    @OptionGroup var compression: CompressionOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        outputOptions.apply()
        try runReportingErrors {
            let started = Date()
            var info = PackageInfo(name: name, version: version)
            (info.arch, info.description, info.url, info.license) = (arch ?? Architecture.host, description, url, license)
            (info.origin, info.maintainer, info.commit) = (origin ?? name, maintainer, commit)
            info.packager = packager ?? environment("PACKAGER") ?? ""
            (info.depends, info.provides, info.replaces, info.installIf, info.triggers) = (depend, provide, replace, installIf, trigger)
            (info.providerPriority, info.replacesPriority) = (providerPriority, replacesPriority)
            var request = PackagePlan(stageDir: stageDir, info: info)
            (request.scripts, request.users, request.groups, request.trace) = (script, user, group, !noTrace)
            let writer = PackageWriter(format: PackageFormats.named(format), signer: try signing.makeSigner(),
                                       compression: try compression.settings(for: format))
            let built = try request.pack(with: writer, outputDir: output, environment: ProcessInfo.processInfo.environment)
            Console.result(built.path)
            Console.detail(String(format: "%@ %@-%@ (%@): %lld bytes, installed size %lld, signed by %@, %.2f s",
                                  built.format.rawValue, built.info.name, built.info.version, built.info.arch,
                                  built.fileSize, built.info.size, writer.signer.keyName, Date().timeIntervalSince(started)))
        }
    }
}

