import APKFormat
@testable import APKRecipe
import Foundation
import TestSupport
import XCTest

final class GitMetadataTests: XCTestCase {
    func testVersionFromDescribe() {
        let cases: [(String, String?)] = [
            ("v1.2.3", "1.2.3"),
            ("1.2.3", "1.2.3"),
            ("v1.2.3-4-gabc1234", "1.2.3_p4"),
            ("v1.2.3-0-gabc1234", "1.2.3"),
            ("v2.0.0-rc.1", "2.0.0_rc1"),
            ("v2.0.0-beta2-3-g0123abc", "2.0.0_beta2_p3"),
            ("v1.2.3_rc1-2-gdeadbee", "1.2.3_rc1_p2"),
            ("release-2024", nil),
            ("abc1234", nil),
        ]
        for (d, want) in cases {
            XCTAssertEqual(GitMetadata.version(fromDescribe: d), want, d)
            if let w = want { XCTAssertTrue(APKVersion.isValid(w + "-r0"), w) }
        }
        // A commit past the tag sorts after the tag and before the next release.
        XCTAssertEqual(APKVersion.compare("1.2.3_p4", "1.2.3"), .greater)
        XCTAssertEqual(APKVersion.compare("1.2.3_p4", "1.2.4"), .less)
    }

    func testRemoteNamesAndURLs() {
        XCTAssertEqual(GitMetadata.repositoryName(fromRemote: "git@github.com:acme/My_App.git"), "My_App")
        XCTAssertEqual(GitMetadata.slug("My_App"), "my-app")
        XCTAssertEqual(GitMetadata.httpsURL("git@github.com:acme/app.git"), "https://github.com/acme/app")
        XCTAssertEqual(GitMetadata.httpsURL("https://user:secret@gitlab.com/g/app.git"), "https://gitlab.com/g/app")
        XCTAssertEqual(GitMetadata.httpsURL("ssh://git@host.example/g/app.git"), "https://host.example/g/app")
    }

    /// A real repository: tag v1.2.3, one commit after it.
    func testMetadataFromGitRepository() throws {
        let t = TempDir()
        let dir = t.sub("Shop_Front")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try git(dir, "init", "-q")
        _ = FileManager.default.createFile(atPath: dir + "/apkit.yml", contents: Data("build: {command: 'true'}\n".utf8))
        try git(dir, "add", "apkit.yml")
        try runProcess("git", ["-C", dir, "-c", "user.email=t@example.org", "-c", "user.name=T", "commit", "-qm", "one"],
                       environment: ["GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z", "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z"])
        try git(dir, "tag", "v1.2.3")
        let r0 = try RecipeLoader.load(file: dir + "/apkit.yml")
        var m = try ResolvedMetadata.resolve(r0, git: GitMetadata.read(directory: r0.sourceDirectory), environment: [:])
        XCTAssertEqual(m.name, "shop-front", "no remote: the directory name, slugged")
        XCTAssertEqual(m.version, "1.2.3")
        XCTAssertEqual(m.release, 0)
        XCTAssertEqual(m.sourceDateEpoch, 1704164645)
        XCTAssertEqual(m.commit, try git(dir, "rev-parse", "HEAD"))

        _ = FileManager.default.createFile(atPath: dir + "/x", contents: Data("x".utf8))
        try git(dir, "add", "x")
        try git(dir, "commit", "-qm", "two")
        try git(dir, "remote", "add", "origin", "git@github.com:acme/Shop.Web.git")
        m = try ResolvedMetadata.resolve(r0, git: GitMetadata.read(directory: r0.sourceDirectory),
                                         environment: ["GITHUB_RUN_NUMBER": "42"])
        XCTAssertEqual(m.name, "shop.web")
        XCTAssertEqual(m.version, "1.2.3_p1")
        XCTAssertEqual(m.fullVersion, "1.2.3_p1-r42")
        XCTAssertEqual(m.url, "https://github.com/acme/Shop.Web")
        m = try ResolvedMetadata.resolve(r0, git: GitMetadata.read(directory: r0.sourceDirectory),
                                         environment: ["CI_PIPELINE_IID": "9", "SOURCE_DATE_EPOCH": "1234"])
        XCTAssertEqual(m.release, 9)
        XCTAssertEqual(m.sourceDateEpoch, 1234)

        // Config keys win over git.
        let r1 = try RecipeLoader.parse("name: shop\nversion: 3.0\nrelease: 5\nurl: https://shop.example\nbuild: {command: 'true'}\n",
                                        file: "apkit.yml", format: .apkit, sourceDirectory: URL(fileURLWithPath: dir))
        m = try ResolvedMetadata.resolve(r1, git: GitMetadata.read(directory: r1.sourceDirectory), environment: ["GITHUB_RUN_NUMBER": "42"])
        XCTAssertEqual(m.fullVersion, "3.0-r5")
        XCTAssertEqual(m.name, "shop")
        XCTAssertEqual(m.url, "https://shop.example")

        // A config in a subdirectory does not take the repository's name.
        try FileManager.default.createDirectory(atPath: dir + "/tools/cli", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/tools/cli/apkit.yml", contents: Data("build: {command: 'true'}\n".utf8))
        let r2 = try RecipeLoader.load(file: dir + "/tools/cli/apkit.yml")
        m = try ResolvedMetadata.resolve(r2, git: GitMetadata.read(directory: r2.sourceDirectory), environment: [:])
        XCTAssertEqual(m.name, "cli")
        XCTAssertEqual(m.version, "1.2.3_p1")
    }

    func testNoVersionIsAnErrorNotZero() throws {
        let t = TempDir()
        let r = try parseRecipe("build: {command: 'true'}\n", in: t)
        XCTAssertThrowsError(try ResolvedMetadata.resolve(r, git: GitMetadata(), environment: [:])) { e in
            XCTAssertEqual("\(e)", "apkit.yml: no version: add version: (e.g. version: 1.0.0) or tag the git repository (git tag v1.0.0)")
        }
        var g = GitMetadata()
        g.describe = "nightly"
        XCTAssertThrowsError(try ResolvedMetadata.resolve(r, git: g, environment: [:])) { e in
            XCTAssertEqual("\(e)", "apkit.yml: no version: git describe gives 'nightly', which is not an apk version; add version: or tag the commit v1.2.3")
        }
        let r2 = try parseRecipe("version: 1\nbuild: {command: 'true'}\n", in: t)
        XCTAssertThrowsError(try ResolvedMetadata.resolve(r2, git: GitMetadata(), environment: ["GITHUB_RUN_NUMBER": "x1"])) { e in
            XCTAssertEqual("\(e)", "apkit.yml: $GITHUB_RUN_NUMBER is 'x1', not a release number: set release: in the config")
        }
    }
}
