import APKCrypto
import Foundation
import SystemIO

/// Package name syntax, as abuild (`verify_pkgname`) and apk-tools 3 (`name_fromstring`) accept it:
/// non-empty, only ASCII letters, digits and `+ - . _`, and the first character a letter or digit.
public enum PackageName {
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, isAlnum(first) else { return false }
        return bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-")
            || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") }
    }

    /// Why a name is invalid, as one line for an error message; nil when valid.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "package name is empty" }
        if let f = name.utf8.first, !isAlnum(f) {
            return "package name '\(name)' must start with a letter or digit"
        }
        if !isValid(name) {
            let bad = name.unicodeScalars.filter { s in
                !(s.isASCII && (isAlnum(UInt8(s.value)) || "+-._".unicodeScalars.contains(s)))
            }
            return "package name '\(name)' has characters other than letters, digits and '+-._': '\(String(String.UnicodeScalarView(bad)))'"
        }
        return nil
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }
}
