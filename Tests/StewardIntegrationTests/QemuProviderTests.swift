import Foundation
import Logging
import StewardImages
import Testing

@testable import StewardServer

/// The `qemu` provider against the real server, run in this process so that the test holds the provider the server
/// made: real QEMU (software emulation), the Debian kernel, a busybox root, the real agent and runner inside.
/// Slow (a minute or more on two shared cores): `scripts/test` runs it last.
@Suite(.serialized)
struct QemuProviderTests {
    static var missing: String? {
        if !Binaries.available { return "the steward binaries are not built" }
        return QemuAssets.missingTools()
    }

    @Test(
        "a qemu build instance reboots for real during the build, and a fresh test instance from its root sees the build's file",
        .enabled(if: missing == nil, "QEMU build instances need \(missing ?? "nothing") on this host; .ci/run installs it"))
    func buildRebootAndTest() async throws {
        let folder = tempFolder("qemu")
        let (server, providers) = try await startServer(dataDir: "\(folder)/server")
        var failure: (any Error)?
        do {
            try await buildThenTest(with: try #require(providers["qemu"]), in: folder)
        } catch {
            failure = error
        }
        // The server stops as it does on SIGTERM (it listens to SIGUSR2 here), which kills any QEMU left.
        kill(getpid(), SIGUSR2)
        _ = try? await server.value
        #expect(QemuProcesses.shared.count == 0)
        try? FileManager.default.removeItem(atPath: folder)
        if let failure { throw failure }
    }

    func buildThenTest(with qemu: any BuildProvider, in folder: String) async throws {
        let began = Date()
        let base = try await makeBusyboxBase(in: "\(folder)/base")
        let log = LogLines()
        let sink: BuildLogSink = { line in await log.add(line) }

        // Build instance: a component writes a file, asks for a reboot once (exit 194), and checks that the machine
        // really rebooted (a new boot id) and the run resumed at that step.
        let work = "\(folder)/work"
        let build = try await qemu.start(
            from: InstanceSource(path: base, layout: .folder), purpose: .build, workFolder: work, region: "us-east-1", log: sink)
        let online = Date()
        let documents = try writeComponents(in: folder)
        let outcome = try await build.run(
            ComponentRunRequest(
                components: [
                    ComponentInvocation(
                        name: "qemu-build", version: "1.0.0", documentPath: documents.build, parameters: ["Word": "built-in-qemu"])
                ],
                phases: ["build", "validate"], timeoutSeconds: 600, maxReboots: 2),
            log: sink)
        let ran = Date()
        let buildLog = await log.text
        #expect(outcome.succeeded, "\(outcome.reason ?? "") \(buildLog)")
        #expect(outcome.reboots == 1)
        let logFolder = try #require(outcome.logFolder)
        let toe = try FileManager.default.contentsOfDirectory(atPath: logFolder).filter { $0.hasPrefix("TOE_") }
        #expect(!toe.isEmpty)
        if let first = toe.first {
            #expect(FileManager.default.fileExists(atPath: "\(logFolder)/\(first)/detailedoutput.json"))
        }
        let root = try await build.stop()
        let stopped = Date()
        #expect(root.layout == .rawExt4)
        // Read without mounting: the file is in the image, and the image was left clean.
        let (_, content) = try runToEnd("/usr/sbin/debugfs", ["-R", "cat /etc/steward-built", root.path])
        #expect(content.contains("built-in-qemu"))
        #expect(try runToEnd("/usr/sbin/e2fsck", ["-fn", root.path]).0 == 0)

        // Test instance: a fresh machine from the stopped root runs the test phase. It is started for a build of
        // another region: its agent registers there, and its components are sent there.
        let test = try await qemu.start(from: root, purpose: .test, workFolder: work, region: "eu-west-1", log: sink)
        let testOnline = Date()
        let checked = try await test.run(
            ComponentRunRequest(
                components: [ComponentInvocation(name: "qemu-test", version: "1.0.0", documentPath: documents.test)], phases: ["test"],
                timeoutSeconds: 300),
            log: sink)
        let testLog = await log.text
        #expect(checked.succeeded, "\(checked.reason ?? "") \(testLog)")
        #expect(checked.reboots == 0)
        // A failing step fails the run, with a reason, and the machine goes on.
        let failing = "\(folder)/failing.yaml"
        try
            "name: failing\nschemaVersion: 1.0\nphases:\n  - name: test\n    steps:\n      - name: Fails\n        action: ExecuteBash\n        inputs:\n          commands: [\"exit 3\"]\n"
            .write(toFile: failing, atomically: true, encoding: .utf8)
        let failed = try await test.run(
            ComponentRunRequest(
                components: [ComponentInvocation(name: "failing", version: "1.0.0", documentPath: failing)], phases: ["test"],
                timeoutSeconds: 120),
            log: sink)
        #expect(!failed.succeeded)
        #expect(failed.reason?.contains("Failed") == true, "\(failed.reason ?? "")")
        await test.terminate()
        await build.terminate()
        #expect(!FileManager.default.fileExists(atPath: root.path))
        #expect(QemuProcesses.shared.count == 0)

        let cycle = await log.rebootCycle()
        print(
            String(
                format:
                    "qemu figures: build instance online %.1f s after start; build run (one reboot) %.1f s, reboot to boot line %.1f s; stop %.1f s; test instance online %.1f s; whole test %.1f s",
                online.timeIntervalSince(began), ran.timeIntervalSince(online), cycle, stopped.timeIntervalSince(ran),
                testOnline.timeIntervalSince(stopped), Date().timeIntervalSince(began)))
    }

    /// A root file system made from Debian's busybox-static package (the .deb on disk, else the installed binary).
    func makeBusyboxBase(in base: String) async throws -> String {
        try FileManager.default.createDirectory(atPath: "\(base)/bin", withIntermediateDirectories: true)
        let debs = QemuAssets.packageFolders.flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("busybox-static_") }.map {
                "\(dir)/\($0)"
            }
        }
        if let deb = debs.first {
            try await HostTool.sh("dpkg-deb -x \(shellQuoted(deb)) \(shellQuoted(base))", what: "unpacking busybox-static")
        } else {
            try FileManager.default.copyItem(atPath: try #require(QemuAssets.findBusybox()), toPath: "\(base)/bin/busybox")
        }
        let applets = try await HostTool.sh("\(shellQuoted(base))/bin/busybox --list", what: "listing applets")
        for applet in applets.split(separator: "\n") where applet != "busybox" {
            try? FileManager.default.createSymbolicLink(atPath: "\(base)/bin/\(applet)", withDestinationPath: "busybox")
        }
        return base
    }

    func writeComponents(in folder: String) throws -> (build: String, test: String) {
        let build = """
            name: qemu-build
            schemaVersion: 1.0
            parameters:
              - Word:
                  type: string
            phases:
              - name: build
                steps:
                  - name: WriteFile
                    action: ExecuteBash
                    inputs:
                      commands:
                        - mkdir -p /etc /var
                        - echo '{{ Word }}' > /etc/steward-built
                  - name: RebootOnce
                    action: ExecuteBash
                    inputs:
                      commands:
                        - |
                          if [ -e /var/reboot-marker ]; then rm /var/reboot-marker; echo resumed > /var/resumed; exit 0; fi
                          cat /proc/sys/kernel/random/boot_id > /var/boot-before
                          touch /var/reboot-marker
                          exit 194
                  - name: CheckResumed
                    action: ExecuteBash
                    inputs:
                      commands:
                        - test "$(cat /proc/sys/kernel/random/boot_id)" != "$(cat /var/boot-before)"
                        - grep -q resumed /var/resumed
              - name: validate
                steps:
                  - name: FileIsThere
                    action: ExecuteBash
                    inputs:
                      commands:
                        - grep -q '{{ Word }}' /etc/steward-built

            """
        let test = """
            name: qemu-test
            schemaVersion: 1.0
            phases:
              - name: test
                steps:
                  - name: BuiltFileIsThere
                    action: ExecuteBash
                    inputs:
                      commands:
                        - grep -q built-in-qemu /etc/steward-built
                        - test ! -e /var/reboot-marker

            """
        try build.write(toFile: "\(folder)/build.yaml", atomically: true, encoding: .utf8)
        try test.write(toFile: "\(folder)/test.yaml", atomically: true, encoding: .utf8)
        return ("\(folder)/build.yaml", "\(folder)/test.yaml")
    }

    /// The server in this process, on a port it picks; returns the task that runs it and its build providers.
    func startServer(dataDir: String) async throws -> (Task<Void, any Error>, [String: any BuildProvider]) {
        let ready = AsyncStream<[String: any BuildProvider]>.makeStream()
        var logger = Logger(label: "qemu-test")
        logger.logLevel = .warning
        let server = StewardServer(configuration: .init(dataDir: dataDir, port: 0), logger: logger)
        let task = Task {
            try await server.run(
                gracefulShutdownSignals: [.sigusr2],
                onBuildProviders: { providers in
                    ready.continuation.yield(providers)
                    ready.continuation.finish()
                })
        }
        for await providers in ready.stream { return (task, providers) }
        throw TestFailure("the server did not start")
    }
}

/// The build log the provider writes, with the time each line arrived.
actor LogLines {
    var lines: [(Date, String)] = []

    func add(_ line: String) {
        lines.append((Date(), line))
        print("qemu-test log: \(line)")
    }

    var text: String { lines.map(\.1).joined(separator: "\n") }

    /// Seconds from the guest's "rebooting" line to its next boot line.
    func rebootCycle() -> Double {
        guard let down = lines.first(where: { $0.1.contains("steward-guest: rebooting") }),
            let up = lines.first(where: { $0.0 >= down.0 && $0.1.contains("steward-guest: boot 2") })
        else { return -1 }
        return up.0.timeIntervalSince(down.0)
    }
}
