// swift-tools-version:6.1
import PackageDescription

// Micro-benchmarks of apkit's hot loops (ordo-one/benchmark). A separate package, so the main
// build never compiles it:  cd Benchmarks/Micro && swift package --scratch-path ../../.build-micro benchmark
let package = Package(
    name: "apkit-micro",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "apkit", path: "../.."),
        // Only the MallocInterposer trait (malloc counters): the default RuntimeInterposer trait needs
        // ordo-one/swift-runtime-interposer, which is not in this environment's package mirror.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "APKFormatMicro",
            dependencies: [
                .product(name: "APKFormat", package: "apkit"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/APKFormatMicro",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
