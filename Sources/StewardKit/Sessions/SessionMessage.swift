#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One message of an interactive session, the same whatever carries it (the agent channel, a direct connection).
///
/// A session is a byte stream each way plus a few controls: the operator's side sends `input`, `resize`, `signal`
/// and `close`; the shell's side sends `output` and, once, `exit`. `ack` says how many output bytes the operator's
/// side has taken, so a shell that prints faster than anyone reads is paused instead of buffered without bound.
public struct SessionMessage: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable {
        /// server → agent: start a shell (the request travels sealed, in the frame's `sealed`).
        case open
        /// agent → server: the shell is running.
        case opened
        /// operator → shell: bytes typed (Ctrl-C is byte 3, and the terminal turns it into SIGINT).
        case input
        /// shell → operator: bytes the shell wrote; `offset` is the position of the first of them in the stream.
        case output
        /// operator → shell: the terminal's new size.
        case resize
        /// operator → shell: send a signal (INT, QUIT, TERM, HUP, KILL) to the foreground process group.
        case signal
        /// operator → shell: output up to `offset` is consumed.
        case ack
        /// operator → shell: end the session (the shell's process group is killed).
        case close
        /// shell → operator: the shell ended with `exitCode`, or could not start (`reason`).
        case exit
    }

    public var kind: Kind
    public var sessionId: String
    /// Base64 bytes, on `input` and `output`.
    public var data: String?
    public var offset: Int?
    public var cols: Int?
    public var rows: Int?
    public var signal: String?
    public var exitCode: Int?
    public var reason: String?
    /// On the agent channel: the message's number in its direction (strictly increasing) and its HMAC under the
    /// session's key (see ``SessionAuthenticator``).
    public var seq: Int?
    public var mac: String?

    public init(
        _ kind: Kind, sessionId: String, data: String? = nil, offset: Int? = nil, cols: Int? = nil, rows: Int? = nil,
        signal: String? = nil, exitCode: Int? = nil, reason: String? = nil
    ) {
        self.kind = kind
        self.sessionId = sessionId
        self.data = data
        self.offset = offset
        self.cols = cols
        self.rows = rows
        self.signal = signal
        self.exitCode = exitCode
        self.reason = reason
    }

    public static func input(_ sessionId: String, _ bytes: some Collection<UInt8>) -> SessionMessage {
        SessionMessage(.input, sessionId: sessionId, data: Data(bytes).base64EncodedString())
    }

    public static func output(_ sessionId: String, _ bytes: some Collection<UInt8>, offset: Int) -> SessionMessage {
        SessionMessage(.output, sessionId: sessionId, data: Data(bytes).base64EncodedString(), offset: offset)
    }

    /// The bytes of an `input` or `output` message (empty when there are none or they are not base64).
    public var bytes: [UInt8] {
        guard let data, let decoded = Data(base64Encoded: data) else { return [] }
        return Array(decoded)
    }

    /// Signal names a session accepts, with their numbers on Linux.
    public static let signals: [String: Int32] = ["INT": 2, "QUIT": 3, "TERM": 15, "HUP": 1, "KILL": 9, "TSTP": 20]
}

/// What the server asks an agent to start, sealed to that agent and signed by the server like an invocation,
/// so that only the server the agent registered with can open a shell on it.
public struct SessionOpenRequest: Sendable, Codable, Hashable {
    public var sessionId: String
    public var instanceId: String
    /// Epoch seconds after which the agent refuses to start it (a delayed or replayed request).
    public var notAfter: Double
    public var term: String
    public var cols: Int
    public var rows: Int
    /// Who asked, for the agent's log.
    public var owner: String
    /// Base64 256-bit key that authenticates the session's messages on the agent channel both ways.
    public var key: String?
    /// Run this command line in the terminal instead of a login shell (`AWS-StartInteractiveCommand`).
    public var command: String?

    public init(
        sessionId: String, instanceId: String, notAfter: Double, term: String, cols: Int, rows: Int, owner: String, command: String? = nil
    ) {
        self.command = command
        self.sessionId = sessionId
        self.instanceId = instanceId
        self.notAfter = notAfter
        self.term = term
        self.cols = cols
        self.rows = rows
        self.owner = owner
    }
}

/// The first message an operator's client sends on a session's stream (`StreamUrl`): the token from StartSession or
/// ResumeSession, and its terminal.
///
/// After it, the client sends binary frames of typed bytes and text frames holding ``SessionMessage``s (`resize`,
/// `signal`, `close`); the server sends binary frames of output and, at the end, a text `exit` ``SessionMessage``.
public struct SessionStreamHello: Sendable, Codable, Hashable {
    public var token: String
    public var term: String?
    public var cols: Int?
    public var rows: Int?

    public init(token: String, term: String?, cols: Int?, rows: Int?) {
        self.token = token
        self.term = term
        self.cols = cols
        self.rows = rows
    }
}
