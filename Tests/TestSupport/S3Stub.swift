import Foundation

/// The scriptable S3 stub `Tests/tools/s3_stub.py` (Python stdlib, 127.0.0.1, in memory), started
/// on a free port for one test and stopped when this object goes away. See the script's header for
/// what can be scripted (`script(_:)`) and what `state()` returns.
public final class S3Stub {
    public let port: Int
    public var endpoint: String { "http://127.0.0.1:\(port)" }
    let process: Process
    let stdin: Pipe

    public static var scriptPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/s3_stub.py").path
    }

    public init() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", S3Stub.scriptPath]
        let out = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardInput = input
        try p.run()
        var line = Data()
        while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line += byte
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)), port > 0 else {
            try? input.fileHandleForWriting.close()
            p.waitUntilExit()
            throw NSError(domain: "S3Stub", code: 1, userInfo: [NSLocalizedDescriptionKey: "the S3 stub did not start"])
        }
        self.port = port
        process = p
        stdin = input
    }

    deinit {
        try? stdin.fileHandleForWriting.close()  // the stub stops when its stdin closes
        process.waitUntilExit()
    }

    /// Merges `settings` into the stub's script (`["reset": true]` clears objects, uploads, counts).
    public func script(_ settings: [String: Any]) throws {
        let body = try JSONSerialization.data(withJSONObject: settings)
        let r = try runProcess("curl", ["-sf", "-X", "POST", "--data-binary", "@-", "\(endpoint)/__script"], stdin: body)
        guard r.status == 0 else { throw NSError(domain: "S3Stub", code: 2, userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
    }

    /// objects (`bucket/key`... as "bucket key" tuples flattened to "bucket/key"), open uploads, counts.
    public func state() throws -> (objects: [String: [String: Any]], uploads: [(bucket: String, key: String, id: String)],
                                   counts: [String: Int]) {
        let r = try runProcess("curl", ["-sf", "\(endpoint)/__state"])
        guard r.status == 0, let json = try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any] else {
            throw NSError(domain: "S3Stub", code: 3, userInfo: [NSLocalizedDescriptionKey: r.stderr])
        }
        let uploads = (json["uploads"] as? [[String: String]] ?? []).map { ($0["bucket"] ?? "", $0["key"] ?? "", $0["id"] ?? "") }
        return (json["objects"] as? [String: [String: Any]] ?? [:], uploads, json["counts"] as? [String: Int] ?? [:])
    }

    /// Keys (without the bucket) stored in `bucket`, sorted.
    public func keys(in bucket: String) throws -> [String] {
        try state().objects.keys.compactMap { k -> String? in
            k.hasPrefix(bucket + "/") ? String(k.dropFirst(bucket.count + 1)) : nil
        }.sorted()
    }
}
