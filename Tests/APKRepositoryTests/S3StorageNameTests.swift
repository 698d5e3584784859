import XCTest
@testable import APKRepository

/// S3 key names: the '+' alias and s3:// URLs.
final class S3StorageNameTests: XCTestCase {
    func testPlusAliasNames() {
        XCTAssertEqual(S3Storage.plusAlias("x86_64/libstdc++-14.2.0-r4.apk"), "x86_64/libstdc  -14.2.0-r4.apk")
        XCTAssertEqual(S3Storage.plusAlias("libsigc++-1-r0.apk"), "libsigc  -1-r0.apk")
        XCTAssertNil(S3Storage.plusAlias("x86_64/hello-1.0-r0.apk"))
        XCTAssertNil(S3Storage.plusAlias("x86_64/APKINDEX.tar.gz"))
        XCTAssertNil(S3Storage.plusAlias("a+b/hello-1.0-r0.apk"), "only the file name counts")
    }

    func testParseURL() {
        XCTAssertEqual(S3Storage.parse(url: "s3://bucket/alpine//v3.20/main/")?.bucket, "bucket")
        XCTAssertEqual(S3Storage.parse(url: "s3://bucket/alpine//v3.20/main/")?.prefix, "alpine/v3.20/main")
        XCTAssertEqual(S3Storage.parse(url: "s3://bucket")?.prefix, "")
        XCTAssertNil(S3Storage.parse(url: "s3:///x"))
        XCTAssertNil(S3Storage.parse(url: "/srv/repo"))
    }
}
