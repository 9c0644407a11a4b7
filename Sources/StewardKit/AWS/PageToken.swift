import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Opaque, tamper-evident `NextToken` values: a position in a query's results, bound to that query and MACed by the server.
///
/// A token carries both the offset and the key of the last item returned, so a page continues after
/// that item even when items before it were added or removed in between.
public struct PageToken: Sendable {
    let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    public struct Position: Sendable, Equatable {
        public var offset: Int
        public var lastKey: String?
    }

    public func make(offset: Int, lastKey: String? = nil, query: String) -> String {
        let encodedKey = lastKey.map { Data($0.utf8).base64EncodedString() } ?? ""
        let payload = "\(offset):\(query.hashValueStable):\(encodedKey)"
        let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: key)
        return Data(payload.utf8).base64EncodedString() + "." + Data(mac).base64EncodedString()
    }

    /// Where a token points; `InvalidNextToken` if it was altered or belongs to another query.
    public func position(from token: String?, query: String) throws(AWSError) -> Position {
        guard let token, !token.isEmpty else { return Position(offset: 0, lastKey: nil) }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2,
            let payload = Data(base64Encoded: String(parts[0])),
            let mac = Data(base64Encoded: String(parts[1])),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key)
        else { throw AWSError.invalidNextToken }
        let fields = String(decoding: payload, as: UTF8.self).split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3, let offset = Int(fields[0]), offset >= 0, String(fields[1]) == query.hashValueStable else {
            throw AWSError.invalidNextToken
        }
        let lastKey = fields[2].isEmpty ? nil : Data(base64Encoded: String(fields[2])).map { String(decoding: $0, as: UTF8.self) }
        return Position(offset: offset, lastKey: lastKey)
    }

    /// The offset alone, for callers that do not track keys.
    public func offset(from token: String?, query: String) throws(AWSError) -> Int {
        try position(from: token, query: query).offset
    }
}

extension String {
    /// A hash that is the same in every process, unlike `hashValue`.
    var hashValueStable: String {
        let digest = SHA256.hash(data: Data(self.utf8))
        return digest.prefix(8).map { hexByte($0) }.joined()
    }
}
