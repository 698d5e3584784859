import APKCore
import APKCrypto
import Foundation
import SystemIO

/// The framing of a v3 file (docs/apk-v3-format.md §1-3): compression magic, `ADB.` + schema,
/// blocks padded to 8 bytes.
enum ADBFile {
    static let magic: [UInt8] = Array("ADB.".utf8)
    /// The largest payload a normal (4-byte) block header can describe.
    static let maxNormalPayload: Int64 = 0x3FFF_FFFF - 4

    /// Writes the compression magic and returns the sink the rest of the file goes through.
    static func openStream(_ c: CompressionSettings, into sink: ByteSink) throws -> CompressingSink {
        switch c.algorithm {
        case .none:
            return PassThroughSink(sink)
        case .deflate:
            // `ADBd`: raw deflate, readable by every apk 3 release (the level is not recorded).
            try sink.write(Array("ADBd".utf8))
            return ParallelDeflateEngine(settings: c).makeRawStream(writingTo: sink)
        case .zstd:
            try sink.write(Array("ADBc".utf8) + [2, UInt8(c.level)])
            return try ZstdCompressingSink(level: c.level, threads: c.threads, output: sink)
        }
    }

    static func writeHeader(_ schema: ADBSchema, to sink: ByteSink) throws {
        try sink.write(magic + LittleEndian.bytes(schema.rawValue))
    }

    static func headerSize(payloadLength: Int64) -> Int64 { payloadLength > maxNormalPayload ? 16 : 4 }

    static func writeBlockHeader(_ type: ADBBlockType, payloadLength: Int64, to sink: ByteSink) throws {
        if payloadLength > maxNormalPayload {
            let raw = UInt64(16 + payloadLength)
            try sink.write(LittleEndian.bytes(ADBBlockType.ext.rawValue << 30 | type.rawValue) + LittleEndian.bytes(UInt32(0))
                           + LittleEndian.bytes(raw))
        } else {
            try sink.write(LittleEndian.bytes(type.rawValue << 30 | UInt32(4 + payloadLength)))
        }
    }

    static func writePadding(rawSize: Int64, to sink: ByteSink) throws {
        let pad = Int((8 - rawSize % 8) % 8)
        if pad > 0 { try sink.write([UInt8](repeating: 0, count: pad)) }
    }

    static func writeBlock(_ type: ADBBlockType, payload: [UInt8], to sink: ByteSink) throws {
        let n = Int64(payload.count)
        try writeBlockHeader(type, payloadLength: n, to: sink)
        try sink.write(payload)
        try writePadding(rawSize: headerSize(payloadLength: n) + n, to: sink)
    }

}

/// Uncompressed output: bytes go straight to the file.
final class PassThroughSink: CompressingSink {
    let next: ByteSink
    init(_ next: ByteSink) { self.next = next }
    func write(_ bytes: UnsafeRawBufferPointer) throws { try next.write(bytes) }
    func finish() throws {}
}

/// v3 signatures (§7): SHA-512 over schema + signature header + SHA-512 of the ADB payload,
/// with the key found by its id.
public enum ADBSignature {
    /// The key id: the first 16 bytes of SHA-512 over the public key material (the BIT STRING of
    /// its SubjectPublicKeyInfo: PKCS#1 RSAPublicKey, or the EC point).
    public static func keyID(publicKeyDER spki: [UInt8]) throws -> [UInt8] {
        Array(Digest.hash(.sha512, try bitString(ofSPKI: spki)).prefix(16))
    }

    public static func keyID(_ key: PublicKey) throws -> [UInt8] { try keyID(publicKeyDER: try key.der()) }

    /// The SIG block payload for `payload` (an ADB block's payload) of `schema`.
    static func sign(_ payload: [UInt8], schema: ADBSchema, signer: Signer) throws -> [UInt8] {
        let header: [UInt8] = [0, 4] + (try keyID(publicKeyDER: try signer.key.publicKeyDER()))
        let message = LittleEndian.bytes(schema.rawValue) + header + Digest.hash(.sha512, payload)
        return header + Array(try signer.key.sign(Data(message), digest: .sha512))
    }

    /// Checks one SIG block payload against the trusted keys. nil: no trusted key has its id.
    static func verify(_ sig: [UInt8], payload: [UInt8], schema: ADBSchema, keyring: Keyring) throws -> (key: PublicKey, ok: Bool)? {
        guard sig.count >= 18, sig[0] == 0 else { throw ADBError.malformed("signature block of an unknown version") }
        let alg: Digest.Algorithm
        switch sig[1] {
        case 3: alg = .sha256
        case 4: alg = .sha512
        default: throw ADBError.malformed("signature over an unsupported digest (\(sig[1]))")
        }
        let id = Array(sig[2..<18])
        for key in keyring.all {
            guard let kid = try? keyID(key), kid == id else { continue }
            let message = LittleEndian.bytes(schema.rawValue) + Array(sig[0..<18]) + Digest.hash(alg, payload)
            return (key, key.verify(signature: Data(sig[18...]), over: Data(message), algorithm: .sha512))
        }
        return nil
    }

    /// Minimal DER walk: SEQUENCE { SEQUENCE algorithm, BIT STRING key } -> the key bytes.
    static func bitString(ofSPKI d: [UInt8]) throws -> [UInt8] {
        var i = 0
        func header(_ tag: UInt8) throws -> Int {
            guard i + 2 <= d.count, d[i] == tag else { throw CryptoError.key(path: "public key", reason: "not a SubjectPublicKeyInfo") }
            i += 1
            var len = Int(d[i]); i += 1
            if len & 0x80 != 0 {
                let n = len & 0x7f
                guard n <= 4, i + n <= d.count else { throw CryptoError.key(path: "public key", reason: "bad DER length") }
                len = 0
                for _ in 0..<n { len = len << 8 | Int(d[i]); i += 1 }
            }
            guard i + len <= d.count else { throw CryptoError.key(path: "public key", reason: "bad DER length") }
            return len
        }
        _ = try header(0x30)
        let algLen = try header(0x30)
        i += algLen
        let bits = try header(0x03)
        guard bits >= 1 else { throw CryptoError.key(path: "public key", reason: "empty key") }
        return Array(d[(i + 1)..<(i + bits)])
    }
}
