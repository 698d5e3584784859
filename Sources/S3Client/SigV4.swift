import APKCrypto
import Foundation

/// AWS Signature Version 4 (header-based, and query-string presigning).
///
/// Paths and query items are given *decoded* (the object key exactly as stored); the signer
/// encodes them the way AWS wants (RFC 3986 unreserved characters kept, everything else `%XX`
/// in upper-case hex over UTF-8, `/` kept in paths). Requests must be sent with the same
/// encoding — `SigV4Signer.canonicalURI` gives the path to put on the wire.
public struct SigV4Signer: Sendable {
    public var credentials: S3Credentials
    public var region: String
    public var service: String
    /// Remove `.`/`..` segments and repeated slashes before encoding. Every AWS service does this
    /// except S3, where the key is used exactly as given.
    public var normalizesPath: Bool

    public init(credentials: S3Credentials, region: String, service: String = "s3", normalizesPath: Bool? = nil) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.normalizesPath = normalizesPath ?? (service != "s3")
    }

    /// The result of signing: the headers to send (the given ones, plus `X-Amz-Date`,
    /// `X-Amz-Security-Token` when there is a session token, and `Authorization`) and the
    /// intermediate strings (for tests and the verbose SignatureDoesNotMatch diagnosis).
    public struct Signed: Sendable {
        public var headers: [(String, String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var signedHeaders: String
        public var authorization: String
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// Signs a request. `headers` must include `Host`; `payloadHash` is the hex SHA-256 of the body
    /// or `UNSIGNED-PAYLOAD` (it is not added as a header here: S3 callers add
    /// `x-amz-content-sha256` themselves so that it is signed).
    public func sign(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
                     payloadHash: String, date: Date = Date()) -> Signed {
        let (amzDate, _) = Self.timestamps(date)
        var all = headers
        if !all.contains(where: { $0.0.lowercased() == "x-amz-date" }) { all.append(("X-Amz-Date", amzDate)) }
        let requestDate = all.first { $0.0.lowercased() == "x-amz-date" }!.1
        let scopeDay = String(requestDate.prefix(8))
        if let token = credentials.sessionToken, !all.contains(where: { $0.0.lowercased() == "x-amz-security-token" }) {
            all.append(("X-Amz-Security-Token", token))
        }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(all)
        let canonicalRequest = [
            method.uppercased(),
            Self.canonicalURI(path, normalize: normalizesPath),
            Self.canonicalQuery(query),
            canonicalHeaders,
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        let scope = "\(scopeDay)/\(region)/\(service)/aws4_request"
        let stringToSign = Self.stringToSign(amzDate: requestDate, scope: scope, canonicalRequest: canonicalRequest)
        let signature = HMAC.sha256(key: signingKey(day: scopeDay), stringToSign).hexString
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        all.append(("Authorization", authorization))
        return Signed(headers: all, canonicalRequest: canonicalRequest, stringToSign: stringToSign,
                      signature: signature, signedHeaders: signedHeaders, authorization: authorization)
    }

    /// A presigned URL (query-string authentication) for `method` on `scheme://host` + `path`,
    /// valid `expires` seconds (at most 7 days). Only `host` is signed; the payload is `UNSIGNED-PAYLOAD`.
    public func presignedURL(method: String, scheme: String = "https", host: String, path: String,
                             query: [(String, String)] = [], expires: Int, date: Date = Date()) -> String {
        let (amzDate, day) = Self.timestamps(date)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        var q = query
        q.append(("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        q.append(("X-Amz-Credential", "\(credentials.accessKeyId)/\(scope)"))
        q.append(("X-Amz-Date", amzDate))
        q.append(("X-Amz-Expires", String(min(max(expires, 1), 604_800))))
        if let token = credentials.sessionToken { q.append(("X-Amz-Security-Token", token)) }
        q.append(("X-Amz-SignedHeaders", "host"))
        let canonicalRequest = [
            method.uppercased(), Self.canonicalURI(path, normalize: normalizesPath), Self.canonicalQuery(q),
            "host:\(host)\n", "host", "UNSIGNED-PAYLOAD",
        ].joined(separator: "\n")
        let sts = Self.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonicalRequest)
        let signature = HMAC.sha256(key: signingKey(day: day), sts).hexString
        return "\(scheme)://\(host)\(Self.canonicalURI(path, normalize: normalizesPath))?"
            + Self.canonicalQuery(q) + "&X-Amz-Signature=\(signature)"
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request").
    func signingKey(day: String) -> [UInt8] {
        var key = HMAC.sha256(key: Array(("AWS4" + credentials.secretAccessKey).utf8), day)
        key = HMAC.sha256(key: key, region)
        key = HMAC.sha256(key: key, service)
        return HMAC.sha256(key: key, "aws4_request")
    }

    static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + Digest.hash(.sha256, canonicalRequest).hexString
    }

    // MARK: canonical pieces

    /// `20130524T000000Z` and `20130524` for a date, in UTC.
    public static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        let day = String(format: "%04d%02d%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday))
        return (day + String(format: "T%02d%02d%02dZ", Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec)), day)
    }

    /// AWS URI encoding: `A-Z a-z 0-9 - . _ ~` are kept, every other UTF-8 byte becomes `%XX`
    /// (upper-case hex). `/` is kept only when `encodeSlash` is false (object key paths).
    public static func uriEncode(_ string: String, encodeSlash: Bool = true) -> String {
        let hexDigits = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(string.utf8.count)
        for b in string.utf8 {
            if Self.unreserved[Int(b)] || (b == 0x2F && !encodeSlash) {
                out.append(b)
            } else {
                out.append(0x25); out.append(hexDigits[Int(b >> 4)]); out.append(hexDigits[Int(b & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let unreserved: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8 { table[Int(c)] = true }
        return table
    }()

    /// The canonical (and on-the-wire) path: each segment encoded, `/` kept. With `normalize`,
    /// `.`/`..` segments and empty segments are removed first (a trailing `/` is kept).
    public static func canonicalURI(_ path: String, normalize: Bool) -> String {
        var p = path.isEmpty ? "/" : path
        if !p.hasPrefix("/") { p = "/" + p }
        if normalize {
            var stack: [Substring] = []
            for segment in p.split(separator: "/", omittingEmptySubsequences: true) {
                if segment == "." { continue }
                if segment == ".." { if !stack.isEmpty { stack.removeLast() }; continue }
                stack.append(segment)
            }
            var n = "/" + stack.joined(separator: "/")
            let last = p.split(separator: "/", omittingEmptySubsequences: false).last
            if p.hasSuffix("/") || last == "." || last == ".." { if !n.hasSuffix("/") { n += "/" } }
            p = n
        }
        return uriEncode(p, encodeSlash: false)
    }

    /// `name=value` pairs, both encoded, sorted by name then value, joined with `&`.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        var pairs: [(String, String)] = query.map { (uriEncode($0.0), uriEncode($0.1)) }
        pairs.sort { (a: (String, String), b: (String, String)) -> Bool in
            a.0 == b.0 ? Array(a.1.utf8).lexicographicallyPrecedes(b.1.utf8) : Array(a.0.utf8).lexicographicallyPrecedes(b.0.utf8)
        }
        return pairs.map { $0.0 + "=" + $0.1 }.joined(separator: "&")
    }

    /// Lower-cased names sorted, values trimmed with inner runs of spaces collapsed, repeated
    /// names joined with `,` in the order given. Returns the block (each line ending in `\n`)
    /// and the `;`-separated signed header list.
    public static func canonicalHeaders(_ headers: [(String, String)]) -> (String, String) {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            let n = name.lowercased()
            if values[n] == nil { order.append(n); values[n] = [] }
            values[n]!.append(collapseSpaces(value))
        }
        let names = order.sorted()
        let block = names.map { "\($0):\(values[$0]!.joined(separator: ","))\n" }.joined()
        return (block, names.joined(separator: ";"))
    }

    static func collapseSpaces(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            .joined(separator: " ")
    }
}
