import Foundation
import StewardKit
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The delivery guarantee of DESIGN.md, shown with real processes: at least once on the wire, exactly once in effect.
@Suite("Delivery across restarts", .enabled(if: Binaries.available, "build steward and steward-agent first"))
struct DeliveryTests {
    @Test("a result produced while the server is down (killed with SIGKILL) reaches it when it is back")
    func serverRestart() async throws {
        let fleet = try await Fleet("server-restart")
        defer { fleet.shutdown() }
        let id = try await fleet.addAgent()
        let marker = "\(fleet.folder)/runs.txt"
        let command = try await fleet.send(["echo run >> \(marker)", "sleep 3", "echo finished"], to: [id])
        try await fleet.waitStatus(command, id, ["InProgress"], timeout: 20)
        fleet.server?.signal(SIGKILL)
        _ = fleet.server?.waitExit()
        try await Task.sleep(for: .seconds(4))
        try await fleet.startServer()
        let inv = try await fleet.waitStatus(command, id, ["Success", "Failed"], timeout: 60)
        #expect(inv["StatusDetails"]?.textValue == "Success")
        #expect(inv["StandardOutputContent"]?.textValue == "finished\n")
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "run\n", "the command ran exactly once")
        let list = try await fleet.api.call("ListCommands", ["CommandId": .string(command)])
        #expect(list["Commands"]?.arrayValue?.first?["Status"]?.textValue == "Success")
    }

    @Test("a command sent while the agent is stopped runs once it is back")
    func agentRestart() async throws {
        let fleet = try await Fleet("agent-restart")
        defer { fleet.shutdown() }
        let id = try await fleet.addAgent()
        fleet.agents[id]?.stop()
        try await waitFor("ConnectionLost", timeout: 30) { try? await fleet.ping(id) == "ConnectionLost" ? true : nil }
        let command = try await fleet.send(["echo delivered-late"], to: [id], timeout: 120)
        let pending = try await fleet.invocation(command, id)
        #expect(["Pending", "Delayed"].contains(pending["Status"]?.textValue ?? ""))
        try await fleet.startAgent(id)
        let inv = try await fleet.waitStatus(command, id, ["Success", "Failed"], timeout: 30)
        #expect(inv["StandardOutputContent"]?.textValue == "delivered-late\n")
    }

    @Test("an agent killed mid-run reports the run as failed after restart and never runs it twice")
    func agentKilledMidRun() async throws {
        let fleet = try await Fleet("agent-kill")
        defer { fleet.shutdown() }
        let id = try await fleet.addAgent()
        let marker = "\(fleet.folder)/runs.txt"
        let command = try await fleet.send(["echo run >> \(marker)", "sleep 30"], to: [id])
        try await fleet.waitStatus(command, id, ["InProgress"], timeout: 20)
        try await Task.sleep(for: .milliseconds(500))
        fleet.agents[id]?.signal(SIGKILL)
        _ = fleet.agents[id]?.waitExit()
        try await fleet.startAgent(id)
        let inv = try await fleet.waitStatus(command, id, ["Failed", "Success"], timeout: 30)
        #expect(inv["StatusDetails"]?.textValue == "Failed")
        #expect(inv["StandardErrorContent"]?.textValue.contains("not run again") == true)
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "run\n")
    }

    @Test("after a SIGKILL restart, an invocation whose agent never returns ends DeliveryTimedOut")
    func nothingStuck() async throws {
        let fleet = try await Fleet("stuck")
        defer { fleet.shutdown() }
        let id = try await fleet.addAgent()
        fleet.agents[id]?.signal(SIGKILL)
        _ = fleet.agents[id]?.waitExit()
        try await waitFor("ConnectionLost", timeout: 40) { try? await fleet.ping(id) == "ConnectionLost" ? true : nil }
        let command = try await fleet.send(["echo never"], to: [id], timeout: 30)
        fleet.server?.signal(SIGKILL)
        _ = fleet.server?.waitExit()
        try await fleet.startServer()
        let inv = try await fleet.waitStatus(command, id, ["DeliveryTimedOut"], timeout: 60)
        #expect(inv["Status"]?.textValue == "TimedOut")
    }
}
