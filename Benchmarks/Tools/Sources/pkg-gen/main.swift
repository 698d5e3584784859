import APKFormat
import Foundation
import Synchronization

// pkg-gen --format v2|v3 --count N --key KEY.rsa --output DIR [--start I] [--threads T]
// Writes N small signed packages (one 64-byte file each, fixed seed: names, versions, depends and
// provides shaped like Alpine's) with apkit's own writer, in-process: making 100,000 packages with
// one `apkit pack` process each would take longer than the index benchmarks they feed.
// Package i is named bench-<word>-<word>-<i>; the same arguments write the same files.

var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    let v = args[i + 1]; args.removeSubrange(i...(i + 1)); return v
}
guard let formatName = option("--format").flatMap(FormatName.init(rawValue:)),
      let count = option("--count").flatMap(Int.init), let keyPath = option("--key"), let out = option("--output") else {
    FileHandle.standardError.write("usage: pkg-gen --format v2|v3 --count N --key KEY.rsa --output DIR [--start I] [--threads T]\n".data(using: .utf8)!)
    exit(2)
}
let start = option("--start").flatMap(Int.init) ?? 0
let threads = option("--threads").flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount

let format = PackageFormats.named(formatName)
let signer = Signer(key: try SigningKey(file: keyPath), keyName: (keyPath as NSString).lastPathComponent + ".pub")
let compression = formatName == .v3 ? CompressionSettings.v3(.default, threads: 1) : CompressionSettings(profile: .default, threads: 1)
try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
let stage = out + "/.stage"
try FileManager.default.createDirectory(atPath: stage + "/usr/share/bench", withIntermediateDirectories: true)
try Data(repeating: 0x61, count: 64).write(to: URL(fileURLWithPath: stage + "/usr/share/bench/file"))

/// SplitMix64: a fixed sequence per package, whatever the thread.
struct Rng {
    var s: UInt64
    mutating func next() -> UInt64 {
        s &+= 0x9E3779B97F4A7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
let words = ["lib", "py3", "perl", "ruby", "lua", "dev", "doc", "openrc", "static", "utils", "tools", "data", "x11", "gtk", "qt5"]

func spec(_ i: Int) -> PackageSpec {
    var r = Rng(s: UInt64(i) &* 7919 &+ 42)
    let name = "bench-\(words[r.int(words.count)])-\(words[r.int(words.count)])-\(i)"
    var info = PackageInfo(name: name, version: "\(r.int(30)).\(r.int(100)).\(r.int(20))-r\(r.int(6))")
    info.arch = "x86_64"
    info.description = "Generated package number \(i) for the index benchmarks"
    info.url = "https://example.org/\(name)"
    info.license = "MIT"
    info.origin = name
    info.maintainer = "Bench Mark <bench@example.org>"
    info.commit = String(repeating: "0123456789abcdef", count: 3).prefix(40).description
    info.depends = (0..<r.int(7)).map { _ in "so:lib\(words[r.int(words.count)])\(r.int(100)).so.\(r.int(10))" }
    info.provides = (0..<r.int(5)).map { k in "cmd:\(name)\(k)=\(info.version)" }
    var s = PackageSpec(info: info, root: URL(fileURLWithPath: stage))
    s.sourceDateEpoch = 1_700_000_000
    return s
}

let failures = Mutex(0)
DispatchQueue.concurrentPerform(iterations: threads) { t in
    var i = start + t
    while i < start + count {
        let s = spec(i)
        do {
            _ = try format.write(s, signer: signer, compression: compression, to: out + "/" + format.fileName(for: s.info))
        } catch {
            FileHandle.standardError.write("\(s.info.name): \(error)\n".data(using: .utf8)!)
            failures.withLock { $0 += 1 }
        }
        i += threads
    }
}
try? FileManager.default.removeItem(atPath: stage)
let failed = failures.withLock { $0 }
print("wrote \(count - failed) \(formatName.rawValue) packages to \(out)")
exit(failed == 0 ? 0 : 1)
