import Foundation

/// Image Builder's schedule expressions, evaluated in UTC: `cron(<minute> <hour> <day> <month> <day-of-week> <year>)`
/// with `*`, `?`, lists, ranges, steps and names (JAN-DEC, SUN-SAT; day-of-week 1 is Sunday). `L`, `W` and `#` are
/// not supported (such a field never matches, and ``parse(_:)`` says so).
public struct CronSchedule: Sendable, Equatable {
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>?
    let months: Set<Int>
    let weekdays: Set<Int>?
    let years: Set<Int>

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// Parses `cron(...)`; throws a message for anything it cannot evaluate.
    public static func parse(_ expression: String) throws -> CronSchedule {
        guard expression.hasPrefix("cron("), expression.hasSuffix(")") else { throw BuildFailure("not a cron() expression") }
        let f = expression.dropFirst(5).dropLast().split(separator: " ").map { String($0).uppercased() }
        guard f.count == 6 else { throw BuildFailure("a cron expression has 6 fields") }
        return CronSchedule(
            minutes: try field(f[0], 0...59), hours: try field(f[1], 0...23),
            days: f[2] == "?" ? nil : try field(f[2], 1...31), months: try field(f[3], 1...12, names: monthNames, base: 1),
            weekdays: f[4] == "?" ? nil : try field(f[4], 1...7, names: dayNames, base: 1), years: try field(f[5], 1970...2199))
    }

    static func field(_ text: String, _ range: ClosedRange<Int>, names: [String] = [], base: Int = 0) throws -> Set<Int> {
        func value(_ s: Substring) throws -> Int {
            if let n = Int(s), range.contains(n) { return n }
            if let i = names.firstIndex(of: String(s)) { return i + base }
            throw BuildFailure("\(s) is not a value from \(range.lowerBound) to \(range.upperBound)")
        }
        var out = Set<Int>()
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: "/", maxSplits: 1)
            let step = pieces.count == 2 ? Int(pieces[1]) ?? 0 : 1
            guard step > 0 else { throw BuildFailure("bad step in \(part)") }
            var lo = range.lowerBound
            var hi = range.upperBound
            let spec = pieces[0]
            if spec != "*" && spec != "?" {
                let bounds = spec.split(separator: "-", maxSplits: 1)
                lo = try value(bounds[0])
                hi = bounds.count == 2 ? try value(bounds[1]) : (pieces.count == 2 ? range.upperBound : lo)
            }
            guard lo <= hi else { throw BuildFailure("the range \(part) runs backwards") }
            out.formUnion(stride(from: lo, through: hi, by: step))
        }
        return out
    }

    /// Whether the minute holding `date` (UTC) matches. With both day fields given, either may match (as cron does).
    public func matches(_ date: Date) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.minute, .hour, .day, .month, .weekday, .year], from: date)
        guard minutes.contains(c.minute!), hours.contains(c.hour!), months.contains(c.month!), years.contains(c.year!) else {
            return false
        }
        switch (days, weekdays) {
        case (let d?, nil): return d.contains(c.day!)
        case (nil, let w?): return w.contains(c.weekday!)
        case (let d?, let w?): return d.contains(c.day!) || w.contains(c.weekday!)
        case (nil, nil): return true
        }
    }
}
