import ArgumentParser
import Foundation
import Logging
import StewardKit
import StewardServer

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the keys that seal SecureString parameters (works directly on the server's data folder).",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a customer key, named by id, ARN or alias in KeyId.")
        @Option(help: "The server's data folder.") var dataDir: String
        @Option(help: "The database URL, if the server uses PostgreSQL.") var database: String?
        @Option(help: "The region the key belongs to.") var region: String = "us-east-1"
        @Option(help: "An alias such as alias/payments.") var alias: String?
        @Option(help: "Output format: table or json.") var output: OutputFormat = .table

        func run() async throws {
            var logger = Logger(label: "steward")
            logger.logLevel = .warning
            do {
                let key = try await StewardServer.createKey(
                    dataDir: dataDir, databaseURL: database, region: region, alias: alias, logger: logger)
                let json: JSONValue = .compact(["KeyId": .string(key.keyId), "Arn": .string(key.arn), "AliasName": JSONValue(key.alias)])
                if output == .json {
                    print(JSONWriter.string(json))
                } else {
                    print("KeyId  \(key.keyId)\nArn    \(key.arn)" + (key.alias.map { "\nAlias  \($0)" } ?? ""))
                }
            } catch { throw failure(error) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys of a region.")
        @Option(help: "The server's data folder.") var dataDir: String
        @Option(help: "The database URL, if the server uses PostgreSQL.") var database: String?
        @Option(help: "The region.") var region: String = "us-east-1"

        func run() async throws {
            var logger = Logger(label: "steward")
            logger.logLevel = .warning
            do {
                let keys = try await StewardServer.listKeys(dataDir: dataDir, databaseURL: database, region: region, logger: logger)
                print(Table.render(["KEY", "ALIAS", "ARN"], keys.map { [$0.keyId, $0.alias ?? "", $0.arn] }))
            } catch { throw failure(error) }
        }
    }
}

struct Params: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage Parameter Store parameters.",
        subcommands: [Put.self, Get.self, List.self, History.self, Remove.self, Label.self])

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or update a parameter. The value comes from --value, --value-file or standard input.")
        @Argument var name: String
        @Option(help: "The value (visible in your shell history; prefer --value-file or stdin for secrets).") var value: String?
        @Option(help: "Read the value from this file.") var valueFile: String?
        @Option(help: "String, StringList or SecureString.") var type: String?
        @Flag(help: "Replace an existing parameter with a new version.") var overwrite = false
        @Option(help: "Description.") var description: String?
        @Option(help: "KMS-style key for a SecureString: id, ARN or alias.") var keyId: String?
        @Option(help: "Standard, Advanced or Intelligent-Tiering.") var tier: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let text: String
                if let value {
                    text = value
                } else if let valueFile {
                    guard let data = FileManager.default.contents(atPath: valueFile) else { throw CLIError("cannot read \(valueFile)") }
                    text = String(decoding: data, as: UTF8.self)
                } else {
                    text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                }
                let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
                var body: [String: JSONValue] = ["Name": .string(name), "Value": .string(trimmed), "Overwrite": .bool(overwrite)]
                if let type { body["Type"] = .string(type) }
                if let description { body["Description"] = .string(description) }
                if let keyId { body["KeyId"] = .string(keyId) }
                if let tier { body["Tier"] = .string(tier) }
                let out = try await client.client().call("PutParameter", .object(body))
                if client.output == .json { return client.printJSON(out) }
                print("\(name) version \(out["Version"]?.textValue ?? "?") (\(out["Tier"]?.textValue ?? "Standard"))")
            } catch { throw failure(error) }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a parameter's value (name, name:version or name:label).")
        @Argument var name: String
        @Flag(help: "Show a SecureString's plain value.") var decrypt = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let out = try await client.client().call("GetParameter", ["Name": .string(name), "WithDecryption": .bool(decrypt)])
                if client.output == .json { return client.printJSON(out) }
                let p = out["Parameter"] ?? [:]
                if p["Type"]?.textValue == "SecureString" && !decrypt {
                    print("(SecureString, version \(p["Version"]?.textValue ?? "?"); add --decrypt to show it)")
                } else {
                    print(p["Value"]?.textValue ?? "")
                }
            } catch { throw failure(error) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List parameters, optionally under a path.")
        @Argument var path: String?
        @Flag(help: "Include every level below the path.") var recursive = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                var body: [String: JSONValue] = [:]
                if let path {
                    body["ParameterFilters"] = [
                        ["Key": "Path", "Option": .string(recursive ? "Recursive" : "OneLevel"), "Values": [.string(path)]]
                    ]
                }
                let items = try await client.client().callAll("DescribeParameters", .object(body), key: "Parameters")
                if client.output == .json { return client.printJSON(.array(items)) }
                print(
                    Table.render(
                        ["NAME", "TYPE", "VERSION", "TIER", "MODIFIED"],
                        items.map { p in
                            [
                                p["Name"]?.textValue ?? "", p["Type"]?.textValue ?? "", p["Version"]?.textValue ?? "",
                                p["Tier"]?.textValue ?? "",
                                (p["LastModifiedDate"]?.numberValue ?? 0).shortDate,
                            ]
                        }))
            } catch { throw failure(error) }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every version of a parameter.")
        @Argument var name: String
        @Flag(help: "Show SecureString values.") var decrypt = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let items = try await client.client().callAll(
                    "GetParameterHistory", ["Name": .string(name), "WithDecryption": .bool(decrypt)], key: "Parameters")
                if client.output == .json { return client.printJSON(.array(items)) }
                print(
                    Table.render(
                        ["VERSION", "MODIFIED", "LABELS", "VALUE"],
                        items.map { p in
                            let secure = p["Type"]?.textValue == "SecureString" && !decrypt
                            return [
                                p["Version"]?.textValue ?? "",
                                (p["LastModifiedDate"]?.numberValue ?? 0).shortDate,
                                (p["Labels"]?.arrayValue ?? []).map(\.textValue).joined(separator: ","),
                                secure ? "****" : (p["Value"]?.textValue ?? ""),
                            ]
                        }))
            } catch { throw failure(error) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete parameters.")
        @Argument var names: [String]
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                guard !names.isEmpty else { throw CLIError("name at least one parameter") }
                let out = try await client.client().call("DeleteParameters", ["Names": JSONValue(names)])
                let missing = (out["InvalidParameters"]?.arrayValue ?? []).map(\.textValue)
                for name in names where !missing.contains(name) { print("deleted \(name)") }
                if !missing.isEmpty { throw CLIError("ParameterNotFound: \(missing.joined(separator: ", "))") }
            } catch { throw failure(error) }
        }
    }

    struct Label: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Attach labels to a version (the latest unless --version).")
        @Argument var name: String
        @Argument var labels: [String]
        @Option(help: "The version to label.") var version: Int?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                var body: [String: JSONValue] = ["Name": .string(name), "Labels": JSONValue(labels)]
                if let version { body["ParameterVersion"] = JSONValue(version) }
                let out = try await client.client().call("LabelParameterVersion", .object(body))
                let invalid = (out["InvalidLabels"]?.arrayValue ?? []).map(\.textValue)
                print(
                    "\(name) version \(out["ParameterVersion"]?.textValue ?? "?"): \(labels.filter { !invalid.contains($0) }.joined(separator: ", "))"
                )
                if !invalid.isEmpty { throw CLIError("invalid labels: \(invalid.joined(separator: ", "))") }
            } catch { throw failure(error) }
        }
    }
}
