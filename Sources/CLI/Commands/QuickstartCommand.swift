import APKFormat
import APKRecipe
import APKRepository
import ArgumentParser
import Foundation

/// The default job on an embedded sample: build an app with a service and publish it to a local
/// repository directory that `apk add` can use. Nothing to configure; a signing key is created
/// on first use.
struct QuickstartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Build the embedded sample app and publish it to a local repository directory.",
        discussion: """
            Writes the sample project (apkit.yml + a shell service) to a temporary directory, builds its \
            packages, and publishes them to --repo with a signed APKINDEX.tar.gz. The signing key is the \
            first *.rsa in --keys-dir, created there when none exists.
            """)

    @Option(name: .long, help: "Repository directory to publish to.")
    var repo: String = "repo"

    @Option(name: .long, help: "Directory holding the signing key (created with a new key when empty).")
    var keysDir: String = ".apkit/keys"

    @Option(name: .long, help: "Keep the sample project here instead of a temporary directory.")
    var project: String?

    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        outputOptions.apply()
        try runReportingErrors {
            let keyPath = try findOrCreateKey()
            let key = try SigningKey(file: keyPath)
            let signer = Signer(key: key, keyName: (keyPath as NSString).lastPathComponent + ".pub")

            let work = project ?? NSTemporaryDirectory() + "apkit-quickstart-\(getpid())"
            defer { if project == nil { try? FileManager.default.removeItem(atPath: work) } }
            try SampleProject.write(to: work)

            let recipe = try RecipeLoader.load(file: work + "/apkit.yml", warn: { warn($0) })
            var options = RecipeBuilder.Options(outputDirectory: work + "/packages")
            options.environment["SOURCE_DATE_EPOCH"] = options.environment["SOURCE_DATE_EPOCH"] ?? "1735689600"
            let builder = RecipeBuilder(recipe: recipe, options: options,
                                        writer: PackageWriter(format: V2Format(), signer: signer, compression: .default),
                                        warn: { warn($0) }, log: { Console.step($0) },
                                        output: { Console.commandOutput($0) },
                                        detail: { Console.detail($0) })
            let built = try builder.run()

            var pubOptions = PublishOptions()
            pubOptions.noarchArch = Architecture.host
            pubOptions.description = "apkit quickstart repository"
            let publisher = try Publisher(storage: try LocalDirectoryStorage(root: repo), signer: signer,
                                          keyring: Keyring(), options: pubOptions)
            publisher.log = { Console.result($0) }
            _ = try publisher.publish(built.map(\.path))
            let abs = URL(fileURLWithPath: repo).standardizedFileURL.path
            Console.result("""

                Published \(built.count) packages to \(abs) (signed with \(keyPath)).
                Install on Alpine:
                  cp \(abs)/keys/\(signer.keyName) /etc/apk/keys/
                  apk add --repository \(abs) \(SampleProject.name)
                """)
        }
    }

    private func findOrCreateKey() throws -> String {
        let fm = FileManager.default
        if let names = try? fm.contentsOfDirectory(atPath: keysDir),
           let first = names.filter({ $0.hasSuffix(".rsa") }).sorted().first {
            return keysDir + "/" + first
        }
        try fm.createDirectory(atPath: keysDir, withIntermediateDirectories: true)
        let stamp = String(format: "%08x", UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970)))
        let path = keysDir + "/apkit-quickstart-\(stamp).rsa"
        FileHandle.standardError.write(Data("creating signing key \(path)\n".utf8))
        let key = try SigningKey.generate(bits: 4096)
        try writeFileAtomically(try key.privateKeyPEM(), to: path, mode: 0o600)
        try writeFileAtomically(try key.publicKeyPEM(), to: path + ".pub", mode: 0o644)
        return path
    }
}

/// The embedded sample: a small shell service with a user, an OpenRC script and a -doc package.
enum SampleProject {
    static let name = "hello-apkit"

    static let files: [(path: String, mode: Int, content: String)] = [
        ("apkit.yml", 0o644, """
        # The quickstart sample: a shell service packaged for any architecture.
        name: hello-apkit
        version: 1.0.0
        release: 0
        description: A tiny service packaged by apkit quickstart
        url: https://example.org/hello-apkit
        license: MIT
        architectures: [noarch]

        build:
          command: |
            mkdir -p bin
            install -m 0755 hello.sh bin/hello-apkit
          destinations:
            - bin

        files:
          - source: README
            destination: /usr/share/doc/hello-apkit/README

        run:
          services:
            - name: web
              binary: hello-apkit
              start:
                call: serve
          commands:
            - name: greet
              binary: hello-apkit
              call: greet

        hook:
          post-install: |
            echo "hello-apkit installed: rc-update add hello-apkit && rc-service hello-apkit start"

        subpackages:
          - suffix: -doc
            paths: [usr/share/doc]
            description: hello-apkit documentation

        """),
        ("hello.sh", 0o755, """
        #!/bin/sh
        # hello-apkit: greet once, or keep greeting as a service.
        case "${1:-greet}" in
          serve) while :; do echo "hello from apkit ($(date))"; sleep "${INTERVAL:-60}"; done ;;
          *) echo "hello from apkit" ;;
        esac

        """),
        ("README", 0o644, "hello-apkit: the sample service of `apkit quickstart`.\n"),
    ]

    static func write(to dir: String) throws {
        for f in files {
            let p = dir + "/" + f.path
            try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try writeFileAtomically(Data(f.content.utf8), to: p, mode: mode_t(f.mode))
        }
    }
}
