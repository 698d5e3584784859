import XCTest
@testable import apkit

/// The text of the terminal progress bar drawn for S3 uploads.
final class ProgressBarTests: XCTestCase {
    func testLineShowsBytesRateAndETA() {
        XCTAssertEqual(TerminalProgressBar.line(key: "x86_64/a-1-r0.apk", sent: 12 << 20, total: 48 << 20, elapsed: 2),
                       "x86_64/a-1-r0.apk [#####---------------] 12.0 MiB/48.0 MiB  6.0 MiB/s  ETA 6s")
        XCTAssertEqual(TerminalProgressBar.line(key: "k", sent: 0, total: 1000, elapsed: 0),
                       "k [--------------------] 0 B/1000 B  0 B/s  ETA --")
        XCTAssertEqual(TerminalProgressBar.line(key: "k", sent: 1000, total: 1000, elapsed: 0.5),
                       "k [####################] 1000 B/1000 B  2.0 KiB/s  ETA 0s")
        XCTAssertEqual(TerminalProgressBar.line(key: "k", sent: 0, total: 0, elapsed: 0), "k [####################] 0 B/0 B  0 B/s  ETA 0s")
    }

    func testUnitsAndDurations() {
        XCTAssertEqual(TerminalProgressBar.bytes(1023), "1023 B")
        XCTAssertEqual(TerminalProgressBar.bytes(1536), "1.5 KiB")
        XCTAssertEqual(TerminalProgressBar.bytes(5 << 30), "5.0 GiB")
        XCTAssertEqual(TerminalProgressBar.duration(0.2), "1s")
        XCTAssertEqual(TerminalProgressBar.duration(61), "1m01s")
        XCTAssertEqual(TerminalProgressBar.duration(7322), "2h02m")
    }
}
