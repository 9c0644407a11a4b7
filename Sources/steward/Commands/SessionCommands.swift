import ArgumentParser
import Foundation
import StewardAgent
import StewardKit

/// `steward session INSTANCE`: an interactive shell on a node, through the server or directly with a grant.
struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session", abstract: "Open an interactive shell on a managed node.",
        discussion: """
            Starts a session (StartSession), connects to its stream and hands the terminal over to the remote shell: \
            keys go as typed (Ctrl-C interrupts the remote job), the window size follows yours, and the command exits \
            with the remote shell's exit status. The server records the session's output; administrators read it with \
            `steward sessions transcript SESSION_ID`.

            With --direct, the session goes straight to the node (no control plane), which checks the grant \
            (`steward grant create --sessions`) itself, records the transcript and delivers it with its audit record \
            when it next reaches the control plane. A refusal or an unreachable node prints one line and exits 255.
            """)

    @Argument(help: "The managed node (mi-...); with --direct, optional.") var instanceId: String?
    @Option(help: "Why the session is opened (kept with the session).") var reason: String?
    @Option(help: "Run this command on the remote terminal instead of a login shell (AWS-StartInteractiveCommand).")
    var command: String?
    @Option(help: "Go straight to the node: HOST[:PORT] (port 8445 by default) or unix:PATH.") var direct: String?
    @Option(help: "With --direct: the grant file (from `steward grant create --sessions`).") var grant: String?
    @Option(help: "With --direct: the operator's key file (default: STEWARD_OPERATOR_KEY).") var operatorKey: String?
    @Option(help: "With --direct: the node's key fingerprint, when the grant does not carry the node's key.")
    var nodeFingerprint: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        if let direct { return try await runDirect(direct) }
        guard let instanceId else { throw ValidationError("name the managed node (mi-...), or give --direct") }
        let ended: SessionClient.Ended
        do {
            let api = try client.client()
            var body: [String: JSONValue] = ["Target": .string(instanceId)]
            if let reason { body["Reason"] = .string(reason) }
            if let command {
                body["DocumentName"] = "AWS-StartInteractiveCommand"
                body["Parameters"] = ["command": [.string(command)]]
            }
            let started = try await api.call("StartSession", .object(body))
            ended = try await Self.attach(started)
        } catch { throw failure(error) }
        try Self.finish(ended)
    }

    func runDirect(_ endpoint: String) async throws {
        let session: DirectSessionClient
        do {
            guard let grant else { throw CLIError("--direct needs --grant (from `steward grant create --sessions`)") }
            guard let keyPath = operatorKey ?? ProcessInfo.processInfo.environment["STEWARD_OPERATOR_KEY"] else {
                throw CLIError("--operator-key is required (or set STEWARD_OPERATOR_KEY)")
            }
            let direct = DirectClient(
                endpoint: try DirectClient.Endpoint.parse(endpoint), grant: try SignedGrantFile.read(grant),
                operatorKey: try OperatorKeyFile.privateKey(from: keyPath), nodeFingerprint: nodeFingerprint)
            session = DirectSessionClient(client: direct, command: command)
        } catch { throw failure(error) }
        let outcome: DirectClient.SessionOutcome
        do { outcome = try await session.run() } catch {
            FileHandle.standardError.write(Data("steward: \(error)\n".utf8))
            throw ExitCode(Exec.refusedStatus)
        }
        switch outcome {
        case .refused(let refusal):
            FileHandle.standardError.write(Data("steward: refused by the node: \(refusal.code.rawValue): \(refusal.message)\n".utf8))
            throw ExitCode(Exec.refusedStatus)
        case .ended(_, let code?, _):
            if code != 0 { throw ExitCode(Int32(truncatingIfNeeded: code)) }
        case .ended(let id, nil, let reason):
            FileHandle.standardError.write(Data("steward: the session \(id) ended: \(reason ?? "no reason given")\n".utf8))
            throw ExitCode(Exec.refusedStatus)
        }
    }

    static func attach(_ started: JSONValue) async throws -> SessionClient.Ended {
        guard let id = started["SessionId"]?.stringValue, let url = started["StreamUrl"]?.stringValue,
            let token = started["TokenValue"]?.stringValue
        else { throw CLIError("the server's answer lacks SessionId, StreamUrl or TokenValue") }
        return try await SessionClient(sessionId: id, streamURL: url, token: token).run()
    }

    /// Exits with the remote shell's status, or says why the session ended without one.
    static func finish(_ ended: SessionClient.Ended) throws {
        if let code = ended.exitCode, code >= 0 { throw ExitCode(Int32(truncatingIfNeeded: code)) }
        throw CLIError("the session ended: \(ended.reason ?? "no reason given")")
    }
}

struct SessionsGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions", abstract: "List, resume, terminate and read interactive sessions.",
        subcommands: [List.self, Resume.self, Terminate.self, Transcript.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List sessions (DescribeSessions).")
        @Flag(help: "Ended sessions instead of active ones.") var history = false
        @Option(help: "Only sessions on this node.") var target: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                var body: [String: JSONValue] = ["State": .string(history ? "History" : "Active")]
                if let target { body["Filters"] = [["key": "Target", "value": .string(target)]] }
                let items = try await client.client().callAll("DescribeSessions", .object(body), key: "Sessions")
                if client.output == .json { return client.printJSON(.array(items)) }
                print(
                    Table.render(
                        ["SESSION", "TARGET", "STATUS", "STARTED", "ENDED", "OWNER", "DETAILS"],
                        items.map { s in
                            [
                                s["SessionId"]?.textValue ?? "", s["Target"]?.textValue ?? "", s["Status"]?.textValue ?? "",
                                s["StartDate"]?.numberValue?.shortDate ?? "", s["EndDate"]?.numberValue?.shortDate ?? "",
                                (s["Owner"]?.textValue ?? "").split(separator: "/").last.map(String.init) ?? "",
                                s["Details"]?.textValue ?? "",
                            ]
                        }))
            } catch { throw failure(error) }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reconnect to a session that is still running (ResumeSession).")
        @Argument(help: "The session id.") var sessionId: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let ended: SessionClient.Ended
            do {
                let resumed = try await client.client().call("ResumeSession", ["SessionId": .string(sessionId)])
                ended = try await SessionCommand.attach(resumed)
            } catch { throw failure(error) }
            try SessionCommand.finish(ended)
        }
    }

    struct Terminate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a session and everything its shell started.")
        @Argument(help: "The session id.") var sessionId: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let result = try await client.client().call("TerminateSession", ["SessionId": .string(sessionId)])
                if client.output == .json { return client.printJSON(result) }
                print(result["SessionId"]?.textValue ?? sessionId)
            } catch { throw failure(error) }
        }
    }

    struct Transcript: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what a session's terminal showed.",
            discussion: "The transcript is asciicast v2 (`asciinema play` replays it); --raw prints it as stored.")
        @Argument(help: "The session id.") var sessionId: String
        @Flag(help: "Print the asciicast file itself.") var raw = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let result = try await client.client().call("Steward.GetSessionTranscript", ["SessionId": .string(sessionId)])
                if client.output == .json { return client.printJSON(result) }
                let text = result["Transcript"]?.stringValue ?? ""
                if raw { return print(text, terminator: "") }
                var output = ""
                for line in text.split(separator: "\n").dropFirst() {
                    guard let event = try? JSONReader.parse(Array(line.utf8)).arrayValue, event.count == 3,
                        event[1].stringValue == "o", let chunk = event[2].stringValue
                    else { continue }
                    output += chunk
                }
                print(output, terminator: output.hasSuffix("\n") || output.isEmpty ? "" : "\n")
            } catch { throw failure(error) }
        }
    }
}
