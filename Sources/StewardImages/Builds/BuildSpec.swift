import StewardKit

/// Everything one image build needs, resolved by the server from the image record: where it starts from, what it
/// runs, where its files go.
public struct BuildSpec: Sendable {
    public var imageArn: String
    public var name: String
    /// `x.y.z/n`.
    public var version: String
    public var parentImage: String
    public var parent: InstanceSource
    /// Components with build or validate phases, in recipe order.
    public var buildComponents: [ComponentInvocation]
    /// Components with a test phase, in recipe order.
    public var testComponents: [ComponentInvocation]
    public var testsEnabled: Bool
    /// The ClamAV signature folder; nil skips the scan.
    public var signatures: String?
    public var terminateInstanceOnFailure: Bool
    /// Scratch space of this build (instances live here).
    public var workFolder: String
    /// Where the image is kept on the server (its tree, image files and manifest).
    public var storeFolder: String
    /// Where it is published: one folder per distribution, with the format that distribution asked for.
    public var distributions: [Distribution]
    /// The Steward agent to install into the image, when the recipe asks.
    public var agent: AgentInstall?
    public var timeoutSeconds: Int
    public var maxReboots: Int
    /// The zstd level of the published tarball, which is also the size floor the other formats compare with.
    public var zstdLevel: Int = 19
    /// The region the image is built in (and its build instances register in).
    public var region = "us-east-1"

    public struct Distribution: Sendable {
        /// `<s3Bucket>/<s3Prefix>`; the image goes to `<folder>/<name>/<x.y.z>/<n>`.
        public var folder: String
        /// RAW, QCOW2 or TAR_ZST.
        public var primaryFormat: String
        public init(folder: String, primaryFormat: String) {
            self.folder = folder
            self.primaryFormat = primaryFormat
        }
    }

    public init(
        imageArn: String, name: String, version: String, parentImage: String, parent: InstanceSource,
        buildComponents: [ComponentInvocation], testComponents: [ComponentInvocation], testsEnabled: Bool = true,
        signatures: String? = nil, terminateInstanceOnFailure: Bool = true, workFolder: String, storeFolder: String,
        distributions: [Distribution] = [], agent: AgentInstall? = nil, timeoutSeconds: Int = 7200, maxReboots: Int = 5
    ) {
        self.imageArn = imageArn
        self.name = name
        self.version = version
        self.parentImage = parentImage
        self.parent = parent
        self.buildComponents = buildComponents
        self.testComponents = testComponents
        self.testsEnabled = testsEnabled
        self.signatures = signatures
        self.terminateInstanceOnFailure = terminateInstanceOnFailure
        self.workFolder = workFolder
        self.storeFolder = storeFolder
        self.distributions = distributions
        self.agent = agent
        self.timeoutSeconds = timeoutSeconds
        self.maxReboots = maxReboots
    }
}

/// The Steward agent baked into an image: its binary (with its libraries, as the runner is carried), an activation
/// so that a machine started from the image registers by itself, and the start-up files that run it.
public struct AgentInstall: Sendable {
    public var binary: String
    public var endpoint: String
    public var region: String
    public var activationId: String
    public var activationCode: String

    public init(binary: String, endpoint: String, region: String, activationId: String, activationCode: String) {
        self.binary = binary
        self.endpoint = endpoint
        self.region = region
        self.activationId = activationId
        self.activationCode = activationCode
    }
}

/// One step of a build as the image record and log show it.
public struct BuildStep: Sendable {
    public enum Status: String, Sendable {
        case running = "RUNNING"
        case succeeded = "SUCCEEDED"
        case failed = "FAILED"
        case skipped = "SKIPPED"
        case cancelled = "CANCELLED"
    }
    public var name: String
    /// The image state the step belongs to.
    public var stage: ImageStatus
    public var status: Status
    public var startTime: Double
    public var endTime: Double?
    public var message: String?
    /// Figures of the step (sizes, counts, paths).
    public var details: [String: JSONValue]

    public init(name: String, stage: ImageStatus, status: Status, startTime: Double) {
        self.name = name
        self.stage = stage
        self.status = status
        self.startTime = startTime
        self.details = [:]
    }

    public var json: JSONValue {
        .compact([
            "name": .string(name), "stage": .string(stage.rawValue), "status": .string(status.rawValue),
            "startTime": .number(startTime), "endTime": endTime.map { .number($0) } ?? .null,
            "seconds": endTime.map { .number(((($0 - startTime) * 100).rounded()) / 100) } ?? .null,
            "message": JSONValue(message), "details": details.isEmpty ? .null : .object(details),
        ])
    }
}
