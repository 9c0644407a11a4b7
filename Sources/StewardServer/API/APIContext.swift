import Foundation
import Logging
import StewardKit
import StewardStore

/// What an operation handler knows about the request it serves.
struct APIContext: Sendable {
    let region: String
    let accountId: String
    let requestId: String
    let now: Date
    let logger: Logger
    /// `http://host:port` as the client addressed the server, for output URLs.
    let baseURL: String

    var nowSeconds: Double { now.timeIntervalSince1970 }
}

/// An SSM operation: reads the request body, answers a JSON value or throws an ``AWSError``.
typealias Operation = @Sendable (APIContext, RequestBody) async throws -> JSONValue

/// Slices a full result list into AWS pages with tamper-evident `NextToken`s.
struct Pager: Sendable {
    let tokens: PageToken

    func page<T>(_ items: [T], body: RequestBody, range: ClosedRange<Int>, defaultSize: Int, query: String) throws(AWSError)
        -> (items: ArraySlice<T>, nextToken: JSONValue)
    {
        let size = try body.maxResults(range: range, default: defaultSize)
        let offset = try tokens.offset(from: body.string("NextToken"), query: query)
        guard offset <= items.count else { throw AWSError.invalidNextToken }
        let end = min(items.count, offset + size)
        let next: JSONValue = end < items.count ? .string(tokens.make(offset: end, query: query)) : .null
        return (items[offset..<end], next)
    }
}

extension Double {
    /// ISO-8601 text with milliseconds, for the few fields the SSM model types as strings.
    var iso8601: String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: self))
    }
}
