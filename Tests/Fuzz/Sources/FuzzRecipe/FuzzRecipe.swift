// The YAML config loader (RecipeLoader.parse) for apkit.yml and PAKman's instellar.yml: the
// first byte picks the dialect (odd: instellar.yml), the rest is the file.
import Foundation
import FuzzSupport
import MirrorAPKRecipe

@main struct FuzzRecipe {
    static func main() {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory())
        runFuzzer { input in
            guard let first = input.first else { return }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: input.dropFirst()), as: UTF8.self)
            let format: Recipe.Format = first & 1 == 1 ? .pakman : .apkit
            _ = try? RecipeLoader.parse(text, file: format == .pakman ? "instellar.yml" : "apkit.yml",
                                        format: format, sourceDirectory: dir)
        }
    }
}
