import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Opaque, tamper-evident `NextToken` values: an offset bound to the query it came from, MACed by the server.
public struct PageToken: Sendable {
    let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    public func make(offset: Int, query: String) -> String {
        let payload = "\(offset):\(query.hashValueStable)"
        let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: key)
        return Data(payload.utf8).base64EncodedString() + "." + Data(mac).base64EncodedString()
    }

    /// The offset a token stands for; `InvalidNextToken` if it was altered or belongs to another query.
    public func offset(from token: String?, query: String) throws(AWSError) -> Int {
        guard let token, !token.isEmpty else { return 0 }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2,
            let payload = Data(base64Encoded: String(parts[0])),
            let mac = Data(base64Encoded: String(parts[1])),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key),
            let text = String(data: payload, encoding: .utf8)
        else { throw AWSError.invalidNextToken }
        let fields = text.split(separator: ":")
        guard fields.count == 2, let offset = Int(fields[0]), offset >= 0, String(fields[1]) == query.hashValueStable
        else { throw AWSError.invalidNextToken }
        return offset
    }
}

extension String {
    /// A hash that is the same in every process, unlike `hashValue`.
    var hashValueStable: String {
        let digest = SHA256.hash(data: Data(self.utf8))
        return digest.prefix(8).map { hexByte($0) }.joined()
    }
}
