import Foundation
import Hummingbird
import NIOCore
import StewardKit

extension SessionOperations {
    /// `GET /sessions/<id>/transcript`, signed like the API: the `OutputUrl` of DescribeSessions.
    func addTranscriptRoute(to router: Router<BasicRequestContext>, verifier: SigV4Verifier) {
        router.get("/sessions/:session/transcript") { request, context -> Response in
            let identity: SigV4Verifier.Identity
            do {
                identity = try await verifier.verify(
                    method: "GET", path: request.uri.path, query: request.uri.query ?? "", authority: request.head.authority,
                    headers: request.headers, body: [], now: Date())
            } catch let error as AWSError {
                return APIRouter.json(error.body, status: .init(code: error.status), requestId: UUID().uuidString.lowercased())
            }
            let id = context.parameters.get("session") ?? ""
            guard let (_, text) = try await transcript(region: identity.region, sessionId: id) else { return Response(status: .notFound) }
            return Response(
                status: .ok, headers: [.contentType: "application/x-asciicast"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
