// swift-tools-version:6.0
import PackageDescription

// Layers, lowest first. A target only depends on the ones above it in this list:
//   system libraries (C) -> APKFormat -> APKRecipe -> S3Client -> APKRepository -> CLI (apkit)
let package = Package(
    name: "apkit",
    platforms: [.macOS(.v13)],
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
        .systemLibrary(name: "CCurl", path: "Sources/CSystem/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        // Linux calls glibc hides behind _GNU_SOURCE (copy_file_range).
        .target(name: "CPlatform", path: "Sources/CSystem/CPlatform"),
        // libcurl's setopt/getinfo are variadic: Swift cannot call them, this shim can.
        .target(name: "CCurlShim", dependencies: ["CCurl"], path: "Sources/CSystem/CCurlShim"),

        // The apk v2 format: tar, gzip, .PKGINFO, signatures, packages, the index, versions.
        .target(name: "APKFormat", dependencies: ["COpenSSL", "CZlib", "CDeflate", "CPlatform"], path: "Sources/APKFormat"),
        // The recipe: config files, build, staging, service files, ELF dependency scan.
        .target(name: "APKRecipe", dependencies: ["APKFormat", "Yams"], path: "Sources/APKRecipe"),
        // The S3 client: SigV4, HTTP over libcurl, multipart uploads.
        .target(name: "S3Client", dependencies: ["COpenSSL", "CCurlShim"], path: "Sources/S3Client"),
        // The repository: local directory or S3 bucket, merge and publish.
        .target(name: "APKRepository", dependencies: ["APKFormat", "S3Client"], path: "Sources/APKRepository"),
        // The command line.
        .executableTarget(name: "apkit", dependencies: [
            "APKFormat", "APKRecipe", "APKRepository", "S3Client",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/CLI"),

        .target(name: "TestSupport", dependencies: ["APKFormat"], path: "Tests/TestSupport"),
        .testTarget(name: "APKFormatTests", dependencies: ["APKFormat", "TestSupport"], path: "Tests/APKFormatTests"),
        .testTarget(name: "APKRecipeTests", dependencies: ["APKRecipe", "TestSupport"], path: "Tests/APKRecipeTests"),
        .testTarget(name: "S3ClientTests", dependencies: ["S3Client", "TestSupport"], path: "Tests/S3ClientTests"),
        .testTarget(name: "APKRepositoryTests", dependencies: ["APKRepository", "TestSupport"], path: "Tests/APKRepositoryTests"),
        .testTarget(name: "CLITests", dependencies: ["apkit", "TestSupport"], path: "Tests/CLITests"),
    ],
    swiftLanguageModes: [.v5]
)
