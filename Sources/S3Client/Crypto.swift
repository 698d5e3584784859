import COpenSSL
import Foundation

/// Hashing helpers for the S3 client (OpenSSL EVP), kept local so this layer depends on nothing else.
enum S3Crypto {
    /// A streaming digest (SHA-256 or MD5).
    final class Hasher {
        private let ctx: OpaquePointer
        init(md5: Bool = false) {
            ctx = EVP_MD_CTX_new()!
            EVP_DigestInit_ex(ctx, md5 ? EVP_md5() : EVP_sha256(), nil)
        }
        deinit { EVP_MD_CTX_free(ctx) }
        func update(_ bytes: UnsafeRawBufferPointer) {
            if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
        }
        func update(_ data: Data) { data.withUnsafeBytes { update($0) } }
        func finalize() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
            var len: UInt32 = 0
            EVP_DigestFinal_ex(ctx, &out, &len)
            return Array(out[0..<Int(len)])
        }
    }

    static func sha256(_ data: Data) -> [UInt8] { let h = Hasher(); h.update(data); return h.finalize() }
    static func sha256(_ string: String) -> [UInt8] { sha256(Data(string.utf8)) }
    static func md5(_ data: Data) -> [UInt8] { let h = Hasher(md5: true); h.update(data); return h.finalize() }

    static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress?.assumingMemoryBound(to: UInt8.self),
                         m.count, &out, &len)
            }
        }
        return Array(out[0..<Int(len)])
    }
    static func hmacSHA256(key: [UInt8], _ message: String) -> [UInt8] { hmacSHA256(key: key, Array(message.utf8)) }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](); out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// SHA-256 of the empty string, the payload hash of every bodiless request.
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}
