import APKCrypto
import Foundation

/// The tests' short names for the crypto the S3 client uses (all from APKCrypto).
enum S3Crypto {
    static let emptySHA256 = Digest.emptySHA256Hex
    static func sha256(_ data: Data) -> [UInt8] { Digest.hash(.sha256, data) }
    static func sha256(_ s: String) -> [UInt8] { Digest.hash(.sha256, s) }
    static func md5(_ data: Data) -> [UInt8] { Digest.hash(.md5, data) }
    static func hex(_ b: [UInt8]) -> String { b.hexString }
    static func base64(_ b: [UInt8]) -> String { Data(b).base64EncodedString() }
}
