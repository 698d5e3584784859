import Foundation

/// The few ELF header fields staging needs (the full parser lives in Tracing/).
struct ELFHeaderInfo {
    var type: UInt16      // 2 = EXEC, 3 = DYN
    var machine: UInt16
    var osabi: UInt8
    var is64: Bool

    static func read(_ path: String) -> ELFHeaderInfo? {
        guard let fh = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? fh.close() }
        guard let d = try? fh.read(upToCount: 20), d.count == 20 else { return nil }
        let b = [UInt8](d)
        guard b[0] == 0x7f, b[1] == 0x45, b[2] == 0x4c, b[3] == 0x46 else { return nil }
        let little = b[5] == 1
        func u16(_ o: Int) -> UInt16 { little ? UInt16(b[o]) | UInt16(b[o + 1]) << 8 : UInt16(b[o]) << 8 | UInt16(b[o + 1]) }
        return ELFHeaderInfo(type: u16(16), machine: u16(18), osabi: b[7], is64: b[4] == 2)
    }

    /// Alpine arch of an ELF machine number (nil when unknown).
    static func arch(machine: UInt16, is64: Bool) -> String? {
        switch machine {
        case 62: return "x86_64"
        case 3: return "x86"
        case 183: return "aarch64"
        case 40: return "armv7"   // or armhf: both are EM_ARM
        case 21: return "ppc64le"
        case 22: return "s390x"
        case 243: return "riscv64"
        case 258: return "loongarch64"
        default: return nil
        }
    }
}

/// Strips ELF executables and shared objects in a staged tree, as abuild's `stripbin`.
enum Stripper {
    /// GNU triplet prefixes for cross `strip` tools, by Alpine arch.
    static let triplets: [String: [String]] = [
        "x86_64": ["x86_64-linux-gnu", "x86_64-alpine-linux-musl", "x86_64-linux-musl"],
        "x86": ["i686-linux-gnu", "i586-alpine-linux-musl"],
        "aarch64": ["aarch64-linux-gnu", "aarch64-alpine-linux-musl", "aarch64-linux-musl"],
        "armv7": ["arm-linux-gnueabihf", "armv7-alpine-linux-musleabihf"],
        "armhf": ["arm-linux-gnueabihf", "armv6-alpine-linux-musleabihf"],
        "ppc64le": ["powerpc64le-linux-gnu"], "s390x": ["s390x-linux-gnu"], "riscv64": ["riscv64-linux-gnu"],
    ]

    /// The strip program for `arch`: the host's `strip` for the host arch, else a cross strip or
    /// llvm-strip. nil when none is installed.
    static func tool(for arch: String) -> String? {
        if arch == Architecture.host, let s = Subprocess.which("strip") { return s }
        for t in triplets[arch] ?? [] { if let s = Subprocess.which("\(t)-strip") { return s } }
        return Subprocess.which("llvm-strip")
    }

    /// Strips every ELF EXEC/DYN file under `root`; returns how many were stripped.
    static func strip(root: String, arch: String, warn: WarningSink) -> Int {
        var targets: [String] = []
        for rel in FileTree.walk(root) {
            let p = root + "/" + rel
            var st = stat()
            guard lstat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            if rel.hasPrefix("usr/lib/debug/") { continue }
            guard let h = ELFHeaderInfo.read(p), h.type == 2 || h.type == 3, h.osabi != 255 else { continue }
            targets.append(p)
        }
        guard !targets.isEmpty else { return 0 }
        guard let tool = tool(for: arch) else {
            warn("strip_binary: no strip program for \(arch) on this host (install binutils\(arch == Architecture.host ? "" : " for \(arch), or llvm")); \(targets.count) ELF file(s) left unstripped")
            return 0
        }
        var n = 0
        for p in targets {
            let tmp = p + ".apkit-strip"
            guard let r = Subprocess.capture(tool, ["-o", tmp, p]), r.status == 0 else {
                unlink(tmp)
                warn("strip_binary: \(tool) could not strip \(p.dropFirst(root.count + 1)); left as is")
                continue
            }
            // Replace the content only, keeping mode and links.
            var st = stat()
            stat(p, &st)
            do {
                try FileTree.copyFile(tmp, to: p, mode: mode_t(st.st_mode & 0o7777))
                n += 1
            } catch {
                warn("strip_binary: \(error)")
            }
            unlink(tmp)
        }
        return n
    }
}
