import StewardImages
import StewardKit
import StewardStore

/// Image recipes: a parent image and an ordered list of components with their parameters.
/// Records: kind `ib-recipe`, id `<arn name>/<x.y.z>`, parent the ARN name.
extension ImageBuilderAPI {
    func recipe(_ ctx: APIContext, _ arn: ImageBuilderARN) async throws -> JSONValue {
        guard arn.region == ctx.region, arn.account == ctx.accountId else { throw Self.notFound(arn.description) }
        let filter = arn.version ?? VersionFilter("x.x.x")!
        guard filter.build == nil else { throw Self.invalid("An image recipe ARN has no build number: \(arn).") }
        let found = try await store.records(kind: Kind.recipe, region: ctx.region, parent: arn.name)
            .filter { SemanticVersion($0["version"]?.textValue ?? "").map(filter.matches) ?? false }
            .max { Self.buildVersion($0) < Self.buildVersion($1) }
        guard let found else { throw Self.notFound(arn.description) }
        return found
    }

    /// Checks the `components` of a recipe: each ARN selects an existing component, and the parameters given match
    /// those its document declares (the newest build the ARN selects is checked).
    func recipeComponents(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        guard let entries = try body.objectList("components") else { throw Self.invalid("components is required: a recipe needs 1 to 20.") }
        var uses: [RecipeValidation.ComponentUse] = []
        var stored: [JSONValue] = []
        for entry in entries {
            let arn = try Self.arn(ctx, entry, "componentArn", kind: .component)
            var parameters: [(name: String, value: [String])] = []
            for p in try entry.objectList("parameters") ?? [] {
                let name = try p.requiredString("name")
                guard let value = try p.stringList("value") else {
                    throw Self.invalid("Parameter \(name) needs a value (a list of strings).")
                }
                parameters.append((name, value))
            }
            uses.append(.init(arn: arn, parameters: parameters))
            let component = try await component(ctx, arn)
            let declared = (component["parameters"]?.arrayValue ?? []).map {
                ComponentDefinition.Parameter(
                    name: $0["name"]?.textValue ?? "", type: $0["type"]?.textValue ?? "string",
                    defaultValue: $0["defaultValue"]?.arrayValue?.first?.stringValue, description: $0["description"]?.stringValue)
            }
            try RecipeValidation.parameters(parameters, declared: declared, component: arn.description)
            stored.append(
                .compact([
                    "componentArn": .string(arn.description),
                    "parameters": parameters.isEmpty
                        ? .null : .array(parameters.map { ["name": .string($0.name), "value": JSONValue($0.value)] }),
                ]))
        }
        try RecipeValidation.components(uses)
        return .array(stored)
    }

    func createRecipe(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "CreateImageRecipe") {
            let name = try Self.name(body)
            let version = try SemanticVersion.parse(try body.requiredString("semanticVersion"))
            let parent = try RecipeValidation.parentImage(try body.requiredString("parentImage"))
            let components = try await recipeComponents(ctx, body)
            let workingDirectory = try RecipeValidation.workingDirectory(try body.string("workingDirectory"))
            var mappings: JSONValue = .null
            if let list = try body.objectList("blockDeviceMappings") {
                mappings = .array(try RecipeValidation.blockDeviceMappings(list.map { .object($0.fields) }))
            }
            let arn = ImageBuilderARN.of(.imageRecipe, region: ctx.region, account: ctx.accountId, name: name, version: version)
            let siblings = try await store.records(kind: Kind.recipe, region: ctx.region, parent: arn.name)
            if siblings.contains(where: { $0["version"]?.stringValue == version.description }) { throw Self.exists(arn.description) }
            let record: JSONValue = .compact([
                "arn": .string(arn.description), "type": "AMI", "name": .string(name), "description": try Self.description(body),
                "platform": "Linux", "owner": .string(ctx.accountId), "version": .string(version.description),
                "components": components, "parentImage": .string(parent),
                "blockDeviceMappings": mappings, "dateCreated": .string(ctx.nowSeconds.iso8601),
                "tags": try Self.tags(body), "workingDirectory": JSONValue(workingDirectory),
                "additionalInstanceConfiguration": Self.raw(body, "additionalInstanceConfiguration"),
                "amiTags": try Self.tags(body, "amiTags"),
            ])
            try await store.putRecord(
                kind: Kind.recipe, region: ctx.region, id: "\(arn.name)/\(version)", parent: arn.name, body: record, now: ctx.nowSeconds)
            return [
                "imageRecipeArn": .string(arn.description),
                "latestVersionReferences": Self.latestReferences(
                    ctx, kind: .imageRecipe, name: name, of: version, among: siblings + [record]),
            ]
        }
    }

    func getRecipe(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "imageRecipeArn", kind: .imageRecipe)
        let record = try await recipe(ctx, arn)
        let siblings = try await store.records(kind: Kind.recipe, region: ctx.region, parent: arn.name)
        return [
            "requestId": .string(ctx.requestId), "imageRecipe": Self.visible(record),
            "latestVersionReferences": Self.latestReferences(
                ctx, kind: .imageRecipe, name: record["name"]?.textValue ?? "", of: Self.buildVersion(record).version, among: siblings),
        ]
    }

    func listRecipes(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try Self.filters(body, allowed: ["name", "parentImage", "platform"])
        var rows: [JSONValue] = []
        if !(try Self.ownsNothing(body)) {
            rows = try await store.records(kind: Kind.recipe, region: ctx.region)
                .filter { Self.passes($0, filters) }
                .sorted { ($0["name"]?.textValue ?? "", Self.buildVersion($0)) < ($1["name"]?.textValue ?? "", Self.buildVersion($1)) }
                .map { Self.pick($0, ["arn", "name", "platform", "owner", "parentImage", "dateCreated", "tags"]) }
        }
        let page = try page(rows, body) { $0["arn"]?.textValue ?? "" }
        return .compact([
            "requestId": .string(ctx.requestId), "imageRecipeSummaryList": .array(Array(page.items)), "nextToken": page.nextToken,
        ])
    }

    func deleteRecipe(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "imageRecipeArn", kind: .imageRecipe)
        guard let filter = arn.version, filter.isExact else { throw Self.invalid("imageRecipeArn must name one version: \(arn).") }
        let record = try await recipe(ctx, arn)
        let users = try await store.records(kind: Kind.pipeline, region: ctx.region)
            .filter { $0["imageRecipeArn"]?.stringValue == arn.description }.map { $0["arn"]?.textValue ?? "" }
        guard users.isEmpty else { throw Self.dependency(arn.description, usedBy: users) }
        try await store.deleteRecords(kind: Kind.recipe, region: ctx.region, id: "\(arn.name)/\(record["version"]?.textValue ?? "")")
        return ["requestId": .string(ctx.requestId), "imageRecipeArn": .string(arn.description)]
    }
}
