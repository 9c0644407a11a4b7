import Crypto
import Foundation
import StewardKit
import StewardStore

/// Session Manager: StartSession, ResumeSession, TerminateSession, DescribeSessions, and Steward.GetSessionTranscript.
///
/// The stream is Steward's own WebSocket protocol (``SessionStreamHello``), not the session-manager-plugin's binary
/// one: `steward session` is the client.
struct SessionOperations: Sendable {
    static let runShell = "SSM-SessionManagerRunShell"
    static let interactiveCommand = "AWS-StartInteractiveCommand"

    let store: Store
    let relay: SessionRelay
    let gateway: AgentGateway
    let pager: Pager

    func register(into ops: inout [String: Operation]) {
        ops["StartSession"] = startSession
        ops["ResumeSession"] = resumeSession
        ops["TerminateSession"] = terminateSession
        ops["DescribeSessions"] = describeSessions
        ops["Steward.GetSessionTranscript"] = getTranscript
    }

    static func streamURL(base: String, sessionId: String) -> String {
        let ws = base.hasPrefix("https://") ? "wss://" + base.dropFirst(8) : "ws://" + base.dropFirst(base.hasPrefix("http://") ? 7 : 0)
        return "\(ws)/sessions/v1/stream/\(sessionId)"
    }

    static func outputURL(base: String, sessionId: String) -> String { "\(base)/sessions/\(sessionId)/transcript" }

    func startSession(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let target = try body.requiredString("Target")
        guard (1...400).contains(target.count) else { throw AWSError.validation("Target must be 1 to 400 characters.") }
        let documentName = try body.string("DocumentName") ?? Self.runShell
        let reason = try body.string("Reason")
        if let reason, reason.count > 256 { throw AWSError.validation("Reason must be at most 256 characters.") }
        let parameters = try body.parameterMap("Parameters") ?? [:]
        var command: String?
        switch documentName {
        case Self.runShell:
            if let name = parameters.keys.sorted().first {
                throw AWSError("InvalidParameters", "\(Self.runShell) takes no parameters; \(name) is not one of them.")
            }
        case Self.interactiveCommand:
            guard let lines = parameters["command"], !lines.isEmpty, parameters.count == 1 else {
                throw AWSError("InvalidParameters", "\(Self.interactiveCommand) takes one parameter, command.")
            }
            command = lines.joined(separator: "\n")
        default:
            throw AWSError(
                "InvalidDocument",
                "Document \(documentName) is not a session document Steward runs (\(Self.runShell) or \(Self.interactiveCommand)).")
        }
        guard let instance = try await store.instance(id: target), instance.region == ctx.region else {
            throw AWSError("TargetNotConnected", "\(target) is not connected.")
        }
        guard gateway.isConnected(target) else { throw AWSError("TargetNotConnected", "\(target) is not connected.") }
        guard let keyData = Data(base64Encoded: instance.encryptionKey),
            let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: keyData)
        else { throw AWSError.internalError("The node's encryption key is unreadable.") }

        let owner = "arn:aws:iam::\(ctx.accountId):user/\(ctx.accessKeyId)"
        let sessionId = "\(ctx.accessKeyId.isEmpty ? "steward" : ctx.accessKeyId)-\(Self.randomHex(17))"
        let record = SessionRecord(
            sessionId: sessionId, region: ctx.region, target: target, documentName: documentName, status: .connecting,
            startDate: ctx.nowSeconds, owner: owner, reason: reason, command: command)
        try await store.putRecord(kind: SessionRecord.kind, region: ctx.region, id: sessionId, body: record.json, now: ctx.nowSeconds)
        let token = await relay.start(record, encryptionKey: key, now: ctx.nowSeconds)
        ctx.logger.notice("session started", metadata: ["session": "\(sessionId)", "target": "\(target)", "owner": "\(owner)"])
        return [
            "SessionId": .string(sessionId), "TokenValue": .string(token),
            "StreamUrl": .string(Self.streamURL(base: ctx.baseURL, sessionId: sessionId)),
        ]
    }

    func resumeSession(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let sessionId = try body.requiredString("SessionId")
        try Self.checkId(sessionId)
        let token = try await relay.resume(sessionId, region: ctx.region, now: ctx.nowSeconds)
        return [
            "SessionId": .string(sessionId), "TokenValue": .string(token),
            "StreamUrl": .string(Self.streamURL(base: ctx.baseURL, sessionId: sessionId)),
        ]
    }

    func terminateSession(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let sessionId = try body.requiredString("SessionId")
        try Self.checkId(sessionId)
        if await relay.current(sessionId)?.region == ctx.region {
            await relay.terminate(sessionId, region: ctx.region)
        } else if try await store.record(kind: SessionRecord.kind, region: ctx.region, id: sessionId) == nil {
            throw AWSError("DoesNotExistException", "Session \(sessionId) does not exist.")
        }
        // An ended session stays as it ended: terminating it again is not an error.
        return ["SessionId": .string(sessionId)]
    }

    func describeSessions(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let state = try body.requiredString("State")
        guard state == "Active" || state == "History" else {
            throw AWSError.validation(
                "1 validation error detected: Value '\(state)' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]"
            )
        }
        await relay.flush()
        var byId: [String: SessionRecord] = [:]
        for body in try await store.records(kind: SessionRecord.kind, region: ctx.region) {
            if let record = SessionRecord(json: body) { byId[record.sessionId] = record }
        }
        for record in await relay.currentRecords(region: ctx.region) { byId[record.sessionId] = record }
        var items = byId.values.filter { $0.status.isActive == (state == "Active") }
        let filters = try body.objectList("Filters") ?? []
        guard filters.count <= 6 else { throw AWSError.validation("At most 6 filters are allowed.") }
        for filter in filters {
            let key = try filter.requiredString("key")
            let value = try filter.requiredString("value")
            switch key {
            case "InvokedAfter", "InvokedBefore":
                guard let time = Self.parseTime(value) else {
                    throw AWSError("InvalidFilterValue", "The value of \(key) must be a date such as 2024-01-31T00:00:00Z, not \(value).")
                }
                items = items.filter { key == "InvokedAfter" ? $0.startDate >= time : $0.startDate <= time }
            case "Target": items = items.filter { $0.target == value }
            case "Owner": items = items.filter { $0.owner == value || $0.owner.hasSuffix("/\(value)") }
            case "Status":
                guard SessionRecord.Status(rawValue: value) != nil else {
                    throw AWSError(
                        "InvalidFilterValue",
                        "Status must be Connected, Connecting, Disconnected, Terminated, Terminating or Failed, not \(value).")
                }
                items = items.filter { $0.status.rawValue == value }
            case "SessionId": items = items.filter { $0.sessionId == value }
            case "AccessType": items = items.filter { _ in value == "Standard" }
            default:
                throw AWSError(
                    "InvalidFilterKey",
                    "Filter key \(key) is not one of InvokedAfter, InvokedBefore, Target, Owner, Status, SessionId, AccessType.")
            }
        }
        items.sort { ($0.startDate, $0.sessionId) > ($1.startDate, $1.sessionId) }
        let page = try pager.page(items, body: body, range: 1...200, defaultSize: 20, query: body.pagingQuery) { $0.sessionId }
        return .compact([
            "Sessions": .array(page.items.map { $0.apiShape(outputUrl: Self.outputURL(base: ctx.baseURL, sessionId: $0.sessionId)) }),
            "NextToken": page.nextToken,
        ])
    }

    func getTranscript(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let sessionId = try body.requiredString("SessionId")
        try Self.checkId(sessionId)
        guard let (record, text) = try await transcript(region: ctx.region, sessionId: sessionId) else {
            throw AWSError("DoesNotExistException", "Session \(sessionId) does not exist.")
        }
        return [
            "SessionId": .string(sessionId), "Status": .string(record.status.rawValue), "Format": "asciicast-v2",
            "Transcript": .string(text),
        ]
    }

    /// The session and its transcript so far (empty if no client ever connected).
    func transcript(region: String, sessionId: String) async throws -> (SessionRecord, String)? {
        guard (try? Self.checkId(sessionId)) != nil else { return nil }
        let record: SessionRecord
        if let current = await relay.current(sessionId), current.region == region {
            record = current
        } else if let stored = try await store.record(kind: SessionRecord.kind, region: region, id: sessionId).flatMap(SessionRecord.init) {
            record = stored
        } else {
            return nil
        }
        let path = relay.transcriptPath(region: region, sessionId: sessionId)
        let data = FileManager.default.contents(atPath: path) ?? Data()
        return (record, String(decoding: data, as: UTF8.self))
    }

    /// Session ids name files, so only plain ones are accepted.
    static func checkId(_ id: String) throws(AWSError) {
        guard (1...96).contains(id.count), !id.hasPrefix("."), id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@".contains($0) })
        else { throw AWSError.validation("SessionId must be 1 to 96 letters, digits or -_.@ characters.") }
    }

    static func parseTime(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        return Double(text)
    }

    static func randomHex(_ count: Int) -> String {
        AccessKeys.random(count, alphabet: "0123456789abcdef")
    }
}
