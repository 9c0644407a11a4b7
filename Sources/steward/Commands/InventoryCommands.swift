import ArgumentParser
import Foundation
import StewardKit

struct InventoryGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory", abstract: "Gather, query and export the fleet's inventory.",
        subcommands: [Collect.self, Query.self, Reports.self, Report.self, Save.self, Forget.self, Show.self, Export.self])

    struct Collect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Gather inventory now on some nodes (runs AWS-GatherSoftwareInventory), and wait for it.")
        @Option(help: "Instance ids, comma-separated, or * for all.") var instanceIds: String?
        @Option(help: "A target such as tag:Role=web or tag-key:Role.") var target: String?
        @Option(help: "Document parameters: name=value (Enabled/Disabled switches, files=<JSON>).") var parameter: [String] = []
        @Flag(help: "Return at once instead of waiting.") var noWait = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                var body: [String: JSONValue] = ["DocumentName": "AWS-GatherSoftwareInventory", "Comment": "steward inventory collect"]
                if let instanceIds, instanceIds != "*" {
                    body["InstanceIds"] = JSONValue(instanceIds.split(separator: ",").map(String.init))
                }
                if let target {
                    let (key, values) = try Self.target(target)
                    body["Targets"] = [["Key": .string(key), "Values": JSONValue(values)]]
                }
                // Every node: SendCommand takes `*` as a target, not as an instance id.
                if body["InstanceIds"] == nil && body["Targets"] == nil { body["Targets"] = [["Key": "InstanceIds", "Values": ["*"]]] }
                var parameters: [String: JSONValue] = [:]
                for p in parameter {
                    guard let eq = p.firstIndex(of: "=") else { throw CLIError("--parameter \(p) is not name=value") }
                    parameters[String(p[..<eq])] = [.string(String(p[p.index(after: eq)...]))]
                }
                if !parameters.isEmpty { body["Parameters"] = .object(parameters) }
                let api = try client.client()
                let command = try await api.call("SendCommand", .object(body))["Command"] ?? [:]
                let id = command["CommandId"]?.textValue ?? ""
                if noWait {
                    if client.output == .json { return client.printJSON(command) }
                    return print(id)
                }
                while true {
                    let c = try await api.call("ListCommands", ["CommandId": .string(id)])["Commands"]?.arrayValue?.first ?? [:]
                    let status = c["Status"]?.textValue ?? ""
                    if !["Pending", "InProgress", "Cancelling"].contains(status) {
                        if client.output == .json { return client.printJSON(c) }
                        print("\(id): \(status) (\(c["CompletedCount"]?.textValue ?? "0") of \(c["TargetCount"]?.textValue ?? "0") nodes)")
                        if status != "Success" { throw ExitCode.failure }
                        return
                    }
                    try await Task.sleep(for: .milliseconds(300))
                }
            } catch { throw failure(error) }
        }

        static func target(_ text: String) throws -> (String, [String]) {
            if text.hasPrefix("tag:"), let eq = text.firstIndex(of: "=") {
                return (String(text[..<eq]), text[text.index(after: eq)...].split(separator: ",").map(String.init))
            }
            if text.hasPrefix("tag-key:") { return ("tag-key", [String(text.dropFirst("tag-key:".count))]) }
            throw CLIError("--target is tag:KEY=VALUE[,VALUE] or tag-key:KEY")
        }
    }

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask a question over the whole fleet.",
            discussion: """
                Examples:
                  steward inventory query "AWS:Application.Name = openssl and AWS:Application.Version < 3.0.13"
                  steward inventory query "count by AWS:InstanceInformation.PlatformName, AWS:InstanceInformation.PlatformVersion"
                  steward inventory query "not AWS:Service.Name = nginx"
                Operators: =, !=, <, > (versions in dpkg/rpm order), ^= (begins with), in (a, b), exists; `not` for nodes lacking \
                something. Conditions on one type hold for the same entry.
                """)
        @Argument(help: "The question.") var query: String
        @Option(name: .customLong("param"), help: "A value for a {{name}} placeholder: name=value.") var params: [String] = []
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do { try await InventoryGroup.runQuery(query, params: params, client: client) } catch { throw failure(error) }
        }
    }

    struct Reports: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the saved and predefined questions.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let queries = try await client.client().call("Steward.ListInventoryQueries")["Queries"]?.arrayValue ?? []
                if client.output == .json { return client.printJSON(.array(queries)) }
                let rows = queries.map { q in
                    [
                        q["Name"]?.textValue ?? "", q["Predefined"] == .bool(true) ? "predefined" : "saved",
                        q["Description"]?.textValue ?? "",
                        q["Query"]?.textValue ?? "",
                    ]
                }
                InventoryGroup.emit(["NAME", "KIND", "DESCRIPTION", "QUERY"], rows, format: client.output)
            } catch { throw failure(error) }
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a saved or predefined question by name.")
        @Argument var name: String
        @Option(name: .customLong("param"), help: "A value for a {{name}} placeholder: name=value.") var params: [String] = []
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let queries = try await client.client().call("Steward.ListInventoryQueries")["Queries"]?.arrayValue ?? []
                guard let q = queries.first(where: { $0["Name"]?.textValue == name }) else {
                    throw CLIError("there is no report \(name); `steward inventory reports` lists them")
                }
                try await InventoryGroup.runQuery(q["Query"]?.textValue ?? "", params: params, client: client)
            } catch { throw failure(error) }
        }
    }

    struct Save: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Save a question under a name that every operator can run.")
        @Argument var name: String
        @Argument var query: String
        @Option(help: "What the question is for.") var description: String = ""
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                _ = try await client.client().call(
                    "Steward.PutInventoryQuery", ["Name": .string(name), "Query": .string(query), "Description": .string(description)])
                print("saved \(name)")
            } catch { throw failure(error) }
        }
    }

    struct Forget: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a saved question.")
        @Argument var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                _ = try await client.client().call("Steward.DeleteInventoryQuery", ["Name": .string(name)])
                print("deleted \(name)")
            } catch { throw failure(error) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one node's inventory of one type.")
        @Argument var instanceId: String
        @Option(help: "The type.") var type: String = "AWS:InstanceInformation"
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let entries = try await client.client().callAll(
                    "ListInventoryEntries", ["InstanceId": .string(instanceId), "TypeName": .string(type), "MaxResults": 50], key: "Entries"
                )
                if client.output == .json { return client.printJSON(.array(entries)) }
                let columns = InventoryGroup.columns(entries)
                InventoryGroup.emit(columns, entries.map { e in columns.map { e[$0]?.textValue ?? "" } }, format: client.output)
            } catch { throw failure(error) }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export the inventory now to the server's export folder (JSON Lines, resource-data-sync layout).")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let out = try await client.client().call("Steward.ExportInventory")
                if client.output == .json { return client.printJSON(out) }
                print(
                    "exported to \(out["Folder"]?.textValue ?? "?"): \(out["FilesWritten"]?.textValue ?? "0") written, "
                        + "\(out["FilesUnchanged"]?.textValue ?? "0") unchanged, \(out["FilesRemoved"]?.textValue ?? "0") removed")
            } catch { throw failure(error) }
        }
    }

    // MARK: shared

    static func runQuery(_ text: String, params: [String], client: ClientOptions) async throws {
        var values: [String: String] = [:]
        for p in params {
            guard let eq = p.firstIndex(of: "=") else { throw CLIError("--param \(p) is not name=value") }
            values[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        let parsed: InventoryQueryText
        do { parsed = try InventoryQueryText.parse(try InventoryQueryText.fill(text, parameters: values)) } catch {
            throw CLIError("the query cannot be read: \(error)")
        }
        let api = try client.client()
        let request = parsed.request
        if !parsed.countBy.isEmpty {
            let out = try await api.call("GetInventory", request)
            let data = out["Entities"]?.arrayValue?.first?["Data"]?.objectValue?.values.first
            let content = data?["Content"]?.arrayValue ?? []
            if client.output == .json { return client.printJSON(.array(content)) }
            let attributes = parsed.countBy.map { String($0[$0.index(after: $0.lastIndex(of: ".")!)...]) }
            emit(
                attributes.map { $0.uppercased() } + ["NODES"],
                content.map { c in attributes.map { c[$0]?.textValue ?? "" } + [c["Count"]?.textValue ?? "0"] },
                format: client.output)
            return
        }
        let entities = try await api.callAll("GetInventory", request, key: "Entities")
        if client.output == .json { return client.printJSON(.array(entities)) }
        var rows: [[String]] = []
        var columns: [String] = []
        for entity in entities {
            let id = entity["Id"]?.textValue ?? ""
            guard let (_, data) = entity["Data"]?.objectValue?.first else {
                rows.append([id])
                continue
            }
            let content = data["Content"]?.arrayValue ?? []
            if columns.isEmpty { columns = Self.columns(content) }
            for entry in content { rows.append([id] + columns.map { entry[$0]?.textValue ?? "" }) }
            if content.isEmpty { rows.append([id]) }
        }
        emit(["INSTANCE"] + columns.map { $0.uppercased() }, rows, format: client.output)
        if client.output == .table { print("\(Set(rows.map { $0[0] }).count) nodes") }
    }

    /// The columns worth showing for entries: the well-known ones first, in a useful order.
    static func columns(_ entries: [JSONValue]) -> [String] {
        let preferred = [
            "ComputerName", "Name", "Version", "Architecture", "PlatformName", "PlatformVersion", "AgentVersion", "IpAddress", "Status",
            "StartType", "IPV4", "MacAddress", "Size", "InstalledDir",
        ]
        var seen = Set<String>()
        for e in entries { seen.formUnion(e.objectValue?.keys ?? [:].keys) }
        let first = preferred.filter(seen.contains)
        return first.isEmpty ? Array(seen.sorted().prefix(6)) : first
    }

    static func emit(_ header: [String], _ rows: [[String]], format: OutputFormat) {
        if format == .csv {
            func cell(_ s: String) -> String {
                s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                    ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
            }
            print(([header] + rows).map { $0.map(cell).joined(separator: ",") }.joined(separator: "\n"))
        } else {
            print(Table.render(header, rows))
        }
    }
}
