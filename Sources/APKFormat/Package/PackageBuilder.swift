import Foundation

/// Writes signed `.apk` files: data member to a temp file (hashed as it is written), then
/// `.PKGINFO` with `datahash`, the control member, its signatures, and the three joined.
public struct PackageBuilder: Sendable {
    public var signer: Signer
    public var engine: CompressionEngine

    public init(signer: Signer, engine: CompressionEngine = ZlibGzipEngine(level: 9)) {
        self.signer = signer
        self.engine = engine
    }

    /// Builds `spec` into `outputPath`, atomically.
    public func build(_ spec: PackageSpec, to outputPath: String) throws -> BuiltPackage {
        throw FormatError.invalidArgument("PackageBuilder.build: not implemented yet")
    }
}
