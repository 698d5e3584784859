import APKFormat
import ArgumentParser
import Foundation

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Write a signed APKINDEX.tar.gz for .apk files, optionally merged into an existing index.",
        discussion: """
            Reads only the signature and control part of each package (and its file size) and writes the \
            entries apk-tools 2.14's `apk index` writes, sorted by name then version, signed like packages, \
            atomically. With --merge, the old index's signature is checked against the trusted keys (and the \
            signing key's own public key) first; its entries are kept, and those with the same \
            name, version and arch as a new package are replaced. The old .apk files are not needed.
            """)

    @OptionGroup var signing: SigningOptions
    @OptionGroup var trust: TrustOptions

    @Option(name: .long, help: "Index description (DESCRIPTION member), e.g. v3.20-1-gabcdef. With --merge: default the old one.")
    var description: String?

    @Option(name: .long, help: "Existing APKINDEX.tar.gz to start from.")
    var merge: String?

    @Option(name: .long, help: "Keep only the newest N versions of each package name.")
    var prune: Int?

    @Option(name: .long, help: "Write this arch in every entry's A: field, as apk index --rewrite-arch (abuild passes $CARCH, so noarch packages are found in <repo>/<arch>/).")
    var rewriteArch: String?

    @Option(name: [.short, .long], help: "Output file (written atomically).")
    var output: String

    @Argument(help: "Package files (.apk).")
    var packages: [String] = []

    func run() throws {
        try runReportingErrors {
            if let p = prune, p < 1 { throw CLIError("--prune must be at least 1, got \(p)") }
            if packages.isEmpty && merge == nil { throw CLIError("no packages given (and no --merge index)") }
            let signer = try signing.makeSigner()
            var keyring = trust.keyring()
            keyring.add(try PublicKey(pem: try signer.key.publicKeyPEM(), name: signer.keyName))

            var index = APKIndex()
            if let m = merge {
                index = try APKIndex.read(path: m, keyring: keyring, allowUntrusted: trust.allowUntrusted)
            }
            if let d = description { index.description = d }

            var reader = ArchiveReader(keyring: keyring)
            reader.allowUntrusted = trust.allowUntrusted
            var new: [IndexEntry] = []
            for f in packages {
                let (r, _, text) = try reader.readPackageControl(path: f)
                new.append(try IndexEntry.make(pkginfo: text, controlSHA1: r.controlSHA1, fileSize: r.fileSize, rewriteArch: rewriteArch))
            }
            let before = index.entries.count
            let replaced = index.merge(new)
            let added = index.entries.count - before
            var pruned = 0
            if let p = prune { pruned = index.prune(keep: p).count }
            try index.write(to: output, signer: signer)
            var line = "\(output): \(index.entries.count) packages (\(added) new, \(replaced) replaced"
            if prune != nil { line += ", \(pruned) pruned" }
            print(line + ")")
        }
    }
}
