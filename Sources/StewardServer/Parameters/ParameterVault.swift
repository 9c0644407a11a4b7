import Crypto
import Foundation
import StewardKit
import StewardStore
import Synchronization

/// Envelope encryption for SecureString values under KMS-style keys.
///
/// Each value is encrypted with its own data key (AES-GCM); the data key is wrapped by the named key,
/// and the named key's material is sealed under the master key. Plain values exist only in memory.
final class ParameterVault: Sendable {
    static let defaultAlias = "alias/aws/ssm"

    let store: Store
    let box: SecretBox
    let accountId: String
    private let cache = Mutex<[String: SymmetricKey]>([:])
    private let defaults = Mutex<[String: Key]>([:])
    /// Keys by region and id, once unwrapped; keys are never deleted.
    private let byId = Mutex<[String: Key]>([:])
    /// Data keys of values read on the fast path, by region and sealed value (see ``openWithKnownKey(_:region:)``).
    private let unwrapped = Mutex<[String: Unwrapped]>([:])

    init(store: Store, box: SecretBox, accountId: String) {
        self.store = store
        self.box = box
        self.accountId = accountId
    }

    struct Key: Sendable {
        var id: String
        var alias: String?
        var material: SymmetricKey
    }

    /// The key a `KeyId` names: nil or `alias/aws/ssm` for the default, an alias, a key id, or an ARN of either.
    func key(region: String, named keyId: String?) async throws -> Key {
        var name = keyId ?? Self.defaultAlias
        if name.hasPrefix("arn:") {
            let parts = name.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
            guard parts.count == 6, parts[2] == "kms" else {
                throw AWSError("InvalidKeyId", "The KeyId \(name) is not a valid KMS key ARN.")
            }
            name = String(parts[5]).replacingOccurrences(of: "key/", with: "")
        }
        if name == Self.defaultAlias {
            if let known = defaults.withLock({ $0[region] }) { return known }
            let row = try await store.insertKMSKey(
                region: region,
                key: .init(
                    keyId: UUID().uuidString.lowercased(), alias: Self.defaultAlias, materialSealed: try sealNewMaterial(),
                    created: Date().timeIntervalSince1970))
            let key = try unwrap(row)
            defaults.withLock { $0[region] = key }
            return key
        }
        if let known = byId.withLock({ $0[region + "/" + name] }) { return known }
        let rows = try await store.kmsKeys(region: region)
        guard let row = rows.first(where: { $0.keyId == name || $0.alias == name }) else {
            throw AWSError("InvalidKeyId", "The KeyId \(keyId ?? name) is not a key in this region.")
        }
        let key = try unwrap(row)
        if row.keyId == name { byId.withLock { $0[region + "/" + name] = key } }
        return key
    }

    /// Creates a customer key, optionally with an alias (`alias/...`).
    func createKey(region: String, alias: String?) async throws -> Key {
        if let alias {
            guard alias.hasPrefix("alias/"), !alias.hasPrefix("alias/aws/"), alias.count > 6 else {
                throw AWSError.validation("An alias must start with alias/ and may not use the alias/aws/ prefix.")
            }
            if try await store.kmsKeys(region: region).contains(where: { $0.alias == alias }) {
                throw AWSError("AlreadyExistsException", "The alias \(alias) exists already.")
            }
        }
        let row = try await store.insertKMSKey(
            region: region,
            key: .init(
                keyId: UUID().uuidString.lowercased(), alias: alias, materialSealed: try sealNewMaterial(),
                created: Date().timeIntervalSince1970))
        return try unwrap(row)
    }

    func arn(region: String, keyId: String) -> String { "arn:aws:kms:\(region):\(accountId):key/\(keyId)" }

    private func sealNewMaterial() throws -> String {
        try box.seal(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() })
    }

    private func unwrap(_ row: Store.KeyRow) throws -> Key {
        if let cached = cache.withLock({ $0[row.keyId] }) { return Key(id: row.keyId, alias: row.alias, material: cached) }
        guard let raw = Data(base64Encoded: try box.open(row.materialSealed)) else { throw AWSError.internalError("A key is damaged.") }
        let material = SymmetricKey(data: raw)
        cache.withLock { $0[row.keyId] = material }
        return Key(id: row.keyId, alias: row.alias, material: material)
    }

    /// The sealed form of a value: `v1.<key id>.<wrapped data key>.<ciphertext>`, base64 parts.
    func seal(_ value: String, with key: Key) throws -> String {
        let dataKey = SymmetricKey(size: .bits256)
        let wrapped = try AES.GCM.seal(dataKey.withUnsafeBytes { Data($0) }, using: key.material).combined!
        let ciphertext = try AES.GCM.seal(Data(value.utf8), using: dataKey).combined!
        return "v1.\(key.id).\(wrapped.base64EncodedString()).\(ciphertext.base64EncodedString())"
    }

    func open(_ sealed: String, region: String) async throws -> String {
        let envelope = try Envelope(sealed)
        return try envelope.open(with: try await key(region: region, named: envelope.keyId))
    }

    /// `open` when the value's key is already in memory, without waiting for anything; nil otherwise. The data keys
    /// of values read this way stay in memory (as the named keys do), so a value read often is one decryption.
    func openWithKnownKey(_ sealed: String, region: String) -> String? {
        let cacheKey = region + "\u{0}" + sealed
        if let known = unwrapped.withLock({ $0[cacheKey] }) { return try? known.open() }
        guard let envelope = try? Envelope(sealed), let key = byId.withLock({ $0[region + "/" + envelope.keyId] }),
            let known = try? envelope.unwrap(with: key)
        else { return nil }
        unwrapped.withLock { cache in
            if cache.count >= 10_000 { cache.removeAll() }
            cache[cacheKey] = known
        }
        return try? known.open()
    }

    /// A value's own data key, unwrapped, and its ciphertext.
    private struct Unwrapped: Sendable {
        let dataKey: SymmetricKey
        let box: AES.GCM.SealedBox

        func open() throws -> String { String(decoding: try AES.GCM.open(box, using: dataKey), as: UTF8.self) }
    }

    /// A sealed value's parts: `v1.<key id>.<wrapped data key>.<ciphertext>`.
    private struct Envelope {
        let keyId: String
        let wrapped: Data
        let ciphertext: Data

        init(_ sealed: String) throws {
            let parts = sealed.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "v1", let wrapped = Data(base64Encoded: String(parts[2])),
                let ciphertext = Data(base64Encoded: String(parts[3]))
            else { throw AWSError.internalError("A SecureString value is damaged.") }
            (keyId, self.wrapped, self.ciphertext) = (String(parts[1]), wrapped, ciphertext)
        }

        func open(with key: Key) throws -> String { try unwrap(with: key).open() }

        func unwrap(with key: Key) throws -> Unwrapped {
            let dataKey = SymmetricKey(data: try AES.GCM.open(AES.GCM.SealedBox(combined: wrapped), using: key.material))
            return Unwrapped(dataKey: dataKey, box: try AES.GCM.SealedBox(combined: ciphertext))
        }
    }

    /// What the API shows for a SecureString read without decryption: the ciphertext, base64.
    static func ciphertext(_ sealed: String) -> String {
        Data(sealed.utf8).base64EncodedString()
    }
}
