import COpenSSL
import Foundation

private func opensslError() -> String {
    var parts: [String] = []
    while case let e = ERR_get_error(), e != 0 {
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(e, &buf, buf.count)
        parts.append(String(cString: buf))
    }
    return parts.isEmpty ? "unknown OpenSSL error" : parts.joined(separator: "; ")
}

/// An RSA private key that signs packages and indexes. PKCS#1 or PKCS#8 PEM, optionally encrypted.
/// The key material never leaves OpenSSL and is never printed.
public final class SigningKey: @unchecked Sendable {
    let pkey: OpaquePointer
    /// Where the key came from (for messages); never the key itself.
    public let origin: String

    public init(pem: Data, origin: String, passphrase: String? = nil) throws {
        self.origin = origin
        let bio = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
        defer { BIO_free(bio) }
        ERR_clear_error()
        let key: OpaquePointer?
        if let pass = passphrase {
            key = pass.withCString { p in
                PEM_read_bio_PrivateKey(bio, nil, nil, UnsafeMutableRawPointer(mutating: p))
            }
        } else {
            // An empty passphrase callback result makes encrypted keys fail instead of prompting.
            key = PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        guard let key else {
            let text = String(decoding: pem, as: UTF8.self)
            if text.contains("ENCRYPTED") {
                throw FormatError.key(path: origin, reason: passphrase == nil
                    ? "private key is encrypted: pass --passphrase-file or set APKIT_KEY_PASSPHRASE"
                    : "cannot decrypt private key: wrong passphrase?")
            }
            throw FormatError.key(path: origin, reason: "not a PEM RSA private key (PKCS#1 or PKCS#8 expected)")
        }
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA else {
            EVP_PKEY_free(key)
            throw FormatError.key(path: origin, reason: "not an RSA key: apk only verifies RSA signatures")
        }
        pkey = key
    }

    public convenience init(file: String, passphrase: String? = nil) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FormatError.key(path: file, reason: "cannot read private key file")
        }
        try self.init(pem: data, origin: file, passphrase: passphrase)
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Generates a new RSA key.
    public static func generate(bits: Int = 4096) throws -> SigningKey {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil) else { throw FormatError.crypto(opensslError()) }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(ctx) > 0,
              EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) > 0,
              EVP_PKEY_keygen(ctx, &key) > 0, let key else {
            throw FormatError.crypto("RSA key generation failed: \(opensslError())")
        }
        defer { EVP_PKEY_free(key) }
        // Round-trip through PEM so that init takes ownership in one place.
        return try SigningKey(pem: try pemEncode(key, privateKey: true), origin: "generated key")
    }

    /// PKCS#8 PEM of the private key (for writing a new key file only).
    public func privateKeyPEM() throws -> Data { try pemEncode(pkey, privateKey: true) }

    /// SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), as abuild writes `.rsa.pub`.
    public func publicKeyPEM() throws -> Data { try pemEncode(pkey, privateKey: false) }

    /// PKCS#1 v1.5 signature of `data` under the digest of `type`.
    public func sign(_ data: Data, type: SignatureType) throws -> Data {
        guard let ctx = EVP_MD_CTX_new() else { throw FormatError.crypto(opensslError()) }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, type.digest.evp, nil, pkey) > 0 else { throw FormatError.crypto(opensslError()) }
        var len = 0
        let ok = data.withUnsafeBytes { buf -> Bool in
            guard EVP_DigestSign(ctx, nil, &len, buf.baseAddress?.assumingMemoryBound(to: UInt8.self), buf.count) > 0 else { return false }
            return true
        }
        guard ok else { throw FormatError.crypto(opensslError()) }
        var sig = [UInt8](repeating: 0, count: len)
        let ok2 = data.withUnsafeBytes { buf in
            EVP_DigestSign(ctx, &sig, &len, buf.baseAddress?.assumingMemoryBound(to: UInt8.self), buf.count) > 0
        }
        guard ok2 else { throw FormatError.crypto(opensslError()) }
        return Data(sig[0..<len])
    }
}

private func pemEncode(_ key: OpaquePointer, privateKey: Bool) throws -> Data {
    guard let bio = BIO_new(BIO_s_mem()) else { throw FormatError.crypto(opensslError()) }
    defer { BIO_free(bio) }
    let ok = privateKey
        ? PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil)
        : PEM_write_bio_PUBKEY(bio, key)
    guard ok > 0 else { throw FormatError.crypto(opensslError()) }
    var ptr: UnsafeMutablePointer<CChar>? = nil
    let len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &ptr)
    guard let ptr, len > 0 else { throw FormatError.crypto("empty PEM") }
    return Data(bytes: ptr, count: Int(len))
}

/// A trusted RSA public key, as found in `/etc/apk/keys/<name>`.
public final class PublicKey: @unchecked Sendable {
    let pkey: OpaquePointer
    /// The key's file name, which signature entries refer to.
    public let name: String

    public init(pem: Data, name: String) throws {
        self.name = name
        let bio = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
        defer { BIO_free(bio) }
        if let k = PEM_read_bio_PUBKEY(bio, nil, nil, nil) {
            pkey = k
        } else {
            // Also accept PKCS#1 `BEGIN RSA PUBLIC KEY`.
            let bio2 = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
            defer { BIO_free(bio2) }
            guard let rsa = PEM_read_bio_RSAPublicKey(bio2, nil, nil, nil), let k = EVP_PKEY_new() else {
                ERR_clear_error()
                throw FormatError.key(path: name, reason: "not a PEM RSA public key")
            }
            EVP_PKEY_assign(k, EVP_PKEY_RSA, UnsafeMutableRawPointer(rsa))
            pkey = k
        }
        ERR_clear_error()
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Verifies a PKCS#1 v1.5 signature over an already computed digest (streamed hashing).
    public func verify(signature: Data, digest: [UInt8], type: SignatureType) -> Bool {
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { return false }
        defer { EVP_PKEY_CTX_free(ctx); ERR_clear_error() }
        guard EVP_PKEY_verify_init(ctx) > 0,
              EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0,
              EVP_PKEY_CTX_set_signature_md(ctx, type.digest.evp) > 0 else { return false }
        return signature.withUnsafeBytes { s in
            EVP_PKEY_verify(ctx, s.baseAddress?.assumingMemoryBound(to: UInt8.self), s.count, digest, digest.count) == 1
        }
    }

    public func verify(signature: Data, over data: Data, type: SignatureType) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx); ERR_clear_error() }
        guard EVP_DigestVerifyInit(ctx, nil, type.digest.evp, nil, pkey) > 0 else { return false }
        return signature.withUnsafeBytes { s in
            data.withUnsafeBytes { d in
                EVP_DigestVerify(ctx, s.baseAddress?.assumingMemoryBound(to: UInt8.self), s.count,
                                 d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count) == 1
            }
        }
    }
}

/// The keys an installer trusts: every file in the key directories, by file name.
public struct Keyring: Sendable {
    public private(set) var keys: [String: PublicKey] = [:]
    public init() {}

    public mutating func add(_ key: PublicKey) { keys[key.name] = key }

    /// Loads every readable PEM public key in `directory` (others are skipped). A missing directory is empty.
    public mutating func addDirectory(_ directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for n in names.sorted() {
            guard let d = FileManager.default.contents(atPath: directory + "/" + n),
                  let k = try? PublicKey(pem: d, name: n) else { continue }
            keys[n] = k
        }
    }

    public func key(named name: String) -> PublicKey? { keys[name] }
}

/// What signs: a private key, the public key name installers know it by, and which signature kinds to write.
public struct Signer: Sendable {
    public let key: SigningKey
    public let keyName: String
    public let types: [SignatureType]

    public init(key: SigningKey, keyName: String, types: [SignatureType] = [.rsa256, .rsa]) {
        self.key = key
        self.keyName = keyName
        self.types = types
    }
}
