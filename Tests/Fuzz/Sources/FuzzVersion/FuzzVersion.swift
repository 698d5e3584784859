// The version parser: APKVersion.isValid / compare (both dialects), pkgver/pkgrel checks, and
// the order's laws: compare(a, a) is equal, compare(a, b) is the opposite of compare(b, a).
// Input: two versions separated by the first newline (none: the input against itself).
import APKFormat
import FuzzSupport

@main struct FuzzVersion {
    static func main() {
        runFuzzer { input in
            let text = String(decoding: input, as: UTF8.self)
            let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let a = parts[0], b = parts.count > 1 ? parts[1] : parts[0]
            for dialect in [APKVersion.Dialect.apkTools3, .apkTools2] {
                _ = APKVersion.isValid(a, dialect: dialect)
                _ = APKVersion.isValid(b, dialect: dialect)
                let ab = APKVersion.compare(a, b, dialect: dialect)
                let ba = APKVersion.compare(b, a, dialect: dialect)
                let aa = APKVersion.compare(a, a, dialect: dialect)
                if APKVersion.isValid(a, dialect: dialect) {
                    if aa != .equal { fatalError("compare(a, a) is \(aa) for a valid version \(a.debugDescription)") }
                }
                if APKVersion.isValid(a, dialect: dialect) && APKVersion.isValid(b, dialect: dialect) {
                    if ab.comparisonResult.rawValue != -ba.comparisonResult.rawValue { fatalError("compare(\(a.debugDescription), \(b.debugDescription)) = \(ab), reversed \(ba)") }
                }
            }
            _ = APKVersion.isValidPkgver(a)
            _ = APKVersion.isValidPkgrel(b)
        }
    }
}
