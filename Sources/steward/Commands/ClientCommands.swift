import ArgumentParser
import Foundation
import StewardKit

struct ActivationGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activation", abstract: "Create and list activations for registering nodes.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an activation and print the agent registration command.")
        @Option(help: "How many nodes may register with it.") var registrationLimit: Int = 1
        @Option(help: "Hours until it expires (at most 720).") var expiresInHours: Int = 24
        @Option(help: "Name given to registered nodes.") var defaultInstanceName: String?
        @Option(help: "Description.") var description: String?
        @Option(name: .customLong("tag"), help: "KEY=VALUE tag copied onto registered nodes; repeatable.") var tags: [String] = []
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let api = try client.client()
                var body: [String: JSONValue] = [
                    "IamRole": "SSMServiceRole", "RegistrationLimit": JSONValue(registrationLimit),
                    "ExpirationDate": .number(Date().timeIntervalSince1970 + Double(expiresInHours) * 3600),
                ]
                if let defaultInstanceName { body["DefaultInstanceName"] = .string(defaultInstanceName) }
                if let description { body["Description"] = .string(description) }
                body["Tags"] = .array(
                    try tags.map { t in
                        let parts = t.split(separator: "=", maxSplits: 1)
                        guard parts.count == 2 else { throw ValidationError("--tag takes KEY=VALUE, not \(t)") }
                        return ["Key": .string(String(parts[0])), "Value": .string(String(parts[1]))]
                    })
                let result = try await api.call("CreateActivation", .object(body))
                if client.output == .json { return client.printJSON(result) }
                let id = result["ActivationId"]?.stringValue ?? ""
                let code = result["ActivationCode"]?.stringValue ?? ""
                print(
                    "ActivationId    \(id)\nActivationCode  \(code)\n\nOn each node:\n  steward-agent register --server \(api.endpoint) --activation-id \(id) --activation-code \(code) --state-dir /var/lib/steward-agent\n  steward-agent start --state-dir /var/lib/steward-agent"
                )
            } catch { throw failure(error) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List activations.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let items = try await client.client().callAll("DescribeActivations", key: "ActivationList")
                if client.output == .json { return client.printJSON(.array(items)) }
                print(
                    Table.render(
                        ["ACTIVATION", "REGISTERED", "LIMIT", "EXPIRED", "NAME"],
                        items.map { a in
                            [
                                a["ActivationId"]?.textValue ?? "", a["RegistrationsCount"]?.textValue ?? "",
                                a["RegistrationLimit"]?.textValue ?? "",
                                a["Expired"]?.textValue ?? "", a["DefaultInstanceName"]?.textValue ?? "",
                            ]
                        }))
            } catch { throw failure(error) }
        }
    }
}

struct Instances: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List managed nodes.")
    @OptionGroup var client: ClientOptions

    func run() async throws {
        do {
            let items = try await client.client().callAll("DescribeInstanceInformation", key: "InstanceInformationList")
            if client.output == .json { return client.printJSON(.array(items)) }
            print(
                Table.render(
                    ["INSTANCE", "PING", "PLATFORM", "ADDRESS", "NAME", "AGENT"],
                    items.map { i in
                        [
                            i["InstanceId"]?.textValue ?? "", i["PingStatus"]?.textValue ?? "",
                            "\(i["PlatformName"]?.textValue ?? "") \(i["PlatformVersion"]?.textValue ?? "")",
                            i["IPAddress"]?.textValue ?? "", i["ComputerName"]?.textValue ?? "", i["AgentVersion"]?.textValue ?? "",
                        ]
                    }))
        } catch { throw failure(error) }
    }
}

struct Commands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent commands.")
    @Option(help: "Only commands with this status.") var status: String?
    @Option(help: "Only commands of this origin: api (sent through the control plane) or direct (run with a grant).")
    var origin: String?
    @Option(help: "How many at most.") var limit: Int = 50
    @OptionGroup var client: ClientOptions

    func run() async throws {
        do {
            var body: [String: JSONValue] = [:]
            if let status { body["Filters"] = [["key": "Status", "value": .string(status)]] }
            if let origin, !["api", "direct"].contains(origin.lowercased()) { throw ValidationError("--origin is api or direct") }
            let all = try await client.client().callAll(
                "ListCommands", .object(body), key: "Commands", limit: origin == nil ? limit : 10_000)
            let items = Array(
                all.filter { c in origin.map { (c["Origin"]?.textValue ?? "API").lowercased() == $0.lowercased() } ?? true }.prefix(limit))
            if client.output == .json { return client.printJSON(.array(items)) }
            print(
                Table.render(
                    ["COMMAND", "REQUESTED", "DOCUMENT", "STATUS", "DONE", "ERRORS", "TARGETS", "ORIGIN"],
                    items.map { c in
                        [
                            c["CommandId"]?.textValue ?? "",
                            (c["RequestedDateTime"]?.numberValue ?? 0).shortDate,
                            c["DocumentName"]?.textValue ?? "", c["StatusDetails"]?.textValue ?? "", c["CompletedCount"]?.textValue ?? "",
                            c["ErrorCount"]?.textValue ?? "", c["TargetCount"]?.textValue ?? "", c["Origin"]?.textValue ?? "API",
                        ]
                    }))
        } catch { throw failure(error) }
    }
}

struct CommandGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "command", abstract: "Inspect one command.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a command, each node's status and output.")
        @Argument(help: "The command id.") var commandId: String
        @Flag(help: "Download the full output instead of the first 24,000 characters.") var full = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let api = try client.client()
                guard let command = try await api.call("ListCommands", ["CommandId": .string(commandId)])["Commands"]?.arrayValue?.first
                else {
                    throw CLIError("no command \(commandId)")
                }
                let invocations = try await api.callAll(
                    "ListCommandInvocations", ["CommandId": .string(commandId), "Details": true], key: "CommandInvocations")
                if client.output == .json {
                    return client.printJSON(["Command": command, "CommandInvocations": .array(invocations)])
                }
                try await printInvocations(api: api, command: command, invocations: invocations, full: full)
            } catch { throw failure(error) }
        }
    }
}

/// Prints a command's summary and each node's plugins with their output.
func printInvocations(api: APIClient, command: JSONValue, invocations: [JSONValue], full: Bool) async throws {
    print(
        "Command \(command["CommandId"]?.textValue ?? "")  \(command["DocumentName"]?.textValue ?? "")  \(command["StatusDetails"]?.textValue ?? "")  (\(command["CompletedCount"]?.textValue ?? "0")/\(command["TargetCount"]?.textValue ?? "0") done, \(command["ErrorCount"]?.textValue ?? "0") errors)"
    )
    for inv in invocations {
        print(
            "\n== \(inv["InstanceId"]?.textValue ?? "") (\(inv["InstanceName"]?.textValue ?? "")): \(inv["StatusDetails"]?.textValue ?? "")"
        )
        for plugin in inv["CommandPlugins"]?.arrayValue ?? [] {
            let name = plugin["Name"]?.textValue ?? ""
            print("-- \(name): \(plugin["StatusDetails"]?.textValue ?? "") (exit \(plugin["ResponseCode"]?.textValue ?? "-1"))")
            let result = try await api.call(
                "GetCommandInvocation",
                ["CommandId": command["CommandId"] ?? "", "InstanceId": inv["InstanceId"] ?? "", "PluginName": .string(name)])
            var stdout = result["StandardOutputContent"]?.textValue ?? ""
            var stderr = result["StandardErrorContent"]?.textValue ?? ""
            if full {
                if let url = result["StandardOutputUrl"]?.stringValue, !url.isEmpty { stdout = try await api.download(url: url) }
                if let url = result["StandardErrorUrl"]?.stringValue, !url.isEmpty { stderr = try await api.download(url: url) }
            }
            if !stdout.isEmpty { print(stdout, terminator: stdout.hasSuffix("\n") ? "" : "\n") }
            if !stderr.isEmpty {
                FileHandle.standardError.write(Data((stderr.hasSuffix("\n") ? stderr : stderr + "\n").utf8))
            }
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run commands on nodes and show progress and output.",
        discussion: "Example: steward run --targets tag:Role=web -- 'systemctl restart nginx'")

    @Option(
        name: .customLong("targets"), help: "tag:KEY=V1,V2 | tag-key=KEY | InstanceIds=* | Key=...,Values=... (repeatable; all must match)."
    )
    var targets: [String] = []
    @Option(name: .customLong("instance-ids"), parsing: .upToNextOption, help: "Instance ids.") var instanceIds: [String] = []
    @Option(help: "The document to run.") var document: String = "AWS-RunShellScript"
    @Option(name: .customLong("parameter"), help: "NAME=VALUE document parameter; repeatable.") var parameters: [String] = []
    @Option(help: "MaxConcurrency: a number or a percentage.") var maxConcurrency: String?
    @Option(help: "MaxErrors: a number or a percentage.") var maxErrors: String?
    @Option(help: "Delivery timeout in seconds.") var timeout: Int?
    @Option(help: "Execution timeout in seconds (AWS-RunShellScript).") var executionTimeout: Int?
    @Option(help: "Comment.") var comment: String?
    @OptionGroup var client: ClientOptions
    @Argument(parsing: .postTerminator, help: "The commands to run (after --), one per argument.") var commands: [String] = []

    static func parseTarget(_ text: String) throws -> JSONValue {
        if text.hasPrefix("Key=") {
            guard let range = text.range(of: ",Values=") else { throw ValidationError("--targets Key=K,Values=V1,V2 needs Values") }
            let key = String(text[text.index(text.startIndex, offsetBy: 4)..<range.lowerBound])
            let values = text[range.upperBound...].split(separator: ",").map { JSONValue.string(String($0)) }
            return ["Key": .string(key), "Values": .array(values)]
        }
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else { throw ValidationError("--targets takes KEY=VALUES, for example tag:Role=web or InstanceIds=*") }
        return ["Key": .string(String(parts[0])), "Values": .array(parts[1].split(separator: ",").map { .string(String($0)) })]
    }

    func run() async throws {
        do {
            let api = try client.client()
            var params: [String: JSONValue] = [:]
            for p in parameters {
                let parts = p.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("--parameter takes NAME=VALUE, not \(p)") }
                var list = params[String(parts[0])]?.arrayValue ?? []
                list.append(.string(String(parts[1])))
                params[String(parts[0])] = .array(list)
            }
            if !commands.isEmpty { params["commands"] = JSONValue(commands) }
            if let executionTimeout { params["executionTimeout"] = [.string(String(executionTimeout))] }
            var body: [String: JSONValue] = ["DocumentName": .string(document), "Parameters": .object(params)]
            if instanceIds == ["*"] {
                // Every node: SendCommand takes `*` as a target, not as an instance id.
                body["Targets"] = [["Key": "InstanceIds", "Values": ["*"]]]
            } else if !instanceIds.isEmpty {
                body["InstanceIds"] = JSONValue(instanceIds)
            } else {
                body["Targets"] = .array(try (targets.isEmpty ? ["InstanceIds=*"] : targets).map(Self.parseTarget))
            }
            if let maxConcurrency { body["MaxConcurrency"] = .string(maxConcurrency) }
            if let maxErrors { body["MaxErrors"] = .string(maxErrors) }
            if let timeout { body["TimeoutSeconds"] = JSONValue(timeout) }
            if let comment { body["Comment"] = .string(comment) }
            let sent = try await api.call("SendCommand", .object(body))
            guard let commandId = sent["Command"]?["CommandId"]?.stringValue else { throw CLIError("the server returned no command id") }
            let tty = isatty(1) == 1
            let start = Date()
            var command = sent["Command"] ?? [:]
            while true {
                command = try await api.call("ListCommands", ["CommandId": .string(commandId)])["Commands"]?.arrayValue?.first ?? command
                let status = command["Status"]?.textValue ?? ""
                if tty {
                    let line = String(
                        format: "\r%@  done %@  failed %@  total %@  %.1fs ", commandId, command["CompletedCount"]?.textValue ?? "0",
                        command["ErrorCount"]?.textValue ?? "0", command["TargetCount"]?.textValue ?? "0", Date().timeIntervalSince(start))
                    FileHandle.standardError.write(Data(line.utf8))
                }
                if !["Pending", "InProgress", "Cancelling"].contains(status) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            if tty { FileHandle.standardError.write(Data("\n".utf8)) }
            let invocations = try await api.callAll(
                "ListCommandInvocations", ["CommandId": .string(commandId), "Details": true], key: "CommandInvocations")
            if client.output == .json {
                client.printJSON(["Command": command, "CommandInvocations": .array(invocations)])
            } else {
                try await printInvocations(api: api, command: command, invocations: invocations, full: false)
            }
            if command["Status"]?.textValue != "Success" { throw ExitCode(1) }
        } catch { throw failure(error) }
    }
}

struct Documents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage documents.", subcommands: [List.self, Get.self, Create.self, Update.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List documents.")
        @OptionGroup var client: ClientOptions
        func run() async throws {
            do {
                let items = try await client.client().callAll("ListDocuments", key: "DocumentIdentifiers")
                if client.output == .json { return client.printJSON(.array(items)) }
                print(
                    Table.render(
                        ["NAME", "OWNER", "VERSION", "SCHEMA", "FORMAT", "TYPE"],
                        items.map { d in
                            [
                                d["Name"]?.textValue ?? "", d["Owner"]?.textValue ?? "", d["DocumentVersion"]?.textValue ?? "",
                                d["SchemaVersion"]?.textValue ?? "", d["DocumentFormat"]?.textValue ?? "",
                                d["DocumentType"]?.textValue ?? "",
                            ]
                        }))
            } catch { throw failure(error) }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a document's content.")
        @Argument var name: String
        @Option(help: "Version number, $LATEST or $DEFAULT.") var version: String?
        @Option(help: "Convert to JSON or YAML.") var format: String?
        @OptionGroup var client: ClientOptions
        func run() async throws {
            do {
                var body: [String: JSONValue] = ["Name": .string(name)]
                if let version { body["DocumentVersion"] = .string(version) }
                if let format { body["DocumentFormat"] = .string(format.uppercased()) }
                let doc = try await client.client().call("GetDocument", .object(body))
                if client.output == .json { return client.printJSON(doc) }
                print(doc["Content"]?.textValue ?? "")
            } catch { throw failure(error) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a Command document from a JSON or YAML file.")
        @Argument var name: String
        @Option(help: "The content file (.json, .yaml or .yml).") var file: String
        @OptionGroup var client: ClientOptions
        func run() async throws {
            do {
                let (content, format) = try readContent(file)
                let result = try await client.client().call(
                    "CreateDocument",
                    ["Name": .string(name), "Content": .string(content), "DocumentFormat": .string(format), "DocumentType": "Command"])
                if client.output == .json { return client.printJSON(result) }
                print("created \(name) version \(result["DocumentDescription"]?["DocumentVersion"]?.textValue ?? "1")")
            } catch { throw failure(error) }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a version to a document (the default version stays).")
        @Argument var name: String
        @Option(help: "The content file.") var file: String
        @Flag(help: "Also make the new version the default.") var makeDefault = false
        @OptionGroup var client: ClientOptions
        func run() async throws {
            do {
                let api = try client.client()
                let (content, format) = try readContent(file)
                let result = try await api.call(
                    "UpdateDocument",
                    ["Name": .string(name), "Content": .string(content), "DocumentFormat": .string(format), "DocumentVersion": "$LATEST"])
                let version = result["DocumentDescription"]?["DocumentVersion"]?.textValue ?? ""
                if makeDefault {
                    _ = try await api.call("UpdateDocumentDefaultVersion", ["Name": .string(name), "DocumentVersion": .string(version)])
                }
                if client.output == .json { return client.printJSON(result) }
                print("\(name) version \(version)\(makeDefault ? " (default)" : "")")
            } catch { throw failure(error) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a document or one of its versions.")
        @Argument var name: String
        @Option(help: "Only this version.") var version: String?
        @OptionGroup var client: ClientOptions
        func run() async throws {
            do {
                var body: [String: JSONValue] = ["Name": .string(name)]
                if let version { body["DocumentVersion"] = .string(version) }
                _ = try await client.client().call("DeleteDocument", .object(body))
                print("deleted \(name)\(version.map { " version \($0)" } ?? "")")
            } catch { throw failure(error) }
        }
    }
}

func readContent(_ path: String) throws -> (String, String) {
    guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
    let format = path.hasSuffix(".yaml") || path.hasSuffix(".yml") ? "YAML" : "JSON"
    return (String(decoding: data, as: UTF8.self), format)
}
