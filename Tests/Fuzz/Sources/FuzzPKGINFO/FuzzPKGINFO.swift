// The .PKGINFO parser (PKGINFO.parse), then render what it accepted.
import APKFormat
import FuzzSupport

@main struct FuzzPKGINFO {
    static func main() {
        runFuzzer { input in
            let text = String(decoding: input, as: UTF8.self)
            guard let p = try? PKGINFO.parse(text) else { return }
            _ = p.render()
        }
    }
}
