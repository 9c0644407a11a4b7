import ArgumentParser
import Crypto
import Foundation
import StewardAgent
import StewardKit

/// `steward grant`: operator keys and grants for direct tasks.
struct GrantGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant", abstract: "Operator keys and short-lived grants for direct tasks (steward exec --direct).",
        subcommands: [Keygen.self, Create.self, Show.self])

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an operator key pair file (mode 0600) and print its public key.")
        @Option(help: "Where to write the key file.") var out: String
        @Flag(help: "Replace an existing file.") var force = false

        func run() async throws {
            guard force || !FileManager.default.fileExists(atPath: out) else {
                throw CLIError("\(out) exists; pass --force to replace it")
            }
            let key = Curve25519.Signing.PrivateKey()
            let file = OperatorKeyFile(
                privateKey: key.rawRepresentation.base64EncodedString(), publicKey: key.publicKey.rawRepresentation.base64EncodedString())
            let data = try JSONEncoder().encode(file)
            let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard fd >= 0 else { throw CLIError("cannot create \(out): \(String(cString: strerror(errno)))") }
            fchmod(fd, 0o600)
            _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            print(file.publicKey)
            FileHandle.standardError.write(Data("fingerprint \(DirectKeys.fingerprint(key.publicKey))\n".utf8))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the control plane for a grant (Steward.CreateGrant) and write it to a file.",
            discussion:
                "Example: steward grant create --instances mi-0123456789abcdef0 --documents AWS-RunShellScript --ttl 1h --operator-key ~/.steward/operator.key --out grant.json"
        )
        @Option(name: .customLong("instances"), parsing: .upToNextOption, help: "Instance ids the grant is for.") var instances: [String] =
            []
        @Option(name: .customLong("targets"), help: "tag:KEY=V1,V2 | tag-key=KEY | Key=...,Values=... (repeatable).") var targets:
            [String] = []
        @Option(
            name: .customLong("documents"), parsing: .upToNextOption,
            help: "Documents the operator may run (AWS-RunShellScript allows any commands).")
        var documents: [String] = []
        @Option(name: .customLong("commands"), help: "A shell command pattern the operator may run (* matches anything); repeatable.")
        var commands: [String] = []
        @Flag(help: "Allow interactive shells (steward session --direct); never implied by documents or commands.")
        var sessions = false
        @Option(help: "How long the grant lives: 90s, 30m, 1h (at most 12h).") var ttl: String = "1h"
        @Option(help: "The operator's key file (from `steward grant keygen`) or its public key.") var operatorKey: String
        @Option(help: "Where to write the grant (default: standard output).") var out: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            do {
                let publicKey = try OperatorKeyFile.publicKey(from: operatorKey)
                var body: [String: JSONValue] = [
                    "OperatorPublicKey": .string(publicKey), "TtlSeconds": JSONValue(try Self.seconds(ttl)),
                ]
                let ids = instances.flatMap { $0.split(separator: ",").map(String.init) }
                if !ids.isEmpty { body["InstanceIds"] = JSONValue(ids) }
                if !targets.isEmpty { body["Targets"] = .array(try targets.map(Run.parseTarget)) }
                let names = documents.flatMap { $0.split(separator: ",").map(String.init) }
                if !names.isEmpty { body["DocumentNames"] = JSONValue(names) }
                if !commands.isEmpty { body["Commands"] = JSONValue(commands) }
                if sessions { body["Sessions"] = true }
                let result = try await client.client().call("Steward.CreateGrant", .object(body))
                guard let grant = result["Grant"] else { throw CLIError("the server's answer holds no grant") }
                let text = JSONWriter.string(grant) + "\n"
                if let out {
                    try Data(text.utf8).write(to: URL(fileURLWithPath: out))
                    chmod(out, 0o600)
                    FileHandle.standardError.write(
                        Data(
                            "wrote \(result["GrantId"]?.textValue ?? "the grant") to \(out), valid until \((result["ExpiresAt"]?.numberValue ?? 0).shortDate) UTC for \(result["NodeCount"]?.textValue ?? "0") node(s)\n"
                                .utf8))
                } else {
                    print(text, terminator: "")
                }
            } catch { throw failure(error) }
        }

        static func seconds(_ text: String) throws -> Int {
            let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600]
            if let n = Int(text) { return n }
            guard let unit = text.last.flatMap({ units[$0] }), let n = Int(text.dropLast()) else {
                throw ValidationError("--ttl is seconds, or a number with s, m or h (such as 1h)")
            }
            return n * unit
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print what a grant file allows (its signature is checked by the agent).")
        @Argument(help: "The grant file.") var file: String

        func run() async throws {
            let grant = try SignedGrantFile.read(file)
            let content: DirectGrant
            do { content = try grant.unverified() } catch { throw CLIError("\(file): \(error.message)") }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(content), as: UTF8.self))
        }
    }
}

/// `steward exec --direct`: a task straight to an agent, checked by the agent against a grant.
struct Exec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a task on one node directly, without the control plane, with a grant the node checks itself.",
        discussion: """
            Examples:
              steward exec --direct 10.0.0.5 --grant grant.json --operator-key op.key -- 'systemctl restart nginx'
              steward exec --direct unix:/var/lib/steward-agent/direct.sock --grant grant.json --operator-key op.key \\
                  --document deploy.yaml --parameters version=1.2.3
            Output is streamed as it is produced; the exit status is the task's. A refusal (expired grant, wrong node, \
            document not allowed, bad proof, unknown issuer, replay) or an unreachable node prints one line and exits 255.
            """)

    /// The exit status for a refusal or a connection failure, as ssh uses for its own errors.
    static let refusedStatus: Int32 = 255

    @Option(help: "The node: HOST[:PORT] (port 8445 by default) or unix:PATH.") var direct: String
    @Option(help: "The grant file (from `steward grant create`).") var grant: String
    @Option(help: "The operator's key file (default: STEWARD_OPERATOR_KEY).") var operatorKey: String?
    @Option(help: "The node's key fingerprint, when the grant does not carry the node's key.") var nodeFingerprint: String?
    @Option(help: "A document file (JSON or YAML) to run instead of commands.") var document: String?
    @Option(name: .customLong("parameters"), help: "NAME=VALUE document parameter; repeatable.") var parameters: [String] = []
    @Option(help: "Execution timeout in seconds for commands.") var timeout: Int?
    @Argument(parsing: .postTerminator, help: "The commands to run (after --), one per argument.") var commands: [String] = []

    func run() async throws {
        let client: DirectClient
        let task: DirectClient.Job
        do {
            let keyPath = operatorKey ?? ProcessInfo.processInfo.environment["STEWARD_OPERATOR_KEY"]
            guard let keyPath else { throw CLIError("--operator-key is required (or set STEWARD_OPERATOR_KEY)") }
            client = DirectClient(
                endpoint: try DirectClient.Endpoint.parse(direct), grant: try SignedGrantFile.read(grant),
                operatorKey: try OperatorKeyFile.privateKey(from: keyPath), nodeFingerprint: nodeFingerprint)
            var values: [String: [String]] = [:]
            for p in parameters {
                let parts = p.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("--parameters takes NAME=VALUE, not \(p)") }
                values[String(parts[0]), default: []].append(String(parts[1]))
            }
            if let document {
                guard commands.isEmpty else { throw ValidationError("give --document or commands after --, not both") }
                guard let data = FileManager.default.contents(atPath: document) else { throw CLIError("cannot read \(document)") }
                let lower = document.lowercased()
                let format: String? = lower.hasSuffix(".json") ? "JSON" : lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") ? "YAML" : nil
                task = .document(content: String(decoding: data, as: UTF8.self), format: format, parameters: values)
            } else {
                guard !commands.isEmpty else { throw ValidationError("give the commands after --, or --document FILE") }
                guard values.isEmpty else { throw ValidationError("--parameters goes with --document") }
                task = .commands(commands, timeoutSeconds: timeout)
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw failure(error)
        }
        let outcome: DirectClient.Outcome
        do {
            outcome = try await client.run(task) { text, isError in
                (isError ? FileHandle.standardError : FileHandle.standardOutput).write(Data(text.utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("steward: \(error)\n".utf8))
            throw ExitCode(Self.refusedStatus)
        }
        switch outcome {
        case .exited(let code, _, _):
            if code != 0 { throw ExitCode(Int32(truncatingIfNeeded: code)) }
        case .refused(let refusal):
            FileHandle.standardError.write(Data("steward: refused by the node: \(refusal.code.rawValue): \(refusal.message)\n".utf8))
            throw ExitCode(Self.refusedStatus)
        }
    }
}

/// The operator's key file: base64 raw Ed25519 keys in JSON, mode 0600.
struct OperatorKeyFile: Codable {
    var type = "steward-operator-ed25519"
    var privateKey: String
    var publicKey: String

    init(privateKey: String, publicKey: String) {
        self.privateKey = privateKey
        self.publicKey = publicKey
    }

    static func read(_ path: String) throws -> OperatorKeyFile? {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read the operator key \(path)") }
        return try? JSONDecoder().decode(OperatorKeyFile.self, from: data)
    }

    static func privateKey(from path: String) throws -> Curve25519.Signing.PrivateKey {
        guard let file = try read(path), let raw = Data(base64Encoded: file.privateKey),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else { throw CLIError("\(path) is not an operator key file (make one with `steward grant keygen`)") }
        return key
    }

    /// The public key, base64, from a key file or from a file holding just the public key.
    static func publicKey(from path: String) throws -> String {
        if let file = try read(path) { return file.publicKey }
        let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Data(base64Encoded: text), raw.count == 32 else {
            throw CLIError("\(path) holds neither an operator key file nor a base64 Ed25519 public key")
        }
        return text
    }
}

enum SignedGrantFile {
    static func read(_ path: String) throws -> SignedGrant {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read the grant \(path)") }
        guard let grant = try? JSONDecoder().decode(SignedGrant.self, from: data) else {
            throw CLIError("\(path) is not a Steward grant (make one with `steward grant create`)")
        }
        return grant
    }
}
