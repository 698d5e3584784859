import APKFormat
import ArgumentParser
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check packages and indexes (v2 and v3): signature by a trusted key, structure and every file's checksum.",
        discussion: "Prints 'FILE: OK' or 'FILE: <reason>'. The exit code is the number of bad files (at most 255).")

    @OptionGroup var trust: TrustOptions

    @Argument(help: "Package or index files.")
    var files: [String]

    func run() throws {
        let options = ReadOptions(keyring: trust.keyring(), allowUntrusted: trust.allowUntrusted)
        var bad = 0
        for f in files {
            let r = PackageFormats.read(path: f, options: options)
            if r.ok {
                print("\(f): OK")
            } else {
                bad += 1
                print("\(f): \(r.problem!)")
            }
        }
        if bad > 0 { throw ExitCode(Int32(min(bad, 255))) }
    }
}
