// swift-tools-version:6.0
// libFuzzer targets for every reader of outside input (issue 11). A separate package: the main
// build never compiles it. Build and run: see Fixtures/fuzz/README.md, or `bash Tests/Fuzz/run.sh`.
//
//   swift build --package-path Tests/Fuzz --scratch-path .build-fuzz -c release \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld
//
// (lld: ld.gold stops with "internal error in format_file_lineno" on the sanitizer build.)
//
// Each target is an executable whose `@main` hands its `LLVMFuzzerTestOneInput`-style callback to
// libFuzzer's `LLVMFuzzerRunDriver` (SwiftPM renames an executable's entry point to `<Module>_main`,
// so libFuzzer's own `main` cannot be used).
//
// The main package exports only the `APKFormat` library (APKCore, APKCrypto, APKv2, APKv3,
// SystemIO re-exported). APKRecipe and S3Client are not products, so they are compiled here from
// the same sources through symlinks: `Mirror/APKRecipe` -> Sources/APKRecipe (module
// `MirrorAPKRecipe`), and `Sources/FuzzS3XML/S3Error.swift` -> Sources/S3Client/S3Error.swift (the
// internal `XMLLite` and `S3ErrorBody` then live in the fuzz target's own module).
import PackageDescription

let targets = ["FuzzV2Package", "FuzzTar", "FuzzGzip", "FuzzAPKIndex", "FuzzPKGINFO", "FuzzVersion", "FuzzV3"]

let package = Package(
    name: "apkit-fuzz",
    dependencies: [
        .package(name: "apkit", path: "../.."),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "APKFormat", package: "apkit")]),
        .target(name: "MirrorAPKRecipe", dependencies: [.product(name: "APKFormat", package: "apkit"), "Yams"],
                path: "Mirror/APKRecipe"),
        .executableTarget(name: "FuzzRecipe", dependencies: ["FuzzSupport", "MirrorAPKRecipe"]),
        .executableTarget(name: "FuzzS3XML", dependencies: ["FuzzSupport"]),
    ] + targets.map {
        .executableTarget(name: $0, dependencies: ["FuzzSupport", .product(name: "APKFormat", package: "apkit")])
    },
    swiftLanguageModes: [.v6]
)
