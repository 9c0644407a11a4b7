import StewardImages

/// How this server builds images.
public struct ImageBuildSettings: Sendable {
    /// Builds that may run at once; 0 records images but never builds them (they stay PENDING).
    public var workers: Int = 1
    /// The `steward-runner` executable carried into build instances (default: beside this executable).
    public var runnerBinary: String?
    /// The `steward-agent` executable baked into images that ask for it (default: beside this executable).
    public var agentBinary: String?
    /// The ClamAV signature folder used when an infrastructure configuration names none (tag `steward:clamav-db`).
    public var scanSignatures: String?
    /// The URL baked into images as the agent's server (default: `http://<listen address>`).
    public var agentEndpoint: String?
    /// The zstd level of the published tarball (the size floor); 19 unless a test wants speed over size.
    public var zstdLevel: Int = 19
    /// How often pipeline schedules are checked.
    public var scheduleInterval: Duration = .seconds(20)
    /// Providers besides the built-in `chroot` (the `qemu` provider registers here).
    public var extraProviders: [String: any BuildProvider] = [:]

    public init() {}
}
