import APKFormat
import Foundation

// deflate-bench INPUT [--engine parallel|zlib] [--level N] [--threads T] [--chunk-kib K]
//               [--write-kib W] [--output FILE]
// Streams INPUT through one gzip member and prints one JSON line: seconds, sizes.

final class FileSink: ByteSink {
    let fd: Int32
    var count = 0
    init(path: String?) {
        fd = path.map { open($0, O_WRONLY | O_CREAT | O_TRUNC, 0o644) } ?? -1
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        count += bytes.count
        guard fd >= 0, var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = Foundation.write(fd, p, left)
            if n <= 0 { throw FormatError.io(path: "output", reason: String(cString: strerror(errno))) }
            p += n; left -= n
        }
    }
}

var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    let v = args[i + 1]; args.removeSubrange(i...(i + 1)); return v
}
let engineName = option("--engine") ?? "parallel"
let level = Int(option("--level") ?? "9")!
let threads = Int(option("--threads") ?? "\(ProcessInfo.processInfo.activeProcessorCount)")!
let chunkKiB = Int(option("--chunk-kib") ?? "\(ParallelDeflateEngine.defaultChunkSize(level: level) / 1024)")!
let inFlight = option("--in-flight").map { Int($0)! }
let writeKiB = Int(option("--write-kib") ?? "64")!
let outputPath = option("--output")
guard let input = args.first else {
    FileHandle.standardError.write("usage: deflate-bench INPUT [--engine parallel|zlib] [--level N] [--threads T] [--chunk-kib K] [--write-kib W] [--output FILE]\n".data(using: .utf8)!)
    exit(2)
}
let engine: CompressionEngine = engineName == "zlib"
    ? ZlibGzipEngine(level: level)
    : ParallelDeflateEngine(settings: CompressionSettings(level: level, threads: threads), chunkSize: chunkKiB * 1024, chunksInFlight: inFlight)

let fd = open(input, O_RDONLY)
guard fd >= 0 else { fatalError("cannot open \(input)") }
let sink = FileSink(path: outputPath)
let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: writeKiB * 1024, alignment: 16)
var inBytes = 0
let start = DispatchTime.now()
let member = try engine.makeMember(writingTo: sink)
while true {
    let n = read(fd, buf.baseAddress, buf.count)
    if n <= 0 { break }
    inBytes += n
    try member.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
}
try member.finish()
let secs = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
var ru = rusage(); getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
let cpu = Double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + Double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6
print("{\"engine\":\"\(engineName)\",\"level\":\(level),\"threads\":\(threads),\"chunk_kib\":\(chunkKiB),\"in\":\(inBytes),\"out\":\(sink.count),\"wall\":\(String(format: "%.3f", secs)),\"cpu\":\(String(format: "%.3f", cpu)),\"maxrss_kib\":\(ru.ru_maxrss)}")
