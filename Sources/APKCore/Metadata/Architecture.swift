import APKCrypto
import Foundation
import SystemIO

/// Alpine's architecture names.
public enum Architecture {
    public static let known = ["x86_64", "x86", "aarch64", "armhf", "armv7", "ppc64le", "s390x", "riscv64", "loongarch64", "noarch"]
    /// Other names for the same architectures (Debian's, Go's, uname's), for did-you-mean hints.
    public static let alias = ["amd64": "x86_64", "arm64": "aarch64", "i386": "x86", "i686": "x86", "x64": "x86_64"]

    /// OpenWrt's CPU families: its arch names are `FAMILY_CPU[_FEATURES]`, e.g. `aarch64_cortex-a53`,
    /// `arm_cortex-a7_neon-vfpv4`, `mipsel_24kc`; `all` is its noarch.
    public static let openWrtFamilies = ["aarch64", "arm", "armeb", "i386", "loongarch64", "mips", "mipsel", "mips64",
                                         "mips64el", "powerpc", "powerpc64", "riscv64", "x86_64"]

    /// Whether `name` is an arch apk packages can carry: an Alpine name, or an OpenWrt one.
    public static func isValid(_ name: String) -> Bool {
        if known.contains(name) || name == "all" { return true }
        guard let us = name.firstIndex(of: "_"), openWrtFamilies.contains(String(name[..<us])) else { return false }
        let rest = name[name.index(after: us)...]
        return !rest.isEmpty && rest.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    /// `noarch` (Alpine) and `all` (OpenWrt): installable on every machine.
    public static func isArchitectureIndependent(_ name: String) -> Bool { name == "noarch" || name == "all" }

    /// The Alpine name of the machine this runs on.
    public static var host: String {
        var u = utsname()
        uname(&u)
        let m = withUnsafePointer(to: &u.machine) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
        switch m {
        case "amd64": return "x86_64"
        case "arm64": return "aarch64"
        case "i386", "i486", "i586", "i686": return "x86"
        case "armv7l": return "armv7"
        case "armv6l": return "armhf"
        default: return m
        }
    }
}
