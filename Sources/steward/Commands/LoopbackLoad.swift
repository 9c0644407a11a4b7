import Crypto
import Foundation
import StewardKit

#if canImport(Glibc)
    import Glibc
#endif

/// A lean HTTP/1.1 load client for benchmarks: one keep-alive connection per thread, one request in flight on each,
/// every request signed anew with SigV4. It keeps the client's own CPU small, so that on a small machine the
/// figure measures the server rather than the client (a general-purpose HTTP client costs as much as the server).
struct LoopbackLoad: Sendable {
    let port: Int
    let accessKeyId: String
    let secretAccessKey: String
    let region = "us-east-1"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// One signed SSM JSON 1.1 request, as bytes on the wire. `keys` keeps the derived signing key per scope date.
    func request(operation: String, body: JSONValue, keys: inout [String: SymmetricKey]) -> [UInt8] {
        let bytes = JSONWriter.bytes(body)
        var headers: [(String, String)] = [
            ("Host", "127.0.0.1:\(port)"), ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "AmazonSSM.\(operation)"),
        ]
        // Signed as an SDK signs, with the derived key kept for the day (as the server's verifier keeps it).
        let amzDate = SigV4.amzDateFormat(Date())
        let date = String(amzDate.prefix(8))
        let key = keys[date] ?? SigV4.signingKey(secret: secretAccessKey, date: date, region: region, service: "ssm")
        keys[date] = key
        var signing = SigV4.Request(method: "POST", path: "/", headers: headers, body: bytes)
        signing.headers.append(("x-amz-date", amzDate))
        let names = ["content-type", "host", "x-amz-date", "x-amz-target"]
        let scope = "\(date)/\(region)/ssm/aws4_request"
        let stringToSign = SigV4.stringToSignBytes(
            amzDate: amzDate, scope: scope, canonicalRequest: SigV4.canonicalRequestBytes(signing, signedHeaders: names))
        let signature = SigV4.signature(key: key, stringToSign: stringToSign)
        headers.append(("X-Amz-Date", amzDate))
        headers.append(
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=\(accessKeyId)/\(scope), SignedHeaders=\(names.joined(separator: ";")), Signature=\(signature)"
            ))
        var text = "POST / HTTP/1.1\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        text += "Content-Length: \(bytes.count)\r\n\r\n"
        return Array(text.utf8) + bytes
    }

    /// Runs `connections` threads for `seconds`; returns each request's latency in seconds.
    func run(connections: Int, seconds: Double, operation: String, body: JSONValue) throws -> [Double] {
        let deadline = Date().addingTimeInterval(seconds)
        let results = LockedLatencies()
        let errors = LockedLatencies()
        let threads = (0..<connections).map { _ in
            Thread {
                do {
                    let samples = try self.drive(until: deadline, operation: operation, body: body)
                    results.append(samples)
                } catch {
                    errors.note("\(error)")
                }
            }
        }
        for t in threads { t.start() }
        while results.finished + errors.finished < connections { usleep(10_000) }
        if let first = errors.messages.first { throw Failure(description: first) }
        return results.all
    }

    func drive(until deadline: Date, operation: String, body: JSONValue) throws -> [Double] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect: \(errno)") }
        var samples: [Double] = []
        samples.reserveCapacity(100_000)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var signingKeys: [String: SymmetricKey] = [:]
        while true {
            let start = Date().timeIntervalSince1970
            guard start < deadline.timeIntervalSince1970 else { break }
            // Signed anew for every request, as an SDK does.
            let wire = request(operation: operation, body: body, keys: &signingKeys)
            var sent = 0
            while sent < wire.count {
                let n = wire.withUnsafeBytes { send(fd, $0.baseAddress! + sent, wire.count - sent, 0) }
                guard n > 0 else { throw Failure(description: "send: \(errno)") }
                sent += n
            }
            // Read the head, then the body by Content-Length.
            var filled = 0
            var headEnd = -1
            var total = -1
            while total < 0 || filled < total {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, $0.count - filled, 0) }
                guard n > 0 else { throw Failure(description: "the server closed the connection") }
                filled += n
                if headEnd < 0, let end = Self.headEnd(buffer, filled) {
                    headEnd = end
                    let head = String(decoding: buffer[0..<end], as: UTF8.self)
                    guard head.hasPrefix("HTTP/1.1 200") else {
                        throw Failure(description: "the server answered \(head.prefix(while: { $0 != "\r" }))")
                    }
                    let length =
                        head.lowercased().components(separatedBy: "\r\n").first { $0.hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                    total = end + length
                    if total > buffer.count { buffer += [UInt8](repeating: 0, count: total - buffer.count) }
                }
            }
            samples.append(Date().timeIntervalSince1970 - start)
        }
        return samples
    }

    static func headEnd(_ buffer: [UInt8], _ count: Int) -> Int? {
        guard count >= 4 else { return nil }
        for i in 0...(count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}

final class LockedLatencies: @unchecked Sendable {
    private let lock = NSLock()
    private var samples: [Double] = []
    private var notes: [String] = []
    private var done = 0

    func append(_ more: [Double]) {
        lock.withLock {
            samples += more
            done += 1
        }
    }

    func note(_ message: String) {
        lock.withLock {
            notes.append(message)
            done += 1
        }
    }

    var finished: Int { lock.withLock { done } }
    var all: [Double] { lock.withLock { samples } }
    var messages: [String] { lock.withLock { notes } }
}
