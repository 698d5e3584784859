import APKFormat
import Foundation

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
        for e in (try? FileTree.walk(root)) ?? [] where e.kind == .file {
            let rel = e.path, p = root + "/" + rel
            if rel.hasPrefix("usr/lib/debug/") { continue }
            guard let h = try? ELFFile.read(path: p), h.type == .executable || h.type == .sharedObject,
                  h.osabi != 255 else { continue }
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
