import Foundation

extension AWSEnvironment {
    /// Retry and timeout settings from the environment, applied to `config`:
    /// - `AWS_MAX_ATTEMPTS` (or the profile's `max_attempts`, as the AWS SDKs read them): tries
    ///   per request, the first included, 1 ... 20;
    /// - `APKIT_S3_RETRY_DELAY`: the backoff's base delay in seconds (0 ... 60; the n-th retry waits
    ///   a random time up to base × 2^(n-1), at most 8 s or the base, whichever is larger);
    /// - `APKIT_S3_TIMEOUT`: seconds a request may go without a byte moving before it is abandoned
    ///   and retried, 0.5 ... 3600 (checked about once a second); also caps the connect timeout.
    /// A value that is not a number in range is a configuration error naming the variable.
    public func applyRetrySettings(to config: inout S3Configuration, profile: String? = nil) throws {
        func number(_ name: String, _ text: String, _ range: ClosedRange<Double>) throws -> Double {
            guard let v = Double(text.trimmingCharacters(in: .whitespaces)), range.contains(v) else {
                throw S3Error(.configuration, "\(name)=\(text): expected a number from \(Self.format(range.lowerBound)) "
                    + "to \(Self.format(range.upperBound))")
            }
            return v
        }
        if let text = nonEmpty(environment["AWS_MAX_ATTEMPTS"]) {
            config.maxAttempts = Int(try number("AWS_MAX_ATTEMPTS", text, 1...20))
        } else if let text = nonEmpty(try profileSettings(profileName(profile))["max_attempts"]) {
            config.maxAttempts = Int(try number("max_attempts (profile \(profileName(profile)))", text, 1...20))
        }
        if let text = nonEmpty(environment["APKIT_S3_RETRY_DELAY"]) {
            config.retryBaseDelay = try number("APKIT_S3_RETRY_DELAY", text, 0...60)
            config.retryMaxDelay = max(8, config.retryBaseDelay)
        }
        if let text = nonEmpty(environment["APKIT_S3_TIMEOUT"]) {
            let seconds = try number("APKIT_S3_TIMEOUT", text, 0.5...3600)
            config.http.stallTimeout = seconds
            config.http.connectTimeout = min(config.http.connectTimeout, Int(seconds.rounded(.up)))
        }
    }

    private static func format(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}
