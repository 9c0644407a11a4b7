import Foundation
import Logging
import ServiceLifecycle
import StewardImages
import StewardKit

/// Runs ENABLED pipelines on their `cron()` schedules, in the schedule's time zone (UTC by default). With
/// `EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE` (the default) a matching minute starts a build only when the newest parent image or component build the recipe
/// selects differs from what the pipeline's last build used; `EXPRESSION_MATCH_ONLY` builds on every match.
struct PipelineScheduler: Service {
    let api: ImageBuilderAPI
    let accountId: String
    let logger: Logger
    let interval: Duration

    typealias Kind = ImageBuilderAPI.Kind

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await tick(now: Date())
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Checks every scheduled pipeline once; each minute that matched since its last check fires at most once.
    func tick(now: Date) async {
        guard let all = try? await api.store.allRecords(kind: Kind.pipeline) else { return }
        let minute = Int(now.timeIntervalSince1970 / 60)
        for (region, pipeline) in all where pipeline["status"]?.textValue == "ENABLED" {
            guard let expression = pipeline["schedule"]?["scheduleExpression"]?.stringValue, expression.hasPrefix("cron(") else {
                continue
            }
            let last = Int(pipeline["_lastScheduleCheck"]?.numberValue ?? Double(minute - 1))
            guard last < minute, case .cron(let cron)? = try? Schedule.parse(expression) else { continue }
            // Due when a minute the expression names lies in (last check, now], looking back an hour at most. The
            // expression is read on the wall clock of the schedule's time zone (UTC when none is given).
            let zone = pipeline["schedule"]?["timezone"]?.stringValue.flatMap(TimeZone.init(identifier:)) ?? .gmt
            func wall(_ t: Double) -> Double { t + Double(zone.secondsFromGMT(for: Date(timeIntervalSince1970: t))) }
            let from = Double(max(last + 1, minute - 60)) * 60
            let due = cron.next(after: wall(from) - 1).map { $0 <= wall(Double(minute) * 60) } ?? false
            await mark(region, pipeline, minute: minute)
            guard due else { continue }
            do {
                try await fire(region, pipeline)
            } catch {
                logger.warning(
                    "scheduled pipeline run failed to start",
                    metadata: ["pipeline": .string(pipeline["arn"]?.textValue ?? ""), "error": "\(error)"])
            }
        }
    }

    func mark(_ region: String, _ pipeline: JSONValue, minute: Int) async {
        guard let arn = pipeline["arn"]?.stringValue.flatMap(ImageBuilderARN.init) else { return }
        await api.writes.acquire()
        if var current = try? await api.store.record(kind: Kind.pipeline, region: region, id: arn.name) {
            current["_lastScheduleCheck"] = .number(Double(minute))
            try? await api.store.putRecord(
                kind: Kind.pipeline, region: region, id: arn.name, body: current, now: Date().timeIntervalSince1970)
        }
        await api.writes.release()
    }

    func fire(_ region: String, _ pipeline: JSONValue) async throws {
        let ctx = APIContext(
            region: region, accountId: accountId, requestId: UUID().uuidString.lowercased(), now: Date(), logger: logger, baseURL: "")
        let condition =
            pipeline["schedule"]?["pipelineExecutionStartCondition"]?.textValue ?? "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE"
        if condition != "EXPRESSION_MATCH_ONLY" {
            let current = try await dependencies(ctx, pipeline)
            let previous = try await api.images(ctx).filter {
                $0["sourcePipelineArn"]?.stringValue == pipeline["arn"]?.stringValue && $0["_resolved"] != nil
            }.max { ($0["dateCreated"]?.textValue ?? "") < ($1["dateCreated"]?.textValue ?? "") }
            if let used = previous?["_resolved"], used == current {
                logger.info(
                    "scheduled pipeline skipped: no dependency updates", metadata: ["pipeline": .string(pipeline["arn"]?.textValue ?? "")])
                return
            }
        }
        await api.writes.acquire()
        do {
            var image = try await api.recordImage(
                ctx, recipeArn: pipeline["imageRecipeArn"]?.textValue ?? "",
                infrastructureArn: pipeline["infrastructureConfigurationArn"]?.textValue ?? "",
                distributionArn: pipeline["distributionConfigurationArn"]?.stringValue, pipeline: pipeline,
                testsConfiguration: pipeline["imageTestsConfiguration"] ?? .null,
                enhancedMetadata: pipeline["enhancedImageMetadataEnabled"] ?? true, tags: pipeline["imageTags"] ?? .null)
            image["buildType"] = "SCHEDULED"
            let v = ImageBuilderAPI.imageBuildVersion(image)
            let name = ImageBuilderARN.arnName(image["name"]?.textValue ?? "")
            try await api.store.putRecord(
                kind: Kind.image, region: region, id: "\(name)/\(v.version)/\(v.build)", parent: name, body: image, now: ctx.nowSeconds)
            if let arn = pipeline["arn"]?.stringValue.flatMap(ImageBuilderARN.init),
                var current = try await api.store.record(kind: Kind.pipeline, region: region, id: arn.name)
            {
                current["dateLastRun"] = .string(ctx.nowSeconds.iso8601)
                current["lastRunStatus"] = .string(ImageStatus.pending.rawValue)
                try await api.store.putRecord(kind: Kind.pipeline, region: region, id: arn.name, body: current, now: ctx.nowSeconds)
            }
            await api.writes.release()
            logger.info("scheduled pipeline run", metadata: ["image": .string(image["arn"]?.textValue ?? "")])
        } catch {
            await api.writes.release()
            throw error
        }
    }

    /// What a build of the pipeline would use now: the newest AVAILABLE parent image and component builds its recipe
    /// selects (the same shape the worker records in `_resolved`).
    func dependencies(_ ctx: APIContext, _ pipeline: JSONValue) async throws -> JSONValue {
        let recipeArn = try ImageBuilderARN.parse(pipeline["imageRecipeArn"]?.textValue ?? "", kind: .imageRecipe, member: "imageRecipeArn")
        let recipe = try await api.recipe(ctx, recipeArn)
        var parent = recipe["parentImage"] ?? .null
        let text = recipe["parentImage"]?.stringValue ?? ""
        let given =
            text.hasPrefix("arn:")
            ? ImageBuilderARN(text)
            : ImageBuilderARN(region: ctx.region, account: ctx.accountId, kind: .image, name: ImageBuilderARN.arnName(text))
        if let arn = given, arn.kind == .image {
            let filter = arn.version ?? VersionFilter("x.x.x")!
            parent =
                try await api.images(ctx, name: arn.name).filter {
                    $0["state"]?["status"]?.textValue == ImageStatus.available.rawValue && $0["_rootfs"] != nil
                        && filter.matches(ImageBuilderAPI.imageBuildVersion($0))
                }.last?["arn"] ?? .null
        }
        var components: [JSONValue] = []
        for use in recipe["components"]?.arrayValue ?? [] {
            guard let arn = use["componentArn"]?.stringValue.flatMap(ImageBuilderARN.init) else { continue }
            components.append(try await api.component(ctx, arn)["arn"] ?? .null)
        }
        return ["parentImage": parent, "components": .array(components)]
    }
}
