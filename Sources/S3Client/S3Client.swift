import APKCrypto
import SystemIO
import Foundation
import Synchronization

/// An S3 bucket client: objects, multipart uploads, retries, typed errors.
///
/// All methods are synchronous and thread-safe; multipart uploads run `concurrency` parts in
/// parallel on their own threads. Object keys are given as stored (`x86_64/libstdc++-14.2.0-r4.apk`),
/// never pre-encoded. ETags are returned in their quoted form (`"abc"`, as AWS sends them; a server
/// that sends them bare gets them quoted) and can be passed back as they are to `.ifMatch`.
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    let http: CurlHTTPClient
    let signer: SigV4Signer
    /// Seconds to add to this machine's clock to get the server's, learnt from a
    /// `RequestTimeTooSkewed` answer (0 until then).
    let clockOffset = Mutex<TimeInterval>(0)

    public init(_ configuration: S3Configuration) throws {
        guard !configuration.bucket.isEmpty else { throw S3Error(.configuration, "no S3 bucket given") }
        guard !configuration.region.isEmpty else { throw S3Error(.configuration, "no AWS region given: pass --region") }
        if let ca = configuration.http.caBundle, !FileManager.default.isReadableFile(atPath: ca) {
            throw S3Error(.configuration, "CA bundle \(ca) does not exist or is not readable")
        }
        self.configuration = configuration
        http = CurlHTTPClient(options: configuration.http)
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region, service: "s3")
    }

    // MARK: public types

    public enum Body: Sendable {
        case data(Data)
        /// A file, sent straight from disk; `size` is read from the file when nil.
        case file(path: String, size: UInt64? = nil)
    }

    public enum Condition: Sendable, Equatable {
        case none
        /// `If-None-Match: *` — only create; 412 (`.preconditionFailed`) when the key exists.
        case ifNoneMatchAny
        /// `If-Match: <etag>` — only replace this version; 412 when the object changed.
        case ifMatch(String)
    }

    public enum Checksum: Sendable {
        case none
        /// `Content-MD5`.
        case md5
        /// `x-amz-checksum-sha256` (base64 SHA-256), stored by S3 with the object.
        case sha256
    }

    public struct PutResult: Sendable {
        public var etag: String
        public var versionId: String?
        /// The multipart upload that wrote the object; nil for a single PUT.
        public var uploadId: String? = nil
    }

    public struct ObjectInfo: Sendable {
        public var key: String
        public var size: UInt64
        public var etag: String
        public var contentType: String?
        public var cacheControl: String?
        public var lastModified: String?
        /// `x-amz-meta-*` headers, names lower-cased without the prefix.
        public var metadata: [String: String]
    }

    public struct ObjectSummary: Sendable {
        public var key: String
        public var size: UInt64
        public var etag: String
        public var lastModified: String
    }

    public struct MultipartUploadSummary: Sendable {
        public var key: String
        public var uploadId: String
        /// When the upload was started (server clock), when the server said.
        public var initiated: Date?
    }

    /// What a server does with `If-None-Match: *` / `If-Match` on PutObject (`probeConditionalWrites`).
    public enum ConditionalWriteSupport: Sendable, Equatable {
        case supported
        /// Not honoured; the text says how (for one clear line to the user).
        case unsupported(String)
    }

    /// Called with (bytes sent so far, total bytes) while an object is uploaded.
    public typealias Progress = @Sendable (UInt64, UInt64) -> Void

    // MARK: objects

    /// HEAD; nil when there is no such key.
    public func headObject(key: String) throws -> ObjectInfo? {
        let response = try send(.init(method: "HEAD", key: key, operation: "HeadObject"), allow404: true)
        if response.status == 404 { return nil }
        return Self.objectInfo(key: key, response)
    }

    /// GET into memory; nil when there is no such key.
    public func getObject(key: String) throws -> (data: Data, etag: String)? {
        let response = try send(.init(method: "GET", key: key, operation: "GetObject"), allow404: true)
        if response.status == 404 { return nil }
        return (response.body, Self.normalizeETag(response.header("etag")))
    }

    /// GET streamed into a file (created or truncated; removed again when the download fails).
    /// Returns nil, and creates nothing, when there is no such key.
    public func getObject(key: String, toFile path: String) throws -> ObjectInfo? {
        var handle: FileHandle?
        var response: HTTPResponse?
        defer { try? handle?.close() }
        do {
            response = try send(.init(method: "GET", key: key, operation: "GetObject"), allow404: true,
                                beforeAttempt: { try? handle?.close(); handle = nil },
                                sink: { bytes in
                if handle == nil {
                    guard FileManager.default.createFile(atPath: path, contents: nil),
                          let h = FileHandle(forWritingAtPath: path) else {
                        throw S3Error(.io, "cannot create \(path): check the directory exists and is writable")
                    }
                    handle = h
                }
                do { try handle!.write(contentsOf: Data(bytes)) } catch {
                    throw S3Error(.io, "cannot write \(path): \(error.localizedDescription)")
                }
            })
        } catch {
            if handle != nil { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
        guard let response, response.status != 404 else { return nil }
        if handle == nil, !FileManager.default.createFile(atPath: path, contents: Data()) {
            throw S3Error(.io, "cannot create \(path): check the directory exists and is writable")
        }  // empty object
        return Self.objectInfo(key: key, response)
    }

    /// PUT in one request (up to 5 GiB). See `uploadFile` for automatic multipart.
    @discardableResult
    public func putObject(key: String, body: Body, contentType: String? = nil, cacheControl: String? = nil,
                          metadata: [String: String] = [:], condition: Condition = .none, checksum: Checksum = .md5,
                          progress: Progress? = nil) throws -> PutResult {
        let httpBody = try Self.httpBody(body)
        guard httpBody.length <= 5 << 30 else {
            throw S3Error(.configuration, "\(key): \(httpBody.length) bytes is over the 5 GiB single-PUT limit: use uploadFile")
        }
        var headers = try objectHeaders(contentType: contentType, cacheControl: cacheControl, metadata: metadata)
        headers += Self.conditionHeaders(condition)
        let digests = try digest(httpBody, md5: checksum == .md5, sha256: checksum == .sha256)
        if checksum == .md5 { headers.append(("Content-MD5", Data(digests.md5!).base64EncodedString())) }
        if checksum == .sha256 { headers.append(("x-amz-checksum-sha256", Data(digests.sha256!).base64EncodedString())) }
        let total = httpBody.length
        let response = try send(.init(method: "PUT", key: key, headers: headers, body: httpBody,
                                      payloadHash: digests.payloadHash, operation: "PutObject",
                                      progress: progress.map { p in { sent in p(sent, total) } }))
        return PutResult(etag: Self.normalizeETag(response.header("etag")), versionId: response.header("x-amz-version-id"))
    }

    public func deleteObject(key: String) throws {
        _ = try send(.init(method: "DELETE", key: key, operation: "DeleteObject"), allow404: true)
    }

    /// ListObjectsV2, following continuation tokens.
    public func listObjects(prefix: String = "") throws -> [ObjectSummary] {
        var result: [ObjectSummary] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try send(.init(method: "GET", key: nil, query: query, operation: "ListObjectsV2"))
            let text = String(decoding: response.body, as: UTF8.self)
            for item in XMLLite.all("Contents", in: text) {
                result.append(ObjectSummary(key: XMLLite.first("Key", in: item) ?? "",
                                            size: UInt64(XMLLite.first("Size", in: item) ?? "") ?? 0,
                                            etag: Self.normalizeETag(XMLLite.first("ETag", in: item)),
                                            lastModified: XMLLite.first("LastModified", in: item) ?? ""))
            }
            token = XMLLite.first("IsTruncated", in: text) == "true" ? XMLLite.first("NextContinuationToken", in: text) : nil
        } while token != nil
        return result
    }

    // MARK: uploads choosing single PUT or multipart

    /// Uploads a file: one PUT up to `multipartThreshold`, otherwise a multipart upload with
    /// `concurrency` parts in flight, each part streamed from the file (memory stays at a few
    /// small buffers per part in flight). A failed multipart upload is aborted. `condition`
    /// applies to the PUT, or to CompleteMultipartUpload.
    @discardableResult
    public func uploadFile(key: String, path: String, contentType: String? = nil, cacheControl: String? = nil,
                           metadata: [String: String] = [:], condition: Condition = .none, checksum: Checksum = .md5,
                           progress: Progress? = nil) throws -> PutResult {
        let size = try Self.fileSize(path)
        if size <= configuration.multipartThreshold {
            return try putObject(key: key, body: .file(path: path, size: size), contentType: contentType,
                                 cacheControl: cacheControl, metadata: metadata, condition: condition,
                                 checksum: checksum, progress: progress)
        }
        let partSize = try Self.partSize(forObjectOfSize: size, preferred: configuration.partSize)
        let uploadId = try createMultipartUpload(key: key, contentType: contentType, cacheControl: cacheControl,
                                                 metadata: metadata)
        do {
            let parts = try uploadParts(key: key, uploadId: uploadId, path: path, size: size, partSize: partSize,
                                        progress: progress)
            var result = try completeMultipartUpload(key: key, uploadId: uploadId, parts: parts, condition: condition)
            result.uploadId = uploadId
            return result
        } catch {
            do {
                try abortMultipartUpload(key: key, uploadId: uploadId)
            } catch let abortError {
                var e = (error as? S3Error) ?? S3Error(.io, "\(error)")
                e.message += " (aborting multipart upload \(uploadId) failed too: \(abortError); remove it with a bucket lifecycle rule)"
                throw e
            }
            throw error
        }
    }

    /// The part size for an object: `preferred` raised so that there are at most 10,000 parts
    /// (rounded up to a whole MiB), and kept within S3's 5 MiB ... 5 GiB.
    public static func partSize(forObjectOfSize size: UInt64, preferred: UInt64) throws -> UInt64 {
        let minPart: UInt64 = 5 << 20, maxPart: UInt64 = 5 << 30
        guard size <= 5 << 40 else {
            throw S3Error(.configuration, "\(size) bytes is over S3's 5 TiB object size limit")
        }
        var part = max(preferred, minPart)
        let needed = (size + 9_999) / 10_000
        if part < needed { part = (needed + (1 << 20) - 1) / (1 << 20) * (1 << 20) }
        return min(part, maxPart)
    }

    /// Shared state of the part workers of one multipart upload.
    private final class PartQueue: Sendable {
        struct State {
            var next = 1
            var etags: [String?]
            var sent: [UInt64]
            var failure: (any Error & Sendable)?
        }
        let count: Int
        let state: Mutex<State>
        init(count: Int) {
            self.count = count
            state = Mutex(State(etags: [String?](repeating: nil, count: count + 1),
                                sent: [UInt64](repeating: 0, count: count + 1)))
        }
        /// The next part number to send, nil when done or when a part failed.
        func take() -> Int? {
            state.withLock { s in
                if s.failure != nil || s.next > count { return nil }
                s.next += 1
                return s.next - 1
            }
        }
        func finished(_ number: Int, etag: String) { state.withLock { $0.etags[number] = etag } }
        func failed(_ error: any Error & Sendable) { state.withLock { if $0.failure == nil { $0.failure = error } } }
        var failure: (any Error & Sendable)? { state.withLock { $0.failure } }
        func etag(_ number: Int) -> String { state.withLock { $0.etags[number] ?? "" } }
        /// Records a part's bytes sent (restarting at 0 on a retry) and returns the total.
        func progress(_ number: Int, _ bytes: UInt64) -> UInt64 {
            state.withLock { s in
                s.sent[number] = bytes
                return s.sent.reduce(0, +)
            }
        }
    }

    func uploadParts(key: String, uploadId: String, path: String, size: UInt64, partSize: UInt64,
                     progress: Progress?) throws -> [(Int, String)] {
        let count = Int((size + partSize - 1) / partSize)
        let queue = PartQueue(count: count)
        let pool = WorkerPool(threads: max(1, min(configuration.concurrency, count)), name: "apkit-s3-part")
        defer { pool.stop() }
        for _ in 0..<count {
            pool.submit {
                // After a failure the remaining parts are not sent.
                guard queue.failure == nil, let number = queue.take() else { return }
                let offset = UInt64(number - 1) * partSize
                let length = min(partSize, size - offset)
                do {
                    let etag = try self.uploadPart(key: key, uploadId: uploadId, partNumber: number, path: path,
                                                   offset: offset, length: length,
                                                   progress: progress.map { report in
                                                       { sent in report(queue.progress(number, sent), size) }
                                                   })
                    queue.finished(number, etag: etag)
                } catch let error as S3Error {
                    queue.failed(error)
                } catch {
                    queue.failed(S3Error(.io, "UploadPart \(number) of \(key): \(error)", key: key))
                }
            }
        }
        pool.waitForAll()
        if let failure = queue.failure { throw failure }
        return (1...count).map { ($0, queue.etag($0)) }
    }

    // MARK: multipart primitives

    public func createMultipartUpload(key: String, contentType: String? = nil, cacheControl: String? = nil,
                                      metadata: [String: String] = [:]) throws -> String {
        let headers = try objectHeaders(contentType: contentType, cacheControl: cacheControl, metadata: metadata)
        let response = try send(.init(method: "POST", key: key, query: [("uploads", "")], headers: headers,
                                      operation: "CreateMultipartUpload"))
        guard let id = XMLLite.first("UploadId", in: String(decoding: response.body, as: UTF8.self)), !id.isEmpty else {
            throw S3Error(.invalidResponse, "CreateMultipartUpload for \(key) at \(configuration.endpointDescription) "
                + "answered without an UploadId", httpStatus: response.status, key: key)
        }
        return id
    }

    /// Uploads one part from a region of a file; returns its ETag. The part's SHA-256 is signed
    /// (`x-amz-content-sha256`, which S3 checks against the body); only with `UNSIGNED-PAYLOAD`
    /// does it also carry a Content-MD5, since then nothing else covers the bytes. A second digest
    /// of every part cost both sides time for nothing (about 2.5 s of server CPU per GiB on moto).
    public func uploadPart(key: String, uploadId: String, partNumber: Int, path: String, offset: UInt64, length: UInt64,
                           progress: ((UInt64) -> Void)? = nil) throws -> String {
        let body = HTTPBody.file(path: path, offset: offset, length: length)
        let wantMD5 = !configuration.signPayload
        let digests = try digest(body, md5: wantMD5)
        let response = try send(.init(method: "PUT", key: key,
                                      query: [("partNumber", String(partNumber)), ("uploadId", uploadId)],
                                      headers: wantMD5 ? [("Content-MD5", Data(digests.md5!).base64EncodedString())] : [],
                                      body: body,
                                      payloadHash: digests.payloadHash, operation: "UploadPart", progress: progress))
        guard let etag = response.header("etag"), !etag.isEmpty else {
            throw S3Error(.invalidResponse, "UploadPart \(partNumber) of \(key) answered without an ETag", key: key)
        }
        return Self.normalizeETag(etag)
    }

    /// Completes an upload from (part number, ETag) pairs. A 200 answer holding `<Error>` is an
    /// error (retried when S3 says InternalError/SlowDown).
    @discardableResult
    public func completeMultipartUpload(key: String, uploadId: String, parts: [(Int, String)],
                                        condition: Condition = .none) throws -> PutResult {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (number, etag) in parts.sorted(by: { $0.0 < $1.0 }) {
            xml += "<Part><PartNumber>\(number)</PartNumber><ETag>\(XMLLite.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let data = Data(xml.utf8)
        let response = try send(.init(method: "POST", key: key, query: [("uploadId", uploadId)],
                                      headers: [("Content-Type", "application/xml")] + Self.conditionHeaders(condition),
                                      body: .data(data), payloadHash: Digest.hash(.sha256, data).hexString,
                                      operation: "CompleteMultipartUpload"), errorIn200: true)
        let text = String(decoding: response.body, as: UTF8.self)
        return PutResult(etag: Self.normalizeETag(XMLLite.first("ETag", in: text) ?? response.header("etag")),
                         versionId: response.header("x-amz-version-id"))
    }

    public func abortMultipartUpload(key: String, uploadId: String) throws {
        _ = try send(.init(method: "DELETE", key: key, query: [("uploadId", uploadId)], operation: "AbortMultipartUpload"),
                     allow404: true)
    }

    /// Open multipart uploads under a prefix (following pagination). A 2xx answer that is not a
    /// `ListMultipartUploadsResult` (an empty body, say) is an `.invalidResponse` error.
    public func listMultipartUploads(prefix: String = "") throws -> [MultipartUploadSummary] {
        var result: [MultipartUploadSummary] = []
        var keyMarker: String?, idMarker: String?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let idMarker { query.append(("upload-id-marker", idMarker)) }
            let response = try send(.init(method: "GET", key: nil, query: query, operation: "ListMultipartUploads"))
            let text = String(decoding: response.body, as: UTF8.self)
            guard text.contains("<ListMultipartUploadsResult") else {
                throw S3Error(.invalidResponse, "ListMultipartUploads at \(configuration.endpointDescription) answered HTTP "
                    + "\(response.status) " + (text.isEmpty ? "with an empty body" : "without a ListMultipartUploadsResult"),
                    httpStatus: response.status)
            }
            for upload in XMLLite.all("Upload", in: text) {
                result.append(MultipartUploadSummary(key: XMLLite.first("Key", in: upload) ?? "",
                                                     uploadId: XMLLite.first("UploadId", in: upload) ?? "",
                                                     initiated: XMLLite.first("Initiated", in: upload).flatMap(Self.parseDate)))
            }
            if XMLLite.first("IsTruncated", in: text) == "true" {
                keyMarker = XMLLite.first("NextKeyMarker", in: text)
                idMarker = XMLLite.first("NextUploadIdMarker", in: text)
            } else {
                keyMarker = nil
            }
        } while keyMarker != nil
        return result
    }

    /// Finds out whether the server honours conditional writes, with a small object at `key` (which
    /// must not exist; it is deleted again): PUT with `If-None-Match: *` (creates it), the same again
    /// (must be refused with 412), and PUT with `If-Match` on an ETag it does not have (must be
    /// refused). A server that writes anyway, or answers 501 / NotImplemented, does not support them.
    /// Returns the verdict and, when the probe object could not be deleted, why.
    public func probeConditionalWrites(key: String) throws -> (support: ConditionalWriteSupport, cleanupError: S3Error?) {
        let body = Data("apkit: conditional-write probe \(key); safe to delete\n".utf8)
        var wrote = false
        func attempt(_ condition: Condition) throws -> Bool? {
            do {
                try putObject(key: key, body: .data(body), contentType: "text/plain", condition: condition)
                wrote = true
                return true
            } catch let e as S3Error where e.kind == .preconditionFailed {
                // The first create refused: our own write may have landed with its answer lost, and
                // the retry found it. Its body names the probe's random key: then it is ours.
                if !wrote, condition == .ifNoneMatchAny, let stored = try? getObject(key: key), stored.data == body {
                    wrote = true
                    return true
                }
                return false
            } catch let e as S3Error where e.httpStatus == 501 || e.code == "NotImplemented" {
                return nil
            }
        }
        let verdict: ConditionalWriteSupport
        do {
            let header = { (c: Condition) in c == .ifNoneMatchAny ? "If-None-Match: *" : "If-Match" }
            var result = ConditionalWriteSupport.supported
            for (condition, mustWrite) in [(Condition.ifNoneMatchAny, true), (.ifNoneMatchAny, false),
                                           (.ifMatch("\"00000000000000000000000000000000\""), false)] {
                switch try attempt(condition) {
                case nil:
                    result = .unsupported("answers 501 NotImplemented to PutObject with \(header(condition))")
                case true? where !mustWrite:
                    result = .unsupported("ignores \(header(condition)) on PutObject (it overwrote an object it must not have)")
                case false? where mustWrite:
                    break  // someone else's object under the probe name: conditions work
                default:
                    continue
                }
                break
            }
            verdict = result
        } catch {
            if wrote { try? deleteObject(key: key) }
            throw error
        }
        var cleanupError: S3Error?
        if wrote {
            do { try deleteObject(key: key) } catch let e as S3Error { cleanupError = e }
        }
        return (verdict, cleanupError)
    }

    /// A presigned GET (or other method) URL for a key, valid `expires` seconds.
    public func presignedURL(key: String, method: String = "GET", expires: Int = 3600, date: Date = Date()) -> String {
        let (scheme, host, path) = location(key: key)
        return signer.presignedURL(method: method, scheme: scheme, host: host, path: path, expires: expires, date: date)
    }

    // MARK: helpers

    /// An ETag in its quoted form: `abc` becomes `"abc"`; quoted and weak (`W/"abc"`) ones stay as
    /// they are; nil or blank gives "".
    public static func normalizeETag(_ etag: String?) -> String {
        guard let e = etag?.trimmingCharacters(in: .whitespaces), !e.isEmpty else { return "" }
        if e.hasPrefix("W/") || (e.count >= 2 && e.hasPrefix("\"") && e.hasSuffix("\"")) { return e }
        return "\"" + e + "\""
    }

    /// An HTTP date (`Tue, 15 Nov 1994 08:12:31 GMT`) or an ISO 8601 UTC time
    /// (`2024-05-01T10:00:00.123Z`), as S3 writes them; nil for anything else.
    public static func parseDate(_ text: String) -> Date? {
        let s = text.trimmingCharacters(in: .whitespaces)
        var t = tm()
        var fraction = 0.0
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        func clock(_ hms: Substring) -> Bool {
            let p = hms.split(separator: ":")
            guard p.count == 3, let h = Int32(p[0]), let m = Int32(p[1]) else { return false }
            let secParts = p[2].split(separator: ".", maxSplits: 1)
            guard let sec = Int32(secParts[0]) else { return false }
            if secParts.count == 2, let f = Double("0." + secParts[1]) { fraction = f }
            t.tm_hour = h; t.tm_min = m; t.tm_sec = sec
            return (0...23).contains(h) && (0...59).contains(m) && (0...60).contains(sec)
        }
        if let comma = s.firstIndex(of: ",") {
            // Tue, 15 Nov 1994 08:12:31 GMT
            let f = s[s.index(after: comma)...].split(separator: " ")
            guard f.count >= 4, let day = Int32(f[0]), let month = months.firstIndex(of: f[1].lowercased()),
                  let year = Int32(f[2]), clock(f[3]) else { return nil }
            t.tm_mday = day; t.tm_mon = Int32(month); t.tm_year = year - 1900
        } else {
            // 2024-05-01T10:00:00.123Z
            let halves = s.split(separator: "T", maxSplits: 1)
            guard halves.count == 2 else { return nil }
            let d = halves[0].split(separator: "-")
            guard d.count == 3, let year = Int32(d[0]), let month = Int32(d[1]), let day = Int32(d[2]),
                  clock(halves[1].prefix { $0 != "Z" && $0 != "+" }) else { return nil }
            t.tm_mday = day; t.tm_mon = month - 1; t.tm_year = year - 1900
        }
        return Date(timeIntervalSince1970: Double(timegm(&t)) + fraction)
    }

    static func httpBody(_ body: Body) throws -> HTTPBody {
        switch body {
        case .data(let d): return .data(d)
        case .file(let path, let size): return .file(path: path, offset: 0, length: try size ?? fileSize(path))
        }
    }

    static func fileSize(_ path: String) throws -> UInt64 {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw S3Error(.io, "cannot read \(path): \(currentErrnoText())")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw S3Error(.io, "\(path) is not a regular file") }
        return UInt64(st.st_size)
    }

    static func conditionHeaders(_ condition: Condition) -> [(String, String)] {
        switch condition {
        case .none: return []
        case .ifNoneMatchAny: return [("If-None-Match", "*")]
        case .ifMatch(let etag): return [("If-Match", etag)]
        }
    }

    func objectHeaders(contentType: String?, cacheControl: String?, metadata: [String: String]) throws -> [(String, String)] {
        var headers: [(String, String)] = [("Content-Type", contentType ?? "application/octet-stream")]
        if let cacheControl { headers.append(("Cache-Control", cacheControl)) }
        for (name, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let n = name.lowercased()
            guard !n.isEmpty, n.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "-" || $0 == "_") }),
                  value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else {
                throw S3Error(.configuration, "metadata \(name)=\(value) is not usable: names must be ASCII letters, "
                    + "digits, '-' or '_', values printable ASCII")
            }
            headers.append(("x-amz-meta-\(n)", value))
        }
        return headers
    }

    struct Digests { var payloadHash: String; var sha256: [UInt8]? = nil; var md5: [UInt8]? = nil }

    /// SHA-256 (payload hash / checksum) and MD5 of a body, files read once through a 1 MiB buffer.
    func digest(_ body: HTTPBody, md5 wantMD5: Bool, sha256 wantSHA: Bool = false) throws -> Digests {
        let sha = configuration.signPayload || wantSHA ? Digest(.sha256) : nil
        let md = wantMD5 ? Digest(.md5) : nil
        if sha == nil && md == nil { return Digests(payloadHash: "UNSIGNED-PAYLOAD") }
        switch body {
        case .none: break
        case .data(let d): sha?.update(d); md?.update(d)
        case .file(let path, let offset, let length):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw S3Error(.io, "cannot open \(path): \(currentErrnoText())") }
            defer { close(fd) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            var done: UInt64 = 0
            while done < length {
                let want = Int(min(UInt64(buffer.count), length - done))
                let got = pread(fd, buffer.baseAddress, want, off_t(offset + done))
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    throw S3Error(.io, "cannot read \(path) at byte \(offset + done): "
                        + (got < 0 ? currentErrnoText() : "file is shorter than expected"))
                }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
                sha?.update(chunk); md?.update(chunk)
                done += UInt64(got)
            }
        }
        let shaBytes = sha?.finalize()
        return Digests(payloadHash: configuration.signPayload ? shaBytes!.hexString : "UNSIGNED-PAYLOAD",
                       sha256: shaBytes, md5: md?.finalize())
    }

    static func objectInfo(key: String, _ response: HTTPResponse) -> ObjectInfo {
        var metadata: [String: String] = [:]
        for (name, value) in response.headers where name.hasPrefix("x-amz-meta-") {
            metadata[String(name.dropFirst("x-amz-meta-".count))] = value
        }
        return ObjectInfo(key: key, size: UInt64(response.header("content-length") ?? "") ?? UInt64(response.body.count),
                          etag: normalizeETag(response.header("etag")), contentType: response.header("content-type"),
                          cacheControl: response.header("cache-control"), lastModified: response.header("last-modified"),
                          metadata: metadata)
    }
}
