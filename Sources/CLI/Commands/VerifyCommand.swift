import APKFormat
import ArgumentParser
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check packages and indexes (v2 and v3): signature by a trusted key, structure and every file's checksum.",
        discussion: "Prints 'FILE: OK' or 'FILE: <reason>'. The exit code is the number of bad files (at most 255).")

    @OptionGroup var trust: TrustOptions

    @OptionGroup var outputOptions: OutputOptions

    @Argument(help: "Package or index files.")
    var files: [String]

    func run() throws {
        outputOptions.apply()
        let options = ReadOptions(keyring: trust.keyring(), allowUntrusted: trust.allowUntrusted)
        var bad = 0
        for f in files {
            let started = Date()
            let r = PackageFormats.read(path: f, options: options)
            if r.ok {
                Console.result("\(f): OK")
                Console.detail(String(format: "    %@, %.2f s", r.verboseSummary, Date().timeIntervalSince(started)))
            } else {
                bad += 1
                print("\(f): \(r.problem!)")
            }
        }
        if bad > 0 { throw ExitCode(Int32(min(bad, 255))) }
    }
}
