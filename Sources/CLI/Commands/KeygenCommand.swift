import APKFormat
import ArgumentParser
import Foundation

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create a signing key pair: RSA named like abuild-keygen (NAME-<8 hex>.rsa and .rsa.pub), or EC P-256 as OpenWrt uses (NAME-<8 hex>.ec.pem and .pub).")

    @Option(name: .long, help: "Key name prefix (default: git's user.email, else $USER).")
    var name: String?

    @Option(name: .long, help: "Key type: rsa (Alpine, apk 2 and 3) or ec (P-256, OpenWrt; apk 3).")
    var type: KeyType = .rsa

    @Option(name: .long, help: "RSA key size in bits.")
    var bits: Int = 4096

    @Option(name: .long, help: "Directory to write the keys to.")
    var outputDir: String = "."

    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        outputOptions.apply()
        try runReportingErrors {
            guard (2048...16384).contains(bits) else { throw CLIError("--bits must be 2048...16384, got \(bits)") }
            let base = name ?? defaultName()
            guard !base.isEmpty, !base.contains("/") else { throw CLIError("--name must be a plain name, got '\(base)'") }
            try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
            let stamp = String(format: "%08x", UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970)))
            let priv = outputDir + "/\(base)-\(stamp)" + (type == .rsa ? ".rsa" : ".ec.pem")
            let pub = priv + ".pub"
            for p in [priv, pub] where FileManager.default.fileExists(atPath: p) {
                throw CLIError("\(p) already exists; refusing to overwrite a key")
            }
            let key = try SigningKey.generate(type: type, bits: bits)
            try writeFileAtomically(try key.privateKeyPEM(), to: priv, mode: 0o600)
            try writeFileAtomically(try key.publicKeyPEM(), to: pub, mode: 0o644)
            Console.result(priv)
            Console.result(pub)
            Console.detail("\(type == .rsa ? "RSA \(bits) bits" : "EC P-256"); private key mode 0600, public key 0644; "
                + "publish the .pub file as /etc/apk/keys/\((pub as NSString).lastPathComponent)")
        }
    }

    private func defaultName() -> String {
        if let email = gitConfig("user.email"), !email.isEmpty {
            return email.replacingOccurrences(of: "/", with: "_")
        }
        return environment("USER") ?? "apkit"
    }
}

/// Reads a git config value (nil when git or the key is absent).
func gitConfig(_ key: String) -> String? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["git", "config", "--get", key]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return nil }
    let d = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { return nil }
    return String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

extension KeyType: ExpressibleByArgument {}
