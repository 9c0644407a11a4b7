import Foundation
import Logging
import StewardImages
import StewardKit

/// Turns an image record (with the recipe and configurations copied in when the build was asked for) into a
/// ``BuildSpec``: the parent image's tree, the component documents as files, the scan signatures, the outputs.
extension ImageBuildWorker {
    struct Resolved {
        var spec: BuildSpec
        var provider: any BuildProvider
        /// What the build used: the parent image build and component builds (for "only when dependencies changed").
        var dependencies: JSONValue
    }

    static let signaturesTag = "steward:clamav-db"
    static let agentTag = "steward:agent"

    func context(_ region: String) -> APIContext {
        APIContext(
            region: region, accountId: accountId, requestId: UUID().uuidString.lowercased(), now: Date(), logger: logger, baseURL: endpoint)
    }

    func resolve(region: String, id: String, record: JSONValue) async throws -> Resolved {
        let ctx = context(region)
        let recipe = record["imageRecipe"] ?? [:]
        let work = "\(root)/work/\(UUID().uuidString.lowercased())"
        try FileManager.default.createDirectory(atPath: "\(work)/components", withIntermediateDirectories: true)

        let parentText = recipe["parentImage"]?.textValue ?? ""
        let (parent, parentArn) = try await parentImage(ctx, parentText)

        var buildComponents: [ComponentInvocation] = []
        var testComponents: [ComponentInvocation] = []
        var used: [JSONValue] = []
        for (i, use) in (recipe["components"]?.arrayValue ?? []).enumerated() {
            let arnText = use["componentArn"]?.textValue ?? ""
            guard let arn = ImageBuilderARN(arnText) else { throw BuildFailure("the component ARN \(arnText) is not valid") }
            let component = try await api.component(ctx, arn)
            guard let data = try await api.componentData(ctx, component) else { throw BuildFailure("the document of \(arnText) is gone") }
            let definition = try ComponentDefinition(data: data)
            let build = ImageBuilderAPI.buildVersion(component)
            let path = "\(work)/components/\(i).yaml"
            try Data(data.utf8).write(to: URL(fileURLWithPath: path))
            var parameters: [String: String] = [:]
            for p in use["parameters"]?.arrayValue ?? [] {
                parameters[p["name"]?.textValue ?? ""] = (p["value"]?.arrayValue ?? []).map(\.textValue).joined(separator: ",")
            }
            let invocation = ComponentInvocation(
                name: component["name"]?.textValue ?? arn.name, version: "\(build.version)/\(build.build)", documentPath: path,
                parameters: parameters)
            let phases = Set(definition.document.phases.map(\.name))
            if !phases.isDisjoint(with: ["build", "validate"]) { buildComponents.append(invocation) }
            if phases.contains("test") { testComponents.append(invocation) }
            used.append(.string(component["arn"]?.textValue ?? arnText))
        }

        let infrastructure = record["infrastructureConfiguration"] ?? [:]
        let providerName = record["_provider"]?.stringValue ?? "chroot"
        let provider: any BuildProvider
        if let extra = settings.extraProviders[providerName] {
            provider = extra
        } else if providerName == "chroot" {
            provider = ChrootProvider(runnerBinary: settings.runnerBinary ?? Self.sibling("steward-runner"))
        } else {
            throw BuildFailure("the \(providerName) provider is not available in this server")
        }
        let signatures = infrastructure["tags"]?[Self.signaturesTag]?.stringValue ?? settings.scanSignatures

        var distributions: [BuildSpec.Distribution] = []
        for d in record["distributionConfiguration"]?["distributions"]?.arrayValue ?? [] {
            guard let export = d["s3ExportConfiguration"], let bucket = export["s3Bucket"]?.stringValue else { continue }
            let prefix = export["s3Prefix"]?.stringValue.map { "/" + $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) } ?? ""
            let folder = bucket + (prefix == "/" ? "" : prefix)
            // Every format is published to each folder; entries naming the same folder (one per format) publish once.
            guard !distributions.contains(where: { $0.folder == folder }) else { continue }
            distributions.append(.init(folder: folder, primaryFormat: export["diskImageFormat"]?.textValue ?? "RAW"))
        }

        var agent: AgentInstall?
        let wantsAgent =
            recipe["tags"]?[Self.agentTag]?.stringValue == "install"
            || recipe["additionalInstanceConfiguration"]?["systemsManagerAgent"]?["uninstallAfterBuild"] == .bool(false)
        if wantsAgent {
            let (activationId, code) = try await activation(region)
            agent = AgentInstall(
                binary: settings.agentBinary ?? Self.sibling("steward-agent"), endpoint: settings.agentEndpoint ?? endpoint,
                region: region, activationId: activationId, activationCode: code)
        }

        var spec = BuildSpec(
            imageArn: record["arn"]?.textValue ?? "", name: record["name"]?.textValue ?? "", version: record["version"]?.textValue ?? "",
            parentImage: parentArn, parent: parent, buildComponents: buildComponents, testComponents: testComponents,
            testsEnabled: record["imageTestsConfiguration"]?["imageTestsEnabled"] != .bool(false), signatures: signatures,
            terminateInstanceOnFailure: infrastructure["terminateInstanceOnFailure"] != .bool(false), workFolder: work,
            storeFolder: "\(root)/store/\(ImageBuilderARN.arnName(region))/\(id)", distributions: distributions, agent: agent)
        spec.zstdLevel = settings.zstdLevel
        spec.region = region
        return Resolved(spec: spec, provider: provider, dependencies: ["parentImage": .string(parentArn), "components": .array(used)])
    }

    /// The tree of the newest AVAILABLE image build the recipe's parent ARN selects (wildcards allowed).
    func parentImage(_ ctx: APIContext, _ text: String) async throws -> (InstanceSource, String) {
        // A bare name means the newest build of that image (`name` → `…/image/name/x.x.x`).
        let given =
            text.hasPrefix("arn:")
            ? ImageBuilderARN(text)
            : ImageBuilderARN(region: ctx.region, account: ctx.accountId, kind: .image, name: ImageBuilderARN.arnName(text))
        guard let arn = given, arn.kind == .image else {
            throw BuildFailure("the parent image \(text) is not a Steward image name or ARN; import a base with `steward images import`")
        }
        let filter = arn.version ?? VersionFilter("x.x.x")!
        let found = try await api.images(ctx, name: arn.name).filter {
            $0["state"]?["status"]?.textValue == ImageStatus.available.rawValue && $0["_rootfs"]?.stringValue != nil
                && filter.matches(ImageBuilderAPI.imageBuildVersion($0))
        }.last
        guard let found, let tree = found["_rootfs"]?.stringValue else {
            throw BuildFailure("no AVAILABLE image matches the parent image \(text)")
        }
        return (InstanceSource(path: tree, layout: .folder), found["arn"]?.textValue ?? text)
    }

    /// A program installed beside this server's executable.
    static func sibling(_ name: String) -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return ((exe as NSString).deletingLastPathComponent as NSString).appendingPathComponent(name)
    }
}
