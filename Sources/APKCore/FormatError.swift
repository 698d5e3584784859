/// Errors of the format layer. Each message says what is wrong and, where it can, what to do.
public enum FormatError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case io(path: String, reason: String)
    case crypto(String)
    case invalidArgument(String)
    case limitExceeded(String)

    /// A staged file whose size changed between two reads.
    public static func changedWhilePackaging(_ path: String) -> FormatError {
        .io(path: path, reason: "file changed while it was being packaged; rerun when the tree is stable")
    }

    public var description: String {
        switch self {
        case .malformed(let s): return "malformed \(s)"
        case .io(let p, let r): return "\(p): \(r)"
        case .crypto(let s): return "crypto error: \(s)"
        case .invalidArgument(let s): return s
        case .limitExceeded(let s): return "malformed input: \(s)"
        }
    }
}
