import Foundation
import StewardKit

/// Where a build reports what it does: the state it enters, each step as it starts and ends, and log lines.
public struct BuildObserver: Sendable {
    /// Throws (CancellationError) when the build must stop.
    public var stage: @Sendable (ImageStatus, String) async throws -> Void
    public var step: @Sendable (BuildStep) async -> Void
    public var log: BuildLogSink

    public init(
        stage: @escaping @Sendable (ImageStatus, String) async throws -> Void, step: @escaping @Sendable (BuildStep) async -> Void,
        log: @escaping BuildLogSink
    ) {
        self.stage = stage
        self.step = step
        self.log = log
    }
}

/// One image build, stage by stage, as Image Builder runs it: launch a build instance from the parent image, apply
/// the build and validate phases, install the agent, stop, reduce the volume, scan, capture the image files, test on
/// a fresh instance, publish, record. The provider decides what an instance is.
public struct ImageBuild: Sendable {
    public let spec: BuildSpec
    public let provider: any BuildProvider
    public let observer: BuildObserver

    public init(spec: BuildSpec, provider: any BuildProvider, observer: BuildObserver) {
        self.spec = spec
        self.provider = provider
        self.observer = observer
    }

    /// What a finished build leaves: the manifest (also written beside the image files) and the kept tree.
    public struct Result: Sendable {
        public var manifest: JSONValue
        public var rootFolder: String
        public var outputs: [String]
    }

    /// Runs the whole build. A failure throws, after the instance was terminated (or kept, when asked; the log says
    /// where); a cancellation ends the running step's processes and throws `CancellationError`.
    public func run() async throws -> Result {
        let fm = FileManager.default
        try fm.createDirectory(atPath: spec.workFolder, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: spec.storeFolder, withIntermediateDirectories: true)
        var manifest = Manifest(spec: spec, provider: provider.name)

        try await observer.stage(.creating, "Launching the build instance.")
        let instance = try await step("LaunchBuildInstance", .creating) { s in
            let i = try await provider.start(
                from: spec.parent, purpose: .build, workFolder: spec.workFolder, region: spec.region, log: observer.log)
            s.details["instanceId"] = .string(i.instanceId)
            return i
        }
        do {
            try await observer.stage(.building, "Applying the build components.")
            let built = try await step("ApplyBuildComponents", .building) { s in
                let outcome = try await instance.run(
                    ComponentRunRequest(
                        components: spec.buildComponents, phases: ["build", "validate"], timeoutSeconds: spec.timeoutSeconds,
                        maxReboots: spec.maxReboots), log: observer.log)
                s.details["components"] = JSONValue(spec.buildComponents.count)
                s.details["reboots"] = JSONValue(outcome.reboots)
                guard outcome.succeeded else { throw BuildFailure(outcome.reason ?? "a build component failed") }
                return outcome
            }
            manifest.buildReboots = built.reboots
            let tree = try await step("StopBuildInstance", .building) { s in
                let source = try await instance.stop()
                guard source.layout == .rawExt4 else { return source.path }
                // A virtual machine leaves its disk: its tree is read out of it without mounting.
                let folder = "\(spec.workFolder)/\(instance.instanceId)-tree"
                try await ImageFormats.extractExt4(source.path, into: folder)
                s.details["extractedFrom"] = .string(source.path)
                return folder
            }
            if let agent = spec.agent {
                try await step("InstallStewardAgent", .building) { s in
                    s.details["activationId"] = .string(agent.activationId)
                    try await AgentInstaller.install(agent, into: tree, log: observer.log)
                }
            }
            manifest.packages = DpkgStatus.packages(root: tree)
            let reduction = try await step("VolumeReduction", .building) { s in
                let r = try await VolumeReduction.reduce(tree, log: observer.log)
                s.details["bytesBefore"] = JSONValue(r.bytesBefore)
                s.details["bytesAfter"] = JSONValue(r.bytesAfter)
                return r
            }
            manifest.reduction = reduction
            // The scan, the image files and the zstd -19 tarball (the slowest: the size floor) all read the reduced
            // tree at once; the tests need only the raw image, so the tarball finishes beside them.
            let tarZst = "\(spec.storeFolder)/image.tar.zst"
            async let floor: Int = step("CreateTarZst", .building) { s in
                try await ImageFormats.makeTarZstd(from: tree, to: tarZst, level: spec.zstdLevel)
                s.details["tarZstBytes"] = JSONValue(HostCommand.fileSize(tarZst))
                return HostCommand.fileSize(tarZst)
            }
            async let scanned = step("MalwareScan", .building) { s in
                let report = try await MalwareScan.scan(tree, signatures: spec.signatures, log: observer.log)
                s.details["result"] = .string(report.result.rawValue)
                s.details["findings"] = JSONValue(report.findings.count)
                if report.result == .infected {
                    let list = report.findings.map { "\($0.path) (\($0.signature))" }.joined(separator: ", ")
                    s.details["report"] = report.json
                    throw BuildFailure("the malware scan found \(report.findings.count) infected file(s): \(list)")
                }
                return report
            }
            async let captured = step("CreateOutputImage", .building) { s in
                let files = try await capture(tree)
                s.details["rawBytes"] = JSONValue(files.raw.bytes)
                s.details["rawAllocatedBytes"] = JSONValue(files.raw.allocated)
                s.details["qcow2Bytes"] = JSONValue(HostCommand.fileSize(files.qcow2))
                return files
            }
            manifest.scan = try await scanned
            let files = try await captured
            // The distribution file: the raw image as one zstd stream, made beside the tests as the tarball is.
            let rawZst = "\(spec.storeFolder)/image.raw.zst"
            async let compressed: Int = step("CompressImage", .building) { s in
                try await ImageFormats.makeRawZstd(from: files.raw.path, to: rawZst, level: spec.zstdLevel)
                s.details["rawZstBytes"] = JSONValue(HostCommand.fileSize(rawZst))
                return HostCommand.fileSize(rawZst)
            }

            try await observer.stage(.testing, spec.testsEnabled ? "Testing the image on a fresh instance." : "Tests are disabled.")
            if spec.testsEnabled {
                manifest.tests = try await test(files.raw.path)
            } else {
                manifest.tests = ["result": "SKIPPED"]
            }
            let floorBytes = try await floor
            let finalBytes = try await compressed
            manifest.formats = try await formats([
                ("raw", files.raw.path), ("raw.zst", rawZst), ("qcow2", files.qcow2), ("tar.zst", tarZst),
            ])
            await observer.log(
                "image files: raw \(files.raw.bytes) bytes (\(files.raw.allocated) on disk), raw.zst \(finalBytes), qcow2 \(HostCommand.fileSize(files.qcow2)), tar.zst \(floorBytes) (the floor); raw.zst / floor = \(String(format: "%.3f", Double(finalBytes) / Double(max(floorBytes, 1))))"
            )
            // The tree is kept with the image (a later recipe may start from it); the instance goes.
            let kept = "\(spec.storeFolder)/rootfs"
            try? fm.removeItem(atPath: kept)
            try fm.moveItem(atPath: tree, toPath: kept)
            await instance.terminate()
            await observer.log("build instance \(instance.instanceId) terminated")

            try await observer.stage(.distributing, "Publishing the image.")
            let published = manifest
            let outputs = try await step("DistributeImage", .distributing) { s in
                let outputs = try await publish([files.raw.path, rawZst, files.qcow2, tarZst], manifest: published)
                s.details["folders"] = JSONValue(outputs)
                return outputs
            }
            try await observer.stage(.integrating, "Recording the image.")
            let json = manifest.json
            try await step("RecordImage", .integrating) { _ in
                try Data(JSONWriter.string(json).utf8).write(to: URL(fileURLWithPath: "\(spec.storeFolder)/manifest.json"))
            }
            try? fm.removeItem(atPath: spec.workFolder)
            return Result(manifest: json, rootFolder: kept, outputs: outputs)
        } catch {
            // Image files half made are of no use; the kept instance (when asked) is what one inspects.
            try? fm.removeItem(atPath: spec.storeFolder)
            if !spec.terminateInstanceOnFailure && !(error is CancellationError) {
                await observer.log(
                    "terminateInstanceOnFailure is false: the build instance \(instance.instanceId) is kept for inspection in \(spec.workFolder)/\(instance.instanceId)"
                )
            } else {
                await instance.terminate()
                try? fm.removeItem(atPath: spec.workFolder)
            }
            throw error
        }
    }

    /// The image files of a tree: sparse raw ext4 (shrunk) and qcow2 with zstd clusters.
    struct Files: Sendable {
        var raw: ImageFormats.RawImage
        var qcow2: String
    }

    func capture(_ tree: String) async throws -> Files {
        let raw = try await ImageFormats.makeExt4(from: tree, to: "\(spec.storeFolder)/image.raw", log: observer.log)
        let qcow2 = "\(spec.storeFolder)/image.qcow2"
        try await ImageFormats.makeQcow2(from: raw.path, to: qcow2)
        return Files(raw: raw, qcow2: qcow2)
    }

    /// Sizes and checksums of the image files, for the manifest.
    func formats(_ files: [(format: String, path: String)]) async throws -> [Manifest.Format] {
        var out: [Manifest.Format] = []
        for (format, file) in files {
            out.append(
                .init(
                    format: format, file: (file as NSString).lastPathComponent, bytes: HostCommand.fileSize(file),
                    allocatedBytes: HostCommand.allocatedBytes(file), sha256: try await ImageFormats.sha256(file)))
        }
        return out
    }

    /// The test stage: a fresh instance from the captured raw image, a start test, then the recipe's test components.
    func test(_ raw: String) async throws -> JSONValue {
        let instance = try await step("LaunchTestInstance", .testing) { s in
            let i = try await provider.start(
                from: InstanceSource(path: raw, layout: .rawExt4), purpose: .test, workFolder: spec.workFolder, region: spec.region,
                log: observer.log)
            s.details["instanceId"] = .string(i.instanceId)
            return i
        }
        do {
            let startDoc = "\(spec.workFolder)/steward-start-test.yaml"
            try Data(Self.startTest.utf8).write(to: URL(fileURLWithPath: startDoc))
            let start = ComponentInvocation(name: "steward-start-test", version: "1.0.0", documentPath: startDoc)
            try await step("StartTest", .testing) { _ in
                let o = try await instance.run(
                    ComponentRunRequest(components: [start], phases: ["test"], timeoutSeconds: 300, maxReboots: 0), log: observer.log)
                guard o.succeeded else { throw BuildFailure("the start test failed: \(o.reason ?? "")") }
            }
            var reboots = 0
            if !spec.testComponents.isEmpty {
                reboots = try await step("ApplyTestComponents", .testing) { s in
                    let o = try await instance.run(
                        ComponentRunRequest(
                            components: spec.testComponents, phases: ["test"], timeoutSeconds: spec.timeoutSeconds,
                            maxReboots: spec.maxReboots), log: observer.log)
                    s.details["components"] = JSONValue(spec.testComponents.count)
                    guard o.succeeded else { throw BuildFailure(o.reason ?? "a test component failed") }
                    return o.reboots
                }
            }
            await instance.terminate()
            return [
                "result": "PASSED", "instanceId": .string(instance.instanceId), "startTest": "PASSED", "reboots": JSONValue(reboots),
                "components": .array(
                    spec.testComponents.map { ["name": .string($0.name), "version": .string($0.version), "result": "PASSED"] }),
            ]
        } catch {
            if spec.terminateInstanceOnFailure || error is CancellationError {
                await instance.terminate()
            } else {
                await observer.log(
                    "terminateInstanceOnFailure is false: the test instance \(instance.instanceId) is kept in \(spec.workFolder)")
            }
            throw error
        }
    }

    /// A test every instance must pass: the runner starts in it and a shell command runs.
    static let startTest = """
        name: steward-start-test
        schemaVersion: 1.0
        phases:
          - name: test
            steps:
              - name: Start
                action: ExecuteBash
                inputs:
                  commands:
                    - 'echo "started: $(uname -n) $(cat /proc/1/cmdline | tr "\\\\000" " " | cut -c1-60)"'
                    - test -d /etc
        """

    /// Copies the image files and the manifest to every distribution folder (`<folder>/<name>/<x.y.z>/<n>`).
    func publish(_ files: [String], manifest: Manifest) async throws -> [String] {
        var outputs: [String] = []
        let version = spec.version.split(separator: "/")
        for d in spec.distributions {
            let target = ([d.folder, ImageBuilderARN.arnName(spec.name)] + version.map(String.init)).joined(separator: "/")
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            for file in files {
                try await HostCommand.run(["cp", "--sparse=always", file, target])
            }
            var m = manifest
            m.primaryFormat = d.primaryFormat
            try Data(JSONWriter.string(m.json).utf8).write(to: URL(fileURLWithPath: "\(target)/manifest.json"))
            await observer.log("published to \(target)")
            outputs.append(target)
        }
        return outputs
    }

    /// Runs one named step: reports it running, then succeeded or failed with the message.
    @discardableResult
    func step<T: Sendable>(_ name: String, _ stage: ImageStatus, _ body: (inout BuildStep) async throws -> T) async throws -> T {
        var s = BuildStep(name: name, stage: stage, status: .running, startTime: Date().timeIntervalSince1970)
        await observer.step(s)
        await observer.log("step \(name): started")
        do {
            let value = try await body(&s)
            s.status = .succeeded
            s.endTime = Date().timeIntervalSince1970
            await observer.step(s)
            await observer.log("step \(name): succeeded in \(String(format: "%.1f", s.endTime! - s.startTime)) s")
            return value
        } catch {
            s.status = error is CancellationError ? .cancelled : .failed
            s.endTime = Date().timeIntervalSince1970
            s.message = error is CancellationError ? "cancelled" : "\(error)"
            await observer.step(s)
            await observer.log("step \(name): \(s.status.rawValue.lowercased()): \(s.message ?? "")")
            throw error
        }
    }
}
