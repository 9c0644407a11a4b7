import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import StewardKit

/// Where an inventory export goes: a folder on the server, or a bucket of an S3-compatible store.
protocol ExportSink: Sendable {
    /// Where the export goes, as the operator named it (for logs and the API answer).
    var location: String { get }
    /// Writes one object whole: a reader sees the old content or the new, never part of it.
    func put(_ relative: String, _ bytes: [UInt8]) async throws
    func remove(_ relative: String) async throws
    /// The object's content, or nil when there is none.
    func get(_ relative: String) async throws -> [UInt8]?
    /// Whether the object is there (the manifest may outlive a removed file).
    func exists(_ relative: String) async throws -> Bool
}

/// A folder: each file is written under a temporary name and renamed into place.
struct FolderSink: ExportSink {
    let folder: String
    var location: String { folder }

    func put(_ relative: String, _ bytes: [UInt8]) async throws {
        let path = "\(folder)/\(relative)"
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = "\(dir)/.\(UUID().uuidString).tmp"
        try Data(bytes).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw AWSError("InternalServerError", "cannot write \(path)", status: 500)
        }
    }

    func remove(_ relative: String) async throws { try? FileManager.default.removeItem(atPath: "\(folder)/\(relative)") }

    func get(_ relative: String) async throws -> [UInt8]? {
        FileManager.default.contents(atPath: "\(folder)/\(relative)").map { Array($0) }
    }

    func exists(_ relative: String) async throws -> Bool { FileManager.default.fileExists(atPath: "\(folder)/\(relative)") }
}

/// A bucket of an S3-compatible store (AWS S3, MinIO, Ceph, ...), path-style, every request signed with SigV4.
struct S3Sink: ExportSink {
    let endpoint: String
    let bucket: String
    let prefix: String
    let region: String
    let accessKeyId: String
    let secretAccessKey: String

    var location: String { "s3://\(bucket)/\(prefix)" }

    /// `s3://bucket/prefix` with the endpoint and the standard AWS variables for credentials.
    static func parse(_ url: String, endpoint: String?, environment: [String: String]) throws -> S3Sink {
        guard url.hasPrefix("s3://") else { throw AWSError.validation("an S3 export location is s3://bucket/prefix") }
        let rest = url.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        var prefix = String(rest.dropFirst(bucket.count + 1))
        while prefix.hasSuffix("/") { prefix.removeLast() }
        guard !bucket.isEmpty else { throw AWSError.validation("the S3 export location names no bucket: \(url)") }
        guard let keyId = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
            throw AWSError.validation("exporting to S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the server's environment")
        }
        let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let host = endpoint ?? environment["AWS_ENDPOINT_URL_S3"] ?? "https://s3.\(region).amazonaws.com"
        return S3Sink(
            endpoint: host.hasSuffix("/") ? String(host.dropLast()) : host, bucket: bucket, prefix: prefix, region: region,
            accessKeyId: keyId, secretAccessKey: secret)
    }

    func key(_ relative: String) -> String { prefix.isEmpty ? relative : "\(prefix)/\(relative)" }

    /// The path with each segment percent-encoded as SigV4 and S3 expect.
    func path(_ relative: String) -> String {
        "/\(bucket)/"
            + key(relative).split(separator: "/", omittingEmptySubsequences: false).map { segment in
                var out = ""
                for byte in segment.utf8 {
                    switch byte {
                    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                        UInt8(ascii: "0")...UInt8(ascii: "9"),
                        UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                        out.append(Character(UnicodeScalar(byte)))
                    default:
                        out += String(format: "%%%02X", byte)
                    }
                }
                return out
            }.joined(separator: "/")
    }

    func send(_ method: HTTPMethod, _ relative: String, body: [UInt8] = []) async throws -> (UInt, [UInt8]) {
        let path = path(relative)
        let host = String(endpoint.split(separator: "://", maxSplits: 1).last ?? "")
        var headers: [(String, String)] = [("Host", host), ("x-amz-content-sha256", SigV4.hex(SHA256.hash(data: body)))]
        if method == .PUT { headers.append(("Content-Type", "application/x-ndjson")) }
        // S3 encodes the path once in the canonical request: the signer encodes what it is given, so it gets the raw key
        // while the wire carries the encoded path.
        headers += SigV4.sign(
            SigV4.Request(method: method.rawValue, path: "/\(bucket)/\(key(relative))", headers: headers, body: body),
            accessKeyId: accessKeyId,
            secret: secretAccessKey, region: region, service: "s3", now: Date())
        var request = HTTPClientRequest(url: endpoint + path)
        request.method = method
        for (k, v) in headers where k != "Host" { request.headers.add(name: k, value: v) }
        if !body.isEmpty || method == .PUT { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let data = try await response.body.collect(upTo: 256 << 20)
        return (response.status.code, Array(data.readableBytesView))
    }

    func put(_ relative: String, _ bytes: [UInt8]) async throws {
        let (status, body) = try await send(.PUT, relative, body: bytes)
        guard status == 200 else { throw failure("PUT", relative, status, body) }
    }

    func remove(_ relative: String) async throws {
        let (status, body) = try await send(.DELETE, relative)
        guard status == 204 || status == 200 || status == 404 else { throw failure("DELETE", relative, status, body) }
    }

    func get(_ relative: String) async throws -> [UInt8]? {
        let (status, body) = try await send(.GET, relative)
        if status == 404 { return nil }
        guard status == 200 else { throw failure("GET", relative, status, body) }
        return body
    }

    func exists(_ relative: String) async throws -> Bool {
        let (status, body) = try await send(.HEAD, relative)
        if status == 404 { return false }
        guard status == 200 else { throw failure("HEAD", relative, status, body) }
        return true
    }

    func failure(_ method: String, _ relative: String, _ status: UInt, _ body: [UInt8]) -> AWSError {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return AWSError("InternalServerError", "\(method) \(location)/\(relative) failed: HTTP \(status) \(text)", status: 500)
    }
}
