import Foundation
import StewardImages
import StewardKit

/// `GET /GetImageBuildLog?imageBuildVersionArn=...` (Steward's own, beside Image Builder's operations): the steps of
/// a build with their times and figures, the manifest once published, and the build log (its last `maxBytes`).
extension ImageBuilderAPI {
    static let logLimit = 4 << 20

    func getImageBuildLog(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let (_, record) = try await exactImage(ctx, body)
        var log = ""
        if let path = record["_logFile"]?.stringValue, let handle = FileHandle(forReadingAtPath: path) {
            defer { try? handle.close() }
            let size = (try? handle.seekToEnd()) ?? 0
            try? handle.seek(toOffset: size > UInt64(Self.logLimit) ? size - UInt64(Self.logLimit) : 0)
            log = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        }
        return .compact([
            "requestId": .string(ctx.requestId), "imageBuildVersionArn": record["arn"] ?? .null, "state": record["state"] ?? .null,
            "steps": record["_steps"] ?? .array([]), "manifest": record["_manifest"] ?? .null, "logFile": record["_logFile"] ?? .null,
            "log": .string(log),
        ])
    }
}
