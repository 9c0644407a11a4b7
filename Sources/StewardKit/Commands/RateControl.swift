#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `MaxConcurrency` or `MaxErrors`: an absolute number or a percentage of the targets.
public enum RateLimit: Sendable, Hashable, CustomStringConvertible {
    case count(Int)
    case percent(Int)

    public var description: String {
        switch self {
        case .count(let n): String(n)
        case .percent(let p): "\(p)%"
        }
    }

    public static func parseConcurrency(_ text: String?) throws(AWSError) -> RateLimit {
        guard let text else { return .count(50) }
        guard let limit = parse(text), text.count <= 7 else {
            throw .validation("MaxConcurrency '\(text)' is not valid: use a number of at least 1 or a percentage from 1% to 100%.")
        }
        switch limit {
        case .count(let n) where n >= 1: return limit
        case .percent(let p) where (1...100).contains(p): return limit
        default: throw .validation("MaxConcurrency '\(text)' is not valid: use a number of at least 1 or a percentage from 1% to 100%.")
        }
    }

    public static func parseErrors(_ text: String?) throws(AWSError) -> RateLimit {
        guard let text else { return .count(0) }
        guard let limit = parse(text), text.count <= 7 else {
            throw .validation("MaxErrors '\(text)' is not valid: use a number of at least 0 or a percentage from 0% to 100%.")
        }
        if case .percent(let p) = limit, p > 100 {
            throw .validation("MaxErrors '\(text)' is not valid: a percentage is at most 100%.")
        }
        return limit
    }

    static func parse(_ text: String) -> RateLimit? {
        if text.hasSuffix("%") {
            guard let p = Int(text.dropLast()), p >= 0, !text.hasPrefix("0") || text == "0%" else { return nil }
            return .percent(p)
        }
        guard let n = Int(text), n >= 0, text.allSatisfy(\.isNumber), text == "0" || !text.hasPrefix("0") else { return nil }
        return .count(n)
    }

    /// Concurrency resolved against the number of targets: at least 1, percentages rounded up.
    public func concurrency(targets: Int) -> Int {
        switch self {
        case .count(let n): return max(1, n)
        case .percent(let p): return max(1, (targets * p + 99) / 100)
        }
    }

    /// The error threshold resolved against the number of targets; sending stops once errors exceed it.
    public func errorThreshold(targets: Int) -> Int {
        switch self {
        case .count(let n): return n
        case .percent(let p): return targets * p / 100
        }
    }
}
