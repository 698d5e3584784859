// The v3/ADB reader: V3Format().read (package verifier, every file checksum) and
// V3IndexFormat().read (packages.adb) on the same file, untrusted signatures allowed.
import APKFormat
import FuzzSupport

@main struct FuzzV3 {
    static func main() {
        let keyring = seedKeyring()
        runFuzzer { input in
            writeInput(input)
            let visitor = CountingVisitor()
            _ = V3Format().read(path: fuzzInputPath, options: ReadOptions(keyring: keyring, allowUntrusted: true),
                                visitor: visitor)
            _ = V3Format().read(path: fuzzInputPath, options: ReadOptions(keyring: keyring, allowUntrusted: true, metadataOnly: true),
                                visitor: nil)
            _ = try? V3IndexFormat().read(path: fuzzInputPath, keyring: keyring, allowUntrusted: true, source: nil)
        }
    }
}
