import StewardKit

/// A Session Manager session as stored (a `session` record) and as DescribeSessions shows it.
struct SessionRecord: Sendable, Hashable {
    enum Status: String, Sendable {
        case connecting = "Connecting"
        case connected = "Connected"
        case disconnected = "Disconnected"
        case terminating = "Terminating"
        case terminated = "Terminated"
        case failed = "Failed"

        /// Active sessions in DescribeSessions; the others are history.
        var isActive: Bool { self != .terminated && self != .failed }
    }

    static let kind = "session"

    var sessionId: String
    var region: String
    var target: String
    var documentName: String
    var status: Status
    var startDate: Double
    var endDate: Double?
    var owner: String
    var reason: String?
    var details: String?
    /// The shell's exit status, once it ended.
    var exitCode: Int?
    /// The command of an `AWS-StartInteractiveCommand` session.
    var command: String?

    var json: JSONValue {
        .compact([
            "SessionId": .string(sessionId), "Region": .string(region), "Target": .string(target),
            "DocumentName": .string(documentName), "Status": .string(status.rawValue), "StartDate": .number(startDate),
            "EndDate": endDate.map { .number($0) } ?? .null, "Owner": .string(owner), "Reason": JSONValue(reason),
            "Details": JSONValue(details), "ExitCode": exitCode.map { JSONValue($0) } ?? .null, "Command": JSONValue(command),
        ])
    }

    init(
        sessionId: String, region: String, target: String, documentName: String, status: Status, startDate: Double,
        owner: String, reason: String?, command: String?
    ) {
        self.sessionId = sessionId
        self.region = region
        self.target = target
        self.documentName = documentName
        self.status = status
        self.startDate = startDate
        self.owner = owner
        self.reason = reason
        self.command = command
    }

    init?(json: JSONValue) {
        guard let id = json["SessionId"]?.stringValue, let region = json["Region"]?.stringValue,
            let target = json["Target"]?.stringValue, let status = json["Status"]?.stringValue.flatMap(Status.init(rawValue:)),
            let start = json["StartDate"]?.numberValue
        else { return nil }
        self.init(
            sessionId: id, region: region, target: target, documentName: json["DocumentName"]?.stringValue ?? "",
            status: status, startDate: start, owner: json["Owner"]?.stringValue ?? "", reason: json["Reason"]?.stringValue,
            command: json["Command"]?.stringValue)
        endDate = json["EndDate"]?.numberValue
        details = json["Details"]?.stringValue
        exitCode = json["ExitCode"]?.numberValue.map { Int($0) }
    }

    /// The AWS `Session` shape.
    func apiShape(outputUrl: String) -> JSONValue {
        .compact([
            "SessionId": .string(sessionId), "Target": .string(target), "Status": .string(status.rawValue),
            "StartDate": .number(startDate), "EndDate": endDate.map { .number($0) } ?? .null, "DocumentName": .string(documentName),
            "Owner": .string(owner), "Reason": JSONValue(reason), "Details": JSONValue(details),
            "OutputUrl": ["S3OutputUrl": .string(outputUrl), "CloudWatchOutputUrl": ""],
            "AccessType": "Standard",
        ])
    }
}
