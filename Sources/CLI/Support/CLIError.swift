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
        let line = describe(error).split(separator: "\n").joined(separator: " ")
        FileHandle.standardError.write(Data("apkit: error: \(line)\n".utf8))
        let code = (error as? RecipeError).map { $0.exitCode == 0 ? 1 : $0.exitCode } ?? 1
        throw ExitCode(code)
    }
}

/// One line for an error: Foundation's file errors as `PATH: reason` instead of their raw dump.
func describe(_ error: Error) -> String {
    let ns = error as NSError
    guard ns.domain == NSCocoaErrorDomain else { return "\(error)" }
    let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path ?? "file"
    if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
        return SystemError(path: path, code: Int32(posix.code)).description
    }
    switch CocoaError.Code(rawValue: ns.code) {
    case .fileWriteFileExists: return "\(path): a file is in the way where a directory is needed"
    case .fileNoSuchFile, .fileReadNoSuchFile: return SystemError(path: path, code: ENOENT).description
    case .fileWriteNoPermission, .fileReadNoPermission: return SystemError(path: path, code: EACCES).description
    case .fileWriteOutOfSpace: return SystemError(path: path, code: ENOSPC).description
    default:
        // No reason given: a file where a directory is needed is the usual one; find it.
        var p = path
        while !p.isEmpty && p != "/" {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir) {
                if !isDir.boolValue { return "\(p): not a directory (a file is in the way of \(path))" }
                break
            }
            p = (p as NSString).deletingLastPathComponent
        }
        return "\(path): \(ns.localizedDescription)"
    }
}

func warn(_ message: String) {
    Console.writeStderr("apkit: warning: \(message)\n")
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
