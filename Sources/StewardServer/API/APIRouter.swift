import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import StewardKit

/// Serves the AWS JSON 1.1 API: `POST /` routed by `X-Amz-Target`, SigV4 on every request.
struct APIRouter: Sendable {
    static let targetPrefix = "AmazonSSM."
    /// Steward's own operations (saved inventory queries, exports), signed and framed like the SSM ones.
    static let stewardPrefix = "Steward."
    /// PutInventory carries up to 12 MB of content.
    static let maxBodyBytes = 16 << 20

    let verifier: SigV4Verifier
    let operations: [String: Operation]
    /// REST-JSON operations (AWS Resource Groups) by path, all `POST`.
    let restOperations: [String: Operation]
    /// Other REST-JSON routes (EC2 Image Builder), any method, by ``RESTRoute/key``.
    var restRoutes: [String: RESTRoute] = [:]
    let accountId: String
    let logger: Logger
    let requestIds = RequestIds()

    func respond(_ request: Request, context: some RequestContext) async -> Response {
        let requestId = requestIds.next()
        do {
            var request = request
            let buffer: ByteBuffer
            do { buffer = try await request.collectBody(upTo: APIRouter.maxBodyBytes) } catch {
                throw AWSError("SerializationException", "The request body is larger than \(APIRouter.maxBodyBytes) bytes.", status: 413)
            }
            let body = Array(buffer.readableBytesView)
            let identity = try await verifier.verify(
                method: "POST", path: request.uri.path, query: request.uri.query ?? "", authority: request.head.authority,
                headers: request.headers, body: body,
                now: Date())
            guard let target = request.headers[HTTPField.Name("X-Amz-Target")!] else {
                throw AWSError("UnknownOperationException", "The X-Amz-Target header is missing.")
            }
            let name = target.hasPrefix(APIRouter.targetPrefix) ? String(target.dropFirst(APIRouter.targetPrefix.count)) : target
            guard target.hasPrefix(APIRouter.targetPrefix) || target.hasPrefix(APIRouter.stewardPrefix), let operation = operations[name]
            else {
                throw AWSError("UnknownOperationException", "Operation \(target) is not supported.")
            }
            let parsed = try StewardKit.RequestBody(bytes: body)
            let host = request.head.authority ?? "127.0.0.1"
            let apiContext = APIContext(
                region: identity.region, accountId: accountId, requestId: requestId, now: Date(),
                logger: logger, baseURL: "http://\(host)", accessKeyId: identity.accessKeyId)
            let result = try await operation(apiContext, parsed)
            return APIRouter.json(result, status: .ok, requestId: requestId)
        } catch let error as AWSError {
            if error.status >= 500 { logger.error("request failed", metadata: ["request": "\(requestId)", "error": "\(error)"]) }
            return APIRouter.json(error.body, status: .init(code: error.status), requestId: requestId)
        } catch {
            logger.error("request failed", metadata: ["request": "\(requestId)", "error": "\(error)"])
            return APIRouter.json(AWSError.internalError().body, status: .internalServerError, requestId: requestId)
        }
    }

    /// Serves a REST-JSON operation of AWS Resource Groups (`POST /groups`, ...): the body is the input, paging members
    /// may come in the query string, and client errors are `BadRequestException`.
    func respondREST(_ request: Request, path: String) async -> Response {
        guard let operation = restOperations[path] else {
            return APIRouter.json(
                ["__type": "NotFoundException", "Message": .string("No operation at \(path).")], status: .notFound,
                requestId: UUID().uuidString.lowercased(), contentType: "application/json")
        }
        let paging: [String: RESTRoute.QueryMember] = [
            "maxResults": .init(member: "MaxResults", type: .integer), "nextToken": .init(member: "NextToken", type: .string),
            "MaxResults": .init(member: "MaxResults", type: .integer), "NextToken": .init(member: "NextToken", type: .string),
        ]
        let route = RESTRoute(method: .post, path: path, query: paging, clientErrorCode: "BadRequestException", operation: operation)
        return await respond(request, route: route)
    }

    static func json(
        _ value: JSONValue, status: HTTPResponse.Status, requestId: String, contentType: String = "application/x-amz-json-1.1"
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[HTTPField.Name("x-amzn-RequestId")!] = requestId
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(value))))
    }
}
