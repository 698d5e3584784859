import APKCore
import Foundation

/// Checks the ELF files of a staged package against its Alpine arch and libc.
public enum ELFLint {
    public struct Finding: Equatable, Sendable, CustomStringConvertible {
        public enum Severity: String, Equatable, Sendable { case warning, error }
        public var severity: Severity
        /// Path inside the package, e.g. `usr/bin/foo`.
        public var path: String
        public var message: String
        /// What to do about it.
        public var fix: String
        public var description: String { "\(severity.rawValue): \(path): \(message) (\(fix))" }
    }

    /// Directories whose ELF files are for other processors by design (device firmware).
    public static let foreignMachineDirectories = ["lib/firmware/", "usr/lib/firmware/"]

    /// Findings for every regular ELF file under `root` (symlinks are not followed):
    /// - error: ELF files in a `noarch` package;
    /// - error: an ELF machine that does not run on `arch` (firmware directories excepted);
    /// - warning: an ELF that needs glibc (`libc.so.6`, or a glibc loader `ld-linux*`).
    public static func check(root: URL, arch: String, snapshot: TreeSnapshot? = nil) throws -> [Finding] {
        let tree = TraceTree(root: root, snapshot: snapshot)
        var out: [Finding] = []
        for e in try tree.walk() where e.kind == .file {
            let elf: ELFFile
            do {
                guard let f = try ELFFile.read(path: tree.full(e.path)) else { continue }
                elf = f
            } catch {
                out.append(Finding(severity: .warning, path: e.path, message: "has an ELF header but is malformed: \((error as? ELFError)?.reason ?? "\(error)")",
                                   fix: "check the build output; a truncated or corrupt binary will not run"))
                continue
            }
            let what = ELFMachine.describe(elf)
            if arch == "noarch" {
                out.append(Finding(severity: .error, path: e.path, message: "is a \(what) ELF file but the package arch is noarch",
                                   fix: "set the package arch to the machine it was built for (\(elf.alpineArchitectures.first ?? "an Alpine arch")) or remove the file"))
            } else if !elf.matches(alpineArch: arch) && !foreignMachineDirectories.contains(where: { e.path.hasPrefix($0) }) {
                let fits = elf.alpineArchitectures.isEmpty ? "no Alpine arch" : elf.alpineArchitectures.joined(separator: "/")
                out.append(Finding(severity: .error, path: e.path, message: "is built for \(what) (\(fits)) but the package arch is \(arch)",
                                   fix: "build it for \(arch) (cross-compile or build on \(arch)), or package it with the matching arch"))
            }
            let interpName = elf.interpreter.map { ($0 as NSString).lastPathComponent }
            let glibc = elf.needed.filter { $0 == "libc.so.6" || $0.hasPrefix("ld-linux") }
                + (interpName.map { $0.hasPrefix("ld-linux") ? [elf.interpreter!] : [] } ?? [])
            if !glibc.isEmpty {
                out.append(Finding(severity: .warning, path: e.path, message: "needs glibc (\(glibc.joined(separator: ", "))), which Alpine does not have",
                                   fix: "Alpine has musl: link statically, target musl, or depend on gcompat"))
            }
        }
        return out
    }
}
