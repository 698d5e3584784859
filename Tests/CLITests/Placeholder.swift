import XCTest
import TestSupport

final class SmokeTests: XCTestCase {
    func testVersionPrints() throws {
        let r = try apkit(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.isEmpty)
    }
}
