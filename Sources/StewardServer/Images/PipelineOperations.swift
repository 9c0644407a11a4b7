import Foundation
import StewardImages
import StewardKit
import StewardStore

/// Image pipelines: a recipe, an infrastructure and a distribution configuration, and a schedule.
/// Records: kind `ib-pipeline`, id the ARN name. Scheduled runs come with the build engine; manual runs
/// (StartImagePipelineExecution) record an image in PENDING.
extension ImageBuilderAPI {
    /// The members Create and Update share, with the resources they name checked.
    func pipelineFields(_ ctx: APIContext, _ body: RequestBody) async throws -> [String: JSONValue] {
        if body.has("containerRecipeArn") { throw Self.invalid("Container recipes are not supported here; give imageRecipeArn.") }
        let recipeArn = try Self.arn(ctx, body, "imageRecipeArn", kind: .imageRecipe)
        let recipe = try await recipe(ctx, recipeArn)
        let infrastructure = try Self.arn(ctx, body, "infrastructureConfigurationArn", kind: .infrastructureConfiguration)
        _ = try await named(ctx, kind: Kind.infrastructure, infrastructure)
        var fields: [String: JSONValue] = [
            "description": try Self.description(body), "imageRecipeArn": .string(recipeArn.description),
            "infrastructureConfigurationArn": .string(infrastructure.description), "platform": recipe["platform"] ?? "Linux",
            "enhancedImageMetadataEnabled": .bool(try body.bool("enhancedImageMetadataEnabled") ?? true),
        ]
        if body.has("distributionConfigurationArn") {
            let distribution = try Self.arn(ctx, body, "distributionConfigurationArn", kind: .distributionConfiguration)
            _ = try await named(ctx, kind: Kind.distribution, distribution)
            fields["distributionConfigurationArn"] = .string(distribution.description)
        }
        var tests: JSONValue = ["imageTestsEnabled": true, "timeoutMinutes": 720]
        if let given = try body.object("imageTestsConfiguration") {
            if let enabled = try given.bool("imageTestsEnabled") { tests["imageTestsEnabled"] = .bool(enabled) }
            if let minutes = try given.int("timeoutMinutes") {
                guard (60...1440).contains(minutes) else {
                    throw Self.invalid("imageTestsConfiguration.timeoutMinutes must be 60 to 1440.")
                }
                tests["timeoutMinutes"] = .number(Double(minutes))
            }
        }
        fields["imageTestsConfiguration"] = tests
        if let schedule = try body.object("schedule") {
            if let expression = try schedule.string("scheduleExpression"), let problem = ScheduleExpression.check(expression) {
                throw Self.invalid("The schedule expression \(expression) is not valid: \(problem).")
            }
            if let zone = try schedule.string("timezone"), TimeZone(identifier: zone) == nil {
                throw Self.invalid("The schedule's timezone \(zone) is not an IANA time zone (such as Etc/UTC or Europe/Paris).")
            }
            let condition = try schedule.string("pipelineExecutionStartCondition") ?? "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE"
            guard ["EXPRESSION_MATCH_ONLY", "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE"].contains(condition) else {
                throw Self.invalid("pipelineExecutionStartCondition \(condition) is not valid.")
            }
            var stored = JSONValue.object(schedule.fields)
            stored["pipelineExecutionStartCondition"] = .string(condition)
            fields["schedule"] = stored
        }
        let status = try body.string("status") ?? "ENABLED"
        guard status == "ENABLED" || status == "DISABLED" else { throw Self.invalid("status must be ENABLED or DISABLED.") }
        fields["status"] = .string(status)
        for member in ["imageScanningConfiguration", "workflows", "executionRole", "loggingConfiguration"] {
            fields[member] = Self.raw(body, member)
        }
        fields["imageTags"] = try Self.tags(body, "imageTags")
        return fields
    }

    func createPipeline(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "CreateImagePipeline") {
            let name = try Self.name(body)
            let arn = ImageBuilderARN.of(.imagePipeline, region: ctx.region, account: ctx.accountId, name: name)
            var fields = try await pipelineFields(ctx, body)
            if try await store.record(kind: Kind.pipeline, region: ctx.region, id: arn.name) != nil { throw Self.exists(arn.description) }
            fields["arn"] = .string(arn.description)
            fields["name"] = .string(name)
            fields["tags"] = try Self.tags(body)
            fields["dateCreated"] = .string(ctx.nowSeconds.iso8601)
            try await store.putRecord(kind: Kind.pipeline, region: ctx.region, id: arn.name, body: .compact(fields), now: ctx.nowSeconds)
            return ["imagePipelineArn": .string(arn.description)]
        }
    }

    func getPipeline(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "imagePipelineArn", kind: .imagePipeline)
        return ["requestId": .string(ctx.requestId), "imagePipeline": Self.visible(try await named(ctx, kind: Kind.pipeline, arn))]
    }

    func listPipelines(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let filters = try Self.filters(
            body,
            allowed: ["description", "distributionConfigurationArn", "imageRecipeArn", "infrastructureConfigurationArn", "name", "status"])
        let rows = try await store.records(kind: Kind.pipeline, region: ctx.region).filter { Self.passes($0, filters) }.map(Self.visible)
        let page = try page(rows, body) { $0["arn"]?.textValue ?? "" }
        return .compact(["requestId": .string(ctx.requestId), "imagePipelineList": .array(Array(page.items)), "nextToken": page.nextToken])
    }

    func updatePipeline(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "UpdateImagePipeline") {
            let arn = try Self.arn(ctx, body, "imagePipelineArn", kind: .imagePipeline)
            let old = try await named(ctx, kind: Kind.pipeline, arn)
            var fields = try await pipelineFields(ctx, body)
            for member in ["arn", "name", "tags", "dateCreated", "dateLastRun", "lastRunStatus"] { fields[member] = old[member] }
            fields["dateUpdated"] = .string(ctx.nowSeconds.iso8601)
            try await store.putRecord(kind: Kind.pipeline, region: ctx.region, id: arn.name, body: .compact(fields), now: ctx.nowSeconds)
            return ["imagePipelineArn": .string(arn.description)]
        }
    }

    func deletePipeline(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "imagePipelineArn", kind: .imagePipeline)
        _ = try await named(ctx, kind: Kind.pipeline, arn)
        let running = try await store.records(kind: Kind.image, region: ctx.region).filter {
            $0["sourcePipelineArn"]?.stringValue == arn.description
                && (ImageStatus(rawValue: $0["state"]?["status"]?.textValue ?? "")?.inProgress ?? false)
        }
        guard running.isEmpty else { throw Self.dependency(arn.description, usedBy: running.map { $0["arn"]?.textValue ?? "" }) }
        try await store.deleteRecords(kind: Kind.pipeline, region: ctx.region, id: arn.name)
        return ["requestId": .string(ctx.requestId), "imagePipelineArn": .string(arn.description)]
    }

    func startPipeline(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "StartImagePipelineExecution") {
            let arn = try Self.arn(ctx, body, "imagePipelineArn", kind: .imagePipeline)
            var pipeline = try await named(ctx, kind: Kind.pipeline, arn)
            let image = try await recordImage(
                ctx, recipeArn: pipeline["imageRecipeArn"]?.textValue ?? "",
                infrastructureArn: pipeline["infrastructureConfigurationArn"]?.textValue ?? "",
                distributionArn: pipeline["distributionConfigurationArn"]?.stringValue, pipeline: pipeline,
                testsConfiguration: pipeline["imageTestsConfiguration"] ?? .null,
                enhancedMetadata: pipeline["enhancedImageMetadataEnabled"] ?? true, tags: try Self.tags(body))
            pipeline["dateLastRun"] = .string(ctx.nowSeconds.iso8601)
            pipeline["lastRunStatus"] = .string(ImageStatus.pending.rawValue)
            try await store.putRecord(kind: Kind.pipeline, region: ctx.region, id: arn.name, body: pipeline, now: ctx.nowSeconds)
            return ["imageBuildVersionArn": image["arn"] ?? .null]
        }
    }

    func listPipelineImages(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let arn = try Self.arn(ctx, body, "imagePipelineArn", kind: .imagePipeline)
        _ = try await named(ctx, kind: Kind.pipeline, arn)
        let filters = try Self.filters(body, allowed: ["name", "version"])
        let rows = try await images(ctx).filter { $0["sourcePipelineArn"]?.stringValue == arn.description && Self.passes($0, filters) }
            .map { Self.pick($0, Self.imageSummaryKeys) }
        let page = try page(rows, body) { $0["arn"]?.textValue ?? "" }
        return .compact(["requestId": .string(ctx.requestId), "imageSummaryList": .array(Array(page.items)), "nextToken": page.nextToken])
    }
}
