import CCurlShim
import Foundation
import SystemIO
import Synchronization

/// A request body: nothing, bytes in memory, or a region of a file (read while sending,
/// through a small buffer, so a multi-GiB part never sits in memory).
public enum HTTPBody: Sendable {
    case none
    case data(Data)
    case file(path: String, offset: UInt64, length: UInt64)

    public var length: UInt64 {
        switch self {
        case .none: return 0
        case .data(let d): return UInt64(d.count)
        case .file(_, _, let n): return n
        }
    }
}

struct HTTPRequest {
    var method: String
    var url: String
    var headers: [(String, String)]
    var body: HTTPBody = .none
    /// Called with the number of body bytes sent so far (from the sending thread).
    var progress: ((UInt64) -> Void)?
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Response headers, names lower-cased, in arrival order.
    public var headers: [(String, String)]
    public var body: Data
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.last { $0.0 == n }?.1
    }
}

/// Connection and TLS settings of the HTTP layer.
public struct HTTPOptions: Sendable {
    /// Seconds allowed for the TCP+TLS connection.
    public var connectTimeout: Int = 15
    /// A transfer slower than `lowSpeedLimit` bytes/s for `lowSpeedTime` seconds is abandoned.
    public var lowSpeedLimit: Int = 1024
    public var lowSpeedTime: Int = 60
    /// Seconds a transfer may go without a single byte moving (either way) before it is abandoned
    /// (a network error, retried); nil: only the low-speed rule above. Checked about once a second.
    public var stallTimeout: Double? = nil
    /// PEM file of CA certificates to trust instead of the system ones (`--ca-bundle`).
    public var caBundle: String?
    /// TLS peer and host verification; on unless explicitly turned off.
    public var verifyTLS: Bool = true
    public var userAgent: String = "apkit-s3"
    public init() {}
}

/// HTTP/1.1 over libcurl. Easy handles are pooled and reused, so their connections (and TLS
/// sessions) are kept alive between requests; proxies come from the usual environment variables
/// (`https_proxy`, `no_proxy`...), as libcurl does by default. Thread-safe: each request takes a
/// handle from the pool for its duration.
final class CurlHTTPClient: Sendable {
    let options: HTTPOptions
    /// A libcurl easy handle. `@unchecked Sendable` because libcurl allows a handle to be used from
    /// any thread as long as only one thread uses it at a time, which the pool guarantees: a handle
    /// is either in `idle` (owned by the mutex) or checked out by exactly one `perform`.
    private struct EasyHandle: @unchecked Sendable { let raw: UnsafeMutableRawPointer }
    private let idle = Mutex<[EasyHandle]>([])
    private static let globalInit: Void = { _ = curl_global_init(3) }()  // CURL_GLOBAL_ALL

    init(options: HTTPOptions) {
        _ = Self.globalInit
        self.options = options
    }

    deinit { idle.withLock { for h in $0 { curl_easy_cleanup(h.raw) } } }

    private func checkout() -> UnsafeMutableRawPointer? {
        if let h = idle.withLock({ $0.popLast() }) { return h.raw }
        return curl_easy_init()
    }
    private func checkin(_ h: UnsafeMutableRawPointer) {
        let handle = EasyHandle(raw: h)
        let kept = idle.withLock { pool -> Bool in
            guard pool.count < 16 else { return false }
            pool.append(handle)
            return true
        }
        if !kept { curl_easy_cleanup(h) }
    }

    /// Performs one request. With `sink`, a successful (< 300) response body is handed to it piece
    /// by piece instead of being collected; error bodies are always collected (for the XML error).
    /// Throws `S3Error(.network)` when no HTTP answer arrived, or the sink's / file's error.
    func perform(_ request: HTTPRequest, sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws -> HTTPResponse {
        guard let h = checkout() else { throw S3Error(.network, "cannot initialise libcurl") }
        var reusable = true
        defer { if reusable { checkin(h) } else { curl_easy_cleanup(h) } }
        curl_easy_reset(h)

        let ctx = TransferContext(body: request.body, sink: sink, progress: request.progress)
        ctx.stallTimeout = options.stallTimeout
        ctx.stallContext = "\(request.method) \(Self.redactedURL(request.url))"
        if case .file(let path, _, _) = request.body {
            ctx.fd = open(path, O_RDONLY | O_CLOEXEC)
            if ctx.fd < 0 {
                throw S3Error(.io, "cannot open \(path) for upload: \(currentErrnoText())")
            }
        }
        defer { if ctx.fd >= 0 { close(ctx.fd) } }

        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers {
            list = curl_slist_append(list, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        defer { curl_slist_free_all(list) }

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let me = Unmanaged.passUnretained(ctx).toOpaque()
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { eb in
            _ = apkit_curl_setopt_str(h, CURLOPT_URL, request.url)
            _ = apkit_curl_setopt_ptr(h, CURLOPT_HTTPHEADER, list)
            _ = apkit_curl_setopt_ptr(h, CURLOPT_ERRORBUFFER, eb.baseAddress)
            _ = apkit_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
            _ = apkit_curl_setopt_long(h, CURLOPT_PATH_AS_IS, 1)
            _ = apkit_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT, options.connectTimeout)
            _ = apkit_curl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, options.lowSpeedLimit)
            _ = apkit_curl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, options.lowSpeedTime)
            _ = apkit_curl_setopt_str(h, CURLOPT_USERAGENT, options.userAgent)
            _ = apkit_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, options.verifyTLS ? 1 : 0)
            _ = apkit_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, options.verifyTLS ? 2 : 0)
            if let ca = options.caBundle { _ = apkit_curl_setopt_str(h, CURLOPT_CAINFO, ca) }
            _ = apkit_curl_setopt_datafn(h, CURLOPT_HEADERFUNCTION, curlHeaderCallback)
            _ = apkit_curl_setopt_ptr(h, CURLOPT_HEADERDATA, me)
            _ = apkit_curl_setopt_datafn(h, CURLOPT_WRITEFUNCTION, curlWriteCallback)
            _ = apkit_curl_setopt_ptr(h, CURLOPT_WRITEDATA, me)
            if options.stallTimeout != nil {
                _ = apkit_curl_setopt_xferinfofn(h, curlProgressCallback)
                _ = apkit_curl_setopt_ptr(h, CURLOPT_XFERINFODATA, me)
                _ = apkit_curl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
            }
            let length = curl_off_t(request.body.length)
            switch request.method {
            case "GET":
                _ = apkit_curl_setopt_long(h, CURLOPT_HTTPGET, 1)
            case "HEAD":
                _ = apkit_curl_setopt_long(h, CURLOPT_NOBODY, 1)
            case "PUT":
                _ = apkit_curl_setopt_long(h, CURLOPT_UPLOAD, 1)
                _ = apkit_curl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, length)
                _ = apkit_curl_setopt_datafn(h, CURLOPT_READFUNCTION, curlReadCallback)
                _ = apkit_curl_setopt_ptr(h, CURLOPT_READDATA, me)
            case "POST":
                _ = apkit_curl_setopt_long(h, CURLOPT_POST, 1)
                _ = apkit_curl_setopt_off(h, CURLOPT_POSTFIELDSIZE_LARGE, length)
                _ = apkit_curl_setopt_datafn(h, CURLOPT_READFUNCTION, curlReadCallback)
                _ = apkit_curl_setopt_ptr(h, CURLOPT_READDATA, me)
            default:
                _ = apkit_curl_setopt_str(h, CURLOPT_CUSTOMREQUEST, request.method)
            }
            return curl_easy_perform(h)
        }
        if let e = ctx.failure { reusable = false; throw e }
        guard code == CURLE_OK else {
            reusable = false
            let buffered = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let detail = buffered.isEmpty ? String(cString: curl_easy_strerror(code)) : buffered
            throw S3Error(.network, "\(request.method) \(Self.redactedURL(request.url)) failed: \(detail)")
        }
        var status = 0
        _ = apkit_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: ctx.headers, body: ctx.collected)
    }

    /// The URL without its query (a presigned query holds a signature and maybe a token).
    static func redactedURL(_ url: String) -> String {
        url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
    }
}

/// State shared with the C callbacks of one transfer.
final class TransferContext {
    let body: HTTPBody
    let sink: ((UnsafeRawBufferPointer) throws -> Void)?
    let progress: ((UInt64) -> Void)?
    var fd: Int32 = -1
    var sent: UInt64 = 0
    var status = 0
    var headers: [(String, String)] = []
    var collected = Data()
    var failure: Error?
    /// For `HTTPOptions.stallTimeout`: bytes moved so far (both ways) and when that last changed.
    var stallTimeout: Double?
    var stallContext = ""
    var moved: Int64 = -1
    var lastMoved = ProcessInfo.processInfo.systemUptime

    init(body: HTTPBody, sink: ((UnsafeRawBufferPointer) throws -> Void)?, progress: ((UInt64) -> Void)?) {
        self.body = body; self.sink = sink; self.progress = progress
    }
}

private func context(_ p: UnsafeMutableRawPointer?) -> TransferContext {
    Unmanaged<TransferContext>.fromOpaque(p!).takeUnretainedValue()
}

private let curlHeaderCallback: apkit_curl_data_fn = { buffer, size, count, user in
    let n = size * count
    let ctx = context(user)
    guard let buffer else { return n }
    let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: n), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    if line.hasPrefix("HTTP/") {
        // A new response (after 100 Continue or a retry inside libcurl): start over.
        ctx.headers = []
        let parts = line.split(separator: " ")
        ctx.status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
    } else if let colon = line.firstIndex(of: ":") {
        ctx.headers.append((line[..<colon].trimmingCharacters(in: .whitespaces).lowercased(),
                            line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
    }
    return n
}

private let curlWriteCallback: apkit_curl_data_fn = { buffer, size, count, user in
    let n = size * count
    let ctx = context(user)
    guard let buffer, n > 0 else { return n }
    let bytes = UnsafeRawBufferPointer(start: buffer, count: n)
    if let sink = ctx.sink, ctx.status >= 200, ctx.status < 300 {
        do { try sink(bytes) } catch { ctx.failure = error; return 0 }
    } else {
        ctx.collected.append(contentsOf: bytes)
    }
    return n
}

private let curlReadCallback: apkit_curl_data_fn = { buffer, size, count, user in
    let ctx = context(user)
    guard let buffer else { return 0 }
    let total = ctx.body.length
    let want = Int(min(UInt64(size * count), total - min(ctx.sent, total)))
    if want == 0 { return 0 }
    var produced = 0
    switch ctx.body {
    case .none:
        return 0
    case .data(let data):
        let start = data.startIndex + Int(ctx.sent)
        data.copyBytes(to: UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: UInt8.self),
                       from: start..<(start + want))
        produced = want
    case .file(let path, let offset, _):
        let got = pread(ctx.fd, buffer, want, off_t(offset + ctx.sent))
        if got <= 0 {
            let reason = got < 0 ? currentErrnoText() : "file is shorter than expected"
            ctx.failure = S3Error(.io, "cannot read \(path) at byte \(offset + ctx.sent): \(reason)")
            return Int(CURL_READFUNC_ABORT)
        }
        produced = got
    }
    ctx.sent += UInt64(produced)
    ctx.progress?(ctx.sent)
    return produced
}

/// Abandons a transfer when no byte has moved for `stallTimeout` seconds (libcurl calls this at
/// least about once a second while a transfer is idle).
private let curlProgressCallback: apkit_curl_xferinfo_fn = { user, _, dlnow, _, ulnow in
    let ctx = context(user)
    guard let limit = ctx.stallTimeout else { return 0 }
    let now = ProcessInfo.processInfo.systemUptime
    let total = Int64(dlnow) + Int64(ulnow)
    if total != ctx.moved {
        ctx.moved = total
        ctx.lastMoved = now
        return 0
    }
    guard now - ctx.lastMoved > limit else { return 0 }
    ctx.failure = S3Error(.network, "\(ctx.stallContext) failed: no data moved for \(String(format: "%g", limit)) s "
        + "(APKIT_S3_TIMEOUT); the server stalled")
    return 1
}
