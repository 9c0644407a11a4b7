import Foundation
import StewardKit
import Testing

@Suite("Associations applied while the server is unreachable", .enabled(if: Binaries.available, "build steward and steward-agent first"))
struct OfflineAssociationTests {
    static let document = """
        schemaVersion: '2.2'
        description: Keep a configuration file in place.
        parameters:
          path: {type: String}
          content: {type: String}
        mainSteps:
          - action: aws:runShellScript
            name: check
            inputs:
              runCommand:
                - 'if [ "$(cat {{ path }} 2>/dev/null)" = "{{ content }}" ]; then exit 168; fi'
          - action: aws:runShellScript
            name: apply
            inputs:
              runCommand:
                - 'echo "{{ content }}" > {{ path }}'
        """

    @Test("drift is corrected on schedule, by the server and by the node on its own while the server is down")
    func appliesOffline() async throws {
        let fleet = try await Fleet("offline-associations")
        defer { fleet.shutdown() }
        let id = try await fleet.addAgent(tags: ["Role": "web"])
        let path = "\(fleet.folder)/web.conf"
        _ = try await fleet.api.call(
            "CreateDocument",
            ["Name": "keep-config", "Content": .string(Self.document), "DocumentType": "Command", "DocumentFormat": "YAML"])
        let created = try await fleet.api.call(
            "CreateAssociation",
            [
                "Name": "keep-config", "Targets": [["Key": "tag:Role", "Values": ["web"]]],
                "Parameters": ["path": [.string(path)], "content": ["port=8080"]], "ScheduleExpression": "cron(* * * * ? *)",
            ])
        let associationId = created["AssociationDescription"]!["AssociationId"]!.textValue
        func status() async throws -> JSONValue? {
            let infos = try await fleet.api.call("DescribeInstanceAssociationsStatus", ["InstanceId": .string(id)])
            return infos["InstanceAssociationStatusInfos"]?.arrayValue?.first { $0["AssociationId"]?.textValue == associationId }
        }
        try await waitFor("the association to apply", timeout: 30) { try await status()?["Status"]?.textValue == "Success" ? true : nil }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "port=8080\n")
        // The node holds its associations, sealed: the file does not show the parameters in clear.
        let held = "\(fleet.agentDirs[id]!)/associations.json"
        try await waitFor("the agent to hold its associations", timeout: 20) { FileManager.default.fileExists(atPath: held) ? true : nil }
        #expect(!(try String(contentsOfFile: held, encoding: .utf8)).contains("port=8080"))

        // Drift while the server is up: the next scheduled run restores the file, and compliance shows the drift.
        try "port=7777\n".write(toFile: path, atomically: true, encoding: .utf8)
        try await waitFor("the next scheduled run to restore the file", timeout: 90) {
            (try? String(contentsOfFile: path, encoding: .utf8)) == "port=8080\n" ? true : nil
        }
        let item = try await waitFor("compliance to show the drift", timeout: 30) { () async throws -> JSONValue? in
            let items = try await fleet.api.call(
                "ListComplianceItems", ["ResourceIds": [.string(id)], "ResourceTypes": ["ManagedInstance"]])
            return items["ComplianceItems"]?.arrayValue?.first {
                $0["Id"]?.textValue == associationId && $0["Details"]?["DetailedStatus"]?.textValue == "DriftCorrected"
            }
        }
        #expect(item["Status"]?.textValue == "COMPLIANT")

        fleet.server?.stop()
        try "port=9999\n".write(toFile: path, atomically: true, encoding: .utf8)
        do {
            try await waitFor("the node to restore the file on its own", timeout: 90) {
                (try? String(contentsOfFile: path, encoding: .utf8)) == "port=8080\n" ? true : nil
            }
        } catch {
            let log = (try? String(contentsOfFile: "\(fleet.agentDirs[id]!).log", encoding: .utf8)) ?? ""
            Issue.record("agent log:\n\(log.suffix(4000))")
            throw error
        }

        try await fleet.startServer()
        // The run is in the association's history, with the node's own result (the server's catch-up run of the
        // missed schedule may follow it and find the node compliant).
        let offline = try await waitFor("the offline run to be reported", timeout: 60) { () async throws -> JSONValue? in
            let executions = try await fleet.api.call("DescribeAssociationExecutions", ["AssociationId": .string(associationId)])
            return executions["AssociationExecutions"]?.arrayValue?.first {
                $0["DetailedStatus"]?.textValue == "Offline" && $0["Status"]?.textValue == "Success"
            }
        }
        let targets = try await fleet.api.call(
            "DescribeAssociationExecutionTargets",
            ["AssociationId": .string(associationId), "ExecutionId": offline["ExecutionId"] ?? .null])
        let target = targets["AssociationExecutionTargets"]?.arrayValue?.first
        #expect(target?["ResourceId"]?.textValue == id)
        #expect(target?["DetailedStatus"]?.textValue == "DriftCorrected")
        let compliance = try await fleet.api.call(
            "ListComplianceItems", ["ResourceIds": [.string(id)], "ResourceTypes": ["ManagedInstance"]])
        #expect(compliance["ComplianceItems"]?.arrayValue?.contains { $0["Id"]?.textValue == associationId } == true)
        // Delivered once: the node's outbox is empty again.
        try await waitFor("the offline outbox to empty", timeout: 20) {
            let left = (try? FileManager.default.contentsOfDirectory(atPath: "\(fleet.agentDirs[id]!)/offline-outbox")) ?? []
            return left.isEmpty ? true : nil
        }
    }
}
