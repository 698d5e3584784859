import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call on a path: the one error type of the POSIX layer. Its text names the
/// path, what was being done, and the system's reason (`strerror`), e.g.
/// `out/x.apk: write failed: No space left on device`.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    /// What was being done, e.g. "write failed", "cannot list directory"; empty for a plain open.
    public let operation: String
    /// The `errno` value.
    public let code: Int32

    public init(path: String, operation: String = "", code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    /// Captures the current `errno`.
    public static func current(path: String, _ operation: String = "") -> SystemError {
        SystemError(path: path, operation: operation, code: errno)
    }

    public var reason: String {
        let text = String(cString: strerror(code))
        switch code {
        case ENOSPC, EDQUOT: return text + " (free some space, or write elsewhere)"
        case EACCES, EPERM: return text + " (check the permissions)"
        default: return text
        }
    }

    public var description: String {
        operation.isEmpty ? "\(path): \(reason)" : "\(path): \(operation): \(reason)"
    }
}

/// Runs a system call again while it fails with `EINTR`; returns its result otherwise.
@inline(__always)
public func retryingOnInterrupt<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let r = call()
        if r >= 0 || errno != EINTR { return r }
    }
}

/// The text of the current `errno`, for messages that are not about one path.
public func currentErrnoText() -> String { String(cString: strerror(errno)) }

// The C library's read/write/close under names that do not clash with methods called `read`,
// `write` and `close`, for Glibc and Musl alike.
#if canImport(Glibc)
@inline(__always) public func systemRead(_ fd: Int32, _ buf: UnsafeMutableRawPointer?, _ n: Int) -> Int { Glibc.read(fd, buf, n) }
@inline(__always) public func systemWrite(_ fd: Int32, _ buf: UnsafeRawPointer?, _ n: Int) -> Int { Glibc.write(fd, buf, n) }
@inline(__always) @discardableResult public func systemClose(_ fd: Int32) -> Int32 { Glibc.close(fd) }
#elseif canImport(Musl)
@inline(__always) public func systemRead(_ fd: Int32, _ buf: UnsafeMutableRawPointer?, _ n: Int) -> Int { Musl.read(fd, buf, n) }
@inline(__always) public func systemWrite(_ fd: Int32, _ buf: UnsafeRawPointer?, _ n: Int) -> Int { Musl.write(fd, buf, n) }
@inline(__always) @discardableResult public func systemClose(_ fd: Int32) -> Int32 { Musl.close(fd) }
#endif
