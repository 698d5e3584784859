/// The install scripts apk knows, by their control-tar file names.
public enum ScriptKind: String, CaseIterable, Sendable, Comparable {
    case preInstall = "pre-install"
    case postInstall = "post-install"
    case preUpgrade = "pre-upgrade"
    case postUpgrade = "post-upgrade"
    case preDeinstall = "pre-deinstall"
    case postDeinstall = "post-deinstall"
    case trigger = "trigger"

    /// The entry name in the control tar, e.g. `.pre-install`.
    public var fileName: String { "." + rawValue }

    public init?(fileName: String) {
        guard fileName.hasPrefix(".") else { return nil }
        self.init(rawValue: String(fileName.dropFirst()))
    }

    public static func < (a: ScriptKind, b: ScriptKind) -> Bool { a.fileName.utf8.lexicographicallyPrecedes(b.fileName.utf8) }
}
