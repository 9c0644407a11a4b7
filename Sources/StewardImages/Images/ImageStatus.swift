import StewardKit

/// The states of an image build, as Image Builder names them. A new image moves through the build, test and
/// distribution states and ends AVAILABLE, FAILED or CANCELLED; the last three come from later resource management.
public enum ImageStatus: String, Sendable, CaseIterable {
    case pending = "PENDING"
    case creating = "CREATING"
    case building = "BUILDING"
    case testing = "TESTING"
    case distributing = "DISTRIBUTING"
    case integrating = "INTEGRATING"
    case available = "AVAILABLE"
    case cancelled = "CANCELLED"
    case failed = "FAILED"
    case deprecated = "DEPRECATED"
    case deleted = "DELETED"
    case disabled = "DISABLED"

    /// Whether a build in this state is still under way (it can be cancelled, not deleted).
    public var inProgress: Bool {
        switch self {
        case .pending, .creating, .building, .testing, .distributing, .integrating: true
        default: false
        }
    }
}

/// A pipeline schedule's expression: `cron(<min> <hour> <day> <month> <day-of-week> <year>)` with exactly one of day and
/// day-of-week `?`, as Image Builder takes it. Image Builder has no `rate()` schedules: a pipeline's schedule is when
/// its start condition is evaluated, so it is refused rather than stored and never run.
public enum ScheduleExpression {
    public static func check(_ text: String) -> String? {
        guard text.hasPrefix("cron("), text.hasSuffix(")") else {
            return "a pipeline schedule is a cron(...) expression, as in cron(0 10 * * ? *)"
        }
        let inner = String(text.dropFirst(5).dropLast())
        let fields = inner.split(separator: " ")
        guard fields.count == 6 else { return "a cron expression has 6 fields: minute hour day month day-of-week year" }
        guard (fields[2] == "?") != (fields[4] == "?") else { return "exactly one of day and day-of-week must be ?" }
        do {
            _ = try Cron(inner)
        } catch {
            return error.description
        }
        return nil
    }
}
