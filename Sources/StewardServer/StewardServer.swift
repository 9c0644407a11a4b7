import Crypto
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import StewardImages
import StewardKit
import StewardStore
import UnixSignals

/// The control plane: the AWS-compatible API, the agent gateway and the dispatcher, over one store.
public struct StewardServer: Sendable {
    public struct Configuration: Sendable {
        public var dataDir: String
        public var host: String
        public var port: Int
        public var databaseURL: String?
        public var accountId: String
        /// Where inventory is exported in the resource-data-sync layout (nil: no export): a folder, or
        /// `s3://bucket/prefix` on an S3-compatible store (credentials from the standard AWS variables).
        public var inventoryExportDir: String?
        /// The S3-compatible endpoint for an `s3://` export (default: AWS_ENDPOINT_URL_S3, else AWS S3).
        public var inventoryExportEndpoint: String?
        /// How often the export runs on its own; on demand it runs through `Steward.ExportInventory`.
        public var inventoryExportInterval: Duration = .seconds(3600)
        /// Image builds: workers, the runner and agent carried into images, scan signatures.
        public var imageBuilds = ImageBuildSettings()

        public init(
            dataDir: String, host: String = "127.0.0.1", port: Int = 8440, databaseURL: String? = nil, accountId: String = "123456789012"
        ) {
            self.dataDir = dataDir
            self.host = host
            self.port = port
            self.databaseURL = databaseURL
            self.accountId = accountId
        }
    }

    public let configuration: Configuration
    public let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Opens the data folder and database and serves until SIGTERM or SIGINT (or until the task is cancelled).
    /// `onListening` receives the bound port, which is useful with port 0.
    public func run(
        gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint], onListening: @escaping @Sendable (Int) async -> Void = { _ in },
        onBuildProviders: @escaping @Sendable ([String: any BuildProvider]) async -> Void = { _ in }
    ) async throws {
        let folder = try DataFolder(path: configuration.dataDir)
        let masterKey = try folder.masterKey()
        let store = try await Store.open(url: configuration.databaseURL, sqlitePath: folder.databasePath, logger: logger)
        let serverKey = try folder.serverSigningKey()
        try await store.markAllConnectionLost()

        let gateway = AgentGateway()
        let outputs = OutputStore(root: folder.outputsPath, store: store)
        let pageKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("page-tokens".utf8), using: masterKey))
        let pager = Pager(tokens: PageToken(key: pageKey))
        let vault = ParameterVault(store: store, box: SecretBox(key: masterKey), accountId: configuration.accountId)
        let parameters = ParameterOperations(store: store, vault: vault, pager: pager)
        let references = ParameterReferences(parameters: parameters)
        let dispatcher = Dispatcher(
            store: store, outputs: outputs, gateway: gateway, signingKey: serverKey,
            resolve: { plan, region throws(AWSError) in try await references.resolve(plan, region: region) }, logger: logger)
        try await dispatcher.start()
        let keys = AccessKeys(store: store, box: SecretBox(key: masterKey))
        let verifier = SigV4Verifier(keys: keys)
        let catalog = DocumentCatalog(store: store)

        var operations: [String: Operation] = [:]
        let groups = NodeGroups(store: store, queries: InventoryQueries(store: store))
        let commands = CommandOperations(
            store: store, catalog: catalog, dispatcher: dispatcher, outputs: outputs, pager: pager, groups: groups)
        let associations = AssociationRunner(
            store: store, commands: commands, catalog: catalog, queries: InventoryQueries(store: store), groups: groups,
            delivery: HeldDelivery(
                gateway: gateway, signingKey: serverKey,
                resolve: { plan, region throws(AWSError) in try await references.resolve(plan, region: region) }),
            logger: logger)
        await associations.recover()
        let nodeChanged: @Sendable (String, String) -> Void = { region, instanceId in
            associations.nodeChanged(region: region, instanceId: instanceId)
        }
        InstanceOperations(store: store, pager: pager, gateway: gateway, nodeChanged: nodeChanged).register(into: &operations)
        DocumentOperations(store: store, catalog: catalog, pager: pager).register(into: &operations)
        commands.register(into: &operations)
        AssociationOperations(store: store, catalog: catalog, pager: pager, runner: associations).register(into: &operations)
        ComplianceOperations(store: store, pager: pager).register(into: &operations)
        parameters.register(into: &operations)
        let exporter = try configuration.inventoryExportDir.map { location in
            let sink: any ExportSink =
                location.hasPrefix("s3://")
                ? try S3Sink.parse(
                    location, endpoint: configuration.inventoryExportEndpoint, environment: ProcessInfo.processInfo.environment)
                : FolderSink(folder: location)
            return InventoryExporter(sink: sink, store: store, accountId: configuration.accountId, logger: logger)
        }
        let inventory = InventoryOperations(store: store, pager: pager, exporter: exporter, nodeChanged: nodeChanged)
        inventory.register(into: &operations)
        let sessions = SessionRelay(
            store: store, gateway: gateway, signingKey: serverKey, root: folder.sessionsPath, logger: logger)
        try await sessions.recover(now: Date().timeIntervalSince1970)
        let sessionOperations = SessionOperations(store: store, relay: sessions, gateway: gateway, pager: pager)
        sessionOperations.register(into: &operations)
        GrantOperations(store: store, catalog: catalog, signingKey: serverKey, accountId: configuration.accountId).register(
            into: &operations)
        var restOperations: [String: Operation] = [:]
        GroupOperations(
            store: store, groups: groups, pager: pager,
            groupsChanged: { region in await associations.groupsChanged(region: region) }
        ).register(into: &restOperations)
        var restRoutes: [String: RESTRoute] = [:]
        let imageBuilder = ImageBuilderAPI(store: store, pager: pager, blobFolder: "\(folder.path)/images/components")
        imageBuilder.register(into: &restRoutes)
        let qemu = QemuProvider(
            controlPlane: ControlPlane(
                operations: operations, outputs: outputs, accountId: configuration.accountId, region: "us-east-1", logger: logger),
            dataFolder: folder.path, logger: logger)
        var buildSettings = configuration.imageBuilds
        if buildSettings.extraProviders[qemu.name] == nil { buildSettings.extraProviders[qemu.name] = qemu }
        let imageBuilds = ImageBuildWorker(
            api: imageBuilder, settings: buildSettings, root: "\(folder.path)/images", accountId: configuration.accountId,
            endpoint: "http://\(configuration.host):\(configuration.port)", logger: logger,
            activation: { region in
                try await ImageAgentActivation.create(store: store, region: region)
            })
        try await imageBuilds.recover()
        let api = APIRouter(
            verifier: verifier, operations: operations, restOperations: restOperations, restRoutes: restRoutes,
            accountId: configuration.accountId, logger: logger)

        let fastReads = FastReads(verifier: verifier, parameters: parameters, accountId: configuration.accountId)
        let router = Router()
        router.get("/healthz") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.post("/") { request, context in await api.respond(request, context: context) }
        for path in api.restOperations.keys {
            router.post(RouterPath(path)) { request, _ in await api.respondREST(request, path: path) }
        }
        for route in api.restRoutes.values {
            router.on(RouterPath(route.path), method: route.method) { request, _ in await api.respond(request, route: route) }
        }
        router.get("/outputs/:command/:instance/:plugin/:stream") { request, context -> Response in
            let identity: SigV4Verifier.Identity
            do {
                identity = try await verifier.verify(
                    method: "GET", path: request.uri.path, query: request.uri.query ?? "", authority: request.head.authority,
                    headers: request.headers, body: [], now: Date())
            } catch let error as AWSError {
                return APIRouter.json(error.body, status: .init(code: error.status), requestId: UUID().uuidString.lowercased())
            }
            let p = context.parameters
            guard
                let data = try await outputs.read(
                    region: identity.region, commandId: p.get("command") ?? "", instanceId: p.get("instance") ?? "",
                    plugin: p.get("plugin") ?? "", stream: p.get("stream") ?? "")
            else { return Response(status: .notFound) }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        sessionOperations.addTranscriptRoute(to: router, verifier: verifier)

        let channel = AgentChannel(
            store: store, gateway: gateway, dispatcher: dispatcher, inventory: inventory.intake, nodeChanged: nodeChanged,
            associations: associations, serverSigningKey: serverKey, logger: logger, sessions: sessions)
        let wsRouter = Router(context: BasicWebSocketRequestContext.self)
        wsRouter.ws("/agent/v1/register") { inbound, outbound, _ in
            try await channel.register(inbound: inbound, outbound: outbound)
        }
        wsRouter.ws("/agent/v1/rotate") { inbound, outbound, _ in
            try await channel.rotate(inbound: inbound, outbound: outbound)
        }
        wsRouter.ws("/agent/v1/channel") { inbound, outbound, _ in
            try await channel.channel(inbound: inbound, outbound: outbound)
        }
        SessionStream(relay: sessions, logger: logger).addRoute(to: wsRouter)

        let sweeper = Sweeper(dispatcher: dispatcher)
        var services: [any Service] = [
            sweeper, AssociationService(runner: associations), ImageBuildService(worker: imageBuilds),
            PipelineScheduler(
                api: imageBuilder, accountId: configuration.accountId, logger: logger,
                interval: configuration.imageBuilds.scheduleInterval),
        ]
        if let exporter {
            let interval = configuration.inventoryExportInterval
            services.append(ScheduledExport(exporter: exporter, interval: interval, store: store))
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: wsRouter,
                configuration: .init(
                    http1: .init(additionalChannelHandlers: [FastReadHandler(reads: fastReads)]),
                    ws: .init(maxFrameSize: AgentChannel.maxFrame, autoPing: .enabled(timePeriod: .seconds(10))))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "steward"),
            services: services,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                qemu.serverListening(port: port)
                await imageBuilds.setEndpoint("http://\(configuration.host):\(port)")
                await onListening(port)
                await onBuildProviders([qemu.name: qemu])
            },
            logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: gracefulShutdownSignals, logger: logger))
        do {
            try await group.run()
        } catch {
            qemu.shutdown()
            gateway.disconnectAll()
            await dispatcher.drain()
            await store.close()
            throw error
        }
        qemu.shutdown()
        gateway.disconnectAll()
        await dispatcher.drain()
        await store.close()
    }

    /// Creates or imports an access key directly in a data folder (the first key must exist before anyone can call the API).
    public static func createAccessKey(dataDir: String, databaseURL: String?, id: String?, secret: String?, logger: Logger) async throws
        -> AccessKeys.Credentials
    {
        let folder = try DataFolder(path: dataDir)
        let store = try await Store.open(url: databaseURL, sqlitePath: folder.databasePath, logger: logger)
        do {
            let creds = try await AccessKeys(store: store, box: SecretBox(key: try folder.masterKey())).create(id: id, secret: secret)
            await store.close()
            return creds
        } catch {
            await store.close()
            throw error
        }
    }
}

/// Runs the dispatcher's timeout sweep once a second.
struct Sweeper: Service {
    let dispatcher: Dispatcher

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .seconds(1))
            await dispatcher.sweep(now: Date().timeIntervalSince1970)
        }
    }
}

/// Runs the association scheduler until shutdown.
struct AssociationService: Service {
    let runner: AssociationRunner

    func run() async throws {
        await cancelWhenGracefulShutdown { await runner.loop() }
    }
}

/// Exports the inventory of every region with data on a schedule.
struct ScheduledExport: Service {
    let exporter: InventoryExporter
    let interval: Duration
    let store: Store

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await exporter.runSchedule(every: interval) {
                Array(Set(try await store.inventoryRegions()))
            }
        }
    }
}

extension StewardServer {
    public struct KeyInfo: Sendable {
        public var keyId: String
        public var arn: String
        public var alias: String?
    }

    /// Creates a customer key for SecureString parameters directly in a data folder (there is no KMS API here).
    public static func createKey(
        dataDir: String, databaseURL: String?, region: String, alias: String?, accountId: String = "123456789012", logger: Logger
    ) async throws -> KeyInfo {
        let folder = try DataFolder(path: dataDir)
        let store = try await Store.open(url: databaseURL, sqlitePath: folder.databasePath, logger: logger)
        do {
            let vault = ParameterVault(store: store, box: SecretBox(key: try folder.masterKey()), accountId: accountId)
            let key = try await vault.createKey(region: region, alias: alias)
            await store.close()
            return KeyInfo(keyId: key.id, arn: vault.arn(region: region, keyId: key.id), alias: key.alias)
        } catch {
            await store.close()
            throw error
        }
    }

    /// The keys of a region, the default `alias/aws/ssm` among them once it has been used.
    public static func listKeys(dataDir: String, databaseURL: String?, region: String, accountId: String = "123456789012", logger: Logger)
        async throws -> [KeyInfo]
    {
        let folder = try DataFolder(path: dataDir)
        let store = try await Store.open(url: databaseURL, sqlitePath: folder.databasePath, logger: logger)
        do {
            let vault = ParameterVault(store: store, box: SecretBox(key: try folder.masterKey()), accountId: accountId)
            let keys = try await store.kmsKeys(region: region).map {
                KeyInfo(keyId: $0.keyId, arn: vault.arn(region: region, keyId: $0.keyId), alias: $0.alias)
            }
            await store.close()
            return keys
        } catch {
            await store.close()
            throw error
        }
    }
}
