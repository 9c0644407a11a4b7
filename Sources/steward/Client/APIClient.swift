import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import StewardKit

/// Calls the SSM API like any AWS SDK: JSON 1.1 over HTTP, signed with SigV4.
struct APIClient: Sendable {
    let endpoint: String
    let region: String
    let accessKeyId: String
    let secretAccessKey: String
    let http: HTTPClient

    init(endpoint: String, region: String, accessKeyId: String, secretAccessKey: String) {
        var e = endpoint
        while e.hasSuffix("/") { e.removeLast() }
        self.endpoint = e
        self.region = region
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.http = HTTPClient.shared
    }

    var host: String {
        var h = endpoint
        if let r = h.range(of: "://") { h = String(h[r.upperBound...]) }
        if let slash = h.firstIndex(of: "/") { h = String(h[..<slash]) }
        return h
    }

    func call(_ operation: String, _ body: JSONValue = [:]) async throws -> JSONValue {
        try await post(
            path: "/", body: body, service: "ssm",
            headers: [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", operation.contains(".") ? operation : "AmazonSSM.\(operation)"),
            ])
    }

    /// Calls a POST REST-JSON operation (AWS Resource Groups: `POST /groups`, `/get-group`, ...).
    func rest(_ path: String, _ body: JSONValue = [:], service: String = "resource-groups") async throws -> JSONValue {
        try await rest(method: "POST", path, body: body, service: service)
    }

    func post(path: String, body: JSONValue, service: String, headers extra: [(String, String)]) async throws -> JSONValue {
        let bytes = JSONWriter.bytes(body)
        var headers: [(String, String)] = [("Host", host)] + extra
        headers += SigV4.sign(
            SigV4.Request(method: "POST", path: path, headers: headers, body: bytes), accessKeyId: accessKeyId,
            secret: secretAccessKey, region: region, service: service, now: Date())
        var request = HTTPClientRequest(url: endpoint + path)
        request.method = .POST
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: .seconds(60)) } catch {
            throw CLIError("cannot reach \(endpoint): \(error)")
        }
        let data = try await response.body.collect(upTo: 64 << 20)
        let value = (try? JSONReader.parse(Array(data.readableBytesView))) ?? .null
        guard response.status == .ok else {
            let code =
                value["__type"]?.stringValue.map { $0.split(separator: "#").last.map(String.init) ?? $0 } ?? "HTTP \(response.status.code)"
            let message = value["message"]?.stringValue ?? value["Message"]?.stringValue ?? ""
            throw AWSError(code, message, status: Int(response.status.code))
        }
        return value
    }

    /// Calls a paginated operation until `NextToken` runs out, collecting `key`.
    func callAll(_ operation: String, _ body: JSONValue = [:], key: String, limit: Int = 10_000) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var request = body.objectValue ?? [:]
        while true {
            let page = try await call(operation, .object(request))
            items += page[key]?.arrayValue ?? []
            guard let next = page["NextToken"]?.stringValue, !next.isEmpty, items.count < limit else { return items }
            request["NextToken"] = .string(next)
        }
    }

    /// Downloads a full output file from the server.
    func download(url: String) async throws -> String {
        guard url.hasPrefix(endpoint) || url.hasPrefix("http://") else { throw CLIError("unexpected output URL \(url)") }
        var path = url
        if let r = path.range(of: "://") { path = String(path[r.upperBound...]) }
        let urlHost = String(path.prefix { $0 != "/" })
        path = String(path.dropFirst(urlHost.count))
        var headers: [(String, String)] = [("Host", urlHost)]
        headers += SigV4.sign(
            SigV4.Request(method: "GET", path: path, headers: headers, body: []), accessKeyId: accessKeyId,
            secret: secretAccessKey, region: region, service: "ssm", now: Date())
        var request = HTTPClientRequest(url: url)
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        let response = try await http.execute(request, timeout: .seconds(60))
        let data = try await response.body.collect(upTo: 256 << 20)
        guard response.status == .ok else { throw CLIError("downloading \(url) failed: HTTP \(response.status.code)") }
        return String(buffer: data)
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
