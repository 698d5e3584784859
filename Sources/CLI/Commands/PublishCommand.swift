import APKFormat
import APKRepository
import ArgumentParser
import Foundation

struct PublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish .apk files into a repository directory: DIR/<arch>/, its signed APKINDEX.tar.gz, DIR/keys/.",
        discussion: """
            Copies each package to DIR/<arch>/<name>-<version>.apk (arch read from the package), places the \
            public key at DIR/keys/<keyname>, then merges the packages into DIR/<arch>/APKINDEX.tar.gz, last. \
            Every write is atomic and concurrent publishers into the same directory do not lose entries. \
            Publishing the same package again changes nothing; a different package under the same file name \
            is refused unless --overwrite. Clients: put DIR's URL in /etc/apk/repositories and the key in \
            /etc/apk/keys/.
            """)

    @Option(name: .long, help: "Repository: a local directory.")
    var to: String

    @OptionGroup var signing: SigningOptions
    @OptionGroup var trust: TrustOptions

    @Flag(name: .long, help: "Replace a different package (or public key) already stored under the same name.")
    var overwrite = false

    @Option(name: .long, help: "Directory (<arch>) for noarch packages (default: the host's arch).")
    var arch: String?

    @Option(name: .long, help: "Index description (DESCRIPTION member; default: keep the existing one).")
    var description: String?

    @Option(name: .long, help: "Keep only the newest N versions of each package name in the index.")
    var prune: Int?

    @Flag(name: .long, help: "Print a JSON report on stdout.")
    var json = false

    @Argument(help: "Package files (.apk).")
    var packages: [String]

    func run() throws {
        try runReportingErrors {
            if let p = prune, p < 1 { throw CLIError("--prune must be at least 1, got \(p)") }
            guard !packages.isEmpty else { throw CLIError("no packages to publish") }
            if to.hasPrefix("s3://") {
                throw CLIError("--to \(to): s3:// destinations are not supported by this build yet; publish to a directory")
            }
            let signer = try signing.makeSigner()
            let storage = try LocalDirectoryStorage(root: to)
            var options = PublishOptions()
            options.overwrite = overwrite
            options.allowUntrusted = trust.allowUntrusted
            options.noarchArch = arch ?? hostAlpineArch()
            options.description = description
            options.prune = prune
            let publisher = try Publisher(storage: storage, signer: signer, keyring: trust.keyring(), options: options)
            if !json { publisher.log = { print($0) } }
            let report = try publisher.publish(packages)
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try enc.encode(report), as: UTF8.self))
            }
        }
    }
}
