import Foundation

/// Bakes the Steward agent into a tree: the binary with its libraries under `/opt/steward/agent`, the activation in
/// `/etc/steward/agent.env`, and a start script run by a systemd unit (or `/etc/init.d`, or `rc.local`) that
/// registers on first boot and then keeps the agent running, so every machine started from the image joins the fleet.
public enum AgentInstaller {
    public static let folder = "/opt/steward/agent"
    public static let stateFolder = "/var/lib/steward/agent"

    public static func install(_ agent: AgentInstall, into root: String, log: BuildLogSink) async throws {
        // The agent runs `steward-runner` from its own folder, so both go in; debug information has no place in an image.
        let runner = ((agent.binary as NSString).deletingLastPathComponent as NSString).appendingPathComponent("steward-runner")
        let programs = FileManager.default.isExecutableFile(atPath: runner) ? [agent.binary, runner] : [agent.binary]
        let bundle = try await RuntimeBundle.make(programs: programs, in: root + folder, prefix: folder, stripDebug: true)
        let fm = FileManager.default
        let exe = HostCommand.quote(bundle.path(of: (agent.binary as NSString).lastPathComponent))
        try fm.createDirectory(atPath: "\(root)/etc/steward", withIntermediateDirectories: true)
        try write(
            """
            STEWARD_SERVER=\(HostCommand.quote(agent.endpoint))
            STEWARD_REGION=\(HostCommand.quote(agent.region))
            STEWARD_ACTIVATION_ID=\(HostCommand.quote(agent.activationId))
            STEWARD_ACTIVATION_CODE=\(HostCommand.quote(agent.activationCode))

            """, to: "\(root)/etc/steward/agent.env", mode: 0o600)
        try write(
            """
            #!/bin/sh
            # Starts the Steward agent; registers this machine with the baked-in activation on its first boot.
            set -e
            . /etc/steward/agent.env
            mkdir -p \(stateFolder)
            if [ ! -s \(stateFolder)/identity.json ]; then
              \(exe) register --server "$STEWARD_SERVER" --activation-id "$STEWARD_ACTIVATION_ID" \\
                --activation-code "$STEWARD_ACTIVATION_CODE" --state-dir \(stateFolder)
            fi
            exec \(exe) start --state-dir \(stateFolder)

            """, to: "\(root)\(folder)/steward-agent-start", mode: 0o755)
        let unitFolder = "\(root)/etc/systemd/system"
        try fm.createDirectory(atPath: "\(unitFolder)/multi-user.target.wants", withIntermediateDirectories: true)
        try write(
            """
            [Unit]
            Description=Steward agent
            After=network-online.target
            Wants=network-online.target

            [Service]
            ExecStart=\(folder)/steward-agent-start
            Restart=always
            RestartSec=5

            [Install]
            WantedBy=multi-user.target

            """, to: "\(unitFolder)/steward-agent.service", mode: 0o644)
        try? fm.removeItem(atPath: "\(unitFolder)/multi-user.target.wants/steward-agent.service")
        try fm.createSymbolicLink(
            atPath: "\(unitFolder)/multi-user.target.wants/steward-agent.service",
            withDestinationPath: "/etc/systemd/system/steward-agent.service")
        try fm.createDirectory(atPath: "\(root)/etc/init.d", withIntermediateDirectories: true)
        try write(
            """
            #!/bin/sh
            # For init systems without systemd (busybox init runs /etc/init.d/rcS, which starts S* scripts).
            case "$1" in
              start|"") \(folder)/steward-agent-start >/var/log/steward-agent.log 2>&1 & ;;
            esac

            """, to: "\(root)/etc/init.d/S90steward-agent", mode: 0o755)
        await log("Steward agent installed in \(folder) (systemd unit steward-agent.service, /etc/init.d/S90steward-agent)")
    }

    static func write(_ text: String, to path: String, mode: Int) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode_t(mode))
    }
}
