import APKFormat
import Foundation

/// Automatic dependencies (`dependencies.trace`, as `apkit pack`), `/bin/sh` for shell install
/// scripts, and the ELF lint (glibc warning, wrong-machine error) over one arch's package set.
enum DependencyStep {
    static func apply(_ staged: inout [StagedPackage], recipe: Recipe, arch: String, warn: WarningSink) throws {
        guard !staged.isEmpty else { return }
        for i in staged.indices {
            let s = staged[i].spec
            staged[i].spec.info.depends += DependencyTracer.scriptDepends(scripts: s.scripts, explicitDepends: s.info.depends,
                                                                         originName: s.info.origin)
        }

        // One read of each tree, for the lint, the tracer and the format's writer.
        for i in staged.indices { staged[i].spec.snapshot = try staged[i].spec.treeSnapshot() }

        // ELF lint: every package, before tracing (a wrong machine makes tracing meaningless).
        for s in staged {
            for f in try ELFLint.check(root: s.spec.root, arch: s.spec.info.arch, snapshot: s.spec.snapshot) {
                let where_ = "\(s.spec.info.name): /\(f.path)"
                switch f.severity {
                case .warning:
                    warn("\(where_): \(f.message) (\(f.fix))")
                case .error:
                    throw RecipeError(file: recipe.file, line: recipe.architectures.first?.line,
                                      "\(where_): \(f.message) (\(f.fix))")
                }
            }
        }

        var options = TraceOptions()
        options.traceDeps = recipe.trace
        let packages = staged.map { s -> TracePackage in
            var p = TracePackage(name: s.spec.info.name, root: s.spec.root, arch: s.spec.info.arch,
                                 explicitDepends: s.spec.info.depends, options: options)
            p.snapshot = s.spec.snapshot
            return p
        }
        let results: [TraceResult]
        do {
            results = try DependencyTracer.traceAll(packages, fullVersion: staged[0].spec.info.version)
        } catch {
            throw RecipeError(file: recipe.file, "dependency tracing (\(arch)): \(error) (set dependencies.trace: false to skip it)")
        }
        for (i, r) in results.enumerated() {
            staged[i].spec.info.autoProvides = r.autoProvides
            staged[i].spec.info.autoDepends = r.autoDepends.filter { !staged[i].spec.info.depends.contains($0) }
        }
    }
}
