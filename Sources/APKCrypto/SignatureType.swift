import Foundation

/// The signature kinds apk understands, by their `.SIGN.<TYPE>.` tag.
public enum SignatureType: String, CaseIterable, Sendable {
    /// PKCS#1 v1.5 over SHA-1: what older apk and Alpine's own repositories use.
    case rsa = "RSA"
    /// PKCS#1 v1.5 over SHA-256.
    case rsa256 = "RSA256"
    /// PKCS#1 v1.5 over SHA-512.
    case rsa512 = "RSA512"

    public var digest: Digest.Algorithm {
        switch self {
        case .rsa: return .sha1
        case .rsa256: return .sha256
        case .rsa512: return .sha512
        }
    }

    /// The signature entry's name in the signature tar, e.g. `.SIGN.RSA256.alice-1234abcd.rsa.pub`.
    public func entryName(keyName: String) -> String { ".SIGN.\(rawValue).\(keyName)" }

    /// Splits `.SIGN.RSA256.keyname` into its type and key name; nil for anything else.
    public static func parse(entryName: String) -> (type: SignatureType?, tag: String, keyName: String)? {
        guard entryName.hasPrefix(".SIGN.") else { return nil }
        let rest = entryName.dropFirst(6)
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        let tag = String(rest[..<dot])
        return (SignatureType(rawValue: tag), tag, String(rest[rest.index(after: dot)...]))
    }
}

extension SigningKey {
    /// A v2 signature of `data` of the given kind.
    public func sign(_ data: Data, type: SignatureType) throws -> Data { try sign(data, digest: type.digest) }
}

extension PublicKey {
    public func verify(signature: Data, digest: [UInt8], type: SignatureType) -> Bool {
        verify(signature: signature, digest: digest, algorithm: type.digest)
    }
    public func verify(signature: Data, over data: Data, type: SignatureType) -> Bool {
        verify(signature: signature, over: data, algorithm: type.digest)
    }
}
