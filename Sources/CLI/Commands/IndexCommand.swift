import APKFormat
import ArgumentParser
import Foundation

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Write a signed index (APKINDEX.tar.gz or packages.adb) for packages, optionally merged into an existing one.",
        discussion: """
            Reads only the metadata part of each package (and its file size), signature checked, and writes \
            the entries apk-tools writes: v2 like apk 2.14's `apk index`, v3 like apk 3's `apk mkndx` (the \
            packages' info, file size and SHA-256 identity). The format follows the packages (or --format); \
            v2 and v3 packages are never mixed. With --merge, the old index's signature is checked against \
            the trusted keys (and the signing key's own) first; its entries are kept, and those with the \
            same name, version and arch as a new package are replaced. The old package files are not needed.
            """)

    @OptionGroup var signing: SigningOptions
    @OptionGroup var trust: TrustOptions

    @Option(name: .long, help: "Index format when there are no packages to tell it: v2 (APKINDEX.tar.gz) or v3 (packages.adb).")
    var format: FormatName?

    @OptionGroup var edit: IndexEditOptions
    @OptionGroup var outputOptions: OutputOptions

    @Option(name: .long, help: "Existing index to start from (APKINDEX.tar.gz or packages.adb).")
    var merge: String?

    @Option(name: .long, help: "v2: write this arch in every entry's A: field, as apk index --rewrite-arch.")
    var rewriteArch: String?

    @Option(name: .long, help: "v3: the index's pkgname-spec, as apk mkndx --pkgname-spec (e.g. '${arch}/${name}-${version}.apk').")
    var pkgnameSpec: String?

    @Option(name: [.short, .long], help: "Output file (written atomically).")
    var output: String

    @Argument(help: "Package files (.apk), or directories: every *.apk in them (for thousands of packages, give the directory).")
    var packageArguments: [String] = []

    func run() throws {
        outputOptions.apply()
        try runReportingErrors {
            try edit.check()
            let packages = try expandPackageArguments(packageArguments)
            if packages.isEmpty && merge == nil { throw CLIError("no packages given (and no --merge index)") }
            let signer = try signing.makeSigner()
            var keyring = trust.keyring()
            keyring.add(try signer.publicKey())

            let packageFormat: any PackageFormat
            if !packages.isEmpty {
                packageFormat = try PackageFormats.commonFormat(of: packages)
                if let f = format, f != packageFormat.name {
                    throw CLIError("--format \(f.rawValue), but the packages are \(packageFormat.name.rawValue)")
                }
            } else if let m = merge {
                packageFormat = try PackageFormats.detect(path: m)
            } else {
                packageFormat = PackageFormats.named(format ?? .v2)
            }
            let indexFormat = packageFormat.index
            if let spec = pkgnameSpec {  // refused before anything is read
                var probe = indexFormat.empty()
                try probe.setPackageNameSpec(spec)
            }

            var current: (any PackageIndex)? = nil
            if let m = merge {
                let mergeFormat = try PackageFormats.detect(path: m)
                guard mergeFormat.name == packageFormat.name else {
                    throw CLIError("--merge \(m) is a \(mergeFormat.name.rawValue) index (\(mergeFormat.index.fileName)) but the packages are \(packageFormat.name.rawValue); merge into a \(packageFormat.index.fileName)")
                }
                current = try indexFormat.read(path: m, keyring: keyring, allowUntrusted: trust.allowUntrusted, source: nil)
            }
            var records: [IndexRecord] = []
            for f in packages {
                records.append(try indexFormat.record(forPackageAt: f, keyring: keyring, allowUntrusted: trust.allowUntrusted,
                                                      rewriteArch: rewriteArch).0)
            }
            let result = try IndexUpdate(records: records, description: edit.description, prune: edit.prune,
                                         packageNameSpec: pkgnameSpec).apply(to: current, format: indexFormat)
            let dir = (output as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            try result.index.write(to: output, signer: signer)
            var line = "\(output): \(result.index.recordCount) packages (\(result.added) new, \(result.replaced) replaced"
            if edit.prune != nil { line += ", \(result.pruned) pruned" }
            Console.result(line + ")")
        }
    }
}
