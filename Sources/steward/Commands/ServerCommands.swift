import ArgumentParser
import Foundation
import Logging
import StewardAgent
import StewardKit
import StewardServer

struct LogOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

/// `HOST:PORT`.
func parseListen(_ text: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
        throw ValidationError("--listen must be HOST:PORT, for example 127.0.0.1:8440")
    }
    return (String(text[..<colon]), port)
}

/// `90`, `90s`, `15m`, `1h`.
func parseInterval(_ text: String) throws -> Int {
    let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600]
    if let unit = text.last, let factor = units[unit], let n = Int(text.dropLast()), n > 0 { return n * factor }
    if let n = Int(text), n > 0 { return n }
    throw ValidationError("an interval is a number of seconds, or a number with s, m or h (like 15m), not \(text)")
}

func checkAccountId(_ id: String) throws {
    guard id.count == 12, id.allSatisfy(\.isNumber) else { throw ValidationError("--account-id must be 12 digits") }
}

struct Server: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the control plane.")

    @Option(help: "Folder for the database, keys and full outputs.") var dataDir: String =
        ProcessInfo.processInfo.environment["STEWARD_DATA_DIR"] ?? "/var/lib/steward"
    @Option(help: "Address to listen on.") var listen: String = ProcessInfo.processInfo.environment["STEWARD_LISTEN"] ?? "127.0.0.1:8440"
    @Option(help: "postgres://user:password@host:port/db for PostgreSQL; SQLite in the data folder if not given.")
    var database: String?
    @Option(help: "The 12-digit account id shown in ARNs and as document owner.") var accountId: String = "123456789012"
    @Option(
        help:
            "Export the inventory (JSON Lines in the resource-data-sync layout), on a schedule and on demand, to this folder or to s3://bucket/prefix (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)."
    )
    var inventoryExportDir: String?
    @Option(help: "The S3-compatible endpoint for an s3:// export (default: AWS_ENDPOINT_URL_S3, else AWS S3 in AWS_REGION).")
    var inventoryExportEndpoint: String?
    @Option(help: "How often the inventory export runs: seconds, or a number with s, m or h.") var inventoryExportInterval: String = "1h"
    @Option(help: "Image builds that may run at once (0: images are recorded but stay PENDING).") var imageBuildWorkers: Int = 1
    @Option(help: "The ClamAV signature folder for image scans when the infrastructure configuration names none.")
    var imageScanSignatures: String?
    @Option(help: "The server URL baked into images that install the agent (default: http://<listen address>).")
    var imageAgentEndpoint: String?
    @Option(help: "The zstd level of an image's tar.zst, the size floor its other formats are compared with (1 to 19).")
    var imageZstdLevel: Int = 19
    @Option(help: "How often pipeline schedules are checked, in seconds.") var imageScheduleInterval: Int = 20
    @OptionGroup var log: LogOptions

    func run() async throws {
        let (host, port) = try parseListen(listen)
        try checkAccountId(accountId)
        let logger = log.logger("steward")
        var configuration = StewardServer.Configuration(
            dataDir: dataDir, host: host, port: port,
            databaseURL: database ?? ProcessInfo.processInfo.environment["STEWARD_DATABASE"], accountId: accountId)
        configuration.inventoryExportDir = inventoryExportDir.map {
            $0.hasPrefix("s3://") ? $0 : URL(fileURLWithPath: $0).standardizedFileURL.path
        }
        configuration.inventoryExportEndpoint = inventoryExportEndpoint
        configuration.inventoryExportInterval = .seconds(try parseInterval(inventoryExportInterval))
        guard imageBuildWorkers >= 0 else { throw CLIError("--image-build-workers must be 0 or more") }
        configuration.imageBuilds.workers = imageBuildWorkers
        configuration.imageBuilds.scanSignatures = imageScanSignatures.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        configuration.imageBuilds.agentEndpoint = imageAgentEndpoint
        guard (1...19).contains(imageZstdLevel) else { throw CLIError("--image-zstd-level must be from 1 to 19") }
        configuration.imageBuilds.zstdLevel = imageZstdLevel
        guard imageScheduleInterval > 0 else { throw CLIError("--image-schedule-interval must be 1 or more") }
        configuration.imageBuilds.scheduleInterval = .seconds(imageScheduleInterval)
        let server = StewardServer(configuration: configuration, logger: logger)
        do {
            try await server.run { port in logger.info("listening on http://\(host):\(port)") }
        } catch {
            throw failure(error)
        }
    }
}

struct AccessKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access-key", abstract: "Manage API access keys.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an access key directly in a data folder, or import one.")

        @Option(help: "The server's data folder.") var dataDir: String
        @Option(help: "The database URL, if the server uses PostgreSQL.") var database: String?
        @Option(help: "Import this access key id instead of generating one.") var accessKeyId: String?
        @Option(help: "Import this secret (with --access-key-id).") var secretAccessKey: String?
        @Option(help: "Output format: table or json.") var output: OutputFormat = .table

        func run() async throws {
            if (accessKeyId == nil) != (secretAccessKey == nil) {
                throw ValidationError("--access-key-id and --secret-access-key go together")
            }
            var logger = Logger(label: "steward")
            logger.logLevel = .warning
            do {
                let creds = try await StewardServer.createAccessKey(
                    dataDir: dataDir, databaseURL: database, id: accessKeyId, secret: secretAccessKey, logger: logger)
                switch output {
                case .json:
                    print(
                        JSONWriter.string(["AccessKeyId": .string(creds.accessKeyId), "SecretAccessKey": .string(creds.secretAccessKey)]))
                case .table, .csv:
                    print("AccessKeyId      \(creds.accessKeyId)\nSecretAccessKey  \(creds.secretAccessKey)")
                }
            } catch {
                throw failure(error)
            }
        }
    }
}

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a development control plane with embedded SQLite and one local agent, ready to take commands.")

    @Option(help: "Folder for the dev server and agent state.") var dataDir: String = ".steward-dev"
    @Option(help: "Port on 127.0.0.1.") var port: Int = 8440
    @Option(help: "Region of the dev activation.") var region: String = "us-east-1"
    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = log.logger("steward")
        let dataDir = URL(fileURLWithPath: self.dataDir).standardizedFileURL.path
        let serverDir = "\(dataDir)/server"
        let agentDir = "\(dataDir)/agent"
        let credsFile = "\(dataDir)/credentials.json"
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)

        let creds: (String, String)
        if let data = FileManager.default.contents(atPath: credsFile),
            let v = try? JSONReader.parse(Array(data)), let id = v["AccessKeyId"]?.stringValue,
            let secret = v["SecretAccessKey"]?.stringValue
        {
            creds = (id, secret)
        } else {
            let c = try await StewardServer.createAccessKey(dataDir: serverDir, databaseURL: nil, id: nil, secret: nil, logger: logger)
            try SecureFile.write(
                Data(JSONWriter.string(["AccessKeyId": .string(c.accessKeyId), "SecretAccessKey": .string(c.secretAccessKey)]).utf8),
                to: credsFile)
            creds = (c.accessKeyId, c.secretAccessKey)
        }
        let endpoint = "http://127.0.0.1:\(port)"
        let server = StewardServer(configuration: .init(dataDir: serverDir, host: "127.0.0.1", port: port), logger: logger)
        let ready = AsyncStream<Int>.makeStream()
        let serverTask = Task {
            do { try await server.run { port in ready.continuation.yield(port) } } catch {
                logger.error("the server stopped: \(error)")
            }
            ready.continuation.finish()
        }
        var iterator = ready.stream.makeAsyncIterator()
        guard await iterator.next() != nil else { throw ExitCode.failure }

        let client = APIClient(endpoint: endpoint, region: region, accessKeyId: creds.0, secretAccessKey: creds.1)
        if (try? StateFolder(path: agentDir).identity()) == nil {
            let activation = try await client.call(
                "CreateActivation", ["IamRole": "SSMServiceRole", "DefaultInstanceName": "dev", "Tags": [["Key": "Env", "Value": "dev"]]])
            _ = try await Registration.register(
                server: endpoint, activationId: activation["ActivationId"]?.stringValue ?? "",
                activationCode: activation["ActivationCode"]?.stringValue ?? "", stateDir: agentDir, logger: logger)
        }
        let agent = try AgentRuntime(stateDir: agentDir, logger: logger)
        let agentTask = Task { await agent.run() }
        // Written straight to the file descriptor so a pipe sees it at once.
        FileHandle.standardOutput.write(
            Data(
                """

                Steward dev server on \(endpoint), agent \(agent.instanceId) on this machine.
                In another shell:

                export AWS_ACCESS_KEY_ID=\(creds.0)
                export AWS_SECRET_ACCESS_KEY=\(creds.1)
                export AWS_REGION=\(region)
                export AWS_DEFAULT_REGION=\(region)
                export AWS_ENDPOINT_URL=\(endpoint)

                Then, for example:
                  aws ssm send-command --document-name AWS-RunShellScript --targets Key=InstanceIds,Values='*' --parameters commands='uname -a'
                  steward run -- 'uname -a'


                """.utf8))
        await serverTask.value
        agentTask.cancel()
        await agentTask.value
    }
}
