import APKFormat
import APKRepository
import ArgumentParser
import Foundation
import S3Client

struct PublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish .apk files into a repository (a directory or s3://BUCKET/PREFIX): <arch>/, its signed index, keys/.",
        discussion: """
            Copies each package to DIR/<arch>/<name>-<version>.apk (arch read from the package), places the \
            public key at DIR/keys/<keyname>, then merges the packages into the index, last: \
            DIR/<arch>/APKINDEX.tar.gz for v2 packages, DIR/<arch>/packages.adb for v3 (one format per \
            repository: a mix is refused before anything is written). \
            Every write is atomic and concurrent publishers into the same directory do not lose entries. \
            Publishing the same package again changes nothing; a different package under the same file name \
            is refused unless --overwrite. Clients: put DIR's URL in /etc/apk/repositories and the key in \
            /etc/apk/keys/.

            With --to s3://BUCKET/PREFIX the same layout goes under PREFIX in the bucket. Credentials, region \
            and endpoint are found as the AWS CLI finds them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
            AWS_SESSION_TOKEN, AWS_PROFILE, ~/.aws/credentials and ~/.aws/config, AWS_REGION, AWS_ENDPOINT_URL, \
            AWS_CA_BUNDLE); the options below override them. Packages are written with If-None-Match: * \
            (never silently replaced), the index with If-Match on the version read and merged again on a \
            conflict, so concurrent CI jobs can publish into one repository. Large packages are uploaded in \
            parts; an interrupted run is completed by running it again. Retries: AWS_MAX_ATTEMPTS (default 5 \
            tries per request), APKIT_S3_RETRY_DELAY (backoff base, default 0.25 s), APKIT_S3_TIMEOUT (seconds \
            without a byte moving before a request is abandoned and retried).
            """)

    @Option(name: .long, help: "Repository: a local directory, or s3://BUCKET[/PREFIX].")
    var to: String

    @OptionGroup var signing: SigningOptions
    @OptionGroup var trust: TrustOptions

    @Flag(name: .long, help: "Replace a different package (or public key) already stored under the same name.")
    var overwrite = false

    @Option(name: .long, help: "Directory (<arch>) for noarch packages (default: the host's arch).")
    var arch: String?

    @OptionGroup var edit: IndexEditOptions
    @OptionGroup var outputOptions: OutputOptions

    @Flag(name: .long, help: "Print a JSON report on stdout.")
    var json = false

    @OptionGroup(title: "S3 options (for --to s3://BUCKET/PREFIX)")
    var s3: S3Options

    @Argument(help: "Package files (.apk), or directories (every *.apk in them); default: the ones `apkit build` wrote, packages/*/*.apk.")
    var packageArguments: [String] = []

    func run() throws {
        outputOptions.apply()
        try runReportingErrors {
            try edit.check()
            let packages = packageArguments.isEmpty ? builtPackages() : try expandPackageArguments(packageArguments)
            guard !packages.isEmpty else {
                throw CLIError("no packages to publish: name .apk files, or run `apkit build` first (it writes packages/<arch>/*.apk)")
            }
            let signer = try signing.makeSigner()
            let storage: RepositoryStorage
            if to.hasPrefix("s3://") {
                storage = try s3.storage(url: to, quiet: json || Console.isQuiet)
            } else {
                storage = try LocalDirectoryStorage(root: to)
            }
            var options = PublishOptions()
            options.overwrite = overwrite
            options.allowUntrusted = trust.allowUntrusted
            if let a = arch, !Architecture.isValid(a) || Architecture.isArchitectureIndependent(a) {
                throw CLIError("--arch '\(a)': not an Alpine or OpenWrt architecture to publish noarch packages under (x86_64, aarch64, aarch64_cortex-a53, ...)")
            }
            options.noarchArch = arch ?? Architecture.host
            options.description = edit.description
            options.prune = edit.prune
            let publisher = try Publisher(storage: storage, signer: signer, keyring: trust.keyring(), options: options)
            if !json { publisher.log = { Console.result($0) } }
            publisher.detail = { Console.detail($0) }
            let report = try publisher.publish(packages)
            if json {
                try printJSON(report)
            }
        }
    }
}

/// The S3 options of `publish` (issue 5).
struct S3Options: ParsableArguments {
    @Option(name: .long, help: "S3 endpoint URL (MinIO, R2, ...); default AWS, or $AWS_ENDPOINT_URL.")
    var endpoint: String?

    @Option(name: .long, help: "AWS region; default $AWS_REGION or the profile's.")
    var region: String?

    @Option(name: .long, help: "AWS profile (~/.aws/credentials, ~/.aws/config).")
    var profile: String?

    @Flag(name: .long, help: "Path-style URLs (endpoint/bucket/key) instead of virtual-hosted ones.")
    var pathStyle = false

    @Option(name: .long, help: "Multipart part size, e.g. 8M, 64M, 1G (default 8M; min 5M). Files up to max(16M, part size) go in one PUT.")
    var partSize: String?

    @Option(name: .long, help: "Parts uploaded at once in a multipart upload (default 4).")
    var concurrency: Int?

    @Option(name: .long, help: "PEM file of CA certificates to trust for the endpoint.")
    var caBundle: String?

    @Flag(name: .long, help: "Do not show upload progress bars (on a terminal they are drawn on stderr).")
    var noProgress = false

    @Flag(name: .long, inversion: .prefixedNo,
          help: "Also store a package whose file name has '+' (libstdc++-1.0-r0.apk) under the name with spaces: S3 reads '+' in a URL path as a space.")
    var plusCopies = true

    @Flag(name: .long,
          help: "For servers without conditional writes (If-None-Match/If-Match ignored or 501): check with a HEAD before each write instead. Safe only with one publisher at a time; without this flag apkit refuses such servers.")
    var noConditionalWrites = false

    static func parseSize(_ s: String) -> UInt64? {
        let t = s.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, UInt64)] = [("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1)]
        for (u, m) in units where t.hasSuffix(u) {
            guard let v = UInt64(t.dropLast(u.count)) else { return nil }
            return v * m
        }
        return UInt64(t)
    }

    func storage(url: String, quiet: Bool) throws -> S3Storage {
        guard let (bucket, prefix) = S3Storage.parse(url: url) else {
            throw CLIError("--to \(url): expected s3://BUCKET or s3://BUCKET/PREFIX")
        }
        var config = try S3Configuration.fromEnvironment(bucket: bucket, region: region, endpoint: endpoint, profile: profile,
                                                         pathStyle: pathStyle ? true : nil, caBundle: caBundle)
        if let p = partSize {
            guard let v = S3Options.parseSize(p), v >= 5 << 20, v <= 5 << 30 else {
                throw CLIError("--part-size \(p): give a size between 5M and 5G, e.g. 8M")
            }
            config.partSize = v
            config.multipartThreshold = max(v, config.multipartThreshold)
        }
        if let c = concurrency {
            guard (1...64).contains(c) else { throw CLIError("--concurrency must be 1...64, got \(c)") }
            config.concurrency = c
        }
        if Console.isVerbose {
            config.verbose = true
            config.trace = { Console.detail($0) }
            Console.detail("s3: \(config)")
        }
        let storage = S3Storage(client: try S3Client(config), prefix: prefix)
        storage.plusCopies = plusCopies
        storage.conditionalWrites = !noConditionalWrites
        // A bar per upload on a terminal; in CI (no tty) only the one line per finished object.
        if !noProgress && !quiet && isatty(2) != 0 && isatty(1) != 0 {
            storage.progress = TerminalProgressBar()
        }
        return storage
    }
}

/// Package arguments with each directory replaced by its `*.apk` files, sorted bytewise. A
/// directory is also the way to pass thousands of packages: swift-argument-parser's cost grows with
/// the square of the number of arguments (20,000 paths take about 10 s to parse).
func expandPackageArguments(_ arguments: [String]) throws -> [String] {
    var result: [String] = []
    for a in arguments {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: a, isDirectory: &isDir), isDir.boolValue else {
            result.append(a)
            continue
        }
        let apks: [String]
        do { apks = try apkFiles(in: a) } catch { throw CLIError(describe(error)) }
        guard !apks.isEmpty else { throw CLIError("\(a): a directory with no .apk files in it") }
        result += apks
    }
    return result
}

/// The `*.apk` files of a directory, sorted bytewise, as paths below it.
func apkFiles(in directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".apk") }
        .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { joinPath(directory, $0) }
}

/// `packages/*/*.apk` (what `apkit build` writes), sorted.
func builtPackages(_ dir: String = "packages") -> [String] {
    guard let arches = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
    return arches.sorted().flatMap { (try? apkFiles(in: dir + "/" + $0)) ?? [] }
}
