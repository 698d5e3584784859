import COpenSSL
import Foundation
import SystemIO

/// The kinds of key apk verifies: RSA (Alpine, abuild) and EC (OpenWrt's apk keys, P-256).
public enum KeyType: String, Sendable, CaseIterable {
    case rsa, ec
}

/// An OpenSSL key handle (`EVP_PKEY`), freed with its owner. Keys are immutable once loaded, and
/// OpenSSL allows concurrent use of one `EVP_PKEY` for signing and verifying.
final class KeyHandle: @unchecked Sendable {
    let pkey: OpaquePointer
    init(_ pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    var type: KeyType? {
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_RSA: return .rsa
        case EVP_PKEY_EC: return .ec
        default: return nil
        }
    }

    /// SubjectPublicKeyInfo DER of the public part.
    func publicKeyDER() throws -> [UInt8] {
        var ptr: UnsafeMutablePointer<UInt8>? = nil
        let n = i2d_PUBKEY(pkey, &ptr)
        guard n > 0, let ptr else { throw CryptoError.fromQueue("cannot encode public key") }
        defer { CRYPTO_free(ptr, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: ptr, count: Int(n)))
    }

    func pem(privateKey: Bool) throws -> Data {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.fromQueue() }
        defer { BIO_free(bio) }
        let ok = privateKey
            ? PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil)
            : PEM_write_bio_PUBKEY(bio, pkey)
        guard ok > 0 else { throw CryptoError.fromQueue("cannot encode key") }
        var ptr: UnsafeMutablePointer<CChar>? = nil
        let len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &ptr)
        guard let ptr, len > 0 else { throw CryptoError.openssl("empty PEM") }
        return Data(bytes: ptr, count: Int(len))
    }
}

/// Reads a PEM private key (PKCS#1, PKCS#8, SEC1; encrypted with `passphrase`). Without a
/// passphrase an encrypted key fails instead of prompting on the terminal.
private func readPrivateKey(_ pem: Data, passphrase: String?) -> OpaquePointer? {
    let bio = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
    defer { BIO_free(bio) }
    guard let passphrase else { return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil) }
    return passphrase.withCString { p in PEM_read_bio_PrivateKey(bio, nil, nil, UnsafeMutableRawPointer(mutating: p)) }
}

/// Decodes a PEM public key with OpenSSL's decoders (SubjectPublicKeyInfo or PKCS#1 RSA).
private func decodePublicKey(_ pem: Data) -> OpaquePointer? {
    var key: OpaquePointer? = nil
    // Selection EVP_PKEY_PUBLIC_KEY (public key and its parameters), a macro Swift cannot import.
    guard let ctx = OSSL_DECODER_CTX_new_for_pkey(&key, "PEM", nil, nil, 0x86, nil, nil) else { return nil }
    defer { OSSL_DECODER_CTX_free(ctx) }
    return pem.withUnsafeBytes { buf -> OpaquePointer? in
        var p = buf.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var left = buf.count
        guard OSSL_DECODER_from_data(ctx, &p, &left) == 1 else { return nil }
        return key
    }
}

/// A private key that signs packages and indexes: RSA (PKCS#1 or PKCS#8 PEM) or EC P-256 (SEC1 or
/// PKCS#8 PEM, as `openssl ecparam -genkey` writes for OpenWrt), optionally encrypted. The key
/// material never leaves OpenSSL and is never printed.
public final class SigningKey: Sendable {
    let handle: KeyHandle
    /// Where the key came from (for messages); never the key itself.
    public let origin: String
    public let type: KeyType

    public init(pem: Data, origin: String, passphrase: String? = nil) throws {
        self.origin = origin
        ERR_clear_error()
        let text = String(decoding: pem, as: UTF8.self)
        guard let key = readPrivateKey(pem, passphrase: passphrase), EVP_PKEY_get_bits(key) > 0 else {
            ERR_clear_error()
            if text.contains("ENCRYPTED") {
                throw CryptoError.key(path: origin, reason: passphrase == nil
                    ? "private key is encrypted: pass --passphrase-file or set APKIT_KEY_PASSPHRASE"
                    : "cannot decrypt private key: wrong passphrase?")
            }
            if text.contains("PUBLIC KEY") {
                throw CryptoError.key(path: origin, reason: "this is a public key; signing needs the private key (PEM)")
            }
            throw CryptoError.key(path: origin, reason: "not a PEM private key (RSA in PKCS#1/PKCS#8, or EC P-256 in SEC1/PKCS#8)")
        }
        let handle = KeyHandle(key)
        guard text.contains("PRIVATE KEY") else {
            throw CryptoError.key(path: origin, reason: "this is a public key; signing needs the private key (PEM)")
        }
        guard let type = handle.type else {
            throw CryptoError.key(path: origin, reason: "neither an RSA nor an EC key: apk verifies only RSA and EC (P-256) signatures")
        }
        if type == .ec {
            var name = [CChar](repeating: 0, count: 64)
            var len = 0
            guard EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, &name, name.count, &len) == 1,
                  ["prime256v1", "P-256"].contains(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) else {
                throw CryptoError.key(path: origin, reason: "EC key on another curve than P-256 (prime256v1), which apk does not accept; make one with `apkit keygen --type ec`")
            }
        }
        self.handle = handle
        self.type = type
        ERR_clear_error()
    }

    public convenience init(file: String, passphrase: String? = nil) throws {
        var data = Data()
        do {
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            // A key is small: refuse anything larger than 1 MiB rather than read it all.
            let n = try FileSource.stream(file, buffer: &buffer, limit: (1 << 20) + 1) { data.append(contentsOf: $0) }
            guard n <= 1 << 20 else { throw CryptoError.key(path: file, reason: "too large for a private key") }
        } catch let e as SystemError {
            throw CryptoError.key(path: file, reason: "cannot read private key file: \(e.reason)")
        }
        try self.init(pem: data, origin: file, passphrase: passphrase)
    }

    /// Generates a new RSA key of `bits` bits.
    public static func generate(bits: Int = 4096) throws -> SigningKey {
        try generate(type: .rsa, bits: bits)
    }

    /// Generates a new key: RSA of `bits` bits, or EC on P-256 (`bits` ignored).
    public static func generate(type: KeyType, bits: Int = 4096) throws -> SigningKey {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, type == .rsa ? "RSA" : "EC", nil) else { throw CryptoError.fromQueue() }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) > 0 else { throw CryptoError.fromQueue("key generation") }
        switch type {
        case .rsa: guard EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) > 0 else { throw CryptoError.fromQueue("RSA key size") }
        case .ec: guard EVP_PKEY_CTX_set_group_name(ctx, "P-256") > 0 else { throw CryptoError.fromQueue("EC curve") }
        }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_generate(ctx, &key) > 0, let key else { throw CryptoError.fromQueue("key generation") }
        let handle = KeyHandle(key)
        // Round-trip through PEM so that init takes ownership and checks in one place.
        return try SigningKey(pem: try handle.pem(privateKey: true), origin: "generated key")
    }

    /// PKCS#8 PEM of the private key (for writing a new key file only).
    public func privateKeyPEM() throws -> Data { try handle.pem(privateKey: true) }

    /// SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), as abuild writes `.rsa.pub`.
    public func publicKeyPEM() throws -> Data { try handle.pem(privateKey: false) }

    /// SubjectPublicKeyInfo DER of the public part.
    public func publicKeyDER() throws -> [UInt8] { try handle.publicKeyDER() }

    /// The public half, as a verifier would load it.
    public func publicKey(name: String) throws -> PublicKey { try PublicKey(pem: try publicKeyPEM(), name: name) }

    /// Signs `data` hashed with `digest`: PKCS#1 v1.5 for RSA, ECDSA (DER) for EC.
    public func sign(_ data: Data, digest: Digest.Algorithm) throws -> Data {
        try data.withUnsafeBytes { try sign(bytes: $0, digest: digest) }
    }

    public func sign(bytes: UnsafeRawBufferPointer, digest: Digest.Algorithm) throws -> Data {
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError.fromQueue() }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, digest.evp, nil, handle.pkey) > 0 else { throw CryptoError.fromQueue("sign") }
        let p = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var len = 0
        guard EVP_DigestSign(ctx, nil, &len, p, bytes.count) > 0 else { throw CryptoError.fromQueue("sign") }
        var sig = [UInt8](repeating: 0, count: len)
        guard EVP_DigestSign(ctx, &sig, &len, p, bytes.count) > 0 else { throw CryptoError.fromQueue("sign") }
        return Data(sig[0..<len])
    }

    /// Signs an already computed digest (streamed hashing).
    public func sign(digest value: [UInt8], algorithm: Digest.Algorithm) throws -> Data {
        guard let ctx = EVP_PKEY_CTX_new(handle.pkey, nil) else { throw CryptoError.fromQueue() }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_sign_init(ctx) > 0 else { throw CryptoError.fromQueue("sign") }
        if type == .rsa { guard EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 else { throw CryptoError.fromQueue("sign") } }
        guard EVP_PKEY_CTX_set_signature_md(ctx, algorithm.evp) > 0 else { throw CryptoError.fromQueue("sign") }
        var len = 0
        guard EVP_PKEY_sign(ctx, nil, &len, value, value.count) > 0 else { throw CryptoError.fromQueue("sign") }
        var sig = [UInt8](repeating: 0, count: len)
        guard EVP_PKEY_sign(ctx, &sig, &len, value, value.count) > 0 else { throw CryptoError.fromQueue("sign") }
        return Data(sig[0..<len])
    }

    /// Whether `publicKey` is this key's public half.
    public func matches(_ publicKey: PublicKey) -> Bool {
        guard let mine = try? publicKeyDER(), let theirs = try? publicKey.der() else { return false }
        return mine == theirs
    }
}

/// A trusted public key (RSA or EC), as found in `/etc/apk/keys/<name>`.
public final class PublicKey: Sendable {
    let handle: KeyHandle
    /// The key's file name, which v2 signature entries refer to.
    public let name: String
    public let type: KeyType

    public init(pem: Data, name: String) throws {
        self.name = name
        ERR_clear_error()
        guard let k = decodePublicKey(pem) else {
            ERR_clear_error()
            throw CryptoError.key(path: name, reason: "not a PEM public key (RSA or EC)")
        }
        let handle = KeyHandle(k)
        guard let type = handle.type else {
            throw CryptoError.key(path: name, reason: "neither an RSA nor an EC public key")
        }
        self.handle = handle
        self.type = type
        ERR_clear_error()
    }

    /// SubjectPublicKeyInfo DER.
    public func der() throws -> [UInt8] { try handle.publicKeyDER() }

    /// Verifies a signature over an already computed digest (streamed hashing).
    public func verify(signature: Data, digest: [UInt8], algorithm: Digest.Algorithm) -> Bool {
        guard let ctx = EVP_PKEY_CTX_new(handle.pkey, nil) else { return false }
        defer { EVP_PKEY_CTX_free(ctx); ERR_clear_error() }
        guard EVP_PKEY_verify_init(ctx) > 0 else { return false }
        if type == .rsa { guard EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 else { return false } }
        guard EVP_PKEY_CTX_set_signature_md(ctx, algorithm.evp) > 0 else { return false }
        return signature.withUnsafeBytes { s in
            EVP_PKEY_verify(ctx, s.baseAddress?.assumingMemoryBound(to: UInt8.self), s.count, digest, digest.count) == 1
        }
    }

    public func verify(signature: Data, over data: Data, algorithm: Digest.Algorithm) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx); ERR_clear_error() }
        guard EVP_DigestVerifyInit(ctx, nil, algorithm.evp, nil, handle.pkey) > 0 else { return false }
        return signature.withUnsafeBytes { s in
            data.withUnsafeBytes { d in
                EVP_DigestVerify(ctx, s.baseAddress?.assumingMemoryBound(to: UInt8.self), s.count,
                                 d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count) == 1
            }
        }
    }
}

/// The keys an installer trusts: every public key file in the key directories. v2 finds a key by
/// its file name; v3 by its intrinsic id (derived from the key itself, so file names do not matter).
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

    /// Every key, in file-name order.
    public var all: [PublicKey] { keys.keys.sorted().map { keys[$0]! } }
}

/// What signs: a private key, the public key name installers know it by (v2), and which v2
/// signature kinds to write.
public struct Signer: Sendable {
    public let key: SigningKey
    public let keyName: String
    public let types: [SignatureType]

    public init(key: SigningKey, keyName: String, types: [SignatureType] = [.rsa256, .rsa]) {
        self.key = key
        self.keyName = keyName
        self.types = types
    }

    /// The signer's own public key, under its file name (a publisher always trusts itself).
    public func publicKey() throws -> PublicKey { try key.publicKey(name: keyName) }
}
