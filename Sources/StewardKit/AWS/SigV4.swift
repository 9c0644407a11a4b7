import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// AWS Signature Version 4: the canonical request, the string to sign and the signature.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"

    /// The parsed `Authorization` header.
    public struct Authorization: Sendable, Equatable {
        public var accessKeyId: String
        public var date: String
        public var region: String
        public var service: String
        public var signedHeaders: [String]
        public var signature: String

        public var scope: String { "\(date)/\(region)/\(service)/aws4_request" }

        public init(header: String) throws(AWSError) {
            guard header.hasPrefix(SigV4.algorithm + " ") else {
                throw AWSError("IncompleteSignatureException", "Authorization header requires the \(SigV4.algorithm) algorithm.")
            }
            // Parsed on bytes with indices: this runs for every request.
            let bytes = Array(header.utf8)
            var credential: String?
            var signed: String?
            var signature: String?
            var i = SigV4.algorithm.utf8.count + 1
            while i < bytes.count {
                while i < bytes.count && (bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: ",")) { i += 1 }
                let keyStart = i
                while i < bytes.count && bytes[i] != UInt8(ascii: "=") && bytes[i] != UInt8(ascii: ",") { i += 1 }
                guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { continue }
                let key = bytes[keyStart..<i]
                i += 1
                let valueStart = i
                while i < bytes.count && bytes[i] != UInt8(ascii: ",") { i += 1 }
                let value = String(decoding: bytes[valueStart..<i], as: UTF8.self)
                if key.elementsEqual("Credential".utf8) {
                    credential = value
                } else if key.elementsEqual("SignedHeaders".utf8) {
                    signed = value
                } else if key.elementsEqual("Signature".utf8) {
                    signature = value
                }
            }
            guard let credential, let signed, let signature else {
                throw AWSError(
                    "IncompleteSignatureException",
                    "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.")
            }
            let scope = credential.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
            guard scope.count == 5, scope[4] == "aws4_request", !scope[0].isEmpty else {
                throw AWSError("IncompleteSignatureException", "Credential should be scoped to a valid region and service: \(credential).")
            }
            self.accessKeyId = scope[0]
            self.date = scope[1]
            self.region = scope[2]
            self.service = scope[3]
            self.signedHeaders = signed.utf8.split(separator: UInt8(ascii: ";")).map { String(decoding: $0, as: UTF8.self) }
            self.signature = signature
        }
    }

    /// Headers and body of one request, as the signer saw them.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: String
        /// Header names in any case; repeated headers are joined with commas before signing.
        public var headers: [(String, String)]
        public var payloadHash: String

        public init(method: String, path: String, query: String = "", headers: [(String, String)], body: [UInt8]) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            if let given = headers.first(where: { SigV4.equalsLowercased($0.0, "x-amz-content-sha256") })?.1 {
                self.payloadHash = given
            } else {
                var hash: [UInt8] = []
                SigV4.appendHex(SHA256.hash(data: body), to: &hash)
                self.payloadHash = String(decoding: hash, as: UTF8.self)
            }
        }

        /// Appends the values of a header (`name` in lower case), trimmed and joined as SigV4 asks.
        func appendHeaderValue(_ name: String, to out: inout [UInt8]) {
            var first = true
            for (key, value) in headers where SigV4.equalsLowercased(key, name) {
                if !first { out.append(UInt8(ascii: ",")) }
                out += SigV4.trimAll(value).utf8
                first = false
            }
        }
    }

    public static func canonicalRequest(_ request: Request, signedHeaders: [String]) -> String {
        String(decoding: canonicalRequestBytes(request, signedHeaders: signedHeaders), as: UTF8.self)
    }

    /// The canonical request built in one buffer, since it is made for every request signed or verified.
    public static func canonicalRequestBytes(_ request: Request, signedHeaders: [String]) -> [UInt8] {
        let newline = UInt8(ascii: "\n")
        var out: [UInt8] = []
        out.reserveCapacity(512)
        out += request.method.utf8
        out.append(newline)
        if request.path == "/" || request.path.isEmpty {
            out.append(UInt8(ascii: "/"))
        } else {
            out += canonicalPath(request.path).utf8
        }
        out.append(newline)
        if !request.query.isEmpty { out += canonicalQuery(request.query).utf8 }
        out.append(newline)
        for name in signedHeaders {
            out += name.utf8
            out.append(UInt8(ascii: ":"))
            request.appendHeaderValue(name, to: &out)
            out.append(newline)
        }
        out.append(newline)
        for (i, name) in signedHeaders.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ";")) }
            out += name.utf8
        }
        out.append(newline)
        out += request.payloadHash.utf8
        return out
    }

    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        String(decoding: stringToSignBytes(amzDate: amzDate, scope: scope, canonicalRequest: Array(canonicalRequest.utf8)), as: UTF8.self)
    }

    public static func stringToSignBytes(amzDate: String, scope: String, canonicalRequest: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        out += algorithm.utf8
        out.append(UInt8(ascii: "\n"))
        out += amzDate.utf8
        out.append(UInt8(ascii: "\n"))
        out += scope.utf8
        out.append(UInt8(ascii: "\n"))
        appendHex(SHA256.hash(data: canonicalRequest), to: &out)
        return out
    }

    public static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Data(("AWS4" + secret).utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    public static func signature(secret: String, date: String, region: String, service: String, stringToSign: String)
        -> String
    {
        signature(key: signingKey(secret: secret, date: date, region: region, service: service), stringToSign: stringToSign)
    }

    public static func signature(key: SymmetricKey, stringToSign: String) -> String {
        signature(key: key, stringToSign: Array(stringToSign.utf8))
    }

    public static func signature(key: SymmetricKey, stringToSign: [UInt8]) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: stringToSign, using: key))
    }

    /// Signs a request the way botocore does, returning the headers to add (`X-Amz-Date`, `Authorization`).
    public static func sign(
        _ request: Request, accessKeyId: String, secret: String, region: String, service: String, now: Date
    ) -> [(String, String)] {
        let amzDate = amzDateFormat(now)
        let date = String(amzDate.prefix(8))
        var signing = request
        signing.headers.append(("x-amz-date", amzDate))
        let names = Set(signing.headers.map { $0.0.lowercased() }).subtracting(unsignedHeaders).sorted()
        let canonical = canonicalRequest(signing, signedHeaders: names)
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let sts = stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical)
        let sig = signature(secret: secret, date: date, region: region, service: service, stringToSign: sts)
        let auth =
            "\(algorithm) Credential=\(accessKeyId)/\(scope), SignedHeaders=\(names.joined(separator: ";")), Signature=\(sig)"
        return [("X-Amz-Date", amzDate), ("Authorization", auth)]
    }

    static let unsignedHeaders: Set<String> = [
        "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id", "authorization",
    ]

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func amzDateFormat(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let (y, m, d) = civilFromDays(Int(seconds.floorDiv(86_400)))
        let rem = Int(seconds - seconds.floorDiv(86_400) * 86_400)
        return zeroPadded(y, 4) + zeroPadded(m, 2) + zeroPadded(d, 2) + "T" + zeroPadded(rem / 3600, 2) + zeroPadded(rem % 3600 / 60, 2)
            + zeroPadded(rem % 60, 2) + "Z"
    }

    /// Parses `yyyyMMdd'T'HHmmss'Z'`.
    public static func parseAmzDate(_ text: String) -> Date? {
        let chars = Array(text.utf8)
        guard chars.count == 16, chars[8] == UInt8(ascii: "T"), chars[15] == UInt8(ascii: "Z") else { return nil }
        func num(_ r: Range<Int>) -> Int? { Int(String(decoding: chars[r], as: UTF8.self)) }
        guard let y = num(0..<4), let mo = num(4..<6), let d = num(6..<8), let h = num(9..<11), let mi = num(11..<13),
            let s = num(13..<15), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        let days = daysFromCivil(y, mo, d)
        return Date(timeIntervalSince1970: Double(days * 86_400 + h * 3600 + mi * 60 + s))
    }

    static func canonicalPath(_ path: String) -> String {
        let p = path.isEmpty ? "/" : path
        return p.split(separator: "/", omittingEmptySubsequences: false).map { uriEncode(String($0)) }.joined(separator: "/")
    }

    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { item -> (String, String) in
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = uriEncode(percentDecode(String(kv[0])))
            let v = kv.count > 1 ? uriEncode(percentDecode(String(kv[1]))) : ""
            return (k, v)
        }
        return pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    static func uriEncode(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(byte)))
            default:
                out += "%" + hexByte(byte, uppercase: true)
            }
        }
        return out
    }

    static func percentDecode(_ s: String) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
            } else if b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `a` equals `lower` (already lower case) ignoring ASCII case, without allocating.
    static func equalsLowercased(_ a: String, _ lower: String) -> Bool {
        guard a.utf8.count == lower.utf8.count else { return false }
        for (x, y) in zip(a.utf8, lower.utf8) {
            let folded = (x >= 65 && x <= 90) ? x + 32 : x
            if folded != y { return false }
        }
        return true
    }

    /// Header values are trimmed and runs of spaces folded, as the SigV4 specification asks.
    static func trimAll(_ s: String) -> String {
        var previousSpace = true
        var clean = true
        for byte in s.utf8 {
            let space = byte == UInt8(ascii: " ")
            if space && previousSpace {
                clean = false
                break
            }
            previousSpace = space
        }
        if clean && !previousSpace { return s }
        return s.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ").trimmingSpaces
    }

    public static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        appendHex(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendHex<D: Sequence>(_ bytes: D, to out: inout [UInt8]) where D.Element == UInt8 {
        for b in bytes {
            out.append(JSONWriter.hexDigits[Int(b >> 4)])
            out.append(JSONWriter.hexDigits[Int(b & 0x0f)])
        }
    }

    static func hex(_ digest: SHA256.Digest) -> String { hex(Array(digest)) }
    static func hex(_ mac: HMAC<SHA256>.MAC) -> String { hex(Array(mac)) }
}

extension Int64 {
    fileprivate func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
    let y = m <= 2 ? y0 - 1 : y0
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
    let z = z0 + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp + (mp < 10 ? 3 : -9)
    return (m <= 2 ? y + 1 : y, m, d)
}
