import APKCrypto
import Foundation
import SystemIO

/// Everything needed to write one package from a staged tree, in any format.
public struct PackageSpec: Sendable {
    /// The metadata. `size` is computed by the format's writer; `buildDate` is set from
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
    /// The tree as already read (by dependency tracing); nil: the writer reads it.
    public var snapshot: TreeSnapshot? = nil
    /// Metadata known only once the files are read (traced dependencies): the writer calls it
    /// after reading every file and before it writes the metadata, with what it saw of them.
    public var completeInfo: (@Sendable (inout PackageInfo, ContentSurvey) throws -> Void)? = nil

    /// `snapshot`, or a new one of `root`.
    public func treeSnapshot() throws -> TreeSnapshot {
        if let s = snapshot, s.root == root.path { return s }
        return try TreeSnapshot.take(root: root.path)
    }

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
