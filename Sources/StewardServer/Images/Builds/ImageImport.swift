import Foundation
import StewardImages
import StewardKit
import StewardStore

/// Base images: `ImportDiskImage` takes a file on the server (`uri`: an absolute path or `file://` URL) holding a root
/// file system tarball, a raw ext4 image or a qcow2 image, and records an image build that the worker unpacks into
/// the image store; once AVAILABLE its ARN serves as a recipe's `parentImage`.
extension ImageBuilderAPI {
    func importDiskImage(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        try await idempotent(ctx, body, operation: "ImportDiskImage") {
            let name = try Self.name(body)
            let version = try SemanticVersion.parse(try body.requiredString("semanticVersion"))
            let uri = try body.requiredString("uri")
            let path = uri.hasPrefix("file://") ? String(uri.dropFirst("file://".count)) : uri
            guard path.hasPrefix("/") else {
                throw Self.invalid("uri is a file on the server: an absolute path or a file:// URL, not \(uri).")
            }
            guard FileManager.default.isReadableFile(atPath: path) else { throw Self.invalid("The file \(path) cannot be read.") }
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            guard attributes?[.type] as? FileAttributeType == .typeRegular, (attributes?[.size] as? Int ?? 0) > 0 else {
                throw Self.invalid("uri must name a non-empty file (a root file system tarball, raw ext4 or qcow2 image): \(path).")
            }
            let platform = try ComponentDefinition.platform(try body.string("platform") ?? "Linux")
            let build = try await nextBuild(ctx, kind: "image", name: ImageBuilderARN.arnName(name), version: version)
            let arn = ImageBuilderARN.of(.image, region: ctx.region, account: ctx.accountId, name: name, version: version, build: build)
            let record: JSONValue = .compact([
                "arn": .string(arn.description), "type": "AMI", "name": .string(name), "version": .string("\(version)/\(build)"),
                "platform": .string(platform), "osVersion": Self.raw(body, "osVersion"), "description": try Self.description(body),
                "state": ["status": .string(ImageStatus.pending.rawValue), "reason": "Waiting for the import."],
                "dateCreated": .string(ctx.nowSeconds.iso8601), "tags": try Self.tags(body), "owner": .string(ctx.accountId),
                "buildType": "IMPORT", "imageSource": "IMPORTED", "_import": ["uri": .string(path)],
            ])
            try await store.putRecord(
                kind: Kind.image, region: ctx.region, id: "\(arn.name)/\(version)/\(build)", parent: arn.name, body: record,
                now: ctx.nowSeconds)
            return ["imageBuildVersionArn": .string(arn.description)]
        }
    }
}

extension ImageBuildWorker {
    /// Unpacks an imported file into the image store.
    func runImport(region: String, id: String, record: JSONValue, uri: String) async throws {
        let store = "\(root)/store/\(ImageBuilderARN.arnName(region))/\(id)"
        let tree = "\(store)/rootfs"
        let started = Date()
        await appendLog(region, id, "import \(uri) (\(try await ImageFormats.kind(of: uri).rawValue)) into \(tree)")
        _ = try await update(region, id) { r in r["state"] = ["status": "CREATING", "reason": "Unpacking the imported image."] }
        try? FileManager.default.removeItem(atPath: tree)
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        do {
            try await ImageFormats.extract(uri, into: tree, scratch: store)
        } catch {
            try? FileManager.default.removeItem(atPath: store)
            throw error
        }
        let bytes = try await HostCommand.treeBytes(tree)
        let packages = DpkgStatus.packages(root: tree).count
        let seconds = Date().timeIntervalSince(started)
        await appendLog(region, id, "imported: \(bytes) bytes, \(packages) dpkg packages, in \(String(format: "%.1f", seconds)) s")
        _ = try await update(region, id) { r in
            r["state"] = ["status": .string(ImageStatus.available.rawValue), "reason": "Imported."]
            r["_rootfs"] = .string(tree)
            r["_steps"] = [
                [
                    "name": "ImportImage", "stage": "CREATING", "status": "SUCCEEDED", "seconds": .number((seconds * 100).rounded() / 100),
                    "details": ["treeBytes": JSONValue(bytes), "packages": JSONValue(packages), "source": .string(uri)],
                ]
            ]
        }
    }
}
