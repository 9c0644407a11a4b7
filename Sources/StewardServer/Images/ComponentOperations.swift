import Foundation
import StewardImages
import StewardKit
import StewardStore

/// Components: AWSTOE documents with a semantic version and a build number the service assigns.
/// Records: kind `ib-component`, id `<arn name>/<x.y.z>/<build>`, parent the ARN name; the document is kept apart, in
/// `ib-component-data` under the same id (or a file for large documents).
extension ImageBuilderAPI {
    /// Every build of every component of the region, oldest version first.
    func components(_ ctx: APIContext, name: String? = nil) async throws -> [JSONValue] {
        try await store.records(kind: Kind.component, region: ctx.region, parent: name).sorted { a, b in
            (a["name"]?.textValue ?? "", Self.buildVersion(a)) < (b["name"]?.textValue ?? "", Self.buildVersion(b))
        }
    }

    static func buildVersion(_ record: JSONValue) -> BuildVersion {
        let version = SemanticVersion(record["version"]?.textValue ?? "") ?? SemanticVersion(0, 0, 0)
        return BuildVersion(version, build: Int(record["_build"]?.numberValue ?? 1))
    }

    /// The newest component build an ARN selects (an exact build, a version, or a wildcard version).
    func component(_ ctx: APIContext, _ arn: ImageBuilderARN) async throws -> JSONValue {
        guard arn.region == ctx.region, arn.account == ctx.accountId else { throw Self.notFound(arn.description) }
        let builds = try await components(ctx, name: arn.name)
        let filter = arn.version ?? VersionFilter("x.x.x")!
        guard let found = builds.filter({ filter.matches(Self.buildVersion($0)) }).last else { throw Self.notFound(arn.description) }
        return found
    }

    /// The document text of a component build: in its own `ib-component-data` record (so that lists never read
    /// documents), or in a file under the data folder for large documents.
    func componentData(_ ctx: APIContext, _ record: JSONValue) async throws -> String? {
        if let file = record["_dataFile"]?.stringValue {
            return FileManager.default.contents(atPath: "\(blobFolder)/\(file)").map { String(decoding: $0, as: UTF8.self) }
        }
        let build = Self.buildVersion(record)
        let id = "\(ImageBuilderARN.arnName(record["name"]?.textValue ?? ""))/\(build.version)/\(build.build)"
        return try await store.record(kind: Kind.componentData, region: ctx.region, id: id)?["data"]?.stringValue
    }

    func createComponent(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "CreateComponent") {
            let name = try Self.name(body)
            let version = try SemanticVersion.parse(try body.requiredString("semanticVersion"))
            let platform = try ComponentDefinition.platform(try body.requiredString("platform"))
            let data: String
            switch (try body.string("data"), try body.string("uri")) {
            case (let d?, nil): data = d
            case (nil, _?):
                throw Self.invalid("uri is not supported here (there is no S3): send the document in data.")
            case (_?, _?): throw AWSError("InvalidParameterCombinationException", "Give either data or uri, not both.")
            case (nil, nil): throw AWSError("InvalidParameterCombinationException", "The component document is required: give data.")
            }
            let definition = try ComponentDefinition(data: data)
            let description = try Self.description(body)
            let changeDescription = try Self.description(body, "changeDescription")
            let tags = try Self.tags(body)
            let arnName = ImageBuilderARN.arnName(name)
            let siblings = try await components(ctx, name: arnName)
            if let other = siblings.first, other["name"]?.stringValue != name {
                throw Self.inUse("The name \(name) maps to the same ARN as the component \(other["name"]?.textValue ?? "").")
            }
            if siblings.contains(where: { $0["version"]?.stringValue == version.description }) {
                throw Self.inUse(
                    "The component \(name) already has version \(version); versions cannot be reused, choose a higher semanticVersion.")
            }
            if try body.bool("dryRun") == true {
                throw AWSError("DryRunOperationException", "The request would have succeeded, but dryRun was set.", status: 412)
            }
            let build = try await nextBuild(ctx, kind: "component", name: arnName, version: version)
            let arn = ImageBuilderARN.of(.component, region: ctx.region, account: ctx.accountId, name: name, version: version, build: build)
            var record: JSONValue = .compact([
                "arn": .string(arn.description), "name": .string(name), "version": .string(version.description),
                "description": description, "changeDescription": changeDescription, "type": .string(definition.type),
                "platform": .string(platform), "supportedOsVersions": Self.raw(body, "supportedOsVersions"),
                "state": ["status": "ACTIVE"],
                "parameters": definition.parameters.isEmpty ? .null : .array(definition.parameters.map(\.json)),
                "owner": .string(ctx.accountId), "kmsKeyId": Self.raw(body, "kmsKeyId"), "encrypted": true,
                "dateCreated": .string(ctx.nowSeconds.iso8601), "tags": tags, "_build": .number(Double(build)),
            ])
            if data.utf8.count <= Self.inlineDataLimit {
                try await store.putRecord(
                    kind: Kind.componentData, region: ctx.region, id: "\(arnName)/\(version)/\(build)", parent: arnName,
                    body: ["data": .string(data)], now: ctx.nowSeconds)
            } else {
                // One file per build, so that deleting a build never takes another's document.
                let region = ImageBuilderARN.arnName(ctx.region)
                let file = "\(region)/\(arnName)/\(version)-\(build).yaml"
                let folder = "\(blobFolder)/\(region)/\(arnName)"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                try Data(data.utf8).write(to: URL(fileURLWithPath: "\(blobFolder)/\(file)"), options: .atomic)
                record["_dataFile"] = .string(file)
            }
            try await store.putRecord(
                kind: Kind.component, region: ctx.region, id: "\(arnName)/\(version)/\(build)", parent: arnName, body: record,
                now: ctx.nowSeconds)
            return [
                "componentBuildVersionArn": .string(arn.description),
                "latestVersionReferences": Self.latestReferences(
                    ctx, kind: .component, name: name, of: version, among: siblings + [record]),
            ]
        }
    }

    func getComponent(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "componentBuildVersionArn", kind: .component)
        var record = try await component(ctx, arn)
        record["data"] = JSONValue(try await componentData(ctx, record))
        let version = Self.buildVersion(record).version
        let siblings = try await components(ctx, name: arn.name)
        return [
            "requestId": .string(ctx.requestId), "component": Self.visible(record),
            "latestVersionReferences": Self.latestReferences(
                ctx, kind: .component, name: record["name"]?.textValue ?? arn.name, of: version, among: siblings),
        ]
    }

    static let componentVersionKeys = [
        "arn", "name", "version", "description", "platform", "supportedOsVersions", "type", "owner", "dateCreated",
    ]
    static let componentSummaryKeys = [
        "arn", "name", "version", "platform", "supportedOsVersions", "state", "type", "owner", "description", "changeDescription",
        "dateCreated", "tags",
    ]

    func listComponents(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try Self.filters(body, allowed: ["description", "name", "platform", "supportedOsVersion", "type", "version"])
        let byName = try body.bool("byName") ?? false
        var rows: [JSONValue] = []
        if !(try Self.ownsNothing(body)) {
            // One row per semantic version (its newest build), or per name with byName.
            var newest: [String: JSONValue] = [:]
            var order: [String] = []
            for record in try await components(ctx)
            where Self.passes(record, filters, members: ["supportedOsVersion": "supportedOsVersions"]) {
                let name = record["name"]?.textValue ?? ""
                let key = byName ? name : "\(name)/\(record["version"]?.textValue ?? "")"
                if newest[key] == nil { order.append(key) }
                newest[key] = record
            }
            for key in order {
                guard var row = newest[key] else { continue }
                let version = Self.buildVersion(row).version
                row["arn"] = .string(
                    ImageBuilderARN.of(
                        .component, region: ctx.region, account: ctx.accountId, name: row["name"]?.textValue ?? "", version: version
                    )
                    .description)
                rows.append(Self.pick(row, Self.componentVersionKeys))
            }
        }
        let page = try page(rows, body) { $0["arn"]?.textValue ?? "" }
        return .compact([
            "requestId": .string(ctx.requestId), "componentVersionList": .array(Array(page.items)), "nextToken": page.nextToken,
        ])
    }

    func listComponentBuildVersions(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "componentVersionArn", kind: .component)
        guard let filter = arn.version, filter.isExact, filter.build == nil else {
            throw Self.invalid("componentVersionArn must name one version (…/component/<name>/<x.y.z>).")
        }
        let builds = try await components(ctx, name: arn.name).filter { filter.matches(Self.buildVersion($0)) }
        let page = try page(builds.map { Self.pick($0, Self.componentSummaryKeys) }, body) { $0["arn"]?.textValue ?? "" }
        return .compact([
            "requestId": .string(ctx.requestId), "componentSummaryList": .array(Array(page.items)), "nextToken": page.nextToken,
        ])
    }

    func deleteComponent(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "componentBuildVersionArn", kind: .component)
        guard let filter = arn.version, filter.build != nil else {
            throw Self.invalid("componentBuildVersionArn must name one build (…/component/<name>/<x.y.z>/<build>).")
        }
        let record = try await component(ctx, arn)
        let build = Self.buildVersion(record)
        // A recipe that selects this build (exactly or through a wildcard) depends on it.
        var users: [String] = []
        for recipe in try await store.records(kind: Kind.recipe, region: ctx.region) {
            for use in recipe["components"]?.arrayValue ?? [] {
                guard let used = use["componentArn"]?.stringValue.flatMap(ImageBuilderARN.init), used.name == arn.name else { continue }
                if (used.version ?? VersionFilter("x.x.x")!).matches(build) { users.append(recipe["arn"]?.textValue ?? "") }
            }
        }
        guard users.isEmpty else { throw Self.dependency(arn.description, usedBy: users) }
        try await store.deleteRecords(kind: Kind.component, region: ctx.region, id: "\(arn.name)/\(build.version)/\(build.build)")
        try await store.deleteRecords(kind: Kind.componentData, region: ctx.region, id: "\(arn.name)/\(build.version)/\(build.build)")
        if let file = record["_dataFile"]?.stringValue { try? FileManager.default.removeItem(atPath: "\(blobFolder)/\(file)") }
        return ["requestId": .string(ctx.requestId), "componentBuildVersionArn": .string(arn.description)]
    }
}
