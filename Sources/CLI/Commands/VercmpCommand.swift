import APKFormat
import ArgumentParser
import Foundation

struct VercmpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vercmp",
        abstract: "Compare two apk versions (prints <, = or >), or check that versions are valid.",
        discussion: """
            `apkit vercmp A B` prints `<`, `=` or `>` as `apk version -t A B` does; an invalid version is an \
            error (exit 1), as in apk-tools 3. `apkit vercmp --check V...` prints each invalid version and \
            exits with the number of invalid ones (0: all valid), as `apk version -c`. The same code orders \
            index entries and decides what `--prune` keeps.
            """)

    @Flag(name: .long, help: "Check that every argument is a valid version instead of comparing two.")
    var check = false

    @Flag(name: .long, help: "Use apk-tools 2.14's rules (it also compares invalid versions) instead of apk-tools 3's.")
    var apk2 = false

    @Argument(help: "Versions: exactly two to compare, or any number with --check.")
    var versions: [String] = []

    func run() throws {
        let dialect: APKVersion.Dialect = apk2 ? .apkTools2 : .apkTools3
        if check {
            guard !versions.isEmpty else { throw ValidationError("--check needs at least one version") }
            var bad = 0
            for v in versions where !APKVersion.isValid(v, dialect: dialect) {
                print(v)
                bad += 1
            }
            if bad > 0 { throw ExitCode(Int32(min(bad, 255))) }
            return
        }
        guard versions.count == 2 else {
            throw ValidationError("give exactly two versions to compare (or --check V...)")
        }
        try runReportingErrors {
            if !apk2 {
                for v in versions where !APKVersion.isValid(v, dialect: .apkTools3) {
                    throw CLIError("'\(v)' is not a valid apk version (e.g. 1.2.3, 1.0_rc1-r2, 2.0_p1~abc123-r0)")
                }
            }
            switch APKVersion.compare(versions[0], versions[1], dialect: dialect) {
            case .less: print("<")
            case .equal: print("=")
            case .greater: print(">")
            }
        }
    }
}
