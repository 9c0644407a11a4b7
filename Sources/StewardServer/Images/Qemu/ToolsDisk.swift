import Foundation
import StewardImages

/// The second disk of a QEMU build instance: busybox, the guest's scripts, this instance's one-use activation, and
/// the agent's state. It is mounted on `/run/steward` in the guest, so nothing of it ends up in the image being built,
/// and it is thrown away with the instance. (The agent and runner with their libraries are on the agent disk, made once.)
enum ToolsDisk {
    struct Activation {
        var server: String
        var id: String
        var code: String
    }

    /// Writes the folder's contents and makes the disk image `image` from it (`mke2fs -d`, no mounting).
    static func make(
        folder: String, image: String, assets: QemuAssets, activation: Activation, hostname: String, maxReboots: Int
    ) async throws {
        let files = FileManager.default
        for sub in ["bin", "state", "runs"] { try files.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true) }
        try files.copyItem(atPath: assets.busybox, toPath: "\(folder)/bin/busybox")
        let applets = try await HostTool.sh("\(shellQuoted(assets.busybox)) --list", what: "listing busybox applets")
        for applet in applets.split(separator: "\n") where applet != "busybox" {
            try files.createSymbolicLink(atPath: "\(folder)/bin/\(applet)", withDestinationPath: "busybox")
        }
        // The agent disk is mounted here.
        try files.createDirectory(atPath: "\(folder)/agent", withIntermediateDirectories: true)
        let scripts = [
            "init": GuestScripts.guestInit(maxReboots: max(maxReboots, 1) * 4), "reboot": GuestScripts.reboot, "halt": GuestScripts.halt,
        ]
        for (name, text) in scripts {
            try text.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8)
            try files.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(folder)/\(name)")
        }
        let env =
            "SERVER=\(shellQuoted(activation.server))\nACTIVATION_ID=\(shellQuoted(activation.id))\nACTIVATION_CODE=\(shellQuoted(activation.code))\n"
        try env.write(toFile: "\(folder)/activation", atomically: true, encoding: .utf8)
        try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: "\(folder)/activation")
        try "\(hostname)\n".write(toFile: "\(folder)/hostname", atomically: true, encoding: .utf8)

        let used = try await HostTool.sh("du -sk \(shellQuoted(folder)) | cut -f1", what: "sizing the tools disk")
        let megabytes = (Int(used.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) / 1024 * 3 / 2 + 128
        try await HostTool.sh(
            "mke2fs -q -F -t ext4 -E root_owner=0:0 -d \(shellQuoted(folder)) \(shellQuoted(image)) \(megabytes)M",
            what: "making the tools disk")
    }
}

/// The third disk: the agent and runner bundled with their libraries (``RuntimeBundle``), made once per build of
/// the binaries and attached read-only to every instance.
enum AgentDisk {
    static func make(bundle: String, image: String) async throws {
        let used = try await HostTool.sh("du -sk \(shellQuoted(bundle)) | cut -f1", what: "sizing the agent disk")
        let megabytes = (Int(used.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) / 1024 * 5 / 4 + 16
        try await HostTool.sh(
            "mke2fs -q -F -t ext4 -E root_owner=0:0 -d \(shellQuoted(bundle)) \(shellQuoted(image)) \(megabytes)M",
            what: "making the agent disk")
    }
}
