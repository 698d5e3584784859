// swift-tools-version:6.0
import PackageDescription

// The layers, lowest first. A target depends only on targets above it in this list, and the two
// package formats never import each other:
//
//   C system libraries: COpenSSL, CZlib, CDeflate, CZstd, CCurl (+ CCurlShim), CPlatform; and
//                  CDeflateScan, our own C deflate block walker
//   SystemIO       POSIX layer: typed errno (SystemError), EINTR, files, atomic writes, sinks
//   APKCrypto      digests (SHA-1/256/512, MD5), HMAC, hex, RSA and EC keys, signers, keyrings
//   APKCore        format-neutral: package metadata and spec, the staged-tree snapshot, versions,
//                  Arch, compression (deflate, gzip, zstd), the PackageFormat/IndexFormat seams
//   APKv2  APKv3   the two package formats, side by side: v2 (tar + gzip, APKINDEX.tar.gz) and
//                  v3 (ADB, packages.adb)
//   APKFormat      the registry of formats (detect by magic, look up by name); re-exports the above
//   APKRecipe      apkit.yml / instellar.yml, build, staging, service files, dependency tracing
//   S3Client       SigV4, HTTP over libcurl, multipart uploads
//   APKRepository  local directory or S3 bucket: publish, index update
//   apkit (CLI)    argument parsing and printing only
let package = Package(
    name: "apkit",
    products: [
        .executable(name: "apkit", targets: ["apkit"]),
        .library(name: "APKFormat", targets: ["APKFormat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(name: "COpenSSL", path: "Sources/CSystem/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CSystem/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CDeflate", path: "Sources/CSystem/CDeflate", pkgConfig: "libdeflate",
                       providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CSystem/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCurl", path: "Sources/CSystem/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        // Linux calls glibc hides behind _GNU_SOURCE (copy_file_range, xattrs).
        .target(name: "CPlatform", path: "Sources/CSystem/CPlatform"),
        // The deflate block walker ParallelDeflateEngine runs over all it compresses (own code, C for speed).
        .target(name: "CDeflateScan", path: "Sources/CSystem/CDeflateScan"),
        // libcurl's setopt/getinfo are variadic: Swift cannot call them, this shim can.
        .target(name: "CCurlShim", dependencies: ["CCurl"], path: "Sources/CSystem/CCurlShim"),

        .target(name: "SystemIO", dependencies: ["CPlatform"], path: "Sources/SystemIO"),
        .target(name: "APKCrypto", dependencies: ["COpenSSL", "SystemIO"], path: "Sources/APKCrypto"),
        .target(name: "APKCore", dependencies: ["SystemIO", "APKCrypto", "CPlatform", "CZlib", "CDeflate", "CZstd", "CDeflateScan"],
                path: "Sources/APKCore"),
        .target(name: "APKv2", dependencies: ["APKCore", "CZlib"], path: "Sources/APKv2"),
        .target(name: "APKv3", dependencies: ["APKCore", "CZlib", "CDeflate", "CZstd"], path: "Sources/APKv3"),
        .target(name: "APKFormat", dependencies: ["APKCore", "APKv2", "APKv3"], path: "Sources/APKFormat"),
        .target(name: "APKRecipe", dependencies: ["APKFormat", "Yams"], path: "Sources/APKRecipe"),
        .target(name: "S3Client", dependencies: ["SystemIO", "APKCrypto", "CCurlShim"], path: "Sources/S3Client"),
        .target(name: "APKRepository", dependencies: ["APKFormat", "S3Client"], path: "Sources/APKRepository"),
        .executableTarget(name: "apkit", dependencies: [
            "APKFormat", "APKRecipe", "APKRepository", "S3Client",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/CLI"),

        .target(name: "TestSupport", dependencies: ["APKFormat"], path: "Tests/TestSupport"),
        .testTarget(name: "APKFormatTests", dependencies: ["APKFormat", "TestSupport"], path: "Tests/APKFormatTests"),
        .testTarget(name: "APKRecipeTests", dependencies: ["APKRecipe", "TestSupport"], path: "Tests/APKRecipeTests"),
        .testTarget(name: "S3ClientTests", dependencies: ["S3Client", "APKCrypto", "TestSupport"], path: "Tests/S3ClientTests"),
        .testTarget(name: "APKRepositoryTests", dependencies: ["APKRepository", "TestSupport"], path: "Tests/APKRepositoryTests"),
        .testTarget(name: "CLITests", dependencies: ["apkit", "APKFormat", "TestSupport"], path: "Tests/CLITests"),
    ],
    swiftLanguageModes: [.v6]
)
