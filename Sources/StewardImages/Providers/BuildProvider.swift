/// The seam between an image build and the machine it runs on. A provider (an infrastructure configuration's
/// `steward:provider` tag: `chroot` or `qemu`) starts an instance from an image; the build runs AWSTOE components
/// in it through `steward-runner`, stops it, and captures what it left. Both providers implement these types, so
/// the build orchestration does not know which one it drives.

/// A root file system an instance starts from, or that a stopped instance leaves behind.
public struct InstanceSource: Sendable, Equatable {
    public enum Layout: String, Sendable {
        /// A folder on the host holding the tree (`/bin`, `/etc`, ...).
        case folder
        /// A raw disk image holding one ext4 file system and no partition table.
        case rawExt4
    }

    public var path: String
    public var layout: Layout

    public init(path: String, layout: Layout) {
        self.path = path
        self.layout = layout
    }
}

/// Why an instance is started: to build on (its changes are captured) or to test a new image (thrown away).
public enum InstancePurpose: String, Sendable {
    case build
    case test
}

/// One component to run, as a file on the host, with the parameters the recipe gives it.
public struct ComponentInvocation: Sendable, Equatable {
    public var name: String
    public var version: String
    public var documentPath: String
    public var parameters: [String: String]

    public init(name: String, version: String, documentPath: String, parameters: [String: String] = [:]) {
        self.name = name
        self.version = version
        self.documentPath = documentPath
        self.parameters = parameters
    }
}

/// A run of some phases of some components inside an instance.
public struct ComponentRunRequest: Sendable {
    public var components: [ComponentInvocation]
    /// Phases in the order they run, e.g. `["build", "validate"]` on a build instance, `["test"]` on a test one.
    public var phases: [String]
    /// Covers the whole run, reboots included.
    public var timeoutSeconds: Int
    /// More reboot requests than this stop the run (the runner's `--max-reboots`).
    public var maxReboots: Int

    public init(components: [ComponentInvocation], phases: [String], timeoutSeconds: Int, maxReboots: Int = 5) {
        self.components = components
        self.phases = phases
        self.timeoutSeconds = timeoutSeconds
        self.maxReboots = maxReboots
    }
}

/// How a component run ended.
public struct ComponentRunOutcome: Sendable {
    public var succeeded: Bool
    /// Reboots the instance went through during the run.
    public var reboots: Int
    /// A host folder holding the runner's `TOE_*` log folders, copied out of the instance.
    public var logFolder: String?
    /// Why it failed, in one line, when it did.
    public var reason: String?

    public init(succeeded: Bool, reboots: Int, logFolder: String?, reason: String?) {
        self.succeeded = succeeded
        self.reboots = reboots
        self.logFolder = logFolder
        self.reason = reason
    }
}

/// Where a build writes the lines of its log (one step's lines go to its image's log).
public typealias BuildLogSink = @Sendable (String) async -> Void

/// A running build or test instance.
public protocol BuildInstance: Sendable {
    /// An id unique among the provider's instances, shown in logs and kept for inspection after a failure.
    var instanceId: String { get }
    /// Runs the components' phases through `steward-runner` inside the instance, rebooting it whenever the runner
    /// asks (exit 194), until the run ends or its timeout passes.
    func run(_ request: ComponentRunRequest, log: @escaping BuildLogSink) async throws -> ComponentRunOutcome
    /// Stops the instance cleanly and returns its root file system, which stays until `terminate()`.
    func stop() async throws -> InstanceSource
    /// Stops the instance if it runs and removes everything it holds on the host.
    func terminate() async
}

/// Starts instances from images.
public protocol BuildProvider: Sendable {
    /// `chroot` or `qemu`.
    var name: String { get }
    /// Starts an instance for a build of `region`: an instance that registers with the control plane (`qemu`) does so
    /// in the region the image is built in.
    func start(
        from source: InstanceSource, purpose: InstancePurpose, workFolder: String, region: String, log: @escaping BuildLogSink
    ) async throws -> any BuildInstance
}
