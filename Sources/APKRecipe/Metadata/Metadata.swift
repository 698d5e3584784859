import APKFormat
import Foundation

/// The package metadata after config, git and CI environment are combined.
public struct ResolvedMetadata: Sendable, Equatable {
    public var name: String
    /// pkgver without the release.
    public var version: String
    public var release: Int
    public var commit: String
    public var url: String
    public var sourceDateEpoch: Int64?
    /// `<version>-r<release>`.
    public var fullVersion: String { "\(version)-r\(release)" }

    /// name: `name:`, else the git remote's repository slug (when the config is at the top of
    /// the work tree), else the directory name. version: `version:`, else `git describe --tags`.
    /// release: `release:`, else `$GITHUB_RUN_NUMBER` / `$CI_PIPELINE_IID`, else 0.
    public static func resolve(_ r: Recipe, git: GitMetadata, environment: [String: String]) throws -> ResolvedMetadata {
        let name: String
        if let n = r.name {
            name = n.value
        } else if git.isTopLevel, let repo = git.repositoryName, PackageName.isValid(repo) {
            name = repo
        } else if let repo = environment["GITHUB_REPOSITORY"].flatMap({ GitMetadata.slug($0.split(separator: "/").last.map(String.init)) }),
                  git.isTopLevel, PackageName.isValid(repo) {
            name = repo
        } else {
            let dir = GitMetadata.slug(r.sourceDirectory.lastPathComponent)
            guard PackageName.isValid(dir) else {
                throw RecipeError(file: r.file, "no package name: add name: (the directory name '\(r.sourceDirectory.lastPathComponent)' is not one)")
            }
            name = dir
        }

        let version: String
        if let v = r.version {
            version = v.value
        } else if let d = git.describe {
            guard let v = GitMetadata.version(fromDescribe: d) else {
                throw RecipeError(file: r.file, "no version: git describe gives '\(d)', which is not an apk version; add version: or tag the commit v1.2.3")
            }
            version = v
        } else {
            throw RecipeError(file: r.file, "no version: add version: (e.g. version: 1.0.0) or tag the git repository (git tag v1.0.0)")
        }

        var release = 0
        if let rel = r.release {
            release = Int(rel.value) ?? 0
        } else {
            for key in ["GITHUB_RUN_NUMBER", "CI_PIPELINE_IID"] {
                if let s = environment[key], !s.isEmpty {
                    guard let n = Int(s), n >= 0 else {
                        throw RecipeError(file: r.file, "$\(key) is '\(s)', not a release number: set release: in the config")
                    }
                    release = n
                    break
                }
            }
        }
        let full = "\(version)-r\(release)"
        guard APKVersion.isValid(full) else {
            throw RecipeError(file: r.file, line: r.version?.line, "version: '\(full)' is not a valid apk version")
        }

        var epoch: Int64? = nil
        if let s = environment["SOURCE_DATE_EPOCH"], !s.isEmpty {
            guard let e = Int64(s), e >= 0 else { throw RecipeError("SOURCE_DATE_EPOCH is '\(s)', not a number of seconds") }
            epoch = e
        } else {
            epoch = git.commitTime
        }
        return ResolvedMetadata(name: name, version: version, release: release,
                                commit: r.commit ?? git.commit ?? "", url: r.url ?? git.url ?? "",
                                sourceDateEpoch: epoch)
    }
}
