/// What a package writer learns of its files' contents while it reads them anyway, for the
/// metadata that depends on content: the dependency tracer needs to know which files are ELF
/// objects, and would otherwise open every file of the tree once more just to read 4 bytes.
public struct ContentSurvey: Sendable {
    /// Regular files the writer read (relative paths, hard-link followers included): whether
    /// their content starts with the ELF magic. A path that is not here was not read.
    public var startsWithELF: [String: Bool] = [:]

    public init() {}

    /// Whether `bytes` (the start of a file) begin with `\x7fELF`.
    public static func isELFMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x7f && bytes[1] == 0x45 && bytes[2] == 0x4c && bytes[3] == 0x46
    }

    /// Records the followers of hard links as their first path was found.
    public mutating func addHardlinks(_ entries: [TreeEntry]) {
        for e in entries where e.kind == .file {
            if let first = e.hardlinkTo, let v = startsWithELF[first] { startsWithELF[e.path] = v }
        }
    }
}
