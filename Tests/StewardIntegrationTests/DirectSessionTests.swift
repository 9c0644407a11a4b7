import Foundation
import StewardKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A terminal multiplexer session that a test types into and reads, like a person at a terminal.
struct Tmux {
    let socket: String
    let name: String

    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") }

    /// Runs a tmux command, its output through a file and without Foundation's Process: the tmux server that
    /// `new-session` starts lives on with whatever the client inherited.
    @discardableResult
    func run(_ arguments: String...) throws -> String {
        let output = "\(socket).out-\(UUID().uuidString.prefix(8))"
        defer { unlink(output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ["/usr/bin/tmux", "-S", socket] + arguments
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/usr/bin/tmux", &actions, nil, &cArgs, environ) == 0 else { throw TestFailure("cannot run tmux") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status != 0 && arguments.first != "kill-server" { throw TestFailure("tmux \(arguments) failed (\(status))") }
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }

    func screen() -> String { (try? run("capture-pane", "-p", "-J", "-t", name)) ?? "" }

    /// Waits until the screen satisfies `check`; the error shows the screen.
    func waitScreen(_ what: String, _ check: @escaping @Sendable (String) -> Bool) async throws {
        do { _ = try await waitFor(what, timeout: 20) { check(screen()) ? true : nil } } catch {
            throw TestFailure("\(error); the screen:\n\(screen())")
        }
    }

    func size() throws -> String {
        try run("display-message", "-p", "-t", name, "#{pane_height} #{pane_width}").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite(
    "Direct sessions", .enabled(if: Binaries.available, "build steward and steward-agent first"),
    .enabled(if: Tmux.available, "tmux is not installed (.ci/run installs it)"))
struct DirectSessionTests {
    @Test(
        "with the control plane down, a granted shell over TLS types, resizes, takes Ctrl-C and exits with its status; a grant without sessions or for another node is refused; the transcript and record reach the control plane later"
    )
    func directSessionInTmux() async throws {
        let fleet = try await Fleet("direct-session")
        defer { fleet.shutdown() }
        let tcpPort = freePort()
        let id = try await fleet.addAgent(arguments: ["--direct-listen", "127.0.0.1:\(tcpPort)"])
        let other = try await fleet.addAgent()
        let socket = "\(fleet.agentDirs[id]!)/direct.sock"
        let work = fleet.folder

        #expect(try steward(fleet, ["grant", "keygen", "--out", "\(work)/op.key"]).status == 0)
        let create = { (name: String, extra: [String]) throws -> Void in
            let r = try steward(
                fleet, ["grant", "create", "--operator-key", "\(work)/op.key", "--out", "\(work)/\(name).json", "--ttl", "1h"] + extra)
            if r.status != 0 { throw TestFailure("grant create \(name) failed: \(r.err)") }
        }
        try create("shell", ["--instances", id, "--sessions"])
        try create("commands", ["--instances", id, "--documents", "AWS-RunShellScript"])
        try create("other", ["--instances", other, "--sessions"])
        fleet.server?.stop()
        try await waitFor("the server to be gone", timeout: 10) { (try? await fleet.api.healthy()) == nil ? true : nil }

        // The TCP port speaks TLS 1.3 with the node's Ed25519 key, to any TLS client.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") {
            let (_, handshake) = try runToEnd(
                "/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(tcpPort) -tls1_3 </dev/null 2>&1"])
            #expect(handshake.contains("TLSv1.3"), "\(handshake)")
            #expect(handshake.contains("ED25519"), "\(handshake)")
            #expect(handshake.contains("CN=\(id)") || handshake.contains("CN = \(id)"), "\(handshake)")
        }

        // A person at a terminal.
        let tmux = Tmux(socket: "\(work)/tmux.sock", name: "direct")
        let exitFile = "\(work)/exit-status"
        let command =
            "TERM=xterm-256color \(Binaries.steward) session --direct 127.0.0.1:\(tcpPort) --grant \(work)/shell.json --operator-key \(work)/op.key; echo EXIT=$? > \(exitFile)"
        try tmux.run("new-session", "-d", "-x", "120", "-y", "40", "-s", "direct", "sh", "-c", command)
        defer { _ = try? tmux.run("kill-server") }
        try await tmux.waitScreen("a shell prompt") { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        try tmux.run("send-keys", "-t", "direct", "echo hello-$((6*7))", "Enter")
        try await tmux.waitScreen("the command's output") { $0.contains("\nhello-42") }
        let size = try tmux.size()
        try tmux.run("send-keys", "-t", "direct", "stty size", "Enter")
        try await tmux.waitScreen("stty size \(size)") { $0.contains(size) }
        try tmux.run("resize-window", "-t", "direct", "-x", "100", "-y", "30")
        let resized = try tmux.size()
        #expect(resized != size)
        try tmux.run("send-keys", "-t", "direct", "clear; stty size", "Enter")
        try await tmux.waitScreen("stty size \(resized)") { $0.contains(resized) }
        try tmux.run("send-keys", "-t", "direct", "sleep 600", "Enter")
        try await Task.sleep(for: .milliseconds(500))
        try tmux.run("send-keys", "-t", "direct", "C-c")
        try tmux.run("send-keys", "-t", "direct", "echo after-$((1+1))", "Enter")
        try await tmux.waitScreen("the shell back after Ctrl-C") { $0.contains("\nafter-2") }
        try tmux.run("send-keys", "-t", "direct", "exit 3", "Enter")
        let status = try await waitFor("the CLI to exit", timeout: 20) {
            (try? String(contentsOfFile: exitFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(status == "EXIT=3")

        // Refusals: a grant that does not allow sessions (checked by the node); a grant for another node (TLS pin).
        let session = { (endpoint: String, grant: String) throws -> (status: Int32, out: String, err: String) in
            try steward(
                fleet, ["session", "--direct", endpoint, "--grant", "\(work)/\(grant).json", "--operator-key", "\(work)/op.key"])
        }
        let noSessions = try session("unix:\(socket)", "commands")
        #expect(noSessions.status == 255 && noSessions.err.contains("notAllowed"), "\(noSessions)")
        let otherNode = try session("127.0.0.1:\(tcpPort)", "other")
        #expect(otherNode.status == 255 && otherNode.err.contains("the grant does not name"), "\(otherNode)")

        // The control plane is back: the session is in DescribeSessions' history and ListCommands, with its transcript.
        try await fleet.startServer()
        let described = try await waitFor("the direct session in DescribeSessions", timeout: 60) { () -> JSONValue? in
            let sessions = (try? await fleet.api.call("DescribeSessions", ["State": "History"]))?["Sessions"]?.arrayValue ?? []
            return sessions.first { $0["Target"]?.textValue == id && $0["SessionId"]?.textValue.hasPrefix("direct-") == true }
        }
        let sessionId = described["SessionId"]!.textValue
        #expect(described["Status"]?.textValue == "Terminated")
        #expect(described["Details"]?.textValue.contains("Direct session") == true)
        #expect(described["Details"]?.textValue.contains("status 3") == true)
        let transcript = try await fleet.api.call("Steward.GetSessionTranscript", ["SessionId": .string(sessionId)])
        let lines = (transcript["Transcript"]?.textValue ?? "").split(separator: "\n")
        #expect(try JSONReader.parse(String(lines.first ?? ""))["width"]?.numberValue == 120)
        let events = lines.dropFirst().compactMap { try? JSONReader.parse(String($0)).arrayValue }
        let output = events.filter { $0[1].textValue == "o" }.map { $0[2].textValue }.joined()
        #expect(output.contains("hello-42"))
        #expect(events.contains { $0[1].textValue == "r" && $0[2].textValue == "100x\(resized.split(separator: " ")[0])" })
        let text = try steward(fleet, ["sessions", "transcript", sessionId])
        #expect(text.status == 0 && text.out.contains("hello-42"))

        let commands = (try await fleet.api.call("ListCommands", [:]))["Commands"]?.arrayValue ?? []
        let direct = commands.filter { $0["Origin"]?.textValue == "Direct" }
        #expect(direct.contains { $0["DocumentName"]?.textValue == "SSM-SessionManagerRunShell" && $0["Status"]?.textValue == "Failed" })
        #expect(direct.contains { $0["StatusDetails"]?.textValue == "Refused: notAllowed" })
        // Acknowledged: the node keeps neither the record nor the transcript.
        try await waitFor("the node's transcript to go once delivered", timeout: 20) {
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(fleet.agentDirs[id]!)/direct-sessions")) ?? []).isEmpty ? true : nil
        }
    }
}
