import COpenSSL
import Foundation

/// A streaming message digest (OpenSSL EVP).
public final class Digest {
    public enum Algorithm: Sendable {
        case sha1, sha256, sha512, md5
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

    public init(_ algorithm: Algorithm) {
        self.algorithm = algorithm
        ctx = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(ctx, algorithm.evp, nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    public func update(_ data: Data) { data.withUnsafeBytes { update($0) } }
    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// Finishes and returns the digest; the hasher must not be used afterwards.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &len)
        return Array(out[0..<Int(len)])
    }

    public static func hash(_ algorithm: Algorithm, _ data: Data) -> [UInt8] {
        let d = Digest(algorithm); d.update(data); return d.finalize()
    }
    public static func hash(_ algorithm: Algorithm, _ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let d = Digest(algorithm); d.update(bytes); return d.finalize()
    }
    public static func hash(_ algorithm: Algorithm, _ bytes: [UInt8]) -> [UInt8] {
        let d = Digest(algorithm); d.update(bytes); return d.finalize()
    }
}

extension Array where Element == UInt8 {
    public var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var s = [UInt8](); s.reserveCapacity(count * 2)
        for b in self { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return String(decoding: s, as: UTF8.self)
    }
}
