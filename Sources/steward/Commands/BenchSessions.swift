import ArgumentParser
import Foundation
import Logging
import NIOCore
import StewardKit
import Synchronization
import WSClient

/// Interactive sessions through the server: keystroke round trips and output throughput.
struct BenchSessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions", abstract: "Keystroke round-trip latency and output throughput of a session through the server.",
        discussion: """
            A server and one agent process on 127.0.0.1. A keystroke travels client → server → agent → terminal → \
            program → agent → server → client; throughput is `yes` output read through the same path, \
            flow control included. Build with -c release for figures worth quoting.
            """)

    @Option(help: "Keystrokes to time, one at a time.") var keystrokes: Int = 500
    @Option(help: "Megabytes of output for the throughput figure.") var megabytes: Int = 64

    func run() async throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let root = NSTemporaryDirectory() + "steward-bench-sessions-\(UUID().uuidString.prefix(8))"
        let (server, api, port) = try await startBenchServer("\(bin)/steward", root: root)
        var agent: Process?
        defer {
            if let agent {
                kill(agent.processIdentifier, SIGTERM)
                agent.waitUntilExit()
            }
            kill(server.processIdentifier, SIGTERM)
            server.waitUntilExit()
            try? FileManager.default.removeItem(atPath: root)
        }
        let activation = try await api.call("CreateActivation", ["IamRole": "bench", "RegistrationLimit": 1])
        let register = try spawn(
            "\(bin)/steward-agent",
            [
                "register", "--server", "http://127.0.0.1:\(port)", "--activation-id", activation["ActivationId"]!.textValue,
                "--activation-code", activation["ActivationCode"]!.textValue, "--state-dir", "\(root)/agent", "--log-level", "error",
            ], log: "\(root)/register.log")
        register.waitUntilExit()
        guard register.terminationStatus == 0 else { throw CLIError("agent registration failed; see \(root)/register.log") }
        let started = try spawn(
            "\(bin)/steward-agent", ["start", "--state-dir", "\(root)/agent", "--log-level", "error"], log: "\(root)/agent.log")
        agent = started
        var instanceId = ""
        try await poll(timeout: 60) {
            let list = try await api.call("DescribeInstanceInformation", [:])["InstanceInformationList"]?.arrayValue ?? []
            guard let online = list.first(where: { $0["PingStatus"]?.stringValue == "Online" }) else { return false }
            instanceId = online["InstanceId"]?.textValue ?? ""
            return true
        }

        // Keystrokes: the program echoes each byte as it reads it.
        let samples = Box<[Double]>([])
        let keystrokes = self.keystrokes
        let opened = Date()
        _ = try await session(api, instanceId, command: "stty raw -echo; echo ready; exec cat") { outbound, output in
            _ = try await output.read(until: { $0.contains("ready") })
            let setup = Date().timeIntervalSince(opened)
            print(String(format: "StartSession → shell ready on the client: %.1f ms", setup * 1000))
            for n in 0..<keystrokes {
                let key = UInt8(ascii: "a") + UInt8(n % 26)
                let start = Date()
                try await outbound.write(.binary(ByteBuffer(bytes: [key])))
                _ = try await output.read(until: { $0.last == Character(UnicodeScalar(key)) })
                samples.value.append(Date().timeIntervalSince(start))
            }
            // The terminal is raw, so Ctrl-D is just a byte: the session is closed instead.
            let close = SessionMessage(.close, sessionId: "")
            try await outbound.write(.text(String(decoding: try JSONEncoder().encode(close), as: UTF8.self)))
        }
        let sorted = samples.value.sorted()
        print(
            String(
                format: "keystroke round trip: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d keystrokes)", sorted[sorted.count / 2] * 1000,
                sorted[sorted.count * 99 / 100] * 1000, sorted.last! * 1000, sorted.count))

        // Throughput.
        let serverCPU = cpuSeconds(server.processIdentifier)
        let agentCPU = cpuSeconds(started.processIdentifier)
        let start = Date()
        let bytes = try await session(api, instanceId, command: "yes steward | head -c \(megabytes)M") { _, _ in }
        let elapsed = Date().timeIntervalSince(start)
        let mb = Double(bytes) / 1_048_576
        print(
            String(
                format: "output throughput: %.1f MiB/s (%.1f MiB in %.2f s); CPU per MiB: server %.1f ms, agent %.1f ms", mb / elapsed,
                mb, elapsed, (cpuSeconds(server.processIdentifier) - serverCPU) / mb * 1000,
                (cpuSeconds(started.processIdentifier) - agentCPU) / mb * 1000))
    }

    /// Output read so far, for waiting on what a session prints; used by one task at a time (the connection's handler).
    final class Output: @unchecked Sendable {
        var iterator: WebSocketInboundMessageStream.AsyncIterator
        var text = ""
        var bytes = 0

        init(_ iterator: WebSocketInboundMessageStream.AsyncIterator) { self.iterator = iterator }

        /// Reads frames until `done` holds for the output so far; false when the session ended first.
        func read(until done: (String) -> Bool) async throws -> Bool {
            while !done(text) {
                guard let message = try await iterator.next() else { return false }
                switch message {
                case .binary(let buffer):
                    bytes += buffer.readableBytes
                    if text.count < 4096 { text += String(buffer: buffer) } else { text = String(buffer: buffer) }
                case .text:
                    return false
                }
            }
            return true
        }
    }

    /// Runs `command` in a session, lets `body` drive it, then reads to the end; returns the output bytes received.
    func session(
        _ api: APIClient, _ instanceId: String, command: String,
        _ body: @escaping @Sendable (WebSocketOutboundWriter, Output) async throws -> Void
    ) async throws -> Int {
        let started = try await api.call(
            "StartSession",
            ["Target": .string(instanceId), "DocumentName": "AWS-StartInteractiveCommand", "Parameters": ["command": [.string(command)]]])
        let hello = SessionStreamHello(token: started["TokenValue"]!.textValue, term: "xterm", cols: 120, rows: 40)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let total = Box(0)
        try await WebSocketClient.connect(url: started["StreamUrl"]!.textValue, configuration: .init(maxFrameSize: 1 << 20), logger: logger)
        {
            inbound, outbound, _ in
            try await outbound.write(.text(String(decoding: try JSONEncoder().encode(hello), as: UTF8.self)))
            let output = Output(inbound.messages(maxSize: 1 << 20).makeAsyncIterator())
            try await body(outbound, output)
            _ = try await output.read(until: { _ in false })
            total.value = output.bytes
            try? await outbound.close(.normalClosure, reason: nil)
        }
        return total.value
    }

    final class Box<Value: Sendable>: Sendable {
        private let stored: Mutex<Value>
        init(_ value: Value) { stored = Mutex(value) }
        var value: Value {
            get { stored.withLock { $0 } }
            set { stored.withLock { $0 = newValue } }
        }
    }
}
