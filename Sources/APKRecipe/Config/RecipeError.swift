import Foundation

/// An error of the recipe layer: one line, naming the file and line where it can.
public struct RecipeError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String?
    public var line: Int?
    public var message: String
    /// Exit status to use (a failed build command passes its own through).
    public var exitCode: Int32

    public init(file: String? = nil, line: Int? = nil, _ message: String, exitCode: Int32 = 1) {
        self.file = file
        self.line = line
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String {
        var prefix = ""
        if let file {
            prefix = file
            if let line { prefix += ":\(line)" }
            prefix += ": "
        }
        return prefix + message
    }
}

/// Where warnings go (the CLI prints them to stderr as `warning: ...`).
public typealias WarningSink = @Sendable (String) -> Void

/// A value from the config file with the line it was written on.
public struct Located<T: Sendable>: Sendable {
    public var value: T
    public var line: Int?
    public init(_ value: T, line: Int?) { self.value = value; self.line = line }
}

extension Located: Equatable where T: Equatable {}
