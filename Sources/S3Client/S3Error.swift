import Foundation

/// An S3 failure, with one clear line for a person (`description`) and typed fields for code.
/// Callers test `kind` — e.g. `catch let e as S3Error where e.kind == .preconditionFailed`.
public struct S3Error: Error, CustomStringConvertible, Sendable {
    public enum Kind: Equatable, Sendable {
        /// 412: an `If-None-Match: *` / `If-Match` condition failed (someone else wrote first).
        case preconditionFailed
        case accessDenied
        case noSuchBucket
        case noSuchKey
        case noSuchUpload
        case signatureDoesNotMatch
        case invalidAccessKeyId
        /// The bucket lives in another region (the right one when S3 said which).
        case wrongRegion(String?)
        /// A checksum or Content-MD5 the server computed differs from ours.
        case badDigest
        /// Could not talk to the endpoint (DNS, connect, TLS, timeout, reset).
        case network
        /// Any other error answer from the server.
        case service
        /// The response could not be understood.
        case invalidResponse
        /// Bad settings (credentials missing, bad endpoint URL...).
        case configuration
        /// A local file could not be read or written.
        case io
    }

    public var kind: Kind
    /// The human-readable one-line message.
    public var message: String
    public var httpStatus: Int?
    /// S3's error `<Code>`, when there was one.
    public var code: String?
    public var requestId: String?
    /// The key (or bucket-level operation) concerned.
    public var key: String?

    public init(_ kind: Kind, _ message: String, httpStatus: Int? = nil, code: String? = nil,
                requestId: String? = nil, key: String? = nil) {
        self.kind = kind; self.message = message; self.httpStatus = httpStatus
        self.code = code; self.requestId = requestId; self.key = key
    }

    public var description: String { message }

    /// Whether the request that failed this way is worth sending again. (`RequestTimeTooSkewed` is
    /// not: `S3Client` corrects its clock from the server's time and retries it once itself.)
    public var isRetryable: Bool {
        switch kind {
        case .network: return true
        case .service, .invalidResponse:
            if let c = code, ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
                              "ThrottlingException", "TooManyRequests"].contains(c) { return true }
            if let s = httpStatus { return s == 429 || (s >= 500 && s != 501) }
            return kind == .invalidResponse && httpStatus == nil
        default: return false
        }
    }
}

/// The fields of an S3 XML error body.
struct S3ErrorBody {
    var code: String?
    var message: String?
    var region: String?
    var bucketName: String?
    var requestId: String?
    var endpoint: String?
    var canonicalRequest: String?
    /// `RequestTimeTooSkewed`: the server's time.
    var serverTime: String?

    init?(xml data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        guard let error = XMLLite.first("Error", in: text) else { return nil }
        code = XMLLite.first("Code", in: error)
        message = XMLLite.first("Message", in: error)
        region = XMLLite.first("Region", in: error)
        bucketName = XMLLite.first("BucketName", in: error)
        requestId = XMLLite.first("RequestId", in: error)
        endpoint = XMLLite.first("Endpoint", in: error)
        canonicalRequest = XMLLite.first("CanonicalRequest", in: error)
        serverTime = XMLLite.first("ServerTime", in: error)
    }
}

/// Just enough XML for S3's flat answers: text of the first / every `<name>` element (no
/// namespaces in names, no attributes used), entities decoded.
enum XMLLite {
    static func all(_ name: String, in text: String) -> [String] {
        var out: [String] = []
        var rest = text[...]
        while let open = findOpen(name, in: rest) {
            guard let close = rest.range(of: "</\(name)>", range: open.upperBound..<rest.endIndex) else { break }
            out.append(decode(String(rest[open.upperBound..<close.lowerBound])))
            rest = rest[close.upperBound...]
        }
        return out
    }
    static func first(_ name: String, in text: String) -> String? {
        let rest = text[...]
        guard let open = findOpen(name, in: rest) else {
            return rest.range(of: "<\(name)/>") != nil ? "" : nil
        }
        guard let close = rest.range(of: "</\(name)>", range: open.upperBound..<rest.endIndex) else { return nil }
        return decode(String(rest[open.upperBound..<close.lowerBound]))
    }
    /// The range of `<name>` or `<name attr...>` (not `<nameSuffix>`), ending after `>`.
    private static func findOpen(_ name: String, in text: Substring) -> Range<Substring.Index>? {
        var from = text.startIndex
        while let r = text.range(of: "<\(name)", range: from..<text.endIndex) {
            guard r.upperBound < text.endIndex else { return nil }
            let c = text[r.upperBound]
            if c == ">" { return r.lowerBound..<text.index(after: r.upperBound) }
            if c == " " || c == "\t" || c == "\n" || c == "\r",
               let gt = text.range(of: ">", range: r.upperBound..<text.endIndex), text[text.index(before: gt.lowerBound)] != "/" {
                return r.lowerBound..<gt.upperBound
            }
            from = r.upperBound
        }
        return nil
    }
    static func decode(_ s: String) -> String {
        guard s.contains("&") else { return s }
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "&", let semi = s[i...].firstIndex(of: ";"), s.distance(from: i, to: semi) <= 10 {
                let entity = s[s.index(after: i)..<semi]
                var decoded: String?
                switch entity {
                case "amp": decoded = "&"
                case "lt": decoded = "<"
                case "gt": decoded = ">"
                case "quot": decoded = "\""
                case "apos": decoded = "'"
                default:
                    if entity.hasPrefix("#x"), let v = UInt32(entity.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) {
                        decoded = String(Character(u))
                    } else if entity.hasPrefix("#"), let v = UInt32(entity.dropFirst()), let u = Unicode.Scalar(v) {
                        decoded = String(Character(u))
                    }
                }
                if let d = decoded { out += d; i = s.index(after: semi); continue }
            }
            out.append(s[i]); i = s.index(after: i)
        }
        return out
    }
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}
