#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An association's ScheduleExpression: `rate(30 minutes)` or `cron(0 2 ? * SUN *)` (AWS's six fields; a leading
/// seconds field of 0 is accepted too).
public enum Schedule: Sendable, Hashable {
    case rate(seconds: Int)
    case cron(Cron)

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public static func parse(_ text: String) throws(Invalid) -> Schedule {
        let t = text.trimmingSpaces
        if t.hasPrefix("rate(") && t.hasSuffix(")") {
            let parts = t.dropFirst(5).dropLast().split(separator: " ")
            guard parts.count == 2, let n = Int(parts[0]), n > 0 else {
                throw Invalid(description: "rate() takes a number and a unit, as in rate(30 minutes)")
            }
            let unit = String(parts[1])
            let seconds: Int
            switch unit {
            case "minute" where n == 1, "minutes" where n > 1: seconds = n * 60
            case "hour" where n == 1, "hours" where n > 1: seconds = n * 3600
            case "day" where n == 1, "days" where n > 1: seconds = n * 86_400
            default: throw Invalid(description: "rate() unit must be minute(s), hour(s) or day(s), singular for 1 and plural otherwise")
            }
            guard seconds >= 30 * 60 else { throw Invalid(description: "rate() must be at least 30 minutes") }
            guard seconds < 31 * 86_400 else { throw Invalid(description: "rate() must be less than 31 days") }
            return .rate(seconds: seconds)
        }
        if t.hasPrefix("cron(") && t.hasSuffix(")") {
            return .cron(try Cron(String(t.dropFirst(5).dropLast())))
        }
        throw Invalid(description: "the schedule must be rate(...) or cron(...), not \(text)")
    }

    /// The first run time strictly after `after` (seconds since 1970, UTC); for a rate, counted from `anchor`.
    public func next(after: Double, anchor: Double) -> Double? {
        switch self {
        case .rate(let seconds):
            let s = Double(seconds)
            let k = max(1, ((after - anchor) / s).rounded(.down) + 1)
            return anchor + k * s
        case .cron(let cron):
            return cron.next(after: after)
        }
    }
}

/// A cron expression in AWS's form: minutes, hours, day of month, month, day of week, year.
public struct Cron: Sendable, Hashable {
    var minutes: Set<Int>
    var hours: Set<Int>
    var daysOfMonth: Set<Int>?
    var months: Set<Int>
    var daysOfWeek: Set<Int>?
    var years: Set<Int>?

    public init(_ text: String) throws(Schedule.Invalid) {
        var fields = text.split(separator: " ").map(String.init)
        if fields.count == 7, fields[0] == "0" { fields.removeFirst() }
        guard fields.count == 6 || fields.count == 5 else {
            throw Schedule.Invalid(description: "cron() takes six fields: minutes hours day-of-month month day-of-week year")
        }
        if fields.count == 5 { fields.append("*") }
        minutes = try Self.field(fields[0], 0...59, "minutes")
        hours = try Self.field(fields[1], 0...23, "hours")
        daysOfMonth = fields[2] == "?" ? nil : try Self.field(fields[2], 1...31, "day-of-month")
        months = try Self.field(
            fields[3], 1...12, "month", names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
        daysOfWeek =
            fields[4] == "?"
            ? nil : try Self.field(fields[4], 1...7, "day-of-week", names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
        years = fields[5] == "*" ? nil : try Self.field(fields[5], 1970...2199, "year")
        if daysOfMonth != nil && daysOfWeek != nil && fields[2] != "*" && fields[4] != "*" {
            throw Schedule.Invalid(description: "cron(): give day-of-month or day-of-week, and ? for the other")
        }
    }

    static func field(_ text: String, _ range: ClosedRange<Int>, _ name: String, names: [String] = []) throws(Schedule.Invalid) -> Set<Int>
    {
        var out = Set<Int>()
        func value(_ s: Substring) throws(Schedule.Invalid) -> Int {
            if let n = Int(s), range.contains(n) { return n }
            if let i = names.firstIndex(of: s.uppercased()) { return range.lowerBound + i }
            throw Schedule.Invalid(description: "cron(): \(s) is not a valid \(name) value")
        }
        for part in text.split(separator: ",") {
            var step = 1
            var body = part
            if let slash = part.firstIndex(of: "/") {
                guard let s = Int(part[part.index(after: slash)...]), s > 0 else {
                    throw Schedule.Invalid(description: "cron(): bad step in \(part)")
                }
                step = s
                body = part[..<slash]
            }
            let lower: Int
            let upper: Int
            if body == "*" || body == "?" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else if let dash = body.firstIndex(of: "-") {
                lower = try value(body[..<dash])
                upper = try value(body[body.index(after: dash)...])
                guard lower <= upper else { throw Schedule.Invalid(description: "cron(): the range \(body) runs backwards") }
            } else {
                lower = try value(body)
                upper = part.contains("/") ? range.upperBound : lower
            }
            for v in stride(from: lower, through: upper, by: step) { out.insert(v) }
        }
        return out
    }

    /// The next minute (UTC) after `after` that the expression names, within five years.
    public func next(after: Double) -> Double? {
        var t = (after / 60).rounded(.down) * 60 + 60
        let limit = after + 5 * 366 * 86_400
        while t < limit {
            let c = Self.utc(t)
            let dayOK = (daysOfMonth.map { $0.contains(c.day) } ?? true) && (daysOfWeek.map { $0.contains(c.weekday) } ?? true)
            if let years, !years.contains(c.year) {
                t = (t / 86_400).rounded(.down) * 86_400 + 86_400
                continue
            }
            if !months.contains(c.month) || !dayOK {
                // Skip to the next day's midnight.
                t = (t / 86_400).rounded(.down) * 86_400 + 86_400
                continue
            }
            if !hours.contains(c.hour) {
                t = (t / 3600).rounded(.down) * 3600 + 3600
                continue
            }
            if minutes.contains(c.minute) { return t }
            t += 60
        }
        return nil
    }

    /// The UTC calendar fields of an epoch time, by arithmetic on the proleptic Gregorian calendar (no time zone
    /// database needed, so the agent computes schedules with FoundationEssentials alone). Weekday: 1 = Sunday.
    static func utc(_ t: Double) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, weekday: Int) {
        let seconds = Int((t).rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Days since 0000-03-01 split into 400-year eras, years of the era, and days of the year from March.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        // 1970-01-01 was a Thursday (weekday 5).
        let weekday = ((days % 7 + 7) % 7 + 4) % 7 + 1
        return (year, month, day, secondOfDay / 3600, secondOfDay % 3600 / 60, weekday)
    }
}
