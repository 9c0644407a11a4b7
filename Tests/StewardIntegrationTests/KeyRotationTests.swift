import Foundation
import StewardKit
import Testing

@Suite("Agent key rotation", .enabled(if: Binaries.available, "build steward and steward-agent first"))
struct KeyRotationTests {
    @Test("rotating keys keeps the node working without registering again, and the old key is revoked")
    func rotation() async throws {
        let fleet = try await Fleet("rotate")
        defer { fleet.shutdown() }
        let id = try await fleet.addAgent()
        let dir = fleet.agentDirs[id]!
        let first = try await fleet.send(["echo before"], to: [id])
        #expect(try await fleet.waitStatus(first, id, ["Success", "Failed"], timeout: 30)["StatusDetails"]?.textValue == "Success")

        let stale = "\(fleet.folder)/stale-copy"
        try FileManager.default.copyItem(atPath: dir, toPath: stale)
        let oldKey = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/signing.key"))
        let (status, _) = try runToEnd(Binaries.agent, ["rotate-keys", "--state-dir", dir])
        #expect(status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/signing.key")) != oldKey)

        // The running agent reconnects with the new keys, and commands sealed to them run.
        try await waitFor("the agent back Online", timeout: 40) { try? await fleet.ping(id) == "Online" ? true : nil }
        let second = try await fleet.send(["echo after"], to: [id])
        let inv = try await fleet.waitStatus(second, id, ["Success", "Failed"], timeout: 40)
        #expect(inv["StandardOutputContent"]?.textValue == "after\n")

        // Whoever kept the old keys is shut out.
        let (staleStatus, _) = try runToEnd(Binaries.agent, ["rotate-keys", "--state-dir", stale])
        #expect(staleStatus != 0)
    }
}
