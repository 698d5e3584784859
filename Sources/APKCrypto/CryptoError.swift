import COpenSSL

/// Errors of the crypto layer: a key that cannot be used (naming its file and what to do), or
/// OpenSSL refusing an operation.
public enum CryptoError: Error, CustomStringConvertible, Equatable, Sendable {
    case key(path: String, reason: String)
    case openssl(String)

    public var description: String {
        switch self {
        case .key(let p, let r): return "\(p): \(r)"
        case .openssl(let s): return "crypto error: \(s)"
        }
    }

    /// OpenSSL's queued errors as one line (and the queue cleared).
    static func fromQueue(_ context: String = "") -> CryptoError {
        var parts: [String] = []
        while case let e = ERR_get_error(), e != 0 {
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(e, &buf, buf.count)
            parts.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        let text = parts.isEmpty ? "unknown OpenSSL error" : parts.joined(separator: "; ")
        return .openssl(context.isEmpty ? text : "\(context): \(text)")
    }
}
