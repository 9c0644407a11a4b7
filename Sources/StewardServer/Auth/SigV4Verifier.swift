import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import StewardKit
import Synchronization

/// Verifies the SigV4 signature of API requests and says which region the request is for.
final class SigV4Verifier: Sendable {
    let keys: AccessKeys
    let window: TimeInterval = 300
    /// Secrets are cached after the first lookup; keys are never deleted while the server runs.
    let cache = Mutex<[String: String]>([:])
    let signingKeys = Mutex<[String: SymmetricKey]>([:])

    static let amzDate = HTTPField.Name("X-Amz-Date")!

    init(keys: AccessKeys) { self.keys = keys }

    struct Identity: Sendable {
        var accessKeyId: String
        var region: String
    }

    /// `authority` is the request's Host, which HTTPTypes keeps apart from the other header fields.
    func verify(method: String, path: String, query: String, authority: String?, headers: HTTPFields, body: [UInt8], now: Date)
        async throws(AWSError) -> Identity
    {
        let (auth, amzDate) = try authorization(headers, now: now)
        let secret: String
        if let cached = cache.withLock({ $0[auth.accessKeyId] }) {
            secret = cached
        } else {
            let found: String?
            do { found = try await keys.secret(for: auth.accessKeyId) } catch { throw AWSError.internalError() }
            guard let found else {
                throw AWSError("UnrecognizedClientException", "The security token included in the request is invalid.")
            }
            cache.withLock { $0[auth.accessKeyId] = found }
            secret = found
        }
        return try check(
            auth, amzDate: amzDate, secret: secret, method: method, path: path, query: query, authority: authority, headers: headers,
            body: body)
    }

    /// The same verification without waiting for anything: nil when the key's secret is not in memory yet or when
    /// the request fails verification (a caller then serves it the ordinary way, which answers the error).
    func verifyWithKnownKey(
        method: String, path: String, query: String, authority: String?, headers: HTTPFields, body: [UInt8], now: Date
    ) -> Identity? {
        guard let (auth, amzDate) = try? authorization(headers, now: now),
            let secret = cache.withLock({ $0[auth.accessKeyId] })
        else { return nil }
        return try? check(
            auth, amzDate: amzDate, secret: secret, method: method, path: path, query: query, authority: authority, headers: headers,
            body: body)
    }

    /// The Authorization header and the request's date, checked against the clock window.
    private func authorization(_ headers: HTTPFields, now: Date) throws(AWSError) -> (SigV4.Authorization, String) {
        guard let header = headers[.authorization] else {
            throw AWSError("MissingAuthenticationTokenException", "Request is missing Authentication Token")
        }
        let auth = try SigV4.Authorization(header: header)
        guard let amzDateText = headers[Self.amzDate] ?? headers[.date] else {
            throw AWSError(
                "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        }
        guard let amzDate = SigV4.parseAmzDate(amzDateText) else {
            throw AWSError("IncompleteSignatureException", "Date must be in ISO-8601 'basic format'. Got '\(amzDateText)'.")
        }
        guard amzDateText.hasPrefix(auth.date) else {
            throw AWSError(
                "InvalidSignatureException",
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(auth.date)' != '\(amzDateText.prefix(8))'"
            )
        }
        let skew = amzDate.timeIntervalSince(now)
        if abs(skew) > window {
            let nowText = SigV4.amzDateFormat(now)
            let bound = SigV4.amzDateFormat(now.addingTimeInterval(skew < 0 ? -window : window))
            throw AWSError(
                "InvalidSignatureException",
                skew < 0
                    ? "Signature expired: \(amzDateText) is now earlier than \(bound) (\(nowText) - 5 min.)"
                    : "Signature not yet current: \(amzDateText) is still later than \(bound) (\(nowText) + 5 min.)")
        }
        guard auth.signedHeaders.contains("host") else {
            throw AWSError("InvalidSignatureException", "'Host' must be a signed header.")
        }
        return (auth, amzDateText)
    }

    /// Recomputes the signature with the key's secret and compares it with the one the request carries.
    private func check(
        _ auth: SigV4.Authorization, amzDate amzDateText: String, secret: String, method: String, path: String, query: String,
        authority: String?, headers: HTTPFields, body: [UInt8]
    ) throws(AWSError) -> Identity {
        let request = SigV4.Request(
            method: method, path: path, query: query,
            headers: [("host", authority ?? "")] + headers.map { ($0.name.canonicalName, $0.value) }, body: body)
        let canonical = SigV4.canonicalRequestBytes(request, signedHeaders: auth.signedHeaders)
        let sts = SigV4.stringToSignBytes(amzDate: amzDateText, scope: auth.scope, canonicalRequest: canonical)
        // The signing key depends only on the secret and the scope (a day, a region, a service), so it is kept.
        let scopeKey = "\(auth.accessKeyId)/\(auth.scope)"
        let signingKey: SymmetricKey
        if let known = signingKeys.withLock({ $0[scopeKey] }) {
            signingKey = known
        } else {
            signingKey = SigV4.signingKey(secret: secret, date: auth.date, region: auth.region, service: auth.service)
            signingKeys.withLock { keys in
                if keys.count > 10_000 { keys.removeAll() }
                keys[scopeKey] = signingKey
            }
        }
        let expected = SigV4.signature(key: signingKey, stringToSign: sts)
        guard constantTimeEquals(expected, auth.signature) else {
            throw AWSError(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
            )
        }
        return Identity(accessKeyId: auth.accessKeyId, region: auth.region)
    }

    func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
