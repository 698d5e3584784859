import Foundation
import XCTest
@testable import S3Client
import TestSupport

/// The local S3 servers started by `.ci/s3-servers.sh` (their endpoints come from the environment).
struct S3TestServer {
    var name: String
    var endpoint: String
    var accessKeyId: String
    var secretAccessKey: String

    static func fromEnvironment(_ name: String) throws -> S3TestServer {
        let env = ProcessInfo.processInfo.environment
        switch name {
        case "moto":
            guard let ep = env["APKIT_TEST_MOTO_ENDPOINT"] else { throw skip() }
            return S3TestServer(name: name, endpoint: ep, accessKeyId: "AKIAMOTOTESTING00000", secretAccessKey: "moto-secret")
        default:
            guard let ep = env["APKIT_TEST_MINISTACK_ENDPOINT"], let id = env["APKIT_TEST_MINISTACK_ACCESS_KEY_ID"],
                  let secret = env["APKIT_TEST_MINISTACK_SECRET_ACCESS_KEY"] else { throw skip() }
            return S3TestServer(name: name, endpoint: ep, accessKeyId: id, secretAccessKey: secret)
        }
    }

    static func skip() -> XCTSkip {
        XCTSkip("S3 test servers are not running: run `source .ci/s3-servers.sh` first")
    }

    static func all() throws -> [S3TestServer] { [try fromEnvironment("ministack"), try fromEnvironment("moto")] }

    var credentials: S3Credentials { S3Credentials(accessKeyId: accessKeyId, secretAccessKey: secretAccessKey, source: "test") }

    func configuration(bucket: String, region: String = "us-east-1") -> S3Configuration {
        var c = S3Configuration(endpoint: URL(string: endpoint)!, region: region, bucket: bucket, pathStyle: true,
                                credentials: credentials)
        c.retryBaseDelay = 0.05
        c.maxAttempts = 3
        return c
    }

    func client(bucket: String, region: String = "us-east-1", _ adjust: (inout S3Configuration) -> Void = { _ in }) throws -> S3Client {
        var c = configuration(bucket: bucket, region: region)
        adjust(&c)
        return try S3Client(c)
    }

    /// Runs Python with boto3 pointed at this server (an independent client): `s3` is ready to use.
    @discardableResult
    func boto(_ body: String, _ arguments: [String] = [], region: String = "us-east-1") throws -> ProcessResult {
        let script = """
        import sys, os, hashlib, json, boto3
        from botocore.config import Config
        s3 = boto3.client("s3", endpoint_url=\(pyString(endpoint)), region_name=\(pyString(region)),
                          aws_access_key_id=\(pyString(accessKeyId)), aws_secret_access_key=os.environ["APKIT_BOTO_SECRET"],
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))
        \(body)
        """
        let result = try runProcess("python3", ["-c", script] + arguments, environment: ["APKIT_BOTO_SECRET": secretAccessKey])
        guard result.status == 0 else {
            throw S3Error(.io, "boto3 helper failed on \(name): \(result.stderr.suffix(1500))")
        }
        return result
    }

    /// A new bucket with a unique name, created with boto3.
    func makeBucket(region: String = "us-east-1") throws -> String {
        let name = "apkit-\(name)-\(UInt32.random(in: 0...UInt32.max))"
        let config = region == "us-east-1" ? "" : ", CreateBucketConfiguration={'LocationConstraint': \(pyString(region))}"
        try boto("s3.create_bucket(Bucket=\(pyString(name))\(config))", region: region)
        return name
    }

    private func pyString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

func sha256Hex(ofFile path: String) throws -> String {
    let r = try runPython("import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", [path])
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Deterministic pseudo-random bytes (xorshift), so data is not compressible or repetitive.
func pseudoRandomData(count: Int, seed: UInt64 = 0x9E3779B97F4A7C15) -> Data {
    var state = seed
    var data = Data(count: count)
    data.withUnsafeMutableBytes { raw in
        let p = raw.bindMemory(to: UInt8.self)
        var i = 0
        while i < count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            var v = state
            for _ in 0..<8 where i < count { p[i] = UInt8(truncatingIfNeeded: v); v >>= 8; i += 1 }
        }
    }
    return data
}
