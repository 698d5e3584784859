// swift-tools-version:6.0
import PackageDescription

// A small driver that streams a file through apkit's gzip engines (not part of the main build).
let package = Package(
    name: "apkit-bench-tools",
    dependencies: [.package(name: "apkit", path: "../..")],
    targets: [
        .executableTarget(name: "deflate-bench", dependencies: [.product(name: "APKFormat", package: "apkit")]),
    ],
    swiftLanguageModes: [.v5]
)
