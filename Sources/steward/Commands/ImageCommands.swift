import ArgumentParser
import Foundation
import StewardKit

/// `steward images ...`: image pipeline definitions through the EC2 Image Builder API.
struct Images: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Image pipelines: components, recipes, configurations and pipelines (EC2 Image Builder API).",
        discussion: """
            Resources are named by name (the newest version), name@version (1.2.3, 1.x.x, x.x.x) or by full ARN.
            A started pipeline or a new image is built by the server (chroot provider); follow it with `steward images logs ARN --follow`.
            """,
        subcommands: [
            ComponentCommands.self, RecipeCommands.self, InfrastructureCommands.self, DistributionCommands.self, PipelineCommands.self,
            ImageImport.self, ImageBootstrap.self, ImageList.self, ImageShow.self, ImageLogs.self, ImageCancel.self,
        ])
}

/// Calls Image Builder operations and turns names into ARNs.
struct ImageBuilderClient {
    let api: APIClient

    func call(_ method: String, _ operation: String, query: [(String, String)] = [], body: JSONValue? = nil) async throws -> JSONValue {
        try await api.rest(method: method, "/\(operation)", query: query, body: body, service: "imagebuilder")
    }

    /// Every item of a paged list operation.
    func all(_ operation: String, _ body: JSONValue = [:], key: String) async throws -> [JSONValue] {
        var request = body.objectValue ?? [:]
        var items: [JSONValue] = []
        while true {
            let page = try await call("POST", operation, body: .object(request))
            items += page[key]?.arrayValue ?? []
            guard let next = page["nextToken"]?.stringValue, !next.isEmpty else { return items }
            request["nextToken"] = .string(next)
        }
    }

    /// The ARN of a resource given by ARN, `name` or `name@version`; `list` finds the name's ARN.
    func arn(_ given: String, list: String, key: String, versioned: Bool, defaultVersion: String = "x.x.x") async throws -> String {
        if given.hasPrefix("arn:") { return given }
        let parts = given.split(separator: "@", maxSplits: 1).map(String.init)
        let name = parts[0]
        let found = try await all(list, ["filters": [["name": "name", "values": [.string(name)]]]], key: key)
        guard let arn = found.first?["arn"]?.stringValue else { throw CLIError("no resource named \(name)") }
        guard versioned else { return arn }
        var path = arn.split(separator: "/").map(String.init)
        path = Array(path.prefix(2))
        return (path + [parts.count == 2 ? parts[1] : defaultVersion]).joined(separator: "/")
    }

    static func token() -> String { UUID().uuidString.lowercased() }
}

extension ClientOptions {
    func images() throws -> ImageBuilderClient { ImageBuilderClient(api: try client()) }

    /// Prints rows as a table (or csv), or the raw items as JSON.
    func show(_ items: [JSONValue], header: [String], row: (JSONValue) -> [String]) {
        switch output {
        case .json: printJSON(.array(items))
        case .csv: for r in [header] + items.map(row) { print(r.joined(separator: ",")) }
        case .table: print(Table.render(header, items.map(row)))
        }
    }
}

/// `key=value,key=value` into a string map.
func keyValues(_ text: String?) throws -> [String: JSONValue] {
    var out: [String: JSONValue] = [:]
    for pair in (text ?? "").split(separator: ",") {
        let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, !kv[0].isEmpty else { throw CLIError("expected Key=Value pairs, comma-separated, not \(pair)") }
        out[kv[0]] = .string(kv[1])
    }
    return out
}

func shortDate(_ value: JSONValue?) -> String { String((value?.textValue ?? "").prefix(19)) }

struct ComponentCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "components", abstract: "AWSTOE components (YAML documents with a semantic version).",
        subcommands: [List.self, Show.self, Create.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List component versions.")
        @Option(help: "Only this name.") var name: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                var body: [String: JSONValue] = [:]
                if let name { body["filters"] = [["name": "name", "values": [.string(name)]]] }
                let items = try await client.images().all("ListComponents", .object(body), key: "componentVersionList")
                client.show(items, header: ["NAME", "VERSION", "TYPE", "PLATFORM", "CREATED", "ARN"]) { c in
                    let fields = ["name", "version", "type", "platform"].map { c[$0]?.textValue ?? "" }
                    return fields + [shortDate(c["dateCreated"]), c["arn"]?.textValue ?? ""]
                }
            } catch { throw failure(error) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a component (the document with --data).")
        @Argument(help: "name, name@version or ARN.") var component: String
        @Flag(help: "Print only the document.") var data = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                let arn = try await ib.arn(component, list: "ListComponents", key: "componentVersionList", versioned: true)
                let got = try await ib.call("GET", "GetComponent", query: [("componentBuildVersionArn", arn)])["component"] ?? .null
                if data { return print(got["data"]?.textValue ?? "") }
                client.printJSON(got)
            } catch { throw failure(error) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a component version from a YAML file.")
        @Option(help: "The AWSTOE YAML document.") var file: String
        @Option(help: "The component name.") var name: String
        @Option(help: "Its semantic version, x.y.z.") var version: String
        @Option(help: "Linux, Windows or macOS.") var platform = "Linux"
        @Option(help: "A description.") var description: String?
        @Option(help: "Tags: Key=Value,...") var tags: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                guard let bytes = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
                var body: [String: JSONValue] = [
                    "name": .string(name), "semanticVersion": .string(version), "platform": .string(platform),
                    "data": .string(String(decoding: bytes, as: UTF8.self)), "clientToken": .string(ImageBuilderClient.token()),
                ]
                if let description { body["description"] = .string(description) }
                if tags != nil { body["tags"] = .object(try keyValues(tags)) }
                let created = try await client.images().call("PUT", "CreateComponent", body: .object(body))
                if client.output == .json { return client.printJSON(created) }
                print(created["componentBuildVersionArn"]?.textValue ?? "")
            } catch { throw failure(error) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a component version (every build of it).")
        @Argument(help: "name@x.y.z, or a build version ARN.") var component: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                var arns: [String] = []
                if component.hasPrefix("arn:") && component.split(separator: "/").count == 4 {
                    arns = [component]
                } else {
                    guard component.contains("@") || component.hasPrefix("arn:") else {
                        throw CLIError("give name@x.y.z or a build version ARN")
                    }
                    let version = try await ib.arn(component, list: "ListComponents", key: "componentVersionList", versioned: true)
                    arns = try await ib.all(
                        "ListComponentBuildVersions", ["componentVersionArn": .string(version)], key: "componentSummaryList"
                    )
                    .compactMap { $0["arn"]?.stringValue }
                    guard !arns.isEmpty else { throw CLIError("no builds of \(component)") }
                }
                for arn in arns {
                    _ = try await ib.call("DELETE", "DeleteComponent", query: [("componentBuildVersionArn", arn)])
                    if client.output != .json { print("deleted \(arn)") }
                }
            } catch { throw failure(error) }
        }
    }
}

struct RecipeCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipes", abstract: "Image recipes: a parent image and ordered components.",
        subcommands: [List.self, Show.self, Create.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List image recipes.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let items = try await client.images().all("ListImageRecipes", key: "imageRecipeSummaryList")
                client.show(items, header: ["NAME", "PARENT IMAGE", "CREATED", "ARN"]) {
                    [
                        $0["name"]?.textValue ?? "", $0["parentImage"]?.textValue ?? "", shortDate($0["dateCreated"]),
                        $0["arn"]?.textValue ?? "",
                    ]
                }
            } catch { throw failure(error) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an image recipe.")
        @Argument(help: "name, name@version or ARN.") var recipe: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                let arn = try await ib.arn(recipe, list: "ListImageRecipes", key: "imageRecipeSummaryList", versioned: true)
                client.printJSON(try await ib.call("GET", "GetImageRecipe", query: [("imageRecipeArn", arn)])["imageRecipe"] ?? .null)
            } catch { throw failure(error) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an image recipe version.")
        @Option(help: "The recipe name.") var name: String
        @Option(help: "Its semantic version, x.y.z.") var version: String
        @Option(help: "The parent image (a base image name or an image ARN).") var parent: String
        @Option(help: "A component, in order: name, name@version (wildcards allowed) or ARN. Repeatable.") var component: [String] = []
        @Option(help: "A component parameter: component:Name=value. Repeatable.") var parameter: [String] = []
        @Option(help: "The working directory during builds.") var workingDirectory: String?
        @Option(help: "A description.") var description: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                var entries: [JSONValue] = []
                for c in component {
                    let arn = try await ib.arn(c, list: "ListComponents", key: "componentVersionList", versioned: true)
                    let short = String(c.split(separator: "@").first ?? "")
                    var params: [JSONValue] = []
                    for p in parameter {
                        let parts = p.split(separator: ":", maxSplits: 1).map(String.init)
                        guard parts.count == 2, let eq = parts[1].firstIndex(of: "=") else {
                            throw CLIError("--parameter takes component:Name=value, not \(p)")
                        }
                        if parts[0] == short || parts[0] == c {
                            params.append([
                                "name": .string(String(parts[1][..<eq])),
                                "value": [.string(String(parts[1][parts[1].index(after: eq)...]))],
                            ])
                        }
                    }
                    entries.append(.compact(["componentArn": .string(arn), "parameters": params.isEmpty ? .null : .array(params)]))
                }
                var body: [String: JSONValue] = [
                    "name": .string(name), "semanticVersion": .string(version), "parentImage": .string(parent),
                    "components": .array(entries),
                    "clientToken": .string(ImageBuilderClient.token()),
                ]
                if let workingDirectory { body["workingDirectory"] = .string(workingDirectory) }
                if let description { body["description"] = .string(description) }
                let created = try await ib.call("PUT", "CreateImageRecipe", body: .object(body))
                if client.output == .json { return client.printJSON(created) }
                print(created["imageRecipeArn"]?.textValue ?? "")
            } catch { throw failure(error) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an image recipe version.")
        @Argument(help: "name@x.y.z or ARN.") var recipe: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                let arn = try await ib.arn(recipe, list: "ListImageRecipes", key: "imageRecipeSummaryList", versioned: true)
                _ = try await ib.call("DELETE", "DeleteImageRecipe", query: [("imageRecipeArn", arn)])
            } catch { throw failure(error) }
        }
    }
}

struct InfrastructureCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infra", abstract: "Infrastructure configurations: which provider builds (chroot or qemu).",
        subcommands: [List.self, Create.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List infrastructure configurations.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let items = try await client.images().all("ListInfrastructureConfigurations", key: "infrastructureConfigurationSummaryList")
                client.show(items, header: ["NAME", "PROVIDER", "CREATED", "ARN"]) {
                    [
                        $0["name"]?.textValue ?? "", $0["tags"]?["steward:provider"]?.textValue ?? "chroot", shortDate($0["dateCreated"]),
                        $0["arn"]?.textValue ?? "",
                    ]
                }
            } catch { throw failure(error) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an infrastructure configuration.")
        @Argument(help: "The name.") var name: String
        @Option(help: "chroot or qemu.") var provider = "chroot"
        @Option(help: "A description.") var description: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                var body: [String: JSONValue] = [
                    "name": .string(name), "instanceProfileName": "steward", "tags": ["steward:provider": .string(provider)],
                    "clientToken": .string(ImageBuilderClient.token()),
                ]
                if let description { body["description"] = .string(description) }
                let created = try await client.images().call("PUT", "CreateInfrastructureConfiguration", body: .object(body))
                if client.output == .json { return client.printJSON(created) }
                print(created["infrastructureConfigurationArn"]?.textValue ?? "")
            } catch { throw failure(error) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an infrastructure configuration.")
        @Argument(help: "name or ARN.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                let arn = try await ib.arn(
                    name, list: "ListInfrastructureConfigurations", key: "infrastructureConfigurationSummaryList", versioned: false)
                _ = try await ib.call("DELETE", "DeleteInfrastructureConfiguration", query: [("infrastructureConfigurationArn", arn)])
            } catch { throw failure(error) }
        }
    }
}

struct DistributionCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distributions", abstract: "Distribution configurations: output folder and image formats.",
        subcommands: [List.self, Create.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List distribution configurations.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let items = try await client.images().all("ListDistributionConfigurations", key: "distributionConfigurationSummaryList")
                client.show(items, header: ["NAME", "CREATED", "ARN"]) {
                    [$0["name"]?.textValue ?? "", shortDate($0["dateCreated"]), $0["arn"]?.textValue ?? ""]
                }
            } catch { throw failure(error) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a distribution configuration writing to a folder.")
        @Argument(help: "The name.") var name: String
        @Option(help: "The output folder on the server (absolute).") var folder: String
        @Option(help: "Formats, comma-separated: raw, raw.zst, qcow2, tar.zst.") var formats = "qcow2"
        @Option(help: "The image name template.") var imageName: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let api = try client.images()
                var distributions: [JSONValue] = []
                for format in formats.split(separator: ",") {
                    let code = format.uppercased().replacing(".", with: "_")
                    var entry: JSONValue = [
                        "region": .string(api.api.region),
                        "s3ExportConfiguration": ["roleName": "steward", "diskImageFormat": .string(code), "s3Bucket": .string(folder)],
                    ]
                    if let imageName { entry["amiDistributionConfiguration"] = ["name": .string(imageName)] }
                    distributions.append(entry)
                }
                let body: JSONValue = [
                    "name": .string(name), "distributions": .array(distributions), "clientToken": .string(ImageBuilderClient.token()),
                ]
                let created = try await api.call("PUT", "CreateDistributionConfiguration", body: body)
                if client.output == .json { return client.printJSON(created) }
                print(created["distributionConfigurationArn"]?.textValue ?? "")
            } catch { throw failure(error) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a distribution configuration.")
        @Argument(help: "name or ARN.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                let arn = try await ib.arn(
                    name, list: "ListDistributionConfigurations", key: "distributionConfigurationSummaryList", versioned: false)
                _ = try await ib.call("DELETE", "DeleteDistributionConfiguration", query: [("distributionConfigurationArn", arn)])
            } catch { throw failure(error) }
        }
    }
}

struct PipelineCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipelines", abstract: "Image pipelines: recipe + infrastructure + distribution + schedule.",
        subcommands: [List.self, Show.self, Create.self, Start.self, Images.self, Delete.self], defaultSubcommand: List.self)

    static func arn(_ ib: ImageBuilderClient, _ name: String) async throws -> String {
        try await ib.arn(name, list: "ListImagePipelines", key: "imagePipelineList", versioned: false)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List image pipelines.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let items = try await client.images().all("ListImagePipelines", key: "imagePipelineList")
                client.show(items, header: ["NAME", "STATUS", "SCHEDULE", "LAST RUN", "RECIPE"]) {
                    [
                        $0["name"]?.textValue ?? "", $0["status"]?.textValue ?? "", $0["schedule"]?["scheduleExpression"]?.textValue ?? "",
                        shortDate($0["dateLastRun"]), $0["imageRecipeArn"]?.textValue.split(separator: ":").last.map(String.init) ?? "",
                    ]
                }
            } catch { throw failure(error) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an image pipeline.")
        @Argument(help: "name or ARN.") var pipeline: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                let arn = try await PipelineCommands.arn(ib, pipeline)
                client.printJSON(try await ib.call("GET", "GetImagePipeline", query: [("imagePipelineArn", arn)])["imagePipeline"] ?? .null)
            } catch { throw failure(error) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an image pipeline.")
        @Argument(help: "The name.") var name: String
        @Option(help: "The recipe: name@version or ARN.") var recipe: String
        @Option(help: "The infrastructure configuration: name or ARN.") var infrastructure: String
        @Option(help: "The distribution configuration: name or ARN.") var distribution: String?
        @Option(help: "A schedule: cron(min hour day month day-of-week year), e.g. 'cron(0 3 ? * * *)'.") var schedule: String?
        @Flag(help: "Create it disabled.") var disabled = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                var body: [String: JSONValue] = [
                    "name": .string(name),
                    "imageRecipeArn": .string(
                        try await ib.arn(recipe, list: "ListImageRecipes", key: "imageRecipeSummaryList", versioned: true)),
                    "infrastructureConfigurationArn": .string(
                        try await ib.arn(
                            infrastructure, list: "ListInfrastructureConfigurations", key: "infrastructureConfigurationSummaryList",
                            versioned: false)),
                    "status": disabled ? "DISABLED" : "ENABLED", "clientToken": .string(ImageBuilderClient.token()),
                ]
                if let distribution {
                    body["distributionConfigurationArn"] = .string(
                        try await ib.arn(
                            distribution, list: "ListDistributionConfigurations", key: "distributionConfigurationSummaryList",
                            versioned: false))
                }
                if let schedule { body["schedule"] = ["scheduleExpression": .string(schedule)] }
                let created = try await ib.call("PUT", "CreateImagePipeline", body: .object(body))
                if client.output == .json { return client.printJSON(created) }
                print(created["imagePipelineArn"]?.textValue ?? "")
            } catch { throw failure(error) }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a pipeline now (records an image build).")
        @Argument(help: "name or ARN.") var pipeline: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                let body: JSONValue = [
                    "imagePipelineArn": .string(try await PipelineCommands.arn(ib, pipeline)),
                    "clientToken": .string(ImageBuilderClient.token()),
                ]
                let started = try await ib.call("PUT", "StartImagePipelineExecution", body: body)
                if client.output == .json { return client.printJSON(started) }
                print(started["imageBuildVersionArn"]?.textValue ?? "")
            } catch { throw failure(error) }
        }
    }

    struct Images: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The images a pipeline has made, with their state.")
        @Argument(help: "name or ARN.") var pipeline: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                let arn = try await PipelineCommands.arn(ib, pipeline)
                let items = try await ib.all("ListImagePipelineImages", ["imagePipelineArn": .string(arn)], key: "imageSummaryList")
                client.show(items, header: ["VERSION", "STATE", "CREATED", "ARN"]) {
                    [
                        $0["version"]?.textValue ?? "", $0["state"]?["status"]?.textValue ?? "", shortDate($0["dateCreated"]),
                        $0["arn"]?.textValue ?? "",
                    ]
                }
            } catch { throw failure(error) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an image pipeline.")
        @Argument(help: "name or ARN.") var pipeline: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let ib = try client.images()
                _ = try await ib.call(
                    "DELETE", "DeleteImagePipeline", query: [("imagePipelineArn", try await PipelineCommands.arn(ib, pipeline))])
            } catch { throw failure(error) }
        }
    }
}
