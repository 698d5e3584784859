import Foundation
import Synchronization

/// A temporary directory removed when the value is deallocated.
public final class TempDir: Sendable {
    public let path: String
    public var url: URL { URL(fileURLWithPath: path) }
    public init(_ label: String = "apkit-test") {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        path = base + "/\(label)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    public func sub(_ relative: String) -> String { path + "/" + relative }
    /// Writes a file (creating parent directories).
    @discardableResult
    public func write(_ relative: String, _ content: String, mode: Int = 0o644) -> String {
        write(relative, Data(content.utf8), mode: mode)
    }
    @discardableResult
    public func write(_ relative: String, _ content: Data, mode: Int = 0o644) -> String {
        let p = sub(relative)
        try! FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        precondition(FileManager.default.createFile(atPath: p, contents: content), "cannot write \(p)")
        chmod(p, mode_t(mode))
        return p
    }
    public func mkdir(_ relative: String, mode: Int = 0o755) {
        try! FileManager.default.createDirectory(atPath: sub(relative), withIntermediateDirectories: true)
        chmod(sub(relative), mode_t(mode))
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The result of a finished process.
public struct ProcessResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var stdoutData: Data
}

/// Runs a program (looked up in PATH unless it contains a slash) and waits for it.
@discardableResult
public func runProcess(_ executable: String, _ arguments: [String], cwd: String? = nil,
                       environment: [String: String]? = nil, stdin: Data? = nil) throws -> ProcessResult {
    let p = Process()
    if executable.contains("/") {
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
    } else {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [executable] + arguments
    }
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    if let environment {
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
    try p.run()
    if let stdin {
        inPipe.fileHandleForWriting.write(stdin)
        try? inPipe.fileHandleForWriting.close()
    }
    // Read both pipes concurrently so neither fills up.
    let errData = Mutex(Data())
    let group = DispatchGroup()
    group.enter()
    let errHandle = err.fileHandleForReading
    DispatchQueue.global().async {
        let d = errHandle.readDataToEndOfFile()
        errData.withLock { $0 = d }
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self), stdoutData: outData)
}

/// Runs a Python 3 snippet with arguments (`sys.argv[1...]`).
@discardableResult
public func runPython(_ script: String, _ arguments: [String] = []) throws -> ProcessResult {
    try runProcess("python3", ["-c", script] + arguments)
}

/// The directory holding the built products (`apkit` executable) of the current `swift test` run.
public var productsDirectory: URL {
    // On Linux the test runner binary lives in the products directory.
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    return dir
}

/// Path of the `apkit` binary built with the tests.
public var apkitBinary: String { productsDirectory.appendingPathComponent("apkit").path }

/// Runs the built `apkit` binary.
@discardableResult
public func apkit(_ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil) throws -> ProcessResult {
    try runProcess(apkitBinary, arguments, cwd: cwd, environment: environment)
}

/// The repository's `Fixtures/` directory.
public var fixturesDirectory: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
}

/// A small deterministic generator (SplitMix64) for reproducible fuzzing and generated data.
public struct SeededGenerator: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
