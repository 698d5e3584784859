import APKFormat
import Foundation

/// libFuzzer's driver: `int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*cb)(const uint8_t *, size_t))`.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: FuzzCallback) -> CInt

nonisolated(unsafe) private var fuzzBody: ((UnsafeRawBufferPointer) -> Void)?

/// Runs libFuzzer with `body` as `LLVMFuzzerTestOneInput` (called once per input; the buffer is
/// only valid during the call). Never returns.
public func runFuzzer(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
    fuzzBody = body
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    let rc = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzBody!(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
    exit(rc)
}

/// One temp file per fuzzing process, overwritten by every input (for APIs that take a path).
public let fuzzInputPath: String = {
    let dir = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    return "\(dir)/apkit-fuzz-\(getpid()).bin"
}()

public func writeInput(_ bytes: UnsafeRawBufferPointer, to path: String = fuzzInputPath) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "cannot create \(path)")
    var off = 0
    while off < bytes.count {
        let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
        precondition(n > 0, "cannot write \(path)")
        off += n
    }
    close(fd)
}

/// Sets a correct ustar header checksum on every 512-byte block of `tar` that carries the ustar
/// magic, so mutations get past the checksum and reach the header fields themselves.
public func fixTarChecksums(_ tar: inout [UInt8]) {
    var at = 0
    while at + 512 <= tar.count {
        if tar[at + 257] == 0x75, tar[at + 258] == 0x73, tar[at + 259] == 0x74, tar[at + 260] == 0x61, tar[at + 261] == 0x72 {
            for i in 148..<156 { tar[at + i] = 0x20 }
            var sum = 0
            for i in 0..<512 { sum += Int(tar[at + i]) }
            let octal = Array(String(sum, radix: 8).utf8)
            if octal.count <= 6 {
                let field = [UInt8](repeating: 0x30, count: 6 - octal.count) + octal + [0, 0x20]
                for i in 0..<8 { tar[at + 148 + i] = field[i] }
            }
        }
        at += 512
    }
}

/// The separator between gzip members in the "raw" form of a v2 input (see FuzzV2Package).
public let memberSeparator = Array("\n--APKFUZZ-MEMBER--\n".utf8)

/// Splits `bytes` at every `separator`.
public func split(_ bytes: [UInt8], at separator: [UInt8]) -> [[UInt8]] {
    var parts: [[UInt8]] = []
    var start = 0, i = 0
    while i + separator.count <= bytes.count {
        if bytes[i] == separator[0], Array(bytes[i..<(i + separator.count)]) == separator {
            parts.append(Array(bytes[start..<i])); i += separator.count; start = i
        } else { i += 1 }
    }
    parts.append(Array(bytes[start...]))
    return parts
}

/// One gzip member holding `bytes` (fastest level).
public func gzipMember(_ bytes: [UInt8]) -> [UInt8] {
    let sink = BufferSink()
    let member = try! ZlibGzipEngine(level: 1).makeMember(writingTo: sink)
    try! bytes.withUnsafeBytes { try member.write($0) }
    try! member.finish()
    return Array(sink.data)
}

/// A keyring with the seed corpus's public keys (Fixtures/fuzz/keys), if found; empty otherwise.
public func seedKeyring() -> Keyring {
    var k = Keyring()
    if let dir = ProcessInfo.processInfo.environment["APKIT_FUZZ_KEYS"] { k.addDirectory(dir) }
    return k
}

/// A visitor that touches every entry (so the reader's per-file paths run).
public final class CountingVisitor: PackageVisitor {
    public var count = 0
    public var bytes = 0
    /// Content bytes of regular files (hard links not counted again).
    public var fileBytes: Int64 = 0
    public init() {}
    public func visit(_ entry: PackageFileEntry) {
        count += 1
        if entry.type == "file" { fileBytes = fileBytes &+ max(0, entry.size) }
        bytes &+= entry.path.utf8.count &+ entry.linkTarget.utf8.count &+ Int(truncatingIfNeeded: entry.size)
    }
}
