import APKCrypto
import Foundation
import XCTest
@testable import S3Client
import TestSupport

final class ConfigurationTests: XCTestCase {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    func testEnvironmentCredentialsRegionAndEndpoint() throws {
        let dir = TempDir("aws-env")
        let env = AWSEnvironment(environment: [
            "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "tok",
            "AWS_DEFAULT_REGION": "eu-central-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_CONFIG_FILE": dir.sub("none"), "AWS_SHARED_CREDENTIALS_FILE": dir.sub("none"),
        ], homeDirectory: dir.path)
        let config = try S3Configuration.fromEnvironment(bucket: "repo", environment: env)
        XCTAssertEqual(config.credentials.accessKeyId, "AKIAENV")
        XCTAssertEqual(config.credentials.sessionToken, "tok")
        XCTAssertEqual(config.credentials.source, "environment")
        XCTAssertEqual(config.region, "eu-central-1")
        XCTAssertEqual(config.endpoint?.absoluteString, "http://127.0.0.1:9000")
        XCTAssertTrue(config.usesPathStyle, "an IP endpoint cannot do virtual-hosted buckets")
        // AWS_REGION beats AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL, arguments beat both.
        var e2 = env
        e2.environment["AWS_REGION"] = "ap-south-1"
        e2.environment["AWS_ENDPOINT_URL_S3"] = "https://s3.example.test"
        XCTAssertEqual(try e2.region(), "ap-south-1")
        XCTAssertEqual(try e2.endpoint()?.host, "s3.example.test")
        XCTAssertEqual(try e2.region("us-west-2"), "us-west-2")
        XCTAssertEqual(try e2.endpoint("http://localhost:4566")?.port, 4566)
        XCTAssertThrowsError(try e2.endpoint("ftp://x")) { XCTAssertEqual(($0 as? S3Error)?.kind, .configuration) }
    }

    func testProfilesFromCredentialsAndConfigFiles() throws {
        let dir = TempDir("aws-files")
        dir.write(".aws/credentials", """
        # comment
        [default]
        aws_access_key_id = AKIADEFAULT
        aws_secret_access_key = \(secret)

        [ci]
        aws_access_key_id=AKIACI
        aws_secret_access_key = ci-secret
        aws_session_token = ci-token
        """)
        dir.write(".aws/config", """
        [default]
        region = us-west-1

        [profile ci]
        region = eu-north-1
        endpoint_url = https://minio.example.test:9000
        ca_bundle = ~/ca.pem
        s3 =
          addressing_style = path
        [profile nested]
        aws_access_key_id = AKIANESTED
        aws_secret_access_key = nested-secret
        endpoint_url = https://general.example.test
        s3 =
          endpoint_url = https://s3-only.example.test
        """)
        let base = AWSEnvironment(environment: ["HOME": dir.path], homeDirectory: dir.path)
        let def = try S3Configuration.fromEnvironment(bucket: "b", environment: base)
        XCTAssertEqual(def.credentials.accessKeyId, "AKIADEFAULT")
        XCTAssertEqual(def.region, "us-west-1")
        XCTAssertNil(def.endpoint)
        XCTAssertFalse(def.usesPathStyle)

        var viaEnv = base
        viaEnv.environment["AWS_PROFILE"] = "ci"
        let ci = try S3Configuration.fromEnvironment(bucket: "b", environment: viaEnv)
        XCTAssertEqual(ci.credentials.accessKeyId, "AKIACI")
        XCTAssertEqual(ci.credentials.sessionToken, "ci-token")
        XCTAssertEqual(ci.credentials.source, "profile ci")
        XCTAssertEqual(ci.region, "eu-north-1")
        XCTAssertEqual(ci.endpoint?.absoluteString, "https://minio.example.test:9000")
        XCTAssertEqual(ci.http.caBundle, dir.path + "/ca.pem")
        XCTAssertTrue(ci.pathStyle, "s3.addressing_style = path")

        let nested = try S3Configuration.fromEnvironment(bucket: "b", profile: "nested", environment: base)
        XCTAssertEqual(nested.credentials.accessKeyId, "AKIANESTED")
        XCTAssertEqual(nested.endpoint?.host, "s3-only.example.test")

        // Environment keys win over AWS_PROFILE, but not over an explicit profile argument.
        var both = viaEnv
        both.environment["AWS_ACCESS_KEY_ID"] = "AKIAENV"
        both.environment["AWS_SECRET_ACCESS_KEY"] = "env-secret"
        XCTAssertEqual(try both.credentials().accessKeyId, "AKIAENV")
        XCTAssertEqual(try both.credentials(profile: "ci").accessKeyId, "AKIACI")

        // Other file locations.
        let other = TempDir("aws-other")
        other.write("creds", "[default]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = x\n")
        other.write("conf", "[default]\nregion = sa-east-1\n")
        let moved = AWSEnvironment(environment: ["AWS_SHARED_CREDENTIALS_FILE": other.sub("creds"),
                                                 "AWS_CONFIG_FILE": other.sub("conf")], homeDirectory: dir.path)
        XCTAssertEqual(try moved.credentials().accessKeyId, "AKIAOTHER")
        XCTAssertEqual(try moved.region(), "sa-east-1")
    }

    func testMissingCredentialsSayWhatToDo() {
        let dir = TempDir("aws-none")
        let env = AWSEnvironment(environment: [:], homeDirectory: dir.path)
        XCTAssertThrowsError(try env.credentials(profile: "prod")) { error in
            XCTAssertEqual((error as? S3Error)?.kind, .configuration)
            XCTAssertTrue("\(error)".contains("AWS_ACCESS_KEY_ID"), "\(error)")
            XCTAssertTrue("\(error)".contains("'prod'"), "\(error)")
        }
    }

    func testSecretsNeverAppearInDescriptions() {
        let creds = S3Credentials(accessKeyId: "AKIAVISIBLE", secretAccessKey: secret, sessionToken: "SESSIONTOKENVALUE")
        var dumped = ""
        dump(creds, to: &dumped)
        let config = S3Configuration(bucket: "b", credentials: creds)
        for text in [creds.description, creds.debugDescription, "\(creds)", String(reflecting: creds), dumped,
                     config.description, "\(config)"] {
            XCTAssertFalse(text.contains(secret), text)
            XCTAssertFalse(text.contains("SESSIONTOKENVALUE"), text)
        }
        XCTAssertTrue(creds.description.contains("AKIAVISIBLE"))
    }

    func testAddressingStyle() throws {
        let creds = S3Credentials(accessKeyId: "a", secretAccessKey: "s")
        func loc(_ endpoint: String?, _ bucket: String, pathStyle: Bool = false, key: String? = "k/x") throws -> String {
            let c = try S3Client(S3Configuration(endpoint: endpoint.flatMap(URL.init(string:)), region: "eu-west-1",
                                                 bucket: bucket, pathStyle: pathStyle, credentials: creds))
            let l = c.location(key: key)
            return "\(l.scheme)://\(l.host)\(l.path)"
        }
        XCTAssertEqual(try loc(nil, "repo"), "https://repo.s3.eu-west-1.amazonaws.com/k/x")
        XCTAssertEqual(try loc(nil, "repo", pathStyle: true), "https://s3.eu-west-1.amazonaws.com/repo/k/x")
        XCTAssertEqual(try loc(nil, "my.repo"), "https://s3.eu-west-1.amazonaws.com/my.repo/k/x")
        XCTAssertEqual(try loc("https://minio.test:9000", "repo"), "https://repo.minio.test:9000/k/x")
        XCTAssertEqual(try loc("http://localhost:4566", "repo"), "http://localhost:4566/repo/k/x")
        XCTAssertEqual(try loc("http://127.0.0.1:4566", "repo", key: nil), "http://127.0.0.1:4566/repo")
    }

    func testPartSizeStaysWithinS3Limits() throws {
        XCTAssertEqual(try S3Client.partSize(forObjectOfSize: 12 << 20, preferred: 5 << 20), 5 << 20)
        XCTAssertEqual(try S3Client.partSize(forObjectOfSize: 12 << 20, preferred: 1 << 20), 5 << 20)
        let big: UInt64 = 200 << 30  // 200 GiB at 8 MiB would be 25,600 parts
        let part = try S3Client.partSize(forObjectOfSize: big, preferred: 8 << 20)
        XCTAssertLessThanOrEqual((big + part - 1) / part, 10_000)
        XCTAssertEqual(part % (1 << 20), 0)
        let huge: UInt64 = 5 << 40
        let hugePart = try S3Client.partSize(forObjectOfSize: huge, preferred: 8 << 20)
        XCTAssertLessThanOrEqual(hugePart, 5 << 30)
        XCTAssertLessThanOrEqual((huge + hugePart - 1) / hugePart, 10_000)
        XCTAssertThrowsError(try S3Client.partSize(forObjectOfSize: (5 << 40) + 1, preferred: 8 << 20))
    }

    func testMetadataMustBeSendable() throws {
        let c = try S3Client(S3Configuration(bucket: "b", credentials: S3Credentials(accessKeyId: "a", secretAccessKey: "s")))
        XCTAssertEqual(try c.objectHeaders(contentType: nil, cacheControl: "no-cache", metadata: ["SHA256": "ab"]).map { "\($0.0)=\($0.1)" },
                       ["Content-Type=application/octet-stream", "Cache-Control=no-cache", "x-amz-meta-sha256=ab"])
        XCTAssertThrowsError(try c.objectHeaders(contentType: nil, cacheControl: nil, metadata: ["a b": "x"]))
        XCTAssertThrowsError(try c.objectHeaders(contentType: nil, cacheControl: nil, metadata: ["k": "é"]))
    }

    /// Tries, backoff and the stall timeout from the environment (AWS_MAX_ATTEMPTS as the AWS SDKs
    /// read it, the profile's max_attempts below it); a bad value is refused naming the variable.
    func testRetrySettingsFromEnvironment() throws {
        let dir = TempDir("aws-env")
        dir.write("config", "[default]\nmax_attempts = 7\n")
        let base = ["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1",
                    "AWS_CONFIG_FILE": dir.sub("config"), "AWS_SHARED_CREDENTIALS_FILE": dir.sub("none")]
        func config(_ extra: [String: String]) throws -> S3Configuration {
            try S3Configuration.fromEnvironment(bucket: "b", environment: AWSEnvironment(
                environment: base.merging(extra) { _, n in n }, homeDirectory: dir.path))
        }
        let profile = try config([:])
        XCTAssertEqual(profile.maxAttempts, 7)
        XCTAssertEqual(profile.retryBaseDelay, S3Configuration(bucket: "b", credentials: profile.credentials).retryBaseDelay)
        XCTAssertNil(profile.http.stallTimeout)
        let set = try config(["AWS_MAX_ATTEMPTS": "3", "APKIT_S3_RETRY_DELAY": "0.05", "APKIT_S3_TIMEOUT": "2"])
        XCTAssertEqual(set.maxAttempts, 3)
        XCTAssertEqual(set.retryBaseDelay, 0.05)
        XCTAssertEqual(set.http.stallTimeout, 2)
        XCTAssertEqual(set.http.connectTimeout, 2)
        for (name, value) in [("AWS_MAX_ATTEMPTS", "0"), ("AWS_MAX_ATTEMPTS", "many"), ("APKIT_S3_RETRY_DELAY", "-1"),
                              ("APKIT_S3_TIMEOUT", "0")] {
            XCTAssertThrowsError(try config([name: value]), "\(name)=\(value)") { error in
                XCTAssertEqual((error as? S3Error)?.kind, .configuration)
                XCTAssertTrue("\(error)".hasPrefix("\(name)=\(value): expected a number from "), "\(error)")
            }
        }
    }
}

/// Error answers turned into typed errors (S3's XML error documents as AWS sends them).
final class ErrorMappingTests: XCTestCase {
    func client(verbose: Bool = false, token: String? = nil) throws -> S3Client {
        try S3Client(S3Configuration(region: "us-east-1", bucket: "apk-repo",
                                     credentials: S3Credentials(accessKeyId: "AKIAMAP", secretAccessKey: "map-secret",
                                                                sessionToken: token, source: "environment"),
                                     verbose: verbose))
    }

    func map(_ client: S3Client, status: Int, body: String, headers: [(String, String)] = [], key: String? = "x86_64/a.apk") -> S3Error {
        let op = S3Client.Operation(method: "GET", key: key, operation: "GetObject")
        let signed = client.signer.sign(method: "GET", path: "/x86_64/a.apk", headers: [("Host", "h")], payloadHash: S3Crypto.emptySHA256)
        let data = Data(body.utf8)
        return client.makeError(HTTPResponse(status: status, headers: headers, body: data), op: op, signed: signed,
                                parsed: S3ErrorBody(xml: data))
    }

    func xml(_ code: String, _ extra: String = "") -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>\(code)</Code><Message>msg for \(code)</Message>\(extra)<RequestId>RID</RequestId></Error>"
    }

    func testWrongRegionFromBodyOrHeader() throws {
        let c = try client()
        let malformed = map(c, status: 400, body: xml("AuthorizationHeaderMalformed", "<Region>eu-west-2</Region>"))
        XCTAssertEqual(malformed.kind, .wrongRegion("eu-west-2"))
        XCTAssertEqual(malformed.description, "bucket 'apk-repo' is in region eu-west-2, not us-east-1: pass --region eu-west-2")
        let redirect = map(c, status: 301, body: xml("PermanentRedirect", "<Endpoint>apk-repo.s3.ap-east-1.amazonaws.com</Endpoint>"),
                           headers: [("x-amz-bucket-region", "ap-east-1")])
        XCTAssertEqual(redirect.kind, .wrongRegion("ap-east-1"))
        let headRedirect = map(c, status: 301, body: "", headers: [("x-amz-bucket-region", "sa-east-1")])
        XCTAssertEqual(headRedirect.kind, .wrongRegion("sa-east-1"))
        XCTAssertFalse(headRedirect.isRetryable)
    }

    func testCommonErrorsReadWell() throws {
        let c = try client()
        let noBucket = map(c, status: 404, body: xml("NoSuchBucket", "<BucketName>apk-repo</BucketName>"))
        XCTAssertEqual(noBucket.kind, .noSuchBucket)
        XCTAssertTrue(noBucket.description.contains("bucket 'apk-repo' does not exist"), noBucket.description)
        let denied = map(c, status: 403, body: xml("AccessDenied"))
        XCTAssertEqual(denied.kind, .accessDenied)
        XCTAssertTrue(denied.description.contains("s3://apk-repo/x86_64/a.apk"), denied.description)
        XCTAssertTrue(denied.description.contains("AKIAMAP (environment)"), denied.description)
        XCTAssertEqual(denied.requestId, "RID")
        XCTAssertEqual(map(c, status: 403, body: xml("InvalidAccessKeyId")).kind, .invalidAccessKeyId)
        XCTAssertEqual(map(c, status: 412, body: "").kind, .preconditionFailed)
        XCTAssertEqual(map(c, status: 412, body: xml("PreconditionFailed")).kind, .preconditionFailed)
        XCTAssertEqual(map(c, status: 400, body: xml("BadDigest")).kind, .badDigest)
        let slow = map(c, status: 503, body: xml("SlowDown"))
        XCTAssertTrue(slow.isRetryable)
        XCTAssertTrue(map(c, status: 400, body: xml("RequestTimeout")).isRetryable)
        XCTAssertTrue(map(c, status: 429, body: "").isRetryable)
        XCTAssertFalse(map(c, status: 400, body: xml("InvalidArgument")).isRetryable)
        XCTAssertFalse(map(c, status: 412, body: "").isRetryable)
        for e in [noBucket, denied, slow] { XCTAssertFalse(e.description.contains("map-secret")) }
    }

    func testSignatureMismatchShowsTheCanonicalRequestOnlyWhenVerbose() throws {
        let quiet = map(try client(), status: 403, body: xml("SignatureDoesNotMatch"))
        XCTAssertEqual(quiet.kind, .signatureDoesNotMatch)
        XCTAssertFalse(quiet.description.contains("GET\n/x86_64/a.apk"))
        XCTAssertTrue(quiet.description.contains("--verbose"))
        let loud = map(try client(verbose: true, token: "TOKEN-SHOULD-NOT-SHOW"), status: 403,
                       body: xml("SignatureDoesNotMatch", "<CanonicalRequest>GET\n/x86_64/a.apk\nx-amz-security-token:TOKEN-SHOULD-NOT-SHOW</CanonicalRequest>"))
        XCTAssertTrue(loud.description.contains("GET\n/x86_64/a.apk\n"), loud.description)
        XCTAssertTrue(loud.description.contains("canonical request (server)"), loud.description)
        XCTAssertFalse(loud.description.contains("TOKEN-SHOULD-NOT-SHOW"), loud.description)
        XCTAssertFalse(loud.description.contains("map-secret"))
    }

    func testXMLHelpers() {
        let text = "<R><Upload><Key>a&amp;b</Key><UploadId>1</UploadId></Upload><Upload><Key>c &#x263A;</Key></Upload><IsTruncated>false</IsTruncated><Uploads/></R>"
        XCTAssertEqual(XMLLite.all("Upload", in: text).count, 2)
        XCTAssertEqual(XMLLite.all("Key", in: text), ["a&b", "c ☺"])
        XCTAssertEqual(XMLLite.first("IsTruncated", in: text), "false")
        XCTAssertEqual(XMLLite.first("Uploads", in: text), "")
        XCTAssertNil(XMLLite.first("Missing", in: text))
        XCTAssertEqual(XMLLite.escape("\"a\"<&>"), "&quot;a&quot;&lt;&amp;&gt;")
        XCTAssertNil(S3ErrorBody(xml: Data("<CompleteMultipartUploadResult/>".utf8)))
    }
}
