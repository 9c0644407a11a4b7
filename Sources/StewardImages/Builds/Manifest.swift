import Foundation
import StewardKit

/// The `manifest.json` published with an image: where it came from, what was applied, what it holds, how it was
/// shrunk, scanned and tested, and the checksum of every file.
struct Manifest: Sendable {
    struct Format: Sendable {
        var format: String
        var file: String
        var bytes: Int
        var allocatedBytes: Int
        var sha256: String
    }

    let spec: BuildSpec
    let provider: String
    let buildDate = Date()
    var buildReboots = 0
    var packages: [DpkgStatus.Package] = []
    var reduction: VolumeReduction.Figures?
    var scan: MalwareScan.Report?
    var formats: [Format] = []
    var tests: JSONValue = .null
    var primaryFormat: String?

    init(spec: BuildSpec, provider: String) {
        self.spec = spec
        self.provider = provider
    }

    var json: JSONValue {
        let floor = formats.first { $0.format == "tar.zst" }?.bytes ?? 0
        func ratio(_ f: String) -> JSONValue {
            guard floor > 0, let b = formats.first(where: { $0.format == f })?.bytes else { return .null }
            return .number((Double(b) / Double(floor) * 1000).rounded() / 1000)
        }
        let components: [JSONValue] = (spec.buildComponents + spec.testComponents).map {
            .compact([
                "name": .string($0.name), "version": .string($0.version),
                "parameters": $0.parameters.isEmpty ? .null : .object($0.parameters.mapValues { .string($0) }),
            ])
        }
        return .compact([
            "name": .string(spec.name), "version": .string(spec.version), "arn": .string(spec.imageArn),
            "buildDate": .string(ISO8601DateFormatter().string(from: buildDate)), "parentImage": .string(spec.parentImage),
            "provider": .string(provider), "primaryFormat": JSONValue(primaryFormat?.lowercased().replacing("_", with: ".")),
            "components": .array(components), "buildReboots": JSONValue(buildReboots),
            "stewardAgent": spec.agent.map { a -> JSONValue in ["installed": true, "activationId": .string(a.activationId)] } ?? .null,
            "formats": .array(
                formats.map { f -> JSONValue in
                    [
                        "format": .string(f.format), "file": .string(f.file), "bytes": JSONValue(f.bytes),
                        "allocatedBytes": JSONValue(f.allocatedBytes), "sha256": .string(f.sha256),
                    ]
                }),
            "packages": .array(
                packages.map { p -> JSONValue in
                    ["name": .string(p.name), "version": .string(p.version), "architecture": .string(p.architecture)]
                }),
            "reduction": reduction.map { r -> JSONValue in
                [
                    "treeBytesBefore": JSONValue(r.bytesBefore), "treeBytesAfter": JSONValue(r.bytesAfter),
                    "removedEntries": JSONValue(r.removedEntries), "zstdFloorBytes": JSONValue(floor),
                    "zstdLevel": JSONValue(spec.zstdLevel),
                    "finalFormat": "raw.zst", "finalBytes": formats.first { $0.format == "raw.zst" }.map { JSONValue($0.bytes) } ?? .null,
                    "finalOverFloor": ratio("raw.zst"), "qcow2OverFloor": ratio("qcow2"),
                    "rawAllocatedOverFloor": rawRatio(floor),
                ]
            } ?? .null,
            "scan": scan?.json ?? .null,
            "tests": tests,
        ])
    }

    func rawRatio(_ floor: Int) -> JSONValue {
        guard floor > 0, let raw = formats.first(where: { $0.format == "raw" }) else { return .null }
        return .number((Double(raw.allocatedBytes) / Double(floor) * 1000).rounded() / 1000)
    }
}
