// The v2 package reader and verifier (PackageFormats.read -> V2Format -> ArchiveReader, full and
// metadata-only), and the v2 index reader (V2IndexFormat.read) on the same file.
//
// Input: a whole .apk / APKINDEX.tar.gz (starts with 1f 8b), written as is; or the "raw" form:
// decompressed members joined by "\n--APKFUZZ-MEMBER--\n", each member's tar checksums fixed and
// gzipped here, so mutations reach the tar, .PKGINFO and hash checks behind zlib's CRC.
// Oracle: a package reported good holds no more file bytes than its declared size.
import APKFormat
import FuzzSupport

@main struct FuzzV2Package {
    static func main() {
        let keyring = seedKeyring()
        runFuzzer { input in
            let bytes = [UInt8](input)
            if bytes.count >= 2, bytes[0] == 0x1f, bytes[1] == 0x8b {
                writeInput(input)
            } else {
                var file: [UInt8] = []
                for var part in split(bytes, at: memberSeparator) {
                    fixTarChecksums(&part)
                    file += gzipMember(part)
                }
                file.withUnsafeBytes { writeInput($0) }
            }
            let visitor = CountingVisitor()
            let report = PackageFormats.read(path: fuzzInputPath, options: ReadOptions(keyring: keyring, allowUntrusted: true),
                                             visitor: visitor)
            // Oracle: a package called good holds no more file bytes than the reader allows for its
            // .PKGINFO `size` (twice it plus 1 MiB, ArchiveReader's bound), so a deflate bomb behind a
            // small declared size is refused, not inflated and passed (issue 11: decompressed
            // against declared sizes).
            if report.ok, report.kind == .package, let info = report.info {
                if visitor.fileBytes > 2 * max(info.size, 0) + (1 << 20) {
                    fatalError("verified OK, but its files hold \(visitor.fileBytes) bytes and .PKGINFO declares size = \(info.size)")
                }
            }
            _ = PackageFormats.read(path: fuzzInputPath,
                                    options: ReadOptions(keyring: keyring, allowUntrusted: true, metadataOnly: true))
            _ = try? V2IndexFormat().read(path: fuzzInputPath, keyring: keyring, allowUntrusted: true, source: nil)
        }
    }
}
