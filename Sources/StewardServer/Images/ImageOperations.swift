import StewardImages
import StewardKit
import StewardStore

/// Images: one record per build (`x.y.z/n`), with the recipe and configurations copied in as they were when the
/// build was asked for. Until the build engine exists, a new image stays PENDING.
/// Records: kind `ib-image`, id `<arn name>/<x.y.z>/<build>`, parent the ARN name.
extension ImageBuilderAPI {
    static let imageSummaryKeys = [
        "arn", "name", "type", "version", "platform", "osVersion", "state", "owner", "dateCreated", "outputResources", "tags", "buildType",
        "imageSource",
    ]
    static let imageVersionKeys = [
        "arn", "name", "type", "version", "platform", "osVersion", "owner", "dateCreated", "buildType", "imageSource",
    ]

    func images(_ ctx: APIContext, name: String? = nil) async throws -> [JSONValue] {
        try await store.records(kind: Kind.image, region: ctx.region, parent: name).sorted { a, b in
            (a["name"]?.textValue ?? "", Self.imageBuildVersion(a)) < (b["name"]?.textValue ?? "", Self.imageBuildVersion(b))
        }
    }

    static func imageBuildVersion(_ record: JSONValue) -> BuildVersion {
        BuildVersion(record["version"]?.textValue ?? "") ?? BuildVersion(SemanticVersion(0, 0, 0), build: 1)
    }

    /// The newest image build an ARN selects.
    func image(_ ctx: APIContext, _ arn: ImageBuilderARN) async throws -> JSONValue {
        guard arn.region == ctx.region, arn.account == ctx.accountId else { throw Self.notFound(arn.description) }
        let filter = arn.version ?? VersionFilter("x.x.x")!
        guard let found = try await images(ctx, name: arn.name).filter({ filter.matches(Self.imageBuildVersion($0)) }).last else {
            throw Self.notFound(arn.description)
        }
        return found
    }

    /// Records a new image build in PENDING, with everything it will be built from.
    func recordImage(
        _ ctx: APIContext, recipeArn: String, infrastructureArn: String, distributionArn: String?, pipeline: JSONValue?,
        testsConfiguration: JSONValue, enhancedMetadata: JSONValue, tags: JSONValue
    ) async throws -> JSONValue {
        let recipe = Self.visible(try await recipe(ctx, try ImageBuilderARN.parse(recipeArn, kind: .imageRecipe, member: "imageRecipeArn")))
        let infrastructure = try await named(
            ctx, kind: Kind.infrastructure,
            try ImageBuilderARN.parse(infrastructureArn, kind: .infrastructureConfiguration, member: "infrastructureConfigurationArn"))
        var distribution: JSONValue = .null
        if let distributionArn {
            distribution = Self.visible(
                try await named(
                    ctx, kind: Kind.distribution,
                    try ImageBuilderARN.parse(distributionArn, kind: .distributionConfiguration, member: "distributionConfigurationArn")))
        }
        let name = recipe["name"]?.textValue ?? ""
        let version = SemanticVersion(recipe["version"]?.textValue ?? "") ?? SemanticVersion(1, 0, 0)
        let build = try await nextBuild(ctx, kind: "image", name: ImageBuilderARN.arnName(name), version: version)
        let arn = ImageBuilderARN.of(.image, region: ctx.region, account: ctx.accountId, name: name, version: version, build: build)
        let record: JSONValue = .compact([
            "arn": .string(arn.description), "type": "AMI", "name": .string(name), "version": .string("\(version)/\(build)"),
            "platform": recipe["platform"] ?? "Linux", "enhancedImageMetadataEnabled": enhancedMetadata,
            "state": ["status": .string(ImageStatus.pending.rawValue), "reason": "Waiting for the build engine."],
            "imageRecipe": recipe, "sourcePipelineName": pipeline?["name"] ?? .null, "sourcePipelineArn": pipeline?["arn"] ?? .null,
            "infrastructureConfiguration": Self.visible(infrastructure), "distributionConfiguration": distribution,
            "imageTestsConfiguration": testsConfiguration.isNull ? ["imageTestsEnabled": true, "timeoutMinutes": 720] : testsConfiguration,
            "dateCreated": .string(ctx.nowSeconds.iso8601), "tags": tags, "owner": .string(ctx.accountId),
            "buildType": "USER_INITIATED", "imageSource": "CUSTOM",
            "_provider": infrastructure["_provider"] ?? "chroot",
        ])
        try await store.putRecord(
            kind: Kind.image, region: ctx.region, id: "\(arn.name)/\(version)/\(build)", parent: arn.name, body: record, now: ctx.nowSeconds
        )
        return record
    }

    func createImage(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "CreateImage") {
            if body.has("containerRecipeArn") { throw Self.invalid("Container recipes are not supported here; give imageRecipeArn.") }
            let recipe = try Self.arn(ctx, body, "imageRecipeArn", kind: .imageRecipe)
            let infrastructure = try Self.arn(ctx, body, "infrastructureConfigurationArn", kind: .infrastructureConfiguration)
            let distribution =
                body.has("distributionConfigurationArn")
                ? try Self.arn(ctx, body, "distributionConfigurationArn", kind: .distributionConfiguration).description : nil
            let image = try await recordImage(
                ctx, recipeArn: recipe.description, infrastructureArn: infrastructure.description, distributionArn: distribution,
                pipeline: nil, testsConfiguration: Self.raw(body, "imageTestsConfiguration"),
                enhancedMetadata: .bool(try body.bool("enhancedImageMetadataEnabled") ?? true), tags: try Self.tags(body))
            let version = Self.imageBuildVersion(image).version
            return [
                "imageBuildVersionArn": image["arn"] ?? .null,
                "latestVersionReferences": Self.latestReferences(
                    ctx, kind: .image, name: image["name"]?.textValue ?? "", of: version,
                    among: try await images(ctx, name: ImageBuilderARN.arnName(image["name"]?.textValue ?? "")).map(Self.versionOnly)),
            ]
        }
    }

    /// An image record with `version` split into `x.y.z` and `_build`, as ``latestReferences`` reads it.
    static func versionOnly(_ record: JSONValue) -> JSONValue {
        let v = imageBuildVersion(record)
        var r = record
        r["version"] = .string(v.version.description)
        r["_build"] = .number(Double(v.build))
        return r
    }

    func getImage(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "imageBuildVersionArn", kind: .image)
        let record = try await image(ctx, arn)
        let siblings = try await images(ctx, name: arn.name).map(Self.versionOnly)
        return [
            "requestId": .string(ctx.requestId), "image": Self.visible(record),
            "latestVersionReferences": Self.latestReferences(
                ctx, kind: .image, name: record["name"]?.textValue ?? "", of: Self.imageBuildVersion(record).version, among: siblings),
        ]
    }

    func listImages(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try Self.filters(body, allowed: ["name", "osVersion", "platform", "type", "version"])
        let byName = try body.bool("byName") ?? false
        var rows: [JSONValue] = []
        if !(try Self.ownsNothing(body)) {
            var newest: [String: JSONValue] = [:]
            var order: [String] = []
            for record in try await images(ctx) where Self.passes(Self.versionOnly(record), filters) {
                let v = Self.imageBuildVersion(record)
                let key = byName ? record["name"]?.textValue ?? "" : "\(record["name"]?.textValue ?? "")/\(v.version)"
                if newest[key] == nil { order.append(key) }
                newest[key] = record
            }
            for key in order {
                guard var row = newest[key] else { continue }
                let v = Self.imageBuildVersion(row)
                row["arn"] = .string(
                    ImageBuilderARN.of(
                        .image, region: ctx.region, account: ctx.accountId, name: row["name"]?.textValue ?? "", version: v.version
                    )
                    .description)
                row["version"] = .string(v.version.description)
                rows.append(Self.pick(row, Self.imageVersionKeys))
            }
        }
        let page = try page(rows, body) { $0["arn"]?.textValue ?? "" }
        return .compact(["requestId": .string(ctx.requestId), "imageVersionList": .array(Array(page.items)), "nextToken": page.nextToken])
    }

    func listImageBuildVersions(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "imageVersionArn", kind: .image)
        guard let filter = arn.version, filter.isExact, filter.build == nil else {
            throw Self.invalid("imageVersionArn must name one version (…/image/<name>/<x.y.z>).")
        }
        let filters = try Self.filters(body, allowed: ["name", "osVersion", "platform", "type", "version"])
        let rows = try await images(ctx, name: arn.name).filter { filter.matches(Self.imageBuildVersion($0)) && Self.passes($0, filters) }
            .map { Self.pick($0, Self.imageSummaryKeys) }
        let page = try page(rows, body) { $0["arn"]?.textValue ?? "" }
        return .compact(["requestId": .string(ctx.requestId), "imageSummaryList": .array(Array(page.items)), "nextToken": page.nextToken])
    }

    /// The exact image build an ARN names (`…/image/<name>/<x.y.z>/<build>`).
    func exactImage(_ ctx: APIContext, _ body: RequestBody) async throws -> (ImageBuilderARN, JSONValue) {
        let arn = try Self.arn(ctx, body, "imageBuildVersionArn", kind: .image)
        guard let filter = arn.version, filter.build != nil else {
            throw Self.invalid("imageBuildVersionArn must name one build (…/image/<name>/<x.y.z>/<build>).")
        }
        return (arn, try await image(ctx, arn))
    }

    func cancelImage(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "CancelImageCreation") {
            let (arn, old) = try await exactImage(ctx, body)
            var record = old
            let status = ImageStatus(rawValue: record["state"]?["status"]?.textValue ?? "") ?? .failed
            guard status.inProgress else {
                throw Self.inUse("The image \(arn) is \(status.rawValue); only a build under way can be cancelled.")
            }
            record["state"] = ["status": .string(ImageStatus.cancelled.rawValue), "reason": "Cancelled by the user."]
            let v = Self.imageBuildVersion(record)
            try await store.putRecord(
                kind: Kind.image, region: ctx.region, id: "\(arn.name)/\(v.version)/\(v.build)", parent: arn.name, body: record,
                now: ctx.nowSeconds)
            return ["imageBuildVersionArn": .string(arn.description)]
        }
    }

    func deleteImage(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let (arn, record) = try await exactImage(ctx, body)
        let status = ImageStatus(rawValue: record["state"]?["status"]?.textValue ?? "") ?? .failed
        guard !status.inProgress else {
            throw AWSError("ResourceDependencyException", "The image \(arn) is \(status.rawValue): cancel the build before deleting it.")
        }
        let v = Self.imageBuildVersion(record)
        try await store.deleteRecords(kind: Kind.image, region: ctx.region, id: "\(arn.name)/\(v.version)/\(v.build)")
        return ["requestId": .string(ctx.requestId), "imageBuildVersionArn": .string(arn.description)]
    }
}
