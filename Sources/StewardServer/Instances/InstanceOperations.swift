import Crypto
import Foundation
import StewardKit
import StewardStore

/// Activations, managed instances and tags.
struct InstanceOperations: Sendable {
    let store: Store
    let pager: Pager
    let gateway: AgentGateway
    /// Told when a node's tags change, so association membership is looked at again.
    var nodeChanged: @Sendable (String, String) -> Void = { _, _ in }

    func register(into ops: inout [String: Operation]) {
        ops["CreateActivation"] = createActivation
        ops["DescribeActivations"] = describeActivations
        ops["DeleteActivation"] = deleteActivation
        ops["DescribeInstanceInformation"] = describeInstanceInformation
        ops["DeregisterManagedInstance"] = deregisterManagedInstance
        ops["AddTagsToResource"] = addTags
        ops["RemoveTagsFromResource"] = removeTags
        ops["ListTagsForResource"] = listTags
    }

    static func hashCode(_ code: String) -> String { SigV4.hex(Array(SHA256.hash(data: Data(code.utf8)))) }

    func createActivation(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let role = try body.requiredString("IamRole")
        guard role.count <= 64 else { throw AWSError.validation("IamRole must be at most 64 characters.") }
        let limit = try body.int("RegistrationLimit") ?? 1
        guard (1...1000).contains(limit) else { throw AWSError.validation("RegistrationLimit must be between 1 and 1000.") }
        var expiration = ctx.nowSeconds + 24 * 3600
        if let given = try RequestBody.timestamp(body, "ExpirationDate") {
            guard given > ctx.nowSeconds else { throw AWSError("InvalidParameters", "ExpirationDate must be in the future.") }
            guard given <= ctx.nowSeconds + 30 * 86_400 + 60 else {
                throw AWSError("InvalidParameters", "ExpirationDate can be at most 30 days away.")
            }
            expiration = given
        }
        let description = try body.string("Description")
        if let description, description.count > 256 { throw AWSError.validation("Description must be at most 256 characters.") }
        let code = AccessKeys.random(20, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let activation = Activation(
            activationId: UUID().uuidString.lowercased(), region: ctx.region, codeHash: Self.hashCode(code),
            description: description, defaultInstanceName: try body.string("DefaultInstanceName"), iamRole: role,
            registrationLimit: limit, registrationsCount: 0, expirationDate: expiration, createdDate: ctx.nowSeconds,
            tags: try Tag.list(from: body))
        try await store.insertActivation(activation)
        return ["ActivationId": .string(activation.activationId), "ActivationCode": .string(code)]
    }

    func describeActivations(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        var items = try await store.activations(region: ctx.region)
        for filter in try body.objectList("Filters") ?? [] {
            let key = try filter.string("FilterKey") ?? ""
            let values = Set(try filter.stringList("FilterValues") ?? [])
            switch key {
            case "ActivationIds": items = items.filter { values.contains($0.activationId) }
            case "DefaultInstanceName": items = items.filter { values.contains($0.defaultInstanceName ?? "") }
            case "IamRole": items = items.filter { values.contains($0.iamRole) }
            default: throw AWSError("InvalidFilter", "Filter key \(key) is not valid; use ActivationIds, DefaultInstanceName or IamRole.")
            }
        }
        let page = try pager.page(
            items, body: body, range: 1...50, defaultSize: 50,
            query:
                "activations:\(ctx.region):\(body.pagingQuery)",
            key: \.activationId)
        return .compact([
            "ActivationList": .array(
                page.items.map { a in
                    .compact([
                        "ActivationId": .string(a.activationId), "Description": JSONValue(a.description),
                        "DefaultInstanceName": JSONValue(a.defaultInstanceName), "IamRole": .string(a.iamRole),
                        "RegistrationLimit": JSONValue(a.registrationLimit), "RegistrationsCount": JSONValue(a.registrationsCount),
                        "ExpirationDate": .number(a.expirationDate), "Expired": .bool(a.expirationDate <= ctx.nowSeconds),
                        "CreatedDate": .number(a.createdDate), "Tags": .array(a.tags.map(\.json)),
                    ])
                }),
            "NextToken": page.nextToken,
        ])
    }

    func deleteActivation(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let id = try body.requiredString("ActivationId")
        guard try await store.deleteActivation(id: id, region: ctx.region) else {
            throw AWSError("InvalidActivationId", "The activation ID \(id) is not valid.")
        }
        return [:]
    }

    func deregisterManagedInstance(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let id = try body.requiredString("InstanceId")
        guard let instance = try await store.instance(id: id), instance.region == ctx.region else {
            throw AWSError("InvalidInstanceId", "Instance Id \(id) is not valid.")
        }
        try await store.deregister(instanceId: id)
        try await store.deleteInventory(region: ctx.region, instanceId: id)
        gateway.disconnect(instanceId: id, reason: "deregistered")
        return [:]
    }

    func describeInstanceInformation(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        var instances = try await store.instances(region: ctx.region)
        let tags = try await store.tagsByResource(region: ctx.region, type: "ManagedInstance")
        var filters: [(String, Set<String>)] = []
        for f in try body.objectList("InstanceInformationFilterList") ?? [] {
            filters.append((try f.requiredString("key"), Set(try f.stringList("valueSet") ?? [])))
        }
        for f in try body.objectList("Filters") ?? [] {
            filters.append((try f.requiredString("Key"), Set(try f.stringList("Values") ?? [])))
        }
        for (key, values) in filters {
            guard !values.isEmpty else {
                throw AWSError("InvalidInstanceInformationFilterValue", "Filter \(key) needs at least one value.")
            }
            switch key {
            case "InstanceIds":
                instances = instances.filter { values.contains($0.instanceId) }
            case "PingStatus":
                instances = instances.filter { values.contains(pingStatus($0)) }
            case "PlatformTypes":
                instances = instances.filter { values.contains($0.info?.platformType ?? "") }
            case "AgentVersion":
                instances = instances.filter { values.contains($0.info?.agentVersion ?? "") }
            case "ActivationIds":
                instances = instances.filter { values.contains($0.activationId ?? "") }
            case "IamRole":
                instances = instances.filter { values.contains($0.iamRole ?? "") }
            case "ResourceType":
                instances = instances.filter { _ in values.contains("ManagedInstance") }
            case "AssociationStatus":
                instances = []
            case "tag-key":
                instances = instances.filter { i in values.contains { tags[i.instanceId]?[$0] != nil } }
            case _ where key.hasPrefix("tag:"):
                let name = String(key.dropFirst(4))
                instances = instances.filter { tags[$0.instanceId]?[name].map(values.contains) ?? false }
            default:
                throw AWSError("InvalidInstanceInformationFilterValue", "Filter key \(key) is not valid.")
            }
        }
        let query =
            "instances:\(ctx.region):\(body.pagingQuery)"
        let page = try pager.page(instances, body: body, range: 5...50, defaultSize: 50, query: query, key: \.instanceId)
        return .compact([
            "InstanceInformationList": .array(page.items.map { instanceJSON($0) }),
            "NextToken": page.nextToken,
        ])
    }

    func pingStatus(_ i: ManagedInstance) -> String {
        gateway.isConnected(i.instanceId) ? "Online" : (i.pingStatus == "Inactive" ? "Inactive" : "ConnectionLost")
    }

    func instanceJSON(_ i: ManagedInstance) -> JSONValue {
        .compact([
            "InstanceId": .string(i.instanceId), "PingStatus": .string(pingStatus(i)),
            "LastPingDateTime": i.lastPing.map { .number($0) } ?? .null,
            "AgentVersion": JSONValue(i.info?.agentVersion), "IsLatestVersion": .bool(true),
            "PlatformType": JSONValue(i.info?.platformType), "PlatformName": JSONValue(i.info?.platformName),
            "PlatformVersion": JSONValue(i.info?.platformVersion), "ActivationId": JSONValue(i.activationId),
            "IamRole": JSONValue(i.iamRole), "RegistrationDate": .number(i.registrationDate),
            "ResourceType": "ManagedInstance", "Name": JSONValue(i.name ?? i.info?.computerName),
            "IPAddress": JSONValue(i.info?.ipAddress), "ComputerName": JSONValue(i.info?.computerName),
            "SourceId": .string(i.instanceId), "SourceType": "AWS::SSM::ManagedInstance",
            // Steward's own member: the node's identity key, for `steward exec --direct --node-fingerprint`.
            "KeyFingerprint": Data(base64Encoded: i.signingKey).map { .string(DirectKeys.fingerprint(rawKey: $0)) } ?? .null,
        ])
    }

    // MARK: Tags

    static let taggableTypes: Set<String> = [
        "Document", "ManagedInstance", "MaintenanceWindow", "Parameter", "PatchBaseline", "OpsItem", "OpsMetadata",
        "Automation", "Association",
    ]

    func checkResource(_ ctx: APIContext, _ body: RequestBody) async throws -> (String, String) {
        let type = try body.requiredString("ResourceType")
        let id = try body.requiredString("ResourceId")
        guard Self.taggableTypes.contains(type) else {
            throw AWSError("InvalidResourceType", "The resource type \(type) is not valid.")
        }
        switch type {
        case "ManagedInstance":
            guard let i = try await store.instance(id: id), i.region == ctx.region else {
                throw AWSError("InvalidResourceId", "The resource ID \(id) is not valid. Verify the ID and try again.")
            }
        case "Document":
            guard try await store.documentHead(region: ctx.region, name: id) != nil else {
                throw AWSError("InvalidResourceId", "The resource ID \(id) is not valid. Verify the ID and try again.")
            }
        case "Parameter":
            guard !(try await store.parameterVersions(region: ctx.region, name: id).isEmpty) else {
                throw AWSError("InvalidResourceId", "The resource ID \(id) is not valid. Verify the ID and try again.")
            }
        default:
            throw AWSError("InvalidResourceType", "Tags on \(type) resources are not supported yet.")
        }
        return (type, id)
    }

    func addTags(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let (type, id) = try await checkResource(ctx, body)
        let tags = try Tag.list(from: body)
        guard !tags.isEmpty else { throw AWSError.validation("Tags must not be empty.") }
        guard try await store.addTags(region: ctx.region, type: type, id: id, tags: tags) else {
            throw AWSError("TooManyTagsError", "The resource would have more than 50 tags.")
        }
        if type == "ManagedInstance" { nodeChanged(ctx.region, id) }
        return [:]
    }

    func removeTags(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let (type, id) = try await checkResource(ctx, body)
        try await store.removeTags(region: ctx.region, type: type, id: id, keys: try body.stringList("TagKeys") ?? [])
        if type == "ManagedInstance" { nodeChanged(ctx.region, id) }
        return [:]
    }

    func listTags(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let (type, id) = try await checkResource(ctx, body)
        return ["TagList": .array(try await store.tags(region: ctx.region, type: type, id: id).map(\.json))]
    }
}

extension RequestBody {
    /// A timestamp member: epoch seconds as a number, or ISO-8601 text.
    static func timestamp(_ body: RequestBody, _ name: String) throws(AWSError) -> Double? {
        guard body.has(name) else { return nil }
        switch body.fields[name] {
        case .number(let n)?: return n
        case .string(let s)?:
            if let d = ISO8601DateFormatter().date(from: s) { return d.timeIntervalSince1970 }
            if let n = Double(s) { return n }
            throw AWSError.serialization("Member \(name) must be a timestamp.")
        default: throw AWSError.serialization("Member \(name) must be a timestamp.")
        }
    }
}
