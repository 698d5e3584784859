// The APKINDEX text parser (APKIndex.parse), then sort and render what it accepted.
import APKFormat
import FuzzSupport

@main struct FuzzAPKIndex {
    static func main() {
        runFuzzer { input in
            guard let entries = try? APKIndex.parse(bytes: [UInt8](input)) else { return }
            var index = APKIndex(entries: entries)
            index.sort()
            _ = index.renderBytes()
        }
    }
}
