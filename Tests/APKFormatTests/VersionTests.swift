import XCTest
@testable import APKCore
@testable import APKv2
import APKFormat

final class VersionTests: XCTestCase {
    private func order(_ s: String) -> APKVersion.Order {
        switch s {
        case "<": return .less
        case ">": return .greater
        default: return .equal
        }
    }

    /// Pairs written from the grammar rules, each checked both ways round.
    func testOrderingTable() {
        let table: [(String, String, String)] = [
            // numbers compare numerically, component by component
            ("1", "=", "1"), ("1", "<", "2"), ("9", "<", "10"), ("2.9", "<", "2.10"),
            ("1.2.3", "<", "1.2.4"), ("1.2.10", ">", "1.2.9"), ("10.0", ">", "9.99"),
            ("1.2", "<", "1.2.0"), ("1.2", "<", "1.2.1"), ("1.2.3.4.5", ">", "1.2.3.4"),
            ("18446744073709551615", ">", "1"), ("123456789012345", "<", "123456789012346"),
            // leading zero in a dotted component: string comparison
            ("1.01", "<", "1.1"), ("1.01", "<", "1.010"), ("1.001", "<", "1.01"), ("1.09", "<", "1.1"),
            ("1.0", "=", "1.0"), ("1.00", ">", "1.0"), ("1.05", ">", "1.011"), ("2.0", "<", "2.1"),
            // leading zero in the first component is numeric
            ("01", "=", "1"), ("007", "=", "7"), ("010", ">", "9"),
            // a letter ranks above the bare version but below a further dotted number
            ("1.0a", ">", "1.0"), ("1.0a", "<", "1.0b"), ("1.0z", ">", "1.0b"), ("1.0a", "<", "1.0.9"),
            ("1.0a", "<", "1.1"), ("1a", ">", "1"), ("2a", ">", "1z"),
            // pre-release suffixes sort before the release, in order alpha < beta < pre < rc
            ("1.0_alpha", "<", "1.0"), ("1.0_beta", "<", "1.0"), ("1.0_pre", "<", "1.0"), ("1.0_rc", "<", "1.0"),
            ("1.0_alpha", "<", "1.0_beta"), ("1.0_beta", "<", "1.0_pre"), ("1.0_pre", "<", "1.0_rc"),
            ("1.0_rc9", "<", "1.0"), ("1.0_alpha1", "<", "1.0_alpha2"), ("1.0_alpha10", ">", "1.0_alpha9"),
            ("1.0_alpha", "<", "1.0_alpha1"), ("1.0_rc1", "<", "1.0.1_alpha"), ("1.0_rc1", ">", "0.9"),
            // post-release suffixes sort after the release, in order cvs < svn < git < hg < p
            ("1.0_cvs", ">", "1.0"), ("1.0_svn", ">", "1.0_cvs"), ("1.0_git", ">", "1.0_svn"),
            ("1.0_hg", ">", "1.0_git"), ("1.0_p", ">", "1.0_hg"), ("1.0_p1", ">", "1.0_p"),
            ("1.0_p2", ">", "1.0_p1"), ("1.0_git20240101", "<", "1.0_git20240102"), ("1.0_p1", "<", "1.0.1"),
            ("1.0_p1", "<", "1.0a"), ("1.0_rc", "<", "1.0_p"),
            // chained suffixes
            ("1.0_alpha_pre", "<", "1.0_alpha"), ("1.0_alpha_p1", ">", "1.0_alpha"), ("1.0_p1_pre2", "<", "1.0_p1"),
            ("1.0_git1_p2", ">", "1.0_git1"), ("1.0_beta2_p1", "<", "1.0_beta3"),
            // commit hash: compared as a string; a version with a hash ranks above one with only a release
            ("1.0~abc", ">", "1.0"), ("1.0~abc", "<", "1.0~abd"), ("1.0~ab", "<", "1.0~abc"),
            ("1.0~abc", "=", "1.0~abc"), ("1.0_p1~abc", ">", "1.0_p1"), ("1.0~abc", ">", "1.0-r1"),
            ("1.0~abc-r1", ">", "1.0~abc-r0"), ("1.0~1234", "<", "1.0~9"),
            // release numbers
            ("1.0-r0", ">", "1.0"), ("1.0-r1", ">", "1.0-r0"), ("1.0-r10", ">", "1.0-r9"), ("1.0-r1", "<", "1.0.1"),
            ("1.0-r5", "<", "1.0a"), ("1.0_rc1-r3", "<", "1.0-r0"), ("1.0_p1-r0", ">", "1.0-r7"),
            ("2.0-r0", ">", "1.9-r99"), ("1.0-r01", "=", "1.0-r1"),
            // invalid tails: the valid prefix is compared, then an invalid token ranks lowest
            ("1.0", "<", "1.0foo"), ("1.0_foo", "<", "1.0"), ("1.0-x", "<", "1.0"), ("1.0", ">", "1.0.x"),
            ("1.0!", "=", "1.0?"), ("1.1!", ">", "1.0"), ("1.0_foo", ">", "1.0_alpha"),
            ("abc", "=", "xyz"), ("", "=", ""), ("", "<", "0"),
        ]
        for (a, op, b) in table {
            let want = order(op)
            XCTAssertEqual(APKVersion.compare(a, b), want, "\(a) \(op) \(b)")
            let reverse: APKVersion.Order = want == .less ? .greater : (want == .greater ? .less : .equal)
            XCTAssertEqual(APKVersion.compare(b, a), reverse, "\(b) vs \(a) (reverse of \(a) \(op) \(b))")
        }
    }

    func testValidity() {
        let valid = ["0", "1", "1.2.3", "01.2", "1.2a", "1.2.3_alpha", "1.2.3_alpha1", "1_beta_pre1", "1_p1_rc2",
                     "1.0_git20240101", "1.0~0123456789abcdef", "1.0_rc1~abc-r2", "1.0-r0", "1.0-r123",
                     "20240101", "1z_hg", "1.0_cvs_svn_git_hg_p", "1a_p1~f-r0"]
        let invalid = ["", "a", ".1", "1.", "1..2", "1.a", "1a1", "1ab", "1a.1", "1.0_", "1.0_foo", "1.0_ALPHA",
                       "1.0_alpha_", "1.0__alpha", "1.0_1", "1.0~", "1.0~xyz", "1.0~ABC", "1.0~ab~cd",
                       "1.0~ab_alpha", "1.0-r", "1.0-", "1.0-1", "1.0-r1-r2", "1.0-r1.1", "1.0-r1_p1", "1.0-r1~ab",
                       "1.0-ra", "_alpha", "-r1", "1.0 ", " 1.0", "1.0\u{0}", "1,0", "v1.0", "1.0-R1", "1.0é"]
        for v in valid { XCTAssertTrue(APKVersion.isValid(v), "expected valid: \(v)") }
        for v in invalid { XCTAssertFalse(APKVersion.isValid(v), "expected invalid: \(v)") }
        XCTAssertTrue(APKVersion("1.2.3-r4").isValid)
    }

    /// Sorting a shuffled list gives one consistent order: antisymmetric, transitive, total.
    func testTotalOrderOnValidVersions() {
        let sorted = ["0.9", "1", "1.0_alpha", "1.0_alpha1", "1.0_beta", "1.0_beta_p1", "1.0_pre", "1.0_rc1",
                      "1.0", "1.0-r0", "1.0-r1", "1.0~ab", "1.0~ab-r1", "1.0_cvs", "1.0_svn", "1.0_git",
                      "1.0_hg", "1.0_p", "1.0_p1", "1.0a", "1.0b", "1.0.0", "1.0.1_rc1", "1.0.1", "1.0.1a",
                      "1.01", "1.1", "1.9", "1.10", "2"]
        for v in sorted { XCTAssertTrue(APKVersion.isValid(v), v) }
        for i in sorted.indices {
            for j in sorted.indices {
                let want: APKVersion.Order = i < j ? .less : (i > j ? .greater : .equal)
                XCTAssertEqual(APKVersion.compare(sorted[i], sorted[j]), want, "\(sorted[i]) vs \(sorted[j])")
            }
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let shuffled = sorted.shuffled(using: &rng).map(APKVersion.init)
            XCTAssertEqual(shuffled.sorted().map(\.string), sorted)
        }
    }

    /// Generated versions: compare is antisymmetric and transitive over all triples.
    func testGeneratedAntisymmetryAndTransitivity() {
        let bases = ["1", "1.0", "1.00", "1.01", "1.1", "1.0a", "2"]
        let tails = ["", "_alpha", "_rc2", "_p1", "_p1_pre", "~0f", "-r1", "_beta~a-r2", "_x"]
        let all = bases.flatMap { b in tails.map { b + $0 } }
        let n = all.count
        var cmp = [[APKVersion.Order]](repeating: [], count: n)
        for i in 0..<n { cmp[i] = all.map { APKVersion.compare(all[i], $0) } }
        for i in 0..<n {
            XCTAssertEqual(cmp[i][i], .equal, all[i])
            for j in 0..<n {
                let back = cmp[j][i]
                switch cmp[i][j] {
                case .less: XCTAssertEqual(back, .greater, "\(all[i]) \(all[j])")
                case .greater: XCTAssertEqual(back, .less, "\(all[i]) \(all[j])")
                case .equal: XCTAssertEqual(back, .equal, "\(all[i]) \(all[j])")
                }
            }
        }
        for i in 0..<n { for j in 0..<n where cmp[i][j] != .greater { for k in 0..<n where cmp[j][k] != .greater {
            XCTAssertNotEqual(cmp[i][k], .greater, "\(all[i]) <= \(all[j]) <= \(all[k])")
            if cmp[i][j] == .less || cmp[j][k] == .less {
                XCTAssertEqual(cmp[i][k], .less, "\(all[i]) \(all[j]) \(all[k])")
            }
        } } }
    }

    func testMatchOperators() {
        let cases: [(String, String, String, Bool)] = [
            ("1.2", "<", "1.3", true), ("1.3", "<", "1.3", false), ("1.3", "<=", "1.3", true),
            ("1.3", ">=", "1.3", true), ("1.4", ">", "1.3", true), ("1.3", "=", "1.3", true),
            ("1.3-r1", "=", "1.3", false),
            // fuzzy: the right side is a token prefix of the left side
            ("1.3.9", "~", "1.3", true), ("1.3_rc1", "~", "1.3", true), ("1.3-r4", "~", "1.3", true),
            ("1.4", "~", "1.3", false), ("1.3", "~", "1.3.1", false), ("1.30", "~", "1.3", false),
            ("1.2", "<~", "1.3", true), ("1.3.5", "<~", "1.3", true), ("1.4", "<~", "1.3", false),
            ("1.4", ">~", "1.3", true), ("1.3.5", ">~", "1.3", true), ("1.2", ">~", "1.3", false),
            ("1.4", "!~", "1.3", true), ("1.3.1", "!~", "1.3", false), ("1.2", "!<", "1.3", false),
            ("1", "<>=", "2", true),
        ]
        for (a, op, b, want) in cases {
            XCTAssertEqual(APKVersion.matches(a, op, b), want, "\(a) \(op) \(b)")
        }
        XCTAssertNil(APKVersion.matches("1", "==!", "2"))
        XCTAssertNil(APKVersion.matches("1", "", "2"))
    }

    /// apk-tools 2.14's older rules, where they differ from 3.x.
    func testApkTools2Dialect() {
        let v2 = APKVersion.Dialect.apkTools2
        // letter followed by digits is allowed, suffixes are prefix-matched, no commit hash
        XCTAssertTrue(APKVersion.isValid("1.0a1", dialect: v2))
        XCTAssertFalse(APKVersion.isValid("1.0a1"))
        XCTAssertFalse(APKVersion.isValid("1.0~abc", dialect: v2))
        XCTAssertFalse(APKVersion.isValid("1.0_prefoo", dialect: v2))
        XCTAssertTrue(APKVersion.isValid("1.0_p1", dialect: v2))
        XCTAssertTrue(APKVersion.isValid("1.0-r1", dialect: v2))
        // 2.x accepts a repeated release part, 3.x does not
        XCTAssertTrue(APKVersion.isValid("1.0-r1-r2", dialect: v2))
        XCTAssertFalse(APKVersion.isValid("1.0-1", dialect: v2))
        // too many digits in one number is invalid in 2.x (18 or more)
        XCTAssertFalse(APKVersion.isValid("123456789012345678", dialect: v2))
        XCTAssertTrue(APKVersion.isValid("12345678901234567", dialect: v2))
        XCTAssertTrue(APKVersion.isValid("123456789012345678"))
        let pairs: [(String, String, String)] = [
            ("1.0_alpha", "<", "1.0"), ("1.0_p1", ">", "1.0"), ("1.0-r1", ">", "1.0"), ("1.2.10", ">", "1.2.9"),
            ("1.0a", ">", "1.0"), ("1.0_rc1", "<", "1.0_rc2"), ("1.01", "<", "1.1"), ("1.001", "<", "1.01"),
            ("1.0_cvs", "<", "1.0_p"), ("2.0", ">", "1.99"),
        ]
        for (a, op, b) in pairs {
            XCTAssertEqual(APKVersion.compare(a, b, dialect: v2), order(op), "2.x: \(a) \(op) \(b)")
        }
    }

    func testPkgverAndPkgrel() {
        for v in ["1", "1.2.3", "1.2.3_rc1", "2024.01.02", "1.0a", "1.0~abc", "1.0_git20240101"] {
            XCTAssertTrue(APKVersion.isValidPkgver(v), v)
        }
        for v in ["", "1.0-r1", "1.0-1", "v1.0", "1.0.", "1.0_foo", "1.0 ", "latest"] {
            XCTAssertFalse(APKVersion.isValidPkgver(v), v)
        }
        for r in ["0", "1", "10", "007"] { XCTAssertTrue(APKVersion.isValidPkgrel(r), r) }
        for r in ["", "-1", "1.1", "r1", "1a", " 1"] { XCTAssertFalse(APKVersion.isValidPkgrel(r), r) }
    }

    func testPackageNames() {
        for n in ["foo", "Foo", "libfoo2", "py3-foo", "gtk+3.0", "foo_bar", "a", "1password", "foo.bar-baz_+"] {
            XCTAssertTrue(PackageName.isValid(n), n)
            XCTAssertNil(PackageName.problem(n), n)
        }
        for n in ["", "-foo", ".foo", "_foo", "+foo", "foo bar", "foo/bar", "foo:bar", "foo@edge", "föö", "foo=1",
                  "foo>1", "foo~1", "foo\n"] {
            XCTAssertFalse(PackageName.isValid(n), n)
            XCTAssertNotNil(PackageName.problem(n), n)
        }
        XCTAssertEqual(PackageName.problem("foo bar"),
                       "package name 'foo bar' has characters other than letters, digits and '+-._': ' '")
    }
}
