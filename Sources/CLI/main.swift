import APKFormat
import Foundation

// `apkit --version` on its own. Not CommandConfiguration's `version:`: ArgumentParser falls back to
// that flag when a subcommand fails to parse, so `apkit pack --version 1.0-r0` missing its
// STAGEDIR would print apkit's version and exit 0 instead of a usage error.
if CommandLine.arguments.dropFirst() == ["--version"] {
    print(APKFormatVersion.string)
    exit(0)
}
Apkit.main()
