import Foundation

/// The host's architecture in Alpine's names.
func hostAlpineArch() -> String {
    var u = utsname()
    uname(&u)
    let machine = withUnsafePointer(to: &u.machine) { $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) } }
    switch machine {
    case "x86_64", "amd64": return "x86_64"
    case "aarch64", "arm64": return "aarch64"
    case "armv7l", "armv7": return "armv7"
    case "armv6l": return "armhf"
    case "i386", "i486", "i586", "i686": return "x86"
    case "ppc64le": return "ppc64le"
    case "s390x": return "s390x"
    case "riscv64": return "riscv64"
    case "loongarch64": return "loongarch64"
    default: return machine
    }
}
