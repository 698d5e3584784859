import Foundation

/// Alpine's architecture names.
public enum Architecture {
    public static let known = ["x86_64", "x86", "aarch64", "armhf", "armv7", "ppc64le", "s390x", "riscv64", "loongarch64", "noarch"]
    /// Other names for the same architectures (Debian's, Go's, uname's), for did-you-mean hints.
    public static let alias = ["amd64": "x86_64", "arm64": "aarch64", "i386": "x86", "i686": "x86", "x64": "x86_64"]

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
