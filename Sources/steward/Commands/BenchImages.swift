import ArgumentParser
import Foundation
import StewardKit

/// `steward bench images`: builds a busybox image and a minimal Debian image with the chroot provider and prints the
/// wall time of each stage and the image sizes against the zstd -19 floor (a tarball of the same files).
struct BenchImages: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "Time image builds stage by stage, and compare the image sizes with a zstd -19 tarball.",
        discussion: """
            busybox: Debian's busybox-static package (a .deb in --cache, or downloaded with apt-get download). debian: \
            mmdebstrap --variant=minbase from this host's mirror (network). Needs root, clamscan, qemu-img, zstd, mmdebstrap.
            """)

    @Option(help: "Images to build: busybox, debian.") var images: [String] = ["busybox", "debian"]
    @Option(help: "The build provider: chroot, or qemu (a virtual machine per build and per test).") var provider = "chroot"
    @Option(help: "Where busybox-static_*.deb is (or is downloaded to).") var cache = "/var/cache/steward-ci"
    @Option(help: "The Debian suite.") var suite = "bookworm"
    @Flag(help: "Keep the bench folder and print where it is.") var keep = false

    func run() async throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let root = NSTemporaryDirectory() + "steward-bench-images-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let (server, api, _) = try await startBenchServer("\(bin)/steward", root: root)
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
            if keep { print("kept \(root)") } else { try? FileManager.default.removeItem(atPath: root) }
        }
        let ib = ImageBuilderClient(api: api)
        let signatures = "\(root)/signatures"
        try FileManager.default.createDirectory(atPath: signatures, withIntermediateDirectories: true)
        try Data("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n".utf8).write(
            to: URL(fileURLWithPath: "\(signatures)/test.hdb"))
        let infra = try await ib.call(
            "PUT", "CreateInfrastructureConfiguration",
            body: [
                "name": "bench", "instanceProfileName": "bench", "clientToken": .string(ImageBuilderClient.token()),
                "tags": ["steward:provider": .string(provider), "steward:clamav-db": .string(signatures)],
            ])["infrastructureConfigurationArn"]!
        let dist = try await ib.call(
            "PUT", "CreateDistributionConfiguration",
            body: [
                "name": "bench", "clientToken": .string(ImageBuilderClient.token()),
                "distributions": [
                    [
                        "region": "us-east-1",
                        "s3ExportConfiguration": ["roleName": "x", "diskImageFormat": "QCOW2", "s3Bucket": .string("\(root)/out")],
                    ]
                ],
            ])["distributionConfigurationArn"]!
        let test = try await component(
            ib, "bench-test",
            """
            schemaVersion: 1.0
            phases:
              - name: test
                steps:
                  - name: Marker
                    action: ExecuteBash
                    inputs:
                      commands: ['test -f /etc/bench-built', 'test ! -s /etc/machine-id']
            """)
        for image in images {
            let started = Date()
            let tarball: String
            let update: String
            switch image {
            case "busybox":
                tarball = try busyboxTarball(root)
                update = "echo no package manager here"
            case "debian":
                tarball = "\(root)/debian.tar"
                try run(["mmdebstrap", "--mode=root", "--variant=minbase", "--quiet", suite, tarball, ImageBootstrap.hostMirror()])
                update = "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get -y -q upgrade"
            default: throw ValidationError("unknown image \(image): busybox or debian")
            }
            let baseSeconds = Date().timeIntervalSince(started)
            let importStart = Date()
            let baseArn = try await ib.call(
                "PUT", "ImportDiskImage",
                body: [
                    "name": .string("\(image)-base"), "semanticVersion": "1.0.0", "uri": .string(tarball),
                    "clientToken": .string(ImageBuilderClient.token()),
                ])["imageBuildVersionArn"]!.textValue
            _ = try await ImageWait.until(ib, arn: baseArn)
            let importSeconds = Date().timeIntervalSince(importStart)
            let build = try await component(
                ib, "\(image)-update",
                """
                schemaVersion: 1.0
                phases:
                  - name: build
                    steps:
                      - name: Update
                        action: ExecuteBash
                        inputs:
                          commands: ['\(update)', 'touch /etc/bench-built']
                """)
            let recipe = try await ib.call(
                "PUT", "CreateImageRecipe",
                body: [
                    "name": .string("\(image)-golden"), "semanticVersion": "1.0.0", "clientToken": .string(ImageBuilderClient.token()),
                    "parentImage": .string(baseArn), "components": [["componentArn": build], ["componentArn": test]],
                ])["imageRecipeArn"]!
            let buildStart = Date()
            let arn = try await ib.call(
                "PUT", "CreateImage",
                body: [
                    "imageRecipeArn": recipe, "infrastructureConfigurationArn": infra, "distributionConfigurationArn": dist,
                    "clientToken": .string(ImageBuilderClient.token()),
                ])["imageBuildVersionArn"]!.textValue
            _ = try await ImageWait.until(ib, arn: arn)
            let total = Date().timeIntervalSince(buildStart)
            let log = try await ib.call("GET", "GetImageBuildLog", query: [("imageBuildVersionArn", arn)])
            print(
                "\n== \(image): base made in \(String(format: "%.1f", baseSeconds)) s, imported in \(String(format: "%.1f", importSeconds)) s"
            )
            for step in log["steps"]?.arrayValue ?? [] {
                let name = (step["name"]?.textValue ?? "").padding(toLength: 22, withPad: " ", startingAt: 0)
                print("  \(name) \(String(format: "%7.2f", step["seconds"]?.numberValue ?? 0)) s")
            }
            // The critical path without the two zstd streams (the floor and the distribution file), which run beside
            // the scan and the tests.
            let steps = log["steps"]?.arrayValue ?? []
            let first = steps.compactMap { $0["startTime"]?.numberValue }.min() ?? 0
            let compression = ["CreateTarZst", "CompressImage"]
            let tested =
                steps.filter {
                    $0["stage"]?.textValue != "DISTRIBUTING" && $0["stage"]?.textValue != "INTEGRATING"
                        && !compression.contains($0["name"]?.textValue ?? "")
                }
                .compactMap { $0["endTime"]?.numberValue }.max() ?? first
            print("  build+update+reduce+scan+test \(String(format: "%7.2f", tested - first)) s (without the zstd streams)")
            print("  build to AVAILABLE     \(String(format: "%7.2f", total)) s")
            let m = log["manifest"] ?? .null
            let red = m["reduction"] ?? .null
            print(
                "  tree \(mb(red["treeBytesBefore"])) → \(mb(red["treeBytesAfter"])) after reduction; \(m["packages"]?.arrayValue?.count ?? 0) packages"
            )
            for f in m["formats"]?.arrayValue ?? [] {
                print(
                    "  \((f["format"]?.textValue ?? "").padding(toLength: 8, withPad: " ", startingAt: 0)) \(mb(f["bytes"])) (on disk \(mb(f["allocatedBytes"])))"
                )
            }
            func ratio(_ key: String) -> String { String(format: "%.3f", red[key]?.numberValue ?? 0) }
            print(
                "  final image (raw.zst) / tar.zst floor = \(ratio("finalOverFloor")) (target ≤ 1.100); qcow2 (zstd clusters) / floor = \(ratio("qcow2OverFloor")); raw on disk / floor = \(ratio("rawAllocatedOverFloor"))"
            )
        }
    }

    func mb(_ v: JSONValue?) -> String { String(format: "%.2f MB", (v?.numberValue ?? 0) / 1_000_000) }

    func component(_ ib: ImageBuilderClient, _ name: String, _ data: String) async throws -> JSONValue {
        try await ib.call(
            "PUT", "CreateComponent",
            body: [
                "name": .string(name), "semanticVersion": "1.0.0", "platform": "Linux", "data": .string(data),
                "clientToken": .string(ImageBuilderClient.token()),
            ])["componentBuildVersionArn"]!
    }

    func run(_ argv: [String], in folder: String? = nil) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        if let folder { p.currentDirectoryURL = URL(fileURLWithPath: folder) }
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CLIError("`\(argv.joined(separator: " "))` failed") }
    }

    /// busybox-static unpacked, one link per applet, a passwd file: a root file system tarball.
    func busyboxTarball(_ root: String) throws -> String {
        let fm = FileManager.default
        var deb = ((try? fm.contentsOfDirectory(atPath: cache)) ?? []).filter { $0.hasPrefix("busybox-static_") && $0.hasSuffix(".deb") }
            .sorted().last
        if deb == nil {
            try fm.createDirectory(atPath: cache, withIntermediateDirectories: true)
            try run(["apt-get", "download", "busybox-static"], in: cache)
            deb = ((try? fm.contentsOfDirectory(atPath: cache)) ?? []).filter { $0.hasPrefix("busybox-static_") }.sorted().last
        }
        guard let deb else { throw CLIError("no busybox-static package in \(cache)") }
        let tree = "\(root)/busybox"
        try run(["dpkg-deb", "-x", "\(cache)/\(deb)", tree])
        let list = Pipe()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(tree)/bin/busybox")
        p.arguments = ["--list"]
        p.standardOutput = list
        try p.run()
        let names = String(decoding: list.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        p.waitUntilExit()
        for name in names where !fm.fileExists(atPath: "\(tree)/bin/\(name)") {
            try fm.createSymbolicLink(atPath: "\(tree)/bin/\(name)", withDestinationPath: "busybox")
        }
        for d in ["etc", "root", "tmp", "var/log", "var/tmp"] {
            try fm.createDirectory(atPath: "\(tree)/\(d)", withIntermediateDirectories: true)
        }
        try Data("root:x:0:0:root:/root:/bin/sh\n".utf8).write(to: URL(fileURLWithPath: "\(tree)/etc/passwd"))
        try Data().write(to: URL(fileURLWithPath: "\(tree)/etc/machine-id"))
        let tarball = "\(root)/busybox.tar"
        try run(["tar", "--numeric-owner", "--owner=0", "--group=0", "-cf", tarball, "-C", tree, "."])
        return tarball
    }
}
