import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How an upload ended, for `UploadProgress.end`.
public enum UploadOutcome: Sendable {
    case done
    /// Not written because of a write precondition (someone else wrote the key).
    case skipped
    case failed
}

/// Receives upload progress from `S3Storage` (calls may come from several threads).
public protocol UploadProgress: AnyObject, Sendable {
    func begin(key: String, total: UInt64)
    func update(key: String, sent: UInt64, total: UInt64)
    func end(key: String, outcome: UploadOutcome)
}

/// A one-line progress bar per upload on a terminal (stderr): bytes, rate, ETA; redrawn at most
/// ten times a second and finished with a summary line.
public final class TerminalProgressBar: UploadProgress, @unchecked Sendable {
    let lock = NSLock()
    let fd: Int32
    var started: [String: Date] = [:]
    var lastDraw = Date.distantPast
    var lastWidth = 0
    let clock: () -> Date

    public init(fd: Int32 = 2, clock: @escaping () -> Date = Date.init) {
        self.fd = fd
        self.clock = clock
    }

    public func begin(key: String, total: UInt64) {
        lock.lock(); defer { lock.unlock() }
        started[key] = clock()
        lastDraw = .distantPast
        draw(TerminalProgressBar.line(key: key, sent: 0, total: total, elapsed: 0), final: false)
    }

    public func update(key: String, sent: UInt64, total: UInt64) {
        lock.lock(); defer { lock.unlock() }
        let now = clock()
        guard now.timeIntervalSince(lastDraw) >= 0.1 || sent == total else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(started[key] ?? now)
        draw(TerminalProgressBar.line(key: key, sent: sent, total: total, elapsed: elapsed), final: false)
    }

    public func end(key: String, outcome: UploadOutcome) {
        lock.lock(); defer { lock.unlock() }
        // Clear the bar; the caller prints its own line for the finished object.
        draw("", final: true)
        started[key] = nil
    }

    func draw(_ text: String, final: Bool) {
        let pad = max(0, lastWidth - text.count)
        let s = "\r" + text + String(repeating: " ", count: pad) + (final ? "\r" : "")
        lastWidth = final ? 0 : text.count
        s.utf8CString.withUnsafeBufferPointer { p in _ = write(fd, p.baseAddress, p.count - 1) }
    }

    /// `x86_64/big-1.0-r0.apk [#####-----]  24.0/48.0 MiB  12.0 MiB/s  ETA 2s`
    public static func line(key: String, sent: UInt64, total: UInt64, elapsed: Double, width: Int = 20) -> String {
        let frac = total == 0 ? 1 : min(1, Double(sent) / Double(total))
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let rate = elapsed > 0 ? Double(sent) / elapsed : 0
        var eta = "--"
        if rate > 0 && sent < total { eta = duration(Double(total - sent) / rate) } else if sent >= total { eta = "0s" }
        return "\(key) [\(bar)] \(bytes(sent))/\(bytes(total))  \(bytes(UInt64(rate)))/s  ETA \(eta)"
    }

    public static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    public static func duration(_ s: Double) -> String {
        let t = Int(s.rounded(.up))
        if t < 60 { return "\(t)s" }
        if t < 3600 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
        return "\(t / 3600)h\(String(format: "%02d", t / 60 % 60))m"
    }
}
