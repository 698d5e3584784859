import COpenSSL
import Foundation
import SystemIO

/// A streaming message digest (OpenSSL EVP). Updates may come from any thread (a verifier hashes
/// on worker threads): every use of the OpenSSL context is under `lock` (uncontended in
/// practice), which is what the unchecked conformance rests on.
public final class Digest: @unchecked Sendable {
    public enum Algorithm: Sendable {
        case sha1, sha256, sha512, md5
        /// Digest length in bytes.
        public var size: Int {
            switch self {
            case .sha1: return 20
            case .sha256: return 32
            case .sha512: return 64
            case .md5: return 16
            }
        }
        var evp: OpaquePointer? {
            switch self {
            case .sha1: return EVP_sha1()
            case .sha256: return EVP_sha256()
            case .sha512: return EVP_sha512()
            case .md5: return EVP_md5()
            }
        }
    }

    public let algorithm: Algorithm
    private let ctx: OpaquePointer
    private let lock = NSLock()

    public init(_ algorithm: Algorithm) {
        self.algorithm = algorithm
        ctx = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(ctx, algorithm.evp, nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        lock.lock()
        EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count)
        lock.unlock()
    }

    public func update(_ data: Data) { data.withUnsafeBytes { update($0) } }
    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// Finishes and returns the digest; the hasher must not be used afterwards.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        lock.lock()
        EVP_DigestFinal_ex(ctx, &out, &len)
        lock.unlock()
        return Array(out[0..<Int(len)])
    }

    public static func hash(_ algorithm: Algorithm, _ data: Data) -> [UInt8] {
        let d = Digest(algorithm); d.update(data); return d.finalize()
    }
    public static func hash(_ algorithm: Algorithm, _ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let d = Digest(algorithm); d.update(bytes); return d.finalize()
    }
    public static func hash(_ algorithm: Algorithm, _ string: String) -> [UInt8] { hash(algorithm, Array(string.utf8)) }

    /// SHA-256 of nothing, in hex (the payload hash of every bodiless S3 request).
    public static let emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public static func hash(_ algorithm: Algorithm, _ bytes: [UInt8]) -> [UInt8] {
        let d = Digest(algorithm); d.update(bytes); return d.finalize()
    }
}

/// HMAC (RFC 2104) through OpenSSL's EVP_MAC.
public enum HMAC {
    public static func sha256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len = 0
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                _ = EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil, k.baseAddress, k.count,
                              m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count, &out, out.count, &len)
            }
        }
        return Array(out[0..<len])
    }
    public static func sha256(key: [UInt8], _ message: String) -> [UInt8] { sha256(key: key, Array(message.utf8)) }
}

extension Array where Element == UInt8 {
    public var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var s = [UInt8](); s.reserveCapacity(count * 2)
        for b in self { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return String(decoding: s, as: UTF8.self)
    }
}

/// Feeds every byte to hashers and forwards it.
public final class HashingSink: ByteSink {
    public let digests: [Digest]
    let next: ByteSink?
    public init(_ digests: [Digest], next: ByteSink?) { self.digests = digests; self.next = next }
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        for d in digests { d.update(bytes) }
        try next?.write(bytes)
    }
}

extension Array where Element == UInt8 {
    /// Parses lowercase or uppercase hex; nil for anything else.
    public init?(hexString s: String) {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out = [UInt8](); out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = v(u[i]), let lo = v(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo); i += 2
        }
        self = out
    }
}
