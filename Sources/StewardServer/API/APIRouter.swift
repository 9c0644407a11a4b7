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
    let accountId: String
    let logger: Logger

    func respond(_ request: Request, context: some RequestContext) async -> Response {
        let requestId = UUID().uuidString.lowercased()
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
                logger: logger, baseURL: "http://\(host)")
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

    /// Serves a REST-JSON operation (`POST /groups`, ...): the body is the input, paging members may come in the
    /// query string, and errors carry their code in `x-amzn-ErrorType` with the HTTP status the service model gives.
    func respondREST(_ request: Request, path: String) async -> Response {
        let requestId = UUID().uuidString.lowercased()
        do {
            var request = request
            let buffer: ByteBuffer
            do { buffer = try await request.collectBody(upTo: 1 << 20) } catch {
                throw AWSError("BadRequestException", "The request body is larger than 1 MB.", status: 413)
            }
            let body = Array(buffer.readableBytesView)
            let identity = try await verifier.verify(
                method: "POST", path: request.uri.path, query: request.uri.query ?? "", authority: request.head.authority,
                headers: request.headers, body: body, now: Date())
            guard let operation = restOperations[path] else { throw AWSError("NotFoundException", "No operation at \(path).", status: 404) }
            var fields = body.isEmpty ? [:] : try StewardKit.RequestBody(bytes: body).fields
            for (name, value) in request.uri.queryParameters where fields[String(name)] == nil {
                let text = String(value)
                fields[String(name)] = name == "MaxResults" ? (Double(text).map { .number($0) } ?? .string(text)) : .string(text)
            }
            let host = request.head.authority ?? "127.0.0.1"
            let apiContext = APIContext(
                region: identity.region, accountId: accountId, requestId: requestId, now: Date(), logger: logger, baseURL: "http://\(host)")
            let result = try await operation(apiContext, try StewardKit.RequestBody(.object(fields)))
            return APIRouter.json(result, status: .ok, requestId: requestId, contentType: "application/json")
        } catch let error as AWSError {
            if error.status >= 500 { logger.error("request failed", metadata: ["request": "\(requestId)", "error": "\(error)"]) }
            // Authentication codes stay as they are; other client errors take the REST services' generic name.
            let keep =
                error.status != 400
                || error.code.hasSuffix("Exception") && error.code != "ValidationException"
                    && error.code != "SerializationException"
            let code = keep ? error.code : "BadRequestException"
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

    static func json(
        _ value: JSONValue, status: HTTPResponse.Status, requestId: String, contentType: String = "application/x-amz-json-1.1"
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[HTTPField.Name("x-amzn-RequestId")!] = requestId
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(value))))
    }
}
