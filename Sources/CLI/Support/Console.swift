import APKFormat
import ArgumentParser
import Foundation
import Synchronization

/// How much a command says. Results go to stdout, everything else (progress, steps, warnings,
/// errors) to stderr.
/// - quiet: nothing on success but warnings; data that was asked for (`--json`, `inspect`,
///   `vercmp`) is still printed, and so are errors and the files `verify` finds bad.
/// - normal: results and the main steps.
/// - verbose: also each step's details (S3 requests with credentials redacted, build commands,
///   package sizes and timings).
enum Verbosity: Int, Comparable, Sendable {
    case quiet, normal, verbose
    static func < (a: Verbosity, b: Verbosity) -> Bool { a.rawValue < b.rawValue }
}

/// `--quiet` / `--verbose`, on every command that prints more than its data.
struct OutputOptions: ParsableArguments {
    @Flag(name: [.customShort("q"), .long], help: "Print nothing on success but warnings (errors still go to stderr).")
    var quiet = false

    @Flag(name: [.customShort("v"), .long],
          help: "Print each step's details on stderr (S3 requests with credentials redacted, build commands, sizes, timings).")
    var verbose = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose exclude each other: choose one") }
    }

    var verbosity: Verbosity { quiet ? .quiet : verbose ? .verbose : .normal }

    /// Sets the process's verbosity; call first in `run()`.
    func apply() { Console.verbosity = verbosity }
}

/// The process's output, by verbosity. Thread-safe (S3 traces come from upload threads).
enum Console {
    private static let level = Mutex<Verbosity>(.normal)
    private static let stderrLock = Mutex<Void>(())

    static var verbosity: Verbosity {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }

    static var isQuiet: Bool { verbosity == .quiet }
    static var isVerbose: Bool { verbosity == .verbose }

    /// A result line on stdout (the package written, `FILE: OK`); not with --quiet.
    static func result(_ line: String) {
        guard verbosity >= .normal else { return }
        print(line)
    }

    /// A step on stderr (`==> running build`); not with --quiet.
    static func step(_ line: String) {
        guard verbosity >= .normal else { return }
        writeStderr(line + "\n")
    }

    /// A detail on stderr, only with --verbose.
    static func detail(_ line: String) {
        guard verbosity == .verbose else { return }
        writeStderr(line + "\n")
    }

    /// A build command's raw output, streamed to stderr; not with --quiet (a failure still names
    /// the command's last line in its error).
    static func commandOutput(_ data: Data) {
        guard verbosity >= .normal else { return }
        FileHandle.standardError.write(data)
    }

    static func writeStderr(_ text: String) {
        stderrLock.withLock { _ in FileHandle.standardError.write(Data(text.utf8)) }
    }
}

extension PackageReport {
    /// One line for `verify --verbose`: format, kind, who signed it, size.
    var verboseSummary: String {
        var parts = ["\(format.rawValue) \(kind.rawValue)"]
        if let info { parts.append("\(info.name)-\(info.version) (\(info.arch))") }
        if let n = indexPackageCount { parts.append("\(n) packages") }
        parts.append("signed by \(trustedKey ?? "an untrusted key (allowed)")")
        parts.append("\(fileSize) bytes")
        return parts.joined(separator: ", ")
    }
}
