import ArgumentParser
import StewardKit

/// `steward associations ...`: State Manager from the command line.
struct Associations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Associations: intended state for groups of nodes, kept true.",
        subcommands: [List.self, Show.self, Run.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List associations with their last status.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let items = try await client.client().callAll("ListAssociations", key: "Associations")
                if client.output == .json { return client.printJSON(.array(items)) }
                print(
                    Table.render(
                        ["ASSOCIATION", "NAME", "DOCUMENT", "TARGETS", "SCHEDULE", "STATUS"],
                        items.map { a in
                            [
                                a["AssociationId"]?.textValue ?? "", a["AssociationName"]?.textValue ?? "", a["Name"]?.textValue ?? "",
                                (a["Targets"]?.arrayValue ?? []).map {
                                    "\($0["Key"]?.textValue ?? "")=\(($0["Values"]?.arrayValue ?? []).map(\.textValue).joined(separator: ","))"
                                }.joined(separator: " "),
                                a["ScheduleExpression"]?.textValue ?? "", a["Overview"]?["Status"]?.textValue ?? "",
                            ]
                        }))
            } catch { throw failure(error) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An association's recent executions and each node's result.")
        @Argument(help: "The association id.") var associationId: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let api = try client.client()
                let executions = try await api.callAll(
                    "DescribeAssociationExecutions", ["AssociationId": .string(associationId)], key: "AssociationExecutions", limit: 20)
                if client.output == .json { return client.printJSON(.array(executions)) }
                var rows: [[String]] = []
                for e in executions.prefix(20) {
                    let targets = try await api.callAll(
                        "DescribeAssociationExecutionTargets",
                        ["AssociationId": .string(associationId), "ExecutionId": e["ExecutionId"] ?? .null],
                        key: "AssociationExecutionTargets")
                    let when = (e["CreatedTime"]?.numberValue ?? 0).shortDate
                    if targets.isEmpty { rows.append([when, e["DetailedStatus"]?.textValue ?? "", "", e["Status"]?.textValue ?? "", ""]) }
                    for t in targets {
                        rows.append([
                            when, e["DetailedStatus"]?.textValue ?? "", t["ResourceId"]?.textValue ?? "", t["Status"]?.textValue ?? "",
                            t["DetailedStatus"]?.textValue ?? "",
                        ])
                    }
                }
                print(Table.render(["WHEN", "TRIGGER", "NODE", "STATUS", "DETAIL"], rows))
            } catch { throw failure(error) }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply associations now (StartAssociationsOnce).")
        @Argument(help: "Association ids.") var associationIds: [String]
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                _ = try await client.client().call("StartAssociationsOnce", ["AssociationIds": JSONValue(associationIds)])
            } catch { throw failure(error) }
        }
    }
}
