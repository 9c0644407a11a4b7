import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes
import StewardKit
import Synchronization

/// Hot reads served on the connection's event loop. GetParameter is the call a fleet makes most (every script that
/// reads its configuration), and when the parameter's latest version is in memory the answer needs no database,
/// no file and no other thread. Such a request is verified and answered right here, in the channel pipeline,
/// without the hand-over to a task and back that every routed request costs. Anything else, and any request this
/// path does not answer (unknown key, a signature or body that fails, a parameter not in memory), continues down
/// the pipeline to the router unchanged, which answers it, errors included, as it always does.
struct FastReads: Sendable {
    static let target = "AmazonSSM.GetParameter"
    /// GetParameter bodies are a name and a flag; a larger one goes the ordinary way.
    static let maxBody = 4096

    let verifier: SigV4Verifier
    let parameters: ParameterOperations
    let accountId: String
    let requestIds = RequestIds()

    /// Whether a request with this head is one to collect and try to answer here.
    func wants(_ head: HTTPRequest) -> Bool {
        head.method == .post && head.path == "/" && head.headerFields[.amzTarget] == Self.target
            && head.headerFields[.expect] == nil && head.headerFields[.connection] == nil
    }

    /// The response to the request, or nil to serve it the ordinary way.
    func answer(_ head: HTTPRequest, body: [UInt8]) -> (HTTPResponse, ByteBuffer)? {
        guard
            let identity = verifier.verifyWithKnownKey(
                method: "POST", path: "/", query: "", authority: head.authority, headers: head.headerFields, body: body, now: Date()),
            let request = try? StewardKit.RequestBody(bytes: body),
            let result = parameters.getParameterFromMemory(request, region: identity.region, accountId: accountId)
        else { return nil }
        let bytes = JSONWriter.bytes(result)
        var response = HTTPResponse(status: .ok)
        response.headerFields[.contentType] = "application/x-amz-json-1.1"
        response.headerFields[.amzRequestId] = requestIds.next()
        response.headerFields[.contentLength] = String(bytes.count)
        response.headerFields[.server] = "steward"
        return (response, ByteBuffer(bytes: bytes))
    }
}

/// Request ids in UUID form without a random draw per request: a random 64-bit prefix per process and a counter.
final class RequestIds: Sendable {
    private let prefix: String
    private let counter = Atomic<UInt64>(0)

    init() {
        var rng = SystemRandomNumberGenerator()
        let p = rng.next() as UInt64
        let hex = String(p, radix: 16).leftPadded(to: 16)
        prefix = "\(hex.prefix(8))-\(hex.dropFirst(8).prefix(4))-4\(hex.dropFirst(13).prefix(3))-"
    }

    func next() -> String {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let hex = String(n, radix: 16).leftPadded(to: 16)
        return prefix + "8\(hex.prefix(3))-\(hex.dropFirst(4))"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension HTTPField.Name {
    static let amzTarget = HTTPField.Name("X-Amz-Target")!
    static let amzRequestId = HTTPField.Name("x-amzn-RequestId")!
}

/// The pipeline half of ``FastReads``: collects a GetParameter request, answers it if it can, and otherwise passes
/// it on exactly as it came. It answers only while no earlier request of the connection is still with the router, so
/// pipelined responses keep their order.
final class FastReadHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case idle
        case collecting(HTTPRequest, [UInt8])
        case passing
    }

    private let reads: FastReads
    private var state = State.idle
    /// Requests handed to the router whose response has not ended yet.
    private var withRouter = 0

    init(reads: FastReads) { self.reads = reads }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.idle, .head(let head)):
            if withRouter == 0 && reads.wants(head) {
                state = .collecting(head, [])
            } else {
                pass(context, data)
            }
        case (.collecting(let head, var body), .body(let chunk)):
            body.append(contentsOf: chunk.readableBytesView)
            if body.count > FastReads.maxBody {
                handOver(context, head, body)
            } else {
                state = .collecting(head, body)
            }
        case (.collecting(let head, let body), .end):
            if let (response, bytes) = reads.answer(head, body: body) {
                state = .idle
                context.write(wrapOutboundOut(.head(response)), promise: nil)
                context.write(wrapOutboundOut(.body(bytes)), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            } else {
                handOver(context, head, body)
                context.fireChannelRead(data)
                state = .idle
            }
        case (.passing, .end):
            state = .idle
            context.fireChannelRead(data)
        default:
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { withRouter = max(0, withRouter - 1) }
        context.write(data, promise: promise)
    }

    /// Hands a new request to the router.
    private func pass(_ context: ChannelHandlerContext, _ data: NIOAny) {
        withRouter += 1
        state = .passing
        context.fireChannelRead(data)
    }

    /// Hands a request collected so far to the router, as it came: its head and what has arrived of its body.
    private func handOver(_ context: ChannelHandlerContext, _ head: HTTPRequest, _ body: [UInt8]) {
        pass(context, wrapInboundOut(.head(head)))
        if !body.isEmpty { context.fireChannelRead(wrapInboundOut(.body(ByteBuffer(bytes: body)))) }
    }
}
