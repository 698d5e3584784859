// swift-tools-version:6.0
import PackageDescription

// Small drivers for the benchmarks (not part of the main build): deflate-bench streams a file
// through apkit's gzip engines; pkg-gen writes many small packages for the index benchmarks.
let package = Package(
    name: "apkit-bench-tools",
    dependencies: [.package(name: "apkit", path: "../..")],
    targets: [
        .executableTarget(name: "deflate-bench", dependencies: [.product(name: "APKFormat", package: "apkit")]),
        .executableTarget(name: "pkg-gen", dependencies: [.product(name: "APKFormat", package: "apkit")]),
    ],
    swiftLanguageModes: [.v5]
)
