import Foundation

/// Runs a recipe's shell (`build.command`, `package:`) with `bash -e`, output streaming through
/// to `output`, the last lines kept for the error.
enum CommandRunner {
    struct Failed: Error {
        var status: Int32
        var lastLines: [String]
    }

    /// Runs `script` with `bash -e` in `cwd`, with `environment` added to the current one.
    static func run(_ script: String, cwd: URL, environment: [String: String],
                    output: @escaping (Data) -> Void, keepLines: Int = 10) throws {
        guard let bash = Subprocess.which("bash") else { throw FileTree.Failure(message: "bash is not installed: it runs build.command") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bash)
        p.arguments = ["-e", "-c", script, "apkit-build"]
        p.currentDirectoryURL = cwd
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, n in n }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        p.standardInput = FileHandle.nullDevice
        try p.run()
        var tail: [String] = []
        var partial = Data()
        let h = pipe.fileHandleForReading
        while true {
            let chunk = h.availableData
            if chunk.isEmpty { break }
            output(chunk)
            partial.append(chunk)
            while let nl = partial.firstIndex(of: 0x0A) {
                let line = String(decoding: partial[partial.startIndex..<nl], as: UTF8.self)
                partial = Data(partial[partial.index(after: nl)...])
                tail.append(line)
                if tail.count > keepLines { tail.removeFirst() }
            }
        }
        if !partial.isEmpty {
            tail.append(String(decoding: partial, as: UTF8.self))
            if tail.count > keepLines { tail.removeFirst() }
        }
        p.waitUntilExit()
        if p.terminationReason == .uncaughtSignal {
            throw Failed(status: 128 + p.terminationStatus, lastLines: tail)
        }
        if p.terminationStatus != 0 { throw Failed(status: p.terminationStatus, lastLines: tail) }
    }
}
