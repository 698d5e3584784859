import Foundation

/// Something bytes are written to: a file, a buffer, a hasher, a compressor.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

extension ByteSink {
    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

/// Collects bytes in memory (only for small things: control members, signatures, indexes).
public final class BufferSink: ByteSink {
    public private(set) var data = Data()
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws { data.append(contentsOf: bytes) }
}

