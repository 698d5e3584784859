import APKFormat
import ArgumentParser
import Foundation

enum SignatureChoice: String, ExpressibleByArgument, CaseIterable {
    case rsa, rsa256, both
    var types: [SignatureType] {
        switch self {
        case .rsa: return [.rsa]
        case .rsa256: return [.rsa256]
        case .both: return [.rsa256, .rsa]
        }
    }
}

/// The key options every signing command shares (pack, build, index, publish).
struct SigningOptions: ParsableArguments {
    @Option(name: .long, help: "Private key (PEM): RSA (PKCS#1 or PKCS#8) or EC P-256 (SEC1 or PKCS#8). Default: $PACKAGER_PRIVKEY.")
    var key: String?

    @Option(name: .long, help: "File holding the passphrase of an encrypted key. Default: $APKIT_KEY_PASSPHRASE.")
    var passphraseFile: String?

    @Option(name: .long, help: "Public key file name installers know the key by (default: the private key's file name + .pub).")
    var keyName: String?

    @Option(name: .long, help: "Signatures to write: rsa (SHA-1), rsa256 (SHA-256) or both (RSA256 first, then RSA).")
    var signature: SignatureChoice = .both

    var keyPath: String? { key ?? environment("PACKAGER_PRIVKEY") }

    func passphrase() throws -> String? {
        if let f = passphraseFile {
            guard let d = FileManager.default.contents(atPath: f) else {
                throw CLIError("\(f): cannot read passphrase file")
            }
            var s = String(decoding: d, as: UTF8.self)
            while s.hasSuffix("\n") || s.hasSuffix("\r") { s.removeLast() }
            return s
        }
        return environment("APKIT_KEY_PASSPHRASE")
    }

    func makeSigner() throws -> Signer {
        guard let path = keyPath else {
            throw CLIError("no signing key: pass --key PRIVKEY or set PACKAGER_PRIVKEY (create one with `apkit keygen`)")
        }
        let key: SigningKey
        do {
            key = try SigningKey(file: path, passphrase: try passphrase())
        } catch let e as CryptoError where self.key == nil {
            throw CLIError("$PACKAGER_PRIVKEY=\(e) (set it to your private key, or pass --key)")
        }
        warnIfReadableByOthers(path)
        let name = keyName ?? ((path as NSString).lastPathComponent + ".pub")
        guard !name.contains("/"), !name.isEmpty else { throw CLIError("--key-name must be a file name, not a path: \(name)") }
        return Signer(key: key, keyName: name, types: signature.types)
    }
}

/// Compression options of the commands that write packages.
struct CompressionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "fast, default or max, or apk's ALGORITHM[:LEVEL]: none, deflate[:1-12], zstd[:1-22] (zstd and none: v3 only).",
        valueName: "profile|algorithm[:level]"))
    var compression: String = "default"

    @Option(name: .long, help: "Compression level (overrides the profile's; deflate 1...12, zstd 1...22).")
    var compressionLevel: Int?

    @Option(name: .long, help: "Compression threads (default: the number of cores).")
    var threads: Int?

    /// The settings for `format`: profiles are the format's (v2: libdeflate 5/6/11; v3: default
    /// deflate (libdeflate 7, no larger than apk mkpkg's zlib 9), fast zstd:3, max zstd:19).
    func settings(for format: FormatName) throws -> CompressionSettings {
        var s: CompressionSettings
        if let profile = CompressionSettings.Profile(rawValue: compression) {
            s = format == .v3 ? CompressionSettings.v3(profile) : CompressionSettings(profile: profile)
        } else {
            do {
                s = try CompressionSettings.parse(compression) {
                    $0 == .zstd ? 3 : format == .v3 ? CompressionSettings.v3DefaultDeflateLevel : 6
                }
            } catch { throw CLIError("\(error)") }
        }
        if let l = compressionLevel {
            guard s.algorithm.levels.contains(l), s.algorithm != .none else {
                throw CLIError("--compression-level must be \(s.algorithm.levels.lowerBound)...\(s.algorithm.levels.upperBound) for \(s.algorithm.rawValue), got \(l)")
            }
            s.level = l
        }
        if let t = threads {
            guard t >= 1 && t <= 256 else { throw CLIError("--threads must be 1...256, got \(t)") }
            s.threads = t
        }
        do { try PackageFormats.named(format).validate(s) } catch { throw CLIError("--compression \(compression): \(error)") }
        return s
    }
}

extension FormatName: ExpressibleByArgument {}

/// The keys `verify`, `index --merge` and `publish` trust.
struct TrustOptions: ParsableArguments {
    @Option(name: .long, help: "Directory of trusted public keys (repeatable; /etc/apk/keys is always read).")
    var keysDir: [String] = []

    @Flag(name: .long, help: "Accept files whose signature cannot be checked against a trusted key.")
    var allowUntrusted = false

    func keyring() -> Keyring {
        var k = Keyring()
        k.addDirectory("/etc/apk/keys")
        for d in keysDir { k.addDirectory(d) }
        return k
    }
}

/// A private key others can read is a leaked key: say so (once, on stderr), but go on.
func warnIfReadableByOthers(_ path: String) {
    guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
          let perms = attrs[.posixPermissions] as? Int, perms & 0o077 != 0 else { return }
    warn("\(path) is readable by other users (mode \(String(perms, radix: 8))); run chmod 600 on it")
}

/// What `index` and `publish` do to the index beyond adding packages.
struct IndexEditOptions: ParsableArguments {
    @Option(name: .long, help: "Index description (v2 DESCRIPTION, v3 description); default: keep the existing one.")
    var description: String?

    @Option(name: .long, help: "Keep only the newest N versions of each package name in the index.")
    var prune: Int?

    /// Checked in the command's body (an `apkit: error:` line, exit 1), not as a usage error.
    func check() throws {
        if let p = prune, p < 1 { throw CLIError("--prune must be at least 1, got \(p)") }
    }
}
