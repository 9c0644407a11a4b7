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
    /// The access key that signed the request.
    var accessKeyId = ""

    var nowSeconds: Double { now.timeIntervalSince1970 }
}

/// An SSM operation: reads the request body, answers a JSON value or throws an ``AWSError``.
typealias Operation = @Sendable (APIContext, RequestBody) async throws -> JSONValue

/// Slices a full result list into AWS pages with tamper-evident `NextToken`s.
struct Pager: Sendable {
    let tokens: PageToken

    /// One page of `items`, which must be in a stable order in which `key` is unique.
    func page<T>(
        _ items: [T], body: RequestBody, range: ClosedRange<Int>, defaultSize: Int, query: String, key: (T) -> String
    ) throws(AWSError) -> (items: ArraySlice<T>, nextToken: JSONValue) {
        let size = try body.maxResults(range: range, default: defaultSize)
        let position = try tokens.position(from: body.string("NextToken"), query: query)
        var start = min(position.offset, items.count)
        if let last = position.lastKey, !(start > 0 && key(items[start - 1]) == last) {
            // Items came or went before the cursor: continue after the last item returned, if it is still there.
            if let i = items.firstIndex(where: { key($0) == last }) { start = i + 1 }
        }
        let end = min(items.count, start + size)
        let next: JSONValue =
            end < items.count ? .string(tokens.make(offset: end, lastKey: key(items[end - 1]), query: query)) : .null
        return (items[start..<end], next)
    }
}

extension RequestBody {
    /// The request without its paging members: a page token is valid only for the same query.
    var pagingQuery: String {
        JSONWriter.string(.object(fields.filter { $0.key != "NextToken" && $0.key != "MaxResults" }))
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
