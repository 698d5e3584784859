import APKCrypto
import Foundation

extension S3Client {
    /// One S3 operation, before signing.
    struct Operation {
        var method: String
        /// nil for bucket-level operations.
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body: HTTPBody = .none
        /// Hex SHA-256 of the body (or UNSIGNED-PAYLOAD); computed here for `.none`/`.data` when nil.
        var payloadHash: String?
        var operation: String
        var progress: ((UInt64) -> Void)?
    }

    /// `scheme`, `host[:port]` and the decoded request path for a key (nil: the bucket itself).
    func location(key: String?) -> (scheme: String, host: String, path: String) {
        let c = configuration
        let scheme = c.endpoint?.scheme?.lowercased() ?? "https"
        let baseHost = c.endpoint.map { c.hostWithPort($0) } ?? "s3.\(c.region).amazonaws.com"
        if c.usesPathStyle {
            return (scheme, baseHost, "/\(c.bucket)" + (key.map { "/" + $0 } ?? ""))
        }
        return (scheme, "\(c.bucket).\(baseHost)", "/" + (key ?? ""))
    }

    /// Signs and sends an operation, retrying retryable failures with exponential backoff and
    /// full jitter. Returns 2xx answers (and 404 when `allow404`); throws a typed `S3Error`
    /// for everything else. `errorIn200`: a 200 whose body is an `<Error>` document is an error.
    /// `RequestTimeTooSkewed`: the clock offset is learnt from the server's time (its `<ServerTime>`
    /// or `Date` header), kept for later requests, and the request is signed again and retried once
    /// (also for a bodiless 403, as HEAD gets, when the server's Date is over 5 minutes off).
    func send(_ op: Operation, allow404: Bool = false, errorIn200: Bool = false,
              beforeAttempt: (() -> Void)? = nil,
              sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> HTTPResponse {
        let (scheme, host, path) = location(key: op.key)
        let payloadHash: String
        if let h = op.payloadHash {
            payloadHash = h
        } else {
            switch op.body {
            case .none: payloadHash = Digest.emptySHA256Hex
            case .data(let d): payloadHash = Digest.hash(.sha256, d).hexString
            case .file: payloadHash = "UNSIGNED-PAYLOAD"
            }
        }
        let wirePath = SigV4Signer.canonicalURI(path, normalize: false)
        let wireQuery = SigV4Signer.canonicalQuery(op.query)
        let url = "\(scheme)://\(host)\(wirePath)" + (wireQuery.isEmpty ? "" : "?\(wireQuery)")
        let attempts = max(1, configuration.maxAttempts)
        var attempt = 0
        var correctedClock = false
        while true {
            attempt += 1
            beforeAttempt?()
            var headers = op.headers
            headers.append(("Host", host))
            headers.append(("x-amz-content-sha256", payloadHash))
            let signed = signer.sign(method: op.method, path: path, query: op.query, headers: headers,
                                     payloadHash: payloadHash, date: now())
            let request = HTTPRequest(method: op.method, url: url, headers: signed.headers, body: op.body,
                                      progress: op.progress)
            let started = Date()
            let failure: S3Error
            var answer: HTTPResponse?
            do {
                let response = try http.perform(request, sink: sink)
                answer = response
                if (200..<300).contains(response.status) || (allow404 && response.status == 404) {
                    if errorIn200, let body = S3ErrorBody(xml: response.body), body.code != nil {
                        failure = makeError(response, op: op, signed: signed, parsed: body)
                    } else {
                        traceAttempt(op, url: url, headers: signed.headers, attempt: attempt, of: attempts, started: started,
                                     outcome: "\(response.status)")
                        return response
                    }
                } else {
                    failure = makeError(response, op: op, signed: signed, parsed: S3ErrorBody(xml: response.body))
                }
            } catch let e as S3Error {
                failure = e
            }
            traceAttempt(op, url: url, headers: signed.headers, attempt: attempt, of: attempts, started: started,
                         outcome: (answer.map { "\($0.status) " } ?? "") + (failure.code ?? "\(failure.kind): \(failure.message)")
                            + (failure.isRetryable && attempt < attempts ? ", will retry" : ""))
            // A HEAD's 403 has no body to say RequestTimeTooSkewed: a bodiless 403 whose Date is
            // minutes away from the time we signed is taken for one (corrected and retried once).
            let headerTime = answer?.header("date").flatMap(Self.parseDate)
            if failure.code == nil, answer?.status == 403, !correctedClock, let headerTime,
               abs(headerTime.timeIntervalSince(now())) > 300 {
                correctedClock = true
                let offset = headerTime.timeIntervalSince(Date())
                clockOffset.withLock { $0 = offset }
                continue
            }
            if failure.code == "RequestTimeTooSkewed" {
                let parsed = answer.flatMap { S3ErrorBody(xml: $0.body) }
                let serverTime = parsed?.serverTime.flatMap(Self.parseDate) ?? headerTime
                if !correctedClock, let serverTime {
                    correctedClock = true
                    let offset = serverTime.timeIntervalSince(Date())
                    clockOffset.withLock { $0 = offset }
                    continue
                }
                var f = failure
                let off = serverTime.map { String(format: " (server time %@, this machine %.0f s off)",
                                                  SigV4Signer.timestamps($0).amzDate, -$0.timeIntervalSince(Date())) } ?? ""
                f.message += correctedClock
                    ? " — still after correcting for the server's clock\(off): set this machine's clock (NTP)"
                    : " — the server's answer did not say its time\(off): set this machine's clock (NTP)"
                throw f
            }
            guard failure.isRetryable, attempt < attempts else {
                if attempt > 1 && failure.isRetryable {
                    var f = failure
                    f.message += " (gave up after \(attempt) attempts)"
                    throw f
                }
                throw failure
            }
            let cap = min(configuration.retryMaxDelay, configuration.retryBaseDelay * pow(2, Double(attempt - 1)))
            let delay = Double.random(in: 0...max(cap, 0))
            if delay > 0 { usleep(useconds_t(delay * 1_000_000)) }
        }
    }

    /// The trace of a finished attempt, one call so that parallel parts do not interleave:
    /// `s3: PutObject PUT URL -> 200 (0.012 s, attempt 1/5, 1234 bytes sent)`, then with
    /// `verbose` the signed headers, credentials redacted.
    func traceAttempt(_ op: Operation, url: String, headers: [(String, String)], attempt: Int, of attempts: Int,
                      started: Date, outcome: String) {
        guard let trace = configuration.trace else { return }
        let redaction = S3Redaction(credentials: configuration.credentials)
        let size = op.body.length == 0 ? "" : ", \(op.body.length) bytes sent"
        var text = String(format: "s3: %@ %@ %@ -> %@ (%.3f s, attempt %d/%d%@)", op.operation, op.method,
                          redaction.url(url), redaction.text(outcome), Date().timeIntervalSince(started), attempt, attempts, size)
        if configuration.verbose {
            for (name, value) in headers { text += "\ns3:   > " + redaction.header(name, value) }
        }
        trace(text)
    }

    /// This machine's time corrected by the offset learnt from `RequestTimeTooSkewed` (the time signed).
    func now() -> Date { Date().addingTimeInterval(clockOffset.withLock { $0 }) }

    /// Turns an error answer into a typed error with a message a person can act on.
    func makeError(_ response: HTTPResponse, op: Operation, signed: SigV4Signer.Signed, parsed: S3ErrorBody?) -> S3Error {
        let c = configuration
        let status = response.status
        let code = parsed?.code
        let target = op.key.map { "s3://\(c.bucket)/\($0)" } ?? "bucket \(c.bucket)"
        let endpoint = c.endpointDescription
        let requestId = parsed?.requestId ?? response.header("x-amz-request-id")
        let serverMessage = parsed?.message.map { ": \($0)" } ?? ""
        func error(_ kind: S3Error.Kind, _ message: String) -> S3Error {
            S3Error(kind, message, httpStatus: status, code: code, requestId: requestId, key: op.key)
        }
        let regionHint = parsed?.region ?? response.header("x-amz-bucket-region")
        switch code {
        case "PreconditionFailed"?,
             nil where status == 412:
            return error(.preconditionFailed, "\(op.operation) \(target): precondition failed — the object already exists "
                + "or changed since it was read (someone else wrote it); read it again and retry")
        case "ConditionalRequestConflict"?:
            return error(.preconditionFailed, "\(op.operation) \(target): a concurrent conditional write won (409 "
                + "ConditionalRequestConflict); read it again and retry")
        case "NoSuchBucket"?:
            return error(.noSuchBucket, "bucket '\(parsed?.bucketName ?? c.bucket)' does not exist at \(endpoint) "
                + "(region \(c.region)): create it or check the bucket name")
        case "NoSuchKey"?,
             nil where status == 404:
            return error(.noSuchKey, "\(op.operation) \(target): no such key")
        case "NoSuchUpload"?:
            return error(.noSuchUpload, "\(op.operation) \(target): the multipart upload no longer exists "
                + "(aborted or completed already)")
        case "AccessDenied"?, "AllAccessDisabled"?, "AccountProblem"?:
            return error(.accessDenied, "\(op.operation) \(target) denied at \(endpoint) for access key "
                + "\(c.credentials.accessKeyId) (\(c.credentials.source))\(serverMessage): grant it this permission "
                + "or use other credentials")
        case "InvalidAccessKeyId"?:
            return error(.invalidAccessKeyId, "access key \(c.credentials.accessKeyId) (\(c.credentials.source)) is "
                + "not known at \(endpoint): check AWS_ACCESS_KEY_ID / the profile, or the endpoint")
        case "SignatureDoesNotMatch"?:
            var message = "\(op.operation) \(target): \(endpoint) rejected the request signature — check the secret "
                + "access key for \(c.credentials.accessKeyId) (\(c.credentials.source)), the region (\(c.region)) "
                + "and that no proxy rewrites requests"
            if c.verbose {
                message += "\n--- canonical request (ours) ---\n" + redact(signed.canonicalRequest)
                if let theirs = parsed?.canonicalRequest { message += "\n--- canonical request (server) ---\n" + redact(theirs) }
            } else {
                message += " (run with --verbose to see the canonical request)"
            }
            return error(.signatureDoesNotMatch, message)
        case "AuthorizationHeaderMalformed"?, "PermanentRedirect"?, "IllegalLocationConstraintException"?,
             "AuthorizationQueryParametersError"?,
             nil where status == 301 || ((status == 400 || status == 403) && regionHint != nil && regionHint != c.region):
            if let region = regionHint, region != c.region {
                return error(.wrongRegion(region), "bucket '\(c.bucket)' is in region \(region), not \(c.region): "
                    + "pass --region \(region)")
            }
            if code == "AuthorizationHeaderMalformed" || code == nil && status == 400 {
                return error(.service, "\(op.operation) \(target): \(endpoint) refused the authorization header"
                    + "\(serverMessage)")
            }
            return error(.wrongRegion(nil), "bucket '\(c.bucket)' is not reachable through \(endpoint) (region "
                + "\(c.region))\(serverMessage): pass the bucket's region with --region")
        case "BadDigest"?, "InvalidDigest"?, "XAmzContentSHA256Mismatch"?, "InvalidChecksum"?:
            return error(.badDigest, "\(op.operation) \(target): the data arrived damaged (\(code!))\(serverMessage); "
                + "the upload was refused and can be retried")
        default:
            if status == 403 && code == nil {
                return error(.accessDenied, "\(op.operation) \(target) denied at \(endpoint) (HTTP 403) for access key "
                    + "\(c.credentials.accessKeyId) (\(c.credentials.source)): check the permissions and credentials")
            }
            let what = code.map { "\($0)\(serverMessage)" } ?? "HTTP \(status)"
            var e = error(.service, "\(op.operation) \(target) at \(endpoint) failed: \(what)"
                + (code == nil ? "" : " (HTTP \(status))"))
            if code == nil && status >= 200 && status < 300 { e.kind = .invalidResponse }
            return e
        }
    }

    /// Canonical requests for messages: the session token (and the secret key, were it ever
    /// there) blanked, as in the `--verbose` trace.
    func redact(_ canonical: String) -> String {
        S3Redaction(credentials: configuration.credentials).text(canonical)
    }
}
