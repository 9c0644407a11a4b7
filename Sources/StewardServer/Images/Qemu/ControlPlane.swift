import Foundation
import Logging
import StewardKit
import StewardStore

/// The server's own API, called in process: a build instance's agent is a managed instance like any other, so its
/// activation, its commands and its status go through the same operations (and the same dispatcher) as an operator's.
struct ControlPlane: Sendable {
    let operations: [String: Operation]
    let outputs: OutputStore
    let accountId: String
    var region: String
    let logger: Logger

    func call(_ operation: String, _ body: JSONValue) async throws -> JSONValue {
        guard let handler = operations[operation] else { throw AWSError("InternalFailure", "no operation \(operation)") }
        let context = APIContext(
            region: region, accountId: accountId, requestId: UUID().uuidString.lowercased(), now: Date(), logger: logger,
            baseURL: "", accessKeyId: "steward-build")
        return try await handler(context, try RequestBody(body))
    }

    /// A one-use activation for one build instance, tagged with its id, valid for `lifetime` seconds.
    func createActivation(buildInstance: String, lifetime: Double) async throws -> (id: String, code: String) {
        let answer = try await call(
            "CreateActivation",
            [
                "IamRole": "steward-build", "RegistrationLimit": 1, "DefaultInstanceName": .string(buildInstance),
                "Description": .string("build instance \(buildInstance)"),
                "ExpirationDate": .number(Date().timeIntervalSince1970 + lifetime),
                "Tags": [["Key": "steward:build-instance", "Value": .string(buildInstance)]],
            ])
        return (answer["ActivationId"]?.textValue ?? "", answer["ActivationCode"]?.textValue ?? "")
    }

    /// The managed instance that registered with the build instance's activation, if it has.
    func managedInstance(activationId: String) async throws -> (id: String, ping: String)? {
        let answer = try await call(
            "DescribeInstanceInformation", ["Filters": [["Key": "ActivationIds", "Values": [.string(activationId)]]]])
        guard let first = answer["InstanceInformationList"]?.arrayValue?.first else { return nil }
        return (first["InstanceId"]?.textValue ?? "", first["PingStatus"]?.textValue ?? "")
    }

    /// Sends shell commands to one instance as `AWS-RunShellScript`; returns the command id.
    func runShellScript(_ lines: [String], on instanceId: String, executionTimeout: Int, comment: String) async throws -> String {
        let answer = try await call(
            "SendCommand",
            [
                "DocumentName": "AWS-RunShellScript", "InstanceIds": [.string(instanceId)], "Comment": .string(String(comment.prefix(100))),
                "TimeoutSeconds": 600,
                "Parameters": ["commands": JSONValue(lines), "executionTimeout": [.string(String(executionTimeout))]],
            ])
        return answer["Command"]?["CommandId"]?.textValue ?? ""
    }

    /// The invocation's status and, once it ended, its full standard output.
    func invocation(_ commandId: String, on instanceId: String) async throws -> (status: String, details: String, code: Int, stdout: String)
    {
        let answer = try await call("GetCommandInvocation", ["CommandId": .string(commandId), "InstanceId": .string(instanceId)])
        let status = answer["Status"]?.textValue ?? ""
        let code = Int(answer["ResponseCode"]?.numberValue ?? -1)
        var stdout = answer["StandardOutputContent"]?.textValue ?? ""
        if !["Pending", "InProgress", "Delayed"].contains(status),
            let plugin = try await outputs.store.invocation(commandId: commandId, instanceId: instanceId)?.plugins.first,
            let full = try await outputs.read(
                region: region, commandId: commandId, instanceId: instanceId, plugin: OutputStore.pluginFolder(plugin.name),
                stream: "stdout")
        {
            stdout = String(decoding: full, as: UTF8.self)
        }
        return (status, answer["StatusDetails"]?.textValue ?? "", code, stdout)
    }

    /// Forgets a build instance that is gone, so that build instances do not pile up in the fleet.
    func deregister(_ instanceId: String) async {
        _ = try? await call("DeregisterManagedInstance", ["InstanceId": .string(instanceId)])
    }
}
