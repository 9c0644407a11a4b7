import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StewardKit

/// A REST-JSON operation: an HTTP method and path, the members that travel in the query string (with their types),
/// and how the service names its errors. AWS Resource Groups and EC2 Image Builder are served this way.
struct RESTRoute: Sendable {
    enum MemberType: Sendable { case string, integer, boolean }

    /// A query-string parameter: the input member it fills and its type, as the service model says.
    struct QueryMember: Sendable {
        var member: String
        var type: MemberType
    }

    var method: HTTPRequest.Method
    var path: String
    /// Query-string parameters by their name on the wire.
    var query: [String: QueryMember] = [:]
    /// The largest body accepted.
    var maxBody: Int = 1 << 20
    /// The code that generic client errors (a malformed or missing member) take in this service.
    var clientErrorCode: String
    var operation: Operation

    /// The route key: `PUT /CreateComponent`.
    var key: String { "\(method.rawValue) \(path)" }

    /// The input: the JSON body, with each declared query-string parameter merged in with its type.
    func input(body: [UInt8], queryItems: [(String, String)]) throws(AWSError) -> StewardKit.RequestBody {
        var fields = body.isEmpty ? [:] : try StewardKit.RequestBody(bytes: body).fields
        for (name, text) in queryItems {
            guard let q = query[name], fields[q.member] == nil else { continue }
            switch q.type {
            case .string: fields[q.member] = .string(text)
            case .integer:
                guard let n = Int(text) else { throw AWSError.serialization("Query parameter \(name) must be an integer.") }
                fields[q.member] = .number(Double(n))
            case .boolean:
                guard text == "true" || text == "false" else {
                    throw AWSError.serialization("Query parameter \(name) must be true or false.")
                }
                fields[q.member] = .bool(text == "true")
            }
        }
        return try StewardKit.RequestBody(.object(fields))
    }
}

extension APIRouter {
    /// Serves a REST-JSON route: SigV4 over the real method, path and query; errors carry their code in
    /// `x-amzn-ErrorType` and the body, with the HTTP status the service model gives.
    func respond(_ request: Request, route: RESTRoute) async -> Response {
        let requestId = requestIds.next()
        do {
            var request = request
            let buffer: ByteBuffer
            do { buffer = try await request.collectBody(upTo: route.maxBody) } catch {
                throw AWSError(route.clientErrorCode, "The request body is larger than \(route.maxBody) bytes.", status: 413)
            }
            let body = Array(buffer.readableBytesView)
            let identity = try await verifier.verify(
                method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "",
                authority: request.head.authority, headers: request.headers, body: body, now: Date())
            let items = request.uri.queryParameters.map { (String($0.0), String($0.1)) }
            let input = try route.input(body: body, queryItems: items)
            let host = request.head.authority ?? "127.0.0.1"
            let apiContext = APIContext(
                region: identity.region, accountId: accountId, requestId: requestId, now: Date(), logger: logger, baseURL: "http://\(host)")
            let result = try await route.operation(apiContext, input)
            return APIRouter.json(result, status: .ok, requestId: requestId, contentType: "application/json")
        } catch let error as AWSError {
            if error.status >= 500 { logger.error("request failed", metadata: ["request": "\(requestId)", "error": "\(error)"]) }
            // Authentication codes stay as they are; other client errors take the service's generic name.
            let keep =
                error.status != 400
                || error.code.hasSuffix("Exception") && error.code != "ValidationException"
                    && error.code != "SerializationException"
            let code = keep ? error.code : route.clientErrorCode
            var response = APIRouter.json(
                ["__type": .string(code), "Message": .string(error.message), "message": .string(error.message)],
                status: .init(code: error.status), requestId: requestId, contentType: "application/json")
            response.headers[HTTPField.Name("x-amzn-ErrorType")!] = code
            return response
        } catch {
            logger.error("request failed", metadata: ["request": "\(requestId)", "error": "\(error)"])
            return APIRouter.json(
                ["__type": "InternalServerErrorException", "Message": "An internal error occurred."], status: .internalServerError,
                requestId: requestId, contentType: "application/json")
        }
    }
}
