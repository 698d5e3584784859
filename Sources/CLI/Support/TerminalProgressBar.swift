import APKFormat
import APKRepository
import Foundation
import Synchronization

/// Terminal drawing lives in the CLI: the repository layer only reports progress (`UploadProgress`).
/// A one-line progress bar per upload on a terminal (stderr): bytes, rate, ETA; redrawn at most
/// ten times a second and finished with a summary line.
final class TerminalProgressBar: UploadProgress {
    private struct State {
        var started: [String: Date] = [:]
        var lastDraw = Date.distantPast
        var lastWidth = 0
    }
    private let state = Mutex(State())
    let fd: Int32
    let clock: @Sendable () -> Date

    init(fd: Int32 = 2, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.fd = fd
        self.clock = clock
    }

    func begin(key: String, total: UInt64) {
        let now = clock()
        state.withLock { s in
            s.started[key] = now
            s.lastDraw = .distantPast
            draw(TerminalProgressBar.line(key: key, sent: 0, total: total, elapsed: 0), final: false, &s)
        }
    }

    func update(key: String, sent: UInt64, total: UInt64) {
        let now = clock()
        state.withLock { s in
            guard now.timeIntervalSince(s.lastDraw) >= 0.1 || sent == total else { return }
            s.lastDraw = now
            let elapsed = now.timeIntervalSince(s.started[key] ?? now)
            draw(TerminalProgressBar.line(key: key, sent: sent, total: total, elapsed: elapsed), final: false, &s)
        }
    }

    func end(key: String, outcome: UploadOutcome) {
        state.withLock { s in
            // Clear the bar; the caller prints its own line for the finished object.
            draw("", final: true, &s)
            s.started[key] = nil
        }
    }

    private func draw(_ text: String, final: Bool, _ s: inout State) {
        let pad = max(0, s.lastWidth - text.count)
        let line = "\r" + text + String(repeating: " ", count: pad) + (final ? "\r" : "")
        s.lastWidth = final ? 0 : text.count
        line.utf8CString.withUnsafeBufferPointer { p in _ = systemWrite(fd, p.baseAddress, p.count - 1) }
    }

    /// `x86_64/big-1.0-r0.apk [#####-----]  24.0/48.0 MiB  12.0 MiB/s  ETA 2s`
    static func line(key: String, sent: UInt64, total: UInt64, elapsed: Double, width: Int = 20) -> String {
        let frac = total == 0 ? 1 : min(1, Double(sent) / Double(total))
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let rate = elapsed > 0 ? Double(sent) / elapsed : 0
        var eta = "--"
        if rate > 0 && sent < total { eta = duration(Double(total - sent) / rate) } else if sent >= total { eta = "0s" }
        return "\(key) [\(bar)] \(bytes(sent))/\(bytes(total))  \(bytes(UInt64(rate)))/s  ETA \(eta)"
    }

    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded(.up))
        if t < 60 { return "\(t)s" }
        if t < 3600 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
        return "\(t / 3600)h\(String(format: "%02d", t / 60 % 60))m"
    }
}
