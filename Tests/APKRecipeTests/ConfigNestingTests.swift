@testable import APKRecipe
import Foundation
import XCTest

/// Configs nested deeper than any real one are refused before the YAML composer (whose recursion
/// would overflow the stack) sees them; the fuzzer's reproducers are kept in Fixtures/fuzz.
final class ConfigNestingTests: XCTestCase {
    func testDeepNestingIsRefusedWithItsLine() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz/regressions/FuzzRecipe")
        for name in ["deep-flow-sequence.yml", "deep-block-sequence.yml"] {
            let data = try Data(contentsOf: fixtures.appendingPathComponent(name)).dropFirst()  // the fuzzer's selector byte
            let text = String(decoding: data, as: UTF8.self)
            XCTAssertNotNil(RecipeLoader.nestingTooDeep(text), name)
            XCTAssertThrowsError(try RecipeLoader.parse(text, file: "apkit.yml", format: .apkit,
                                                        sourceDirectory: URL(fileURLWithPath: "/tmp"))) { e in
                XCTAssertTrue("\(e)".contains("nested more than"), "\(name): \(e)")
            }
        }
        // Real configs, and deep but legal text inside quotes, comments and block scalars, pass.
        let ok = """
            name: x   # [[[[ not flow
            build:
              command: |
                echo '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['
            dependencies:
              runtime: ["a", "b"]
            files:
              - {source: "x[", destination: /x}
            """
        XCTAssertNil(RecipeLoader.nestingTooDeep(ok))
        XCTAssertNil(RecipeLoader.nestingTooDeep("a: " + String(repeating: "[", count: 60) + String(repeating: "]", count: 60)))
        XCTAssertNotNil(RecipeLoader.nestingTooDeep("a: " + String(repeating: "[", count: 70) + String(repeating: "]", count: 70)))
    }
}
