import Foundation

/// Everything needed to write one `.apk` from a staged tree.
public struct PackageSpec: Sendable {
    /// The metadata. `size`, `dataHash` are computed by the builder; `buildDate` is set from
    /// `sourceDateEpoch` (or the current time) when it is 0.
    public var info: PackageInfo
    /// The staged install tree (abuild's `$pkgdir`).
    public var root: URL
    /// Install scripts, by kind (their bytes as they will be stored).
    public var scripts: [ScriptKind: Data] = [:]
    /// Users and groups of the package itself (abuild `pkgusers`/`pkggroups`): files owned by
    /// these keep their name in the tar; everything else becomes root.
    public var users: Set<String> = []
    public var groups: Set<String> = []
    /// Explicit owners by path (relative, no leading `/`), applied over what the tree has on disk.
    /// Used by recipes that stage as an unprivileged user.
    public var ownerOverrides: [String: Ownership] = [:]
    /// When set: every mtime and the build date (abuild's behaviour with `SOURCE_DATE_EPOCH`).
    public var sourceDateEpoch: Int64? = nil

    public init(info: PackageInfo, root: URL) {
        self.info = info
        self.root = root
    }
}

/// A user and group name pair for a data-tar entry.
public struct Ownership: Sendable, Equatable {
    public var user: String
    public var group: String
    public init(user: String, group: String) { self.user = user; self.group = group }
    public static let root = Ownership(user: "root", group: "root")
}

/// What the builder wrote.
public struct BuiltPackage: Sendable {
    public var path: String
    public var info: PackageInfo
    /// SHA-1 of the compressed control member: the index's `C:` field.
    public var controlSHA1: [UInt8]
    /// Size of the `.apk` file in bytes: the index's `S:` field.
    public var fileSize: Int64
}
