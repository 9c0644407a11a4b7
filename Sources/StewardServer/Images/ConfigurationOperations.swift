import StewardImages
import StewardKit
import StewardStore

/// Infrastructure configurations (where a build runs) and distribution configurations (where its image goes).
/// Records: kinds `ib-infrastructure` and `ib-distribution`, id the ARN name.
///
/// Steward's own settings travel in members of the AWS shapes:
/// - the build provider is the tag `steward:provider` of the infrastructure configuration: `chroot` (the default; a
///   root file system folder) or `qemu` (a virtual machine); `instanceTypes` and the EC2 members are accepted and kept;
/// - an output goes to a folder on the server: `distributions[].s3ExportConfiguration` with `s3Bucket` the absolute
///   folder, `s3Prefix` a sub-folder, and `diskImageFormat` one of `RAW`, `RAW_ZST`, `QCOW2` or `TAR_ZST`.
extension ImageBuilderAPI {
    static let providerTag = "steward:provider"
    static let providers = ["chroot", "qemu"]
    static let diskFormats = ["RAW", "RAW_ZST", "QCOW2", "TAR_ZST"]

    /// A configuration or pipeline by its (unversioned) ARN.
    func named(_ ctx: APIContext, kind: String, _ arn: ImageBuilderARN) async throws -> JSONValue {
        guard arn.region == ctx.region, arn.account == ctx.accountId,
            let record = try await store.record(kind: kind, region: ctx.region, id: arn.name)
        else { throw Self.notFound(arn.description) }
        return record
    }

    /// The pipelines whose member `member` names `arn`.
    func pipelines(_ ctx: APIContext, using arn: String, member: String) async throws -> [String] {
        try await store.records(kind: Kind.pipeline, region: ctx.region).filter { $0[member]?.stringValue == arn }.map {
            $0["arn"]?.textValue ?? ""
        }
    }

    // MARK: infrastructure

    /// The members of an infrastructure configuration that Create and Update share.
    func infrastructureFields(_ body: RequestBody, tags: JSONValue) throws(AWSError) -> [String: JSONValue] {
        let provider = tags[Self.providerTag]?.stringValue ?? "chroot"
        guard Self.providers.contains(provider) else {
            throw Self.invalid("The tag \(Self.providerTag) must be chroot or qemu, not \(provider).")
        }
        if let hops = try body.object("instanceMetadataOptions")?.int("httpPutResponseHopLimit"), !(1...64).contains(hops) {
            throw Self.invalid("instanceMetadataOptions.httpPutResponseHopLimit must be from 1 to 64.")
        }
        var fields: [String: JSONValue] = [
            "description": try Self.description(body), "instanceProfileName": .string(try body.requiredString("instanceProfileName")),
            "terminateInstanceOnFailure": .bool(try body.bool("terminateInstanceOnFailure") ?? true),
            "resourceTags": try Self.tags(body, "resourceTags"),
        ]
        for member in [
            "instanceTypes", "securityGroupIds", "subnetId", "logging", "keyPair", "snsTopicArn", "instanceMetadataOptions", "placement",
        ] {
            fields[member] = Self.raw(body, member)
        }
        fields["_provider"] = .string(provider)
        return fields
    }

    func createInfrastructure(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "CreateInfrastructureConfiguration") {
            let name = try Self.name(body)
            let arn = ImageBuilderARN.of(.infrastructureConfiguration, region: ctx.region, account: ctx.accountId, name: name)
            let tags = try Self.tags(body)
            var fields = try infrastructureFields(body, tags: tags)
            if try await store.record(kind: Kind.infrastructure, region: ctx.region, id: arn.name) != nil {
                throw Self.exists(arn.description)
            }
            fields["arn"] = .string(arn.description)
            fields["name"] = .string(name)
            fields["tags"] = tags
            fields["dateCreated"] = .string(ctx.nowSeconds.iso8601)
            try await store.putRecord(
                kind: Kind.infrastructure, region: ctx.region, id: arn.name, body: .compact(fields), now: ctx.nowSeconds)
            return ["infrastructureConfigurationArn": .string(arn.description)]
        }
    }

    func getInfrastructure(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "infrastructureConfigurationArn", kind: .infrastructureConfiguration)
        let record = try await named(ctx, kind: Kind.infrastructure, arn)
        return ["requestId": .string(ctx.requestId), "infrastructureConfiguration": Self.visible(record)]
    }

    func listInfrastructure(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try Self.filters(body, allowed: ["name"])
        let rows = try await store.records(kind: Kind.infrastructure, region: ctx.region).filter { Self.passes($0, filters) }.map {
            Self.pick(
                $0,
                [
                    "arn", "name", "description", "dateCreated", "dateUpdated", "resourceTags", "tags", "instanceTypes",
                    "instanceProfileName", "placement",
                ])
        }
        let page = try page(rows, body) { $0["arn"]?.textValue ?? "" }
        return .compact([
            "requestId": .string(ctx.requestId), "infrastructureConfigurationSummaryList": .array(Array(page.items)),
            "nextToken": page.nextToken,
        ])
    }

    func updateInfrastructure(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "UpdateInfrastructureConfiguration") {
            let arn = try Self.arn(ctx, body, "infrastructureConfigurationArn", kind: .infrastructureConfiguration)
            let old = try await named(ctx, kind: Kind.infrastructure, arn)
            var fields = try infrastructureFields(body, tags: old["tags"] ?? .null)
            for member in ["arn", "name", "tags", "dateCreated"] { fields[member] = old[member] }
            fields["dateUpdated"] = .string(ctx.nowSeconds.iso8601)
            try await store.putRecord(
                kind: Kind.infrastructure, region: ctx.region, id: arn.name, body: .compact(fields), now: ctx.nowSeconds)
            return ["infrastructureConfigurationArn": .string(arn.description)]
        }
    }

    func deleteInfrastructure(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "infrastructureConfigurationArn", kind: .infrastructureConfiguration)
        _ = try await named(ctx, kind: Kind.infrastructure, arn)
        let users = try await pipelines(ctx, using: arn.description, member: "infrastructureConfigurationArn")
        guard users.isEmpty else { throw Self.dependency(arn.description, usedBy: users) }
        try await store.deleteRecords(kind: Kind.infrastructure, region: ctx.region, id: arn.name)
        return ["requestId": .string(ctx.requestId), "infrastructureConfigurationArn": .string(arn.description)]
    }

    // MARK: distribution

    /// `distributions`: 1 to 100 entries, each with a region; local exports checked (absolute folder, known format).
    static func distributions(_ body: RequestBody) throws(AWSError) -> JSONValue {
        guard let list = try body.objectList("distributions"), (1...100).contains(list.count) else {
            throw invalid("distributions is required: 1 to 100 entries.")
        }
        for entry in list {
            _ = try entry.requiredString("region")
            if let export = try entry.object("s3ExportConfiguration") {
                let folder = try export.requiredString("s3Bucket")
                guard folder.hasPrefix("/") else {
                    throw invalid("s3ExportConfiguration.s3Bucket is the output folder on the server: an absolute path, not \(folder).")
                }
                let format = try export.requiredString("diskImageFormat").uppercased()
                guard diskFormats.contains(format) else {
                    throw invalid("diskImageFormat \(format) is not supported here; use RAW, RAW_ZST, QCOW2 or TAR_ZST.")
                }
                if let prefix = try export.string("s3Prefix"), prefix.split(separator: "/").contains("..") {
                    throw invalid("s3Prefix may not contain '..'.")
                }
            }
            if let ami = try entry.object("amiDistributionConfiguration"), let name = try ami.string("name"),
                !(1...127).contains(name.count)
            {
                throw invalid("amiDistributionConfiguration.name must be 1 to 127 characters.")
            }
        }
        return .array(list.map { .object($0.fields) })
    }

    func createDistribution(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "CreateDistributionConfiguration") {
            let name = try Self.name(body)
            let arn = ImageBuilderARN.of(.distributionConfiguration, region: ctx.region, account: ctx.accountId, name: name)
            let record: JSONValue = .compact([
                "arn": .string(arn.description), "name": .string(name), "description": try Self.description(body),
                "distributions": try Self.distributions(body), "timeoutMinutes": 720, "dateCreated": .string(ctx.nowSeconds.iso8601),
                "tags": try Self.tags(body),
            ])
            if try await store.record(kind: Kind.distribution, region: ctx.region, id: arn.name) != nil {
                throw Self.exists(arn.description)
            }
            try await store.putRecord(kind: Kind.distribution, region: ctx.region, id: arn.name, body: record, now: ctx.nowSeconds)
            return ["distributionConfigurationArn": .string(arn.description)]
        }
    }

    func getDistribution(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "distributionConfigurationArn", kind: .distributionConfiguration)
        return [
            "requestId": .string(ctx.requestId),
            "distributionConfiguration": Self.visible(try await named(ctx, kind: Kind.distribution, arn)),
        ]
    }

    func listDistribution(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try Self.filters(body, allowed: ["name"])
        let rows = try await store.records(kind: Kind.distribution, region: ctx.region).filter { Self.passes($0, filters) }.map { r in
            var row = Self.pick(r, ["arn", "name", "description", "dateCreated", "dateUpdated", "tags"])
            let regions = Set((r["distributions"]?.arrayValue ?? []).compactMap { $0["region"]?.stringValue }).sorted()
            row["regions"] = JSONValue(regions)
            return row
        }
        let page = try page(rows, body) { $0["arn"]?.textValue ?? "" }
        return .compact([
            "requestId": .string(ctx.requestId), "distributionConfigurationSummaryList": .array(Array(page.items)),
            "nextToken": page.nextToken,
        ])
    }

    func updateDistribution(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "UpdateDistributionConfiguration") {
            let arn = try Self.arn(ctx, body, "distributionConfigurationArn", kind: .distributionConfiguration)
            var record = try await named(ctx, kind: Kind.distribution, arn)
            record["description"] = try Self.description(body)
            record["distributions"] = try Self.distributions(body)
            record["dateUpdated"] = .string(ctx.nowSeconds.iso8601)
            try await store.putRecord(kind: Kind.distribution, region: ctx.region, id: arn.name, body: record, now: ctx.nowSeconds)
            return ["distributionConfigurationArn": .string(arn.description)]
        }
    }

    func deleteDistribution(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "distributionConfigurationArn", kind: .distributionConfiguration)
        _ = try await named(ctx, kind: Kind.distribution, arn)
        let users = try await pipelines(ctx, using: arn.description, member: "distributionConfigurationArn")
        guard users.isEmpty else { throw Self.dependency(arn.description, usedBy: users) }
        try await store.deleteRecords(kind: Kind.distribution, region: ctx.region, id: arn.name)
        return ["requestId": .string(ctx.requestId), "distributionConfigurationArn": .string(arn.description)]
    }
}
