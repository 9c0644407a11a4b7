import Foundation
import Testing

@testable import StewardKit

@Suite struct ScheduleTests {
    @Test func utcFieldsMatchTheGregorianCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        var generator = SystemRandomNumberGenerator()
        let samples =
            [0.0, 951_782_400, 4_107_542_399, -86_400]
            + (0..<2000).map { _ in Double(Int.random(in: 0...4_102_444_800, using: &generator)) }
        for t in samples {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: Date(timeIntervalSince1970: t))
            let mine = Cron.utc(t)
            let expected: [Int] = [c.year!, c.month!, c.day!, c.hour!, c.minute!, c.weekday!]
            let found: [Int] = [mine.year, mine.month, mine.day, mine.hour, mine.minute, mine.weekday]
            #expect(found == expected, "at \(t)")
        }
    }

    @Test func cronAndRateTimes() throws {
        // 2026-11-29 is a Sunday.
        let sunday = Date(timeIntervalSince1970: 1_795_910_400).timeIntervalSince1970
        let weekly = try Schedule.parse("cron(30 2 ? * MON *)")
        #expect(weekly.next(after: sunday, anchor: 0) == sunday + 86_400 + 2 * 3600 + 30 * 60)
        let everyMinute = try Schedule.parse("cron(* * * * ? *)")
        #expect(everyMinute.next(after: sunday + 10, anchor: 0) == sunday + 60)
        let rate = try Schedule.parse("rate(30 minutes)")
        #expect(rate.next(after: 1000, anchor: 100) == 1900)
    }

    @Test("cron() as Image Builder pipelines write it: names, ranges, steps, lists and a year")
    func imageBuilderExpressions() throws {
        func at(_ text: String) -> Double { ISO8601DateFormatter().date(from: text)!.timeIntervalSince1970 }
        func cron(_ text: String) throws -> Cron {
            guard case .cron(let c) = try Schedule.parse(text) else { throw Schedule.Invalid(description: "not cron") }
            return c
        }
        #expect(try cron("cron(0 3 ? * * *)").next(after: at("2026-12-03T02:59:59Z")) == at("2026-12-03T03:00:00Z"))
        // MON-FRI: from a Friday evening the next is Monday's.
        #expect(try cron("cron(30 18 ? * MON-FRI *)").next(after: at("2026-12-04T18:30:00Z")) == at("2026-12-07T18:30:00Z"))
        #expect(try cron("cron(*/15 * 1,15 JAN-MAR ? 2027)").next(after: at("2026-12-03T00:00:00Z")) == at("2027-01-01T00:00:00Z"))
        #expect(try cron("cron(*/15 * 1,15 JAN-MAR ? 2027)").next(after: at("2027-02-15T07:40:00Z")) == at("2027-02-15T07:45:00Z"))
        for bad in ["cron(0 3 * *)", "cron(61 * * * ? *)", "rate(5 minutes)", "cron(0 3 ? * 2#1 *)"] {
            #expect(throws: Schedule.Invalid.self, "\(bad)") { try cron(bad) }
        }
    }
}
