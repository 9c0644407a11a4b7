import ArgumentParser
import Foundation
import StewardKit

/// `steward groups ...`: groups of nodes (AWS Resource Groups shapes) defined by tags or by a node query.
struct Groups: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Groups of nodes whose membership follows their attributes.",
        discussion: """
            A group is a query over node attributes, answered again whenever a node changes:
              --query 'tag:Role = web and (PlatformName = Ubuntu or AWS:Application.Name = nginx)'
              --tags Role=web,Stage            (AWS TAG_FILTERS_1_0: each key, with any of its values)
            Keys: tag:<name>, InstanceId, PingStatus, PlatformName, PlatformType, PlatformVersion, AgentVersion,
            ComputerName, IPAddress, AWS:<Type>.<Attribute>, Custom:<Type>.<Attribute>.
            Operators: = != < <= > >= (versions compare as versions) ^= (begins with), in (a, b), exists; and, or, not, ( ).
            Associations and commands target a group with Key=resource-groups:Name,Values=<group>.
            """,
        subcommands: [Create.self, Update.self, List.self, Show.self, Members.self, Delete.self], defaultSubcommand: List.self)

    /// The ResourceQuery for --query or --tags.
    static func resourceQuery(query: String?, tags: String?) throws -> JSONValue {
        switch (query, tags) {
        case (let q?, nil):
            do { _ = try NodeQuery.parse(q) } catch { throw CLIError("the query is not valid: \(error.description)") }
            return ["Type": "STEWARD_NODE_QUERY_1_0", "Query": .string(q)]
        case (nil, let t?):
            var filters: [JSONValue] = []
            for pair in t.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard let key = parts.first, !key.isEmpty else { throw CLIError("--tags takes Key=Value or Key, comma-separated") }
                filters.append(["Key": .string(key), "Values": parts.count == 2 ? [.string(parts[1])] : []])
            }
            let query: JSONValue = ["ResourceTypeFilters": ["AWS::SSM::ManagedInstance"], "TagFilters": .array(filters)]
            return ["Type": "TAG_FILTERS_1_0", "Query": .string(JSONWriter.string(query))]
        default:
            throw CLIError("give the group's members as --query TEXT or --tags Key=Value,...")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a group.")
        @Argument(help: "The group name.") var name: String
        @Option(help: "A node query (see `steward groups --help`).") var query: String?
        @Option(help: "Tag filters: Key=Value or Key, comma-separated (all must hold).") var tags: String?
        @Option(help: "A description.") var description: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                var body: [String: JSONValue] = [
                    "Name": .string(name), "ResourceQuery": try Groups.resourceQuery(query: query, tags: tags),
                ]
                if let description { body["Description"] = .string(description) }
                let created = try await client.client().rest("/groups", .object(body))
                if client.output == .json { return client.printJSON(created) }
                print(created["Group"]?["GroupArn"]?.textValue ?? name)
            } catch { throw failure(error) }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a group's query; members follow at once.")
        @Argument(help: "The group name.") var name: String
        @Option(help: "A node query.") var query: String?
        @Option(help: "Tag filters: Key=Value or Key, comma-separated.") var tags: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let body: JSONValue = ["Group": .string(name), "ResourceQuery": try Groups.resourceQuery(query: query, tags: tags)]
                let updated = try await client.client().rest("/update-group-query", body)
                if client.output == .json { return client.printJSON(updated) }
            } catch { throw failure(error) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List groups with their queries.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let api = try client.client()
                var rows: [[String]] = []
                var all: [JSONValue] = []
                var next: JSONValue = .null
                repeat {
                    var body: [String: JSONValue] = ["MaxResults": 50]
                    if case .string = next { body["NextToken"] = next }
                    let page = try await api.rest("/groups-list", .object(body))
                    for g in page["GroupIdentifiers"]?.arrayValue ?? [] {
                        let name = g["GroupName"]?.textValue ?? ""
                        let q = try await api.rest("/get-group-query", ["Group": .string(name)])["GroupQuery"]?["ResourceQuery"]
                        all.append(["GroupName": .string(name), "GroupArn": g["GroupArn"] ?? .null, "ResourceQuery": q ?? .null])
                        rows.append([name, q?["Type"]?.textValue ?? "", q?["Query"]?.textValue ?? ""])
                    }
                    next = page["NextToken"] ?? .null
                } while next.stringValue != nil
                if client.output == .json { return client.printJSON(.array(all)) }
                print(Table.render(["GROUP", "TYPE", "QUERY"], rows))
            } catch { throw failure(error) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a group and its query.")
        @Argument(help: "The group name.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let api = try client.client()
                var group = try await api.rest("/get-group", ["Group": .string(name)])["Group"] ?? [:]
                group["ResourceQuery"] = try await api.rest("/get-group-query", ["Group": .string(name)])["GroupQuery"]?["ResourceQuery"]
                client.printJSON(group)
            } catch { throw failure(error) }
        }
    }

    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The nodes in a group now.")
        @Argument(help: "The group name.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let api = try client.client()
                var ids: [String] = []
                var next: JSONValue = .null
                repeat {
                    var body: [String: JSONValue] = ["Group": .string(name), "MaxResults": 50]
                    if case .string = next { body["NextToken"] = next }
                    let page = try await api.rest("/list-group-resources", .object(body))
                    for e in page["QueryErrors"]?.arrayValue ?? [] {
                        FileHandle.standardError.write(Data("\(name): \(e["Message"]?.textValue ?? "")\n".utf8))
                    }
                    ids += (page["ResourceIdentifiers"]?.arrayValue ?? []).compactMap {
                        $0["ResourceArn"]?.stringValue?.split(separator: "/").last.map(String.init)
                    }
                    next = page["NextToken"] ?? .null
                } while next.stringValue != nil
                if client.output == .json { return client.printJSON(JSONValue(ids)) }
                for id in ids { print(id) }
            } catch { throw failure(error) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a group.")
        @Argument(help: "The group name.") var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do { _ = try await client.client().rest("/delete-group", ["Group": .string(name)]) } catch { throw failure(error) }
        }
    }
}
