import ArgumentParser
import Foundation
import StewardKit

/// `steward session INSTANCE`: an interactive shell on a node, through the server.
struct SessionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session", abstract: "Open an interactive shell on a managed node.",
        discussion: """
            Starts a session (StartSession), connects to its stream and hands the terminal over to the remote shell: \
            keys go as typed (Ctrl-C interrupts the remote job), the window size follows yours, and the command exits \
            with the remote shell's exit status. The server records the session's output; administrators read it with \
            `steward sessions transcript SESSION_ID`.
            """)

    @Argument(help: "The managed node (mi-...).") var instanceId: String
    @Option(help: "Why the session is opened (kept with the session).") var reason: String?
    @Option(help: "Run this command on the remote terminal instead of a login shell (AWS-StartInteractiveCommand).")
    var command: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
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
