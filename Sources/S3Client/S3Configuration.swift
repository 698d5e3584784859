import Foundation

/// Everything an `S3Client` needs. Build it by hand, or with `fromEnvironment` to get AWS-tool
/// behaviour (environment variables, `~/.aws/credentials`, `~/.aws/config`).
public struct S3Configuration: Sendable, CustomStringConvertible {
    /// Custom endpoint (MinIO, moto, R2...); nil means AWS (`https://s3.<region>.amazonaws.com`).
    public var endpoint: URL?
    public var region: String
    public var bucket: String
    /// Path-style URLs (`endpoint/bucket/key`) instead of virtual-hosted (`bucket.endpoint/key`).
    /// Virtual-hosted is the default; path style is used anyway when the endpoint host is an IP
    /// address or `localhost`, or when a bucket name with dots would break the TLS host name.
    public var pathStyle: Bool
    public var credentials: S3Credentials
    /// Timeouts, TLS verification and the CA bundle (`--ca-bundle`).
    public var http: HTTPOptions
    /// Preferred multipart part size; raised when needed to stay within 10,000 parts, and kept
    /// between 5 MiB and 5 GiB.
    public var partSize: UInt64
    /// Files larger than this are sent with a multipart upload, smaller ones with one PUT.
    public var multipartThreshold: UInt64
    /// Parts in flight at once during a multipart upload.
    public var concurrency: Int
    /// Tries per request (first attempt included) for retryable failures (5xx, 429/SlowDown,
    /// RequestTimeout, connection errors). 412 and other 4xx are never retried.
    public var maxAttempts: Int
    /// Exponential backoff with full jitter: the n-th retry waits a random time in
    /// `0 ... min(retryMaxDelay, retryBaseDelay * 2^(n-1))` seconds.
    public var retryBaseDelay: Double
    public var retryMaxDelay: Double
    /// Sign request bodies (SHA-256 in `x-amz-content-sha256`), or send `UNSIGNED-PAYLOAD`
    /// (saves one read of each file; only sensible over HTTPS).
    public var signPayload: Bool
    /// Put the canonical request into SignatureDoesNotMatch errors (secrets redacted).
    public var verbose: Bool
    /// Called with one line per request attempt (method, URL, status, time, retry), and with the
    /// signed request headers when `verbose`. Credentials never reach it: the Authorization
    /// signature, the session token and presigned query strings are redacted (`S3Redaction`).
    public var trace: (@Sendable (String) -> Void)?

    public init(endpoint: URL? = nil, region: String = "us-east-1", bucket: String, pathStyle: Bool = false,
                credentials: S3Credentials, http: HTTPOptions = HTTPOptions(), partSize: UInt64 = 8 << 20,
                multipartThreshold: UInt64 = 16 << 20, concurrency: Int = 4, maxAttempts: Int = 5,
                retryBaseDelay: Double = 0.25, retryMaxDelay: Double = 8, signPayload: Bool = true, verbose: Bool = false) {
        self.endpoint = endpoint; self.region = region; self.bucket = bucket; self.pathStyle = pathStyle
        self.credentials = credentials; self.http = http; self.partSize = partSize
        self.multipartThreshold = multipartThreshold; self.concurrency = concurrency; self.maxAttempts = maxAttempts
        self.retryBaseDelay = retryBaseDelay; self.retryMaxDelay = retryMaxDelay; self.signPayload = signPayload
        self.verbose = verbose
    }

    /// A configuration from AWS-style settings (see `AWSEnvironment` for the precedence rules);
    /// explicit arguments win over the environment, which wins over the profile files.
    public static func fromEnvironment(bucket: String, region: String? = nil, endpoint: String? = nil,
                                       profile: String? = nil, pathStyle: Bool? = nil, caBundle: String? = nil,
                                       environment: AWSEnvironment = AWSEnvironment()) throws -> S3Configuration {
        let credentials = try environment.credentials(profile: profile)
        let endpointURL = try environment.endpoint(endpoint, profile: profile)
        var config = S3Configuration(endpoint: endpointURL, region: try environment.region(region, profile: profile),
                                     bucket: bucket, credentials: credentials)
        if let pathStyle {
            config.pathStyle = pathStyle
        } else if let flag = environment.environment["AWS_S3_FORCE_PATH_STYLE"]?.lowercased() {
            config.pathStyle = flag == "1" || flag == "true"
        } else if let addressing = try environment.profileSettings(environment.profileName(profile))["s3.addressing_style"] {
            config.pathStyle = addressing == "path"
        }
        config.http.caBundle = try environment.caBundle(caBundle, profile: profile)
        try environment.applyRetrySettings(to: &config, profile: profile)
        return config
    }

    /// `scheme://host[:port]` of the endpoint (AWS's regional one when none is set).
    public var endpointDescription: String {
        endpoint.map { "\($0.scheme ?? "https")://\(hostWithPort($0))" } ?? "https://s3.\(region).amazonaws.com"
    }

    public var description: String {
        "S3Configuration(endpoint: \(endpointDescription), region: \(region), bucket: \(bucket), pathStyle: \(pathStyle), "
            + "credentials: \(credentials), partSize: \(partSize), concurrency: \(concurrency), "
            + "multipartThreshold: \(multipartThreshold), maxAttempts: \(maxAttempts), signPayload: \(signPayload), "
            + "tlsVerify: \(http.verifyTLS))"
    }

    func hostWithPort(_ url: URL) -> String {
        var host = url.host ?? ""
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
        if let port = url.port { host += ":\(port)" }
        return host
    }

    /// Whether requests use path-style addressing after the automatic cases are applied.
    var usesPathStyle: Bool {
        if pathStyle { return true }
        let scheme = endpoint?.scheme?.lowercased() ?? "https"
        if scheme == "https" && bucket.contains(".") { return true }
        guard let host = endpoint?.host?.lowercased() else { return false }
        if host == "localhost" || host.contains(":") { return true }
        return host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
    }
}
