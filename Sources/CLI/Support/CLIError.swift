import APKFormat
import APKRecipe
import ArgumentParser
import Foundation

/// An error for the user: one line, what is wrong and what to do.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Prints `apkit: error: <one line>` and exits non-zero (a failed build command's own exit code,
/// else 1). Every command's body runs through this.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        let line = "\(error)".split(separator: "\n").joined(separator: " ")
        FileHandle.standardError.write(Data("apkit: error: \(line)\n".utf8))
        let code = (error as? RecipeError).map { $0.exitCode == 0 ? 1 : $0.exitCode } ?? 1
        throw ExitCode(code)
    }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("apkit: warning: \(message)\n".utf8))
}

func environment(_ name: String) -> String? {
    guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
    return v
}

/// Prints a value as stable JSON (sorted keys, pretty-printed) on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}
