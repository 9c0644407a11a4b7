import Crypto
import Foundation
import StewardKit
import StewardStore

/// Issues access keys and finds their secrets for SigV4 verification.
public struct AccessKeys: Sendable {
    let store: Store
    let box: SecretBox

    public init(store: Store, box: SecretBox) {
        self.store = store
        self.box = box
    }

    public struct Credentials: Sendable {
        public var accessKeyId: String
        public var secretAccessKey: String
    }

    /// Creates a key, or imports the given id and secret.
    public func create(id: String? = nil, secret: String? = nil) async throws -> Credentials {
        let keyId = id ?? "AKST" + AccessKeys.random(16, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let keySecret = secret ?? AccessKeys.random(40, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        guard (16...128).contains(keyId.count), keyId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw AccessKeyError("an access key id is 16 to 128 letters and digits")
        }
        guard keySecret.count >= 16 else { throw AccessKeyError("a secret access key has at least 16 characters") }
        let inserted = try await store.insertAccessKey(
            id: keyId, secretSealed: try box.seal(keySecret), createdAt: Date().timeIntervalSince1970)
        guard inserted else { throw AccessKeyError("access key \(keyId) exists already") }
        return Credentials(accessKeyId: keyId, secretAccessKey: keySecret)
    }

    public func secret(for id: String) async throws -> String? {
        guard let row = try await store.accessKey(id: id) else { return nil }
        return try box.open(row.secretSealed)
    }

    static func random(_ count: Int, alphabet: String) -> String {
        let chars = Array(alphabet)
        var rng = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in chars[Int.random(in: 0..<chars.count, using: &rng)] })
    }
}

public struct AccessKeyError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
