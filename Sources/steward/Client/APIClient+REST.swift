import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import StewardKit

extension APIClient {
    /// Calls a REST-JSON operation with any method: `query` members go in the query string, `body` as JSON.
    /// Used for EC2 Image Builder (`PUT /CreateComponent`, `GET /GetComponent?componentBuildVersionArn=...`).
    func rest(method: String, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil, service: String) async throws
        -> JSONValue
    {
        let bytes = body.map { JSONWriter.bytes($0) } ?? []
        let queryText = query.map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&")
        var headers: [(String, String)] = [("Host", host)]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        headers += SigV4.sign(
            SigV4.Request(method: method, path: path, query: queryText, headers: headers, body: bytes), accessKeyId: accessKeyId,
            secret: secretAccessKey, region: region, service: service, now: Date())
        var request = HTTPClientRequest(url: endpoint + path + (queryText.isEmpty ? "" : "?\(queryText)"))
        request.method = HTTPMethod(rawValue: method)
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if body != nil { request.body = .bytes(ByteBuffer(bytes: bytes)) }
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: .seconds(60)) } catch {
            throw CLIError("cannot reach \(endpoint): \(error)")
        }
        let data = try await response.body.collect(upTo: 64 << 20)
        let value = (try? JSONReader.parse(Array(data.readableBytesView))) ?? .null
        guard response.status == .ok else {
            let code =
                response.headers["x-amzn-ErrorType"].first.map { String($0.split(separator: ":").first ?? "") }
                ?? value["__type"]?.stringValue ?? "HTTP \(response.status.code)"
            let message = value["message"]?.stringValue ?? value["Message"]?.stringValue ?? ""
            throw AWSError(code, message, status: Int(response.status.code))
        }
        return value
    }

    /// RFC 3986 encoding: everything but letters, digits and `-_.~` as `%XX`.
    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(UnicodeScalar(byte))
            if byte < 128 && (c.isLetter || c.isNumber || "-_.~".contains(c)) {
                out.append(c)
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
