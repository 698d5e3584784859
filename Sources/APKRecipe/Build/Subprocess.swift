import Foundation

/// Small helpers to run host programs.
enum Subprocess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `program` (looked up in PATH unless it has a `/`) and captures its output.
    /// Returns nil when the program cannot be started (not installed).
    static func capture(_ program: String, _ args: [String], cwd: URL? = nil,
                        environment: [String: String]? = nil) -> Result? {
        guard let exe = program.contains("/") ? program : which(program) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// The full path of `program` in PATH, or nil.
    static func which(_ program: String, path: String? = nil) -> String? {
        let dirs = (path ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        for d in dirs {
            let p = "\(d)/\(program)"
            if access(p, X_OK) == 0 {
                var st = stat()
                if stat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { return p }
            }
        }
        return nil
    }
}
