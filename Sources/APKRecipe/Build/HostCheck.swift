import Foundation

/// `dependencies.build`: each entry should be a command in PATH or a package installed on the
/// host (dpkg, apk or rpm); missing ones give a warning, not an error.
enum HostCheck {
    static func isPresent(_ dep: String) -> Bool {
        // Strip a version constraint (`gcc>=12`).
        let name = String(dep.prefix(while: { !"<>=~".contains($0) }))
        if name.hasPrefix("cmd:") { return Subprocess.which(String(name.dropFirst(4))) != nil }
        if Subprocess.which(name) != nil { return true }
        if let r = Subprocess.capture("dpkg-query", ["-W", "-f=${Status}", name]), r.status == 0, r.stdout.contains("install ok installed") { return true }
        if let r = Subprocess.capture("apk", ["info", "-e", name]), r.status == 0 { return true }
        if let r = Subprocess.capture("rpm", ["-q", name]), r.status == 0 { return true }
        return false
    }

    static func checkBuildDependencies(_ recipe: Recipe, warn: WarningSink) {
        for d in recipe.buildDepends where !isPresent(d.value) {
            warn("\(recipe.file):\(d.line ?? 0): dependencies.build: '\(d.value)' is neither a command in PATH nor an installed package on this host; the build may fail")
        }
    }
}
