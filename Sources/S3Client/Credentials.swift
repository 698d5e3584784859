import Foundation

/// AWS credentials. The secret and the session token never appear in `description`,
/// `debugDescription`, `dump` or any error message.
public struct S3Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Where they came from ("environment", "profile dev in ~/.aws/credentials"...), for messages.
    public var source: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, source: String = "explicit") {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String {
        "S3Credentials(accessKeyId: \(accessKeyId), secretAccessKey: <redacted>"
            + (sessionToken == nil ? "" : ", sessionToken: <redacted>") + ", source: \(source))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["accessKeyId": accessKeyId, "secretAccessKey": "<redacted>",
                                "sessionToken": sessionToken == nil ? "nil" : "<redacted>", "source": source])
    }
}

/// Reads AWS-style settings: environment variables, `~/.aws/credentials` and `~/.aws/config`,
/// with the precedence the AWS CLI uses.
///
/// - credentials: an explicit profile (argument) wins; otherwise `AWS_ACCESS_KEY_ID` +
///   `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`); otherwise the profile `AWS_PROFILE`
///   (or `default`) from the credentials file, then from the config file.
/// - region: argument, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, `us-east-1`.
/// - endpoint: argument, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `s3 = endpoint_url`
///   sub-setting, the profile's `endpoint_url`, none (AWS).
/// - CA bundle: argument, `AWS_CA_BUNDLE`, the profile's `ca_bundle`.
/// Files: `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`), `AWS_CONFIG_FILE`
/// (default `~/.aws/config`); in the config file profiles are `[profile name]` (`[default]` too).
public struct AWSEnvironment: Sendable {
    public var environment: [String: String]
    public var homeDirectory: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, homeDirectory: String? = nil) {
        self.environment = environment
        self.homeDirectory = homeDirectory ?? environment["HOME"] ?? NSHomeDirectory()
    }

    public var credentialsFile: String {
        expand(environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "~/.aws/credentials")
    }
    public var configFile: String { expand(environment["AWS_CONFIG_FILE"] ?? "~/.aws/config") }

    /// The profile in use: the argument, else `AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`, else `default`.
    public func profileName(_ explicit: String? = nil) -> String {
        nonEmpty(explicit) ?? nonEmpty(environment["AWS_PROFILE"]) ?? nonEmpty(environment["AWS_DEFAULT_PROFILE"]) ?? "default"
    }

    /// Settings of a profile: the credentials file section, overlaid on the config file section.
    public func profileSettings(_ name: String) throws -> [String: String] {
        var settings: [String: String] = [:]
        if let config = try Self.readINI(configFile) {
            let section = name == "default" ? (config["default"] ?? config["profile default"]) : config["profile \(name)"]
            for (k, v) in section ?? [:] { settings[k] = v }
        }
        if let creds = try Self.readINI(credentialsFile), let section = creds[name] {
            for (k, v) in section { settings[k] = v }
        }
        return settings
    }

    public func credentials(profile explicitProfile: String? = nil) throws -> S3Credentials {
        if nonEmpty(explicitProfile) == nil,
           let id = nonEmpty(environment["AWS_ACCESS_KEY_ID"]), let secret = nonEmpty(environment["AWS_SECRET_ACCESS_KEY"]) {
            return S3Credentials(accessKeyId: id, secretAccessKey: secret,
                                 sessionToken: nonEmpty(environment["AWS_SESSION_TOKEN"]), source: "environment")
        }
        let name = profileName(explicitProfile)
        let settings = try profileSettings(name)
        guard let id = nonEmpty(settings["aws_access_key_id"]), let secret = nonEmpty(settings["aws_secret_access_key"]) else {
            throw S3Error(.configuration, "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                + "or add aws_access_key_id/aws_secret_access_key to profile '\(name)' in \(credentialsFile)")
        }
        return S3Credentials(accessKeyId: id, secretAccessKey: secret, sessionToken: nonEmpty(settings["aws_session_token"]),
                             source: "profile \(name)")
    }

    public func region(_ explicit: String? = nil, profile: String? = nil) throws -> String {
        if let r = nonEmpty(explicit) ?? nonEmpty(environment["AWS_REGION"]) ?? nonEmpty(environment["AWS_DEFAULT_REGION"]) {
            return r
        }
        return nonEmpty(try profileSettings(profileName(profile))["region"]) ?? "us-east-1"
    }

    public func endpoint(_ explicit: String? = nil, profile: String? = nil) throws -> URL? {
        let settings = try profileSettings(profileName(profile))
        guard let text = nonEmpty(explicit) ?? nonEmpty(environment["AWS_ENDPOINT_URL_S3"])
                ?? nonEmpty(environment["AWS_ENDPOINT_URL"]) ?? nonEmpty(settings["s3.endpoint_url"])
                ?? nonEmpty(settings["endpoint_url"]) else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host != nil else {
            throw S3Error(.configuration, "endpoint URL '\(text)' is not an http(s) URL: use e.g. https://s3.example.com")
        }
        return url
    }

    public func caBundle(_ explicit: String? = nil, profile: String? = nil) throws -> String? {
        if let b = nonEmpty(explicit) ?? nonEmpty(environment["AWS_CA_BUNDLE"]) { return expand(b) }
        return nonEmpty(try profileSettings(profileName(profile))["ca_bundle"]).map(expand)
    }

    func expand(_ path: String) -> String {
        path == "~" ? homeDirectory : path.hasPrefix("~/") ? homeDirectory + path.dropFirst(1) : path
    }
    func nonEmpty(_ s: String?) -> String? {
        guard let s = s?.trimmingCharacters(in: .whitespaces), !s.isEmpty else { return nil }
        return s
    }

    /// Parses an AWS INI file into sections of lower-cased keys. Indented lines below a key with an
    /// empty value are sub-settings, stored as `key.subkey` (`s3 =` / `  endpoint_url = ...`).
    /// Returns nil when the file does not exist.
    static func readINI(_ path: String) throws -> [String: [String: String]]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw S3Error(.configuration, "cannot read AWS settings file \(path): check its permissions")
        }
        var sections: [String: [String: String]] = [:]
        var current: String?
        var parent: String?
        for raw in String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).split(whereSeparator: { $0 == " " || $0 == "\t" })
                    .joined(separator: " ")
                parent = nil
                if sections[current!] == nil { sections[current!] = [:] }
                continue
            }
            guard let section = current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            let indented = raw.first == " " || raw.first == "\t"
            if indented, let p = parent {
                sections[section]!["\(p).\(key)"] = value
            } else {
                sections[section]![key] = value
                parent = value.isEmpty ? key : nil
            }
        }
        return sections
    }
}
