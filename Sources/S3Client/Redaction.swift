import Foundation

/// What `--verbose` may show of a request: everything but the credentials.
///
/// The secret access key never leaves the signer; what could carry a secret on the wire is the
/// `Authorization` header's signature (a key for that request), the session token
/// (`X-Amz-Security-Token`, a bearer credential) and presigned query strings. Those are replaced
/// by `<redacted>`; the access key id is shortened to its first four and last four characters.
public struct S3Redaction: Sendable {
    let credentials: S3Credentials

    public init(credentials: S3Credentials) { self.credentials = credentials }

    /// A header as it may be printed.
    public func header(_ name: String, _ value: String) -> String {
        switch name.lowercased() {
        case "authorization":
            return "\(name): \(authorization(value))"
        case "x-amz-security-token":
            return "\(name): <redacted>"
        default:
            return "\(name): \(text(value))"
        }
    }

    /// `AWS4-HMAC-SHA256 Credential=AKIA…WXYZ/20261202/us-east-1/s3/aws4_request, SignedHeaders=…, Signature=<redacted>`.
    func authorization(_ value: String) -> String {
        var parts: [String] = []
        for field in value.split(separator: ",", omittingEmptySubsequences: false) {
            let f = field.trimmingCharacters(in: .whitespaces)
            if let r = f.range(of: "Signature=") {
                parts.append(String(f[..<r.upperBound]) + "<redacted>")
            } else if let r = f.range(of: "Credential=") {
                let scope = f[r.upperBound...]
                let keyId = scope.prefix { $0 != "/" }
                parts.append(String(f[..<r.upperBound]) + Self.shortened(String(keyId)) + scope.dropFirst(keyId.count))
            } else {
                parts.append(f)
            }
        }
        return text(parts.joined(separator: ", "))
    }

    /// Any text (an error message, a canonical request): the secret key and the session token,
    /// raw or URL-encoded, are replaced wherever they appear.
    public func text(_ value: String) -> String {
        var t = value
        for secret in [credentials.secretAccessKey, credentials.sessionToken ?? ""] where !secret.isEmpty {
            t = t.replacingOccurrences(of: secret, with: "<redacted>")
            t = t.replacingOccurrences(of: SigV4Signer.uriEncode(secret), with: "<redacted>")
        }
        return t
    }

    /// A URL without its query if the query holds a signature or a token (presigned); ordinary
    /// queries (`?uploads`, `?partNumber=3&uploadId=…`, `?list-type=2`) are kept.
    public func url(_ url: String) -> String {
        guard let q = url.firstIndex(of: "?") else { return text(url) }
        let query = url[url.index(after: q)...].lowercased()
        if query.contains("x-amz-signature") || query.contains("x-amz-security-token") || query.contains("x-amz-credential") {
            return text(String(url[..<q])) + "?<redacted>"
        }
        return text(url)
    }

    static func shortened(_ keyId: String) -> String {
        keyId.count > 12 ? "\(keyId.prefix(4))…\(keyId.suffix(4))" : keyId
    }
}
