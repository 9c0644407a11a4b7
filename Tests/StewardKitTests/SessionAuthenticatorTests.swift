import Crypto
import Testing

@testable import StewardKit

@Suite("Session messages on the agent channel are numbered and authenticated")
struct SessionAuthenticatorTests {
    func pair() -> (SessionAuthenticator, SessionAuthenticator) {
        let (key, text) = SessionAuthenticator.newKey()
        return (SessionAuthenticator(key: key), SessionAuthenticator(base64: text)!)
    }

    @Test("a signed message is accepted once, in order")
    func inOrder() {
        var (server, agent) = pair()
        let first = server.sign(.input("s", Array("ls\r".utf8)), .toAgent)
        let second = server.sign(SessionMessage(.resize, sessionId: "s", cols: 100, rows: 30), .toAgent)
        let accepted = [agent.accept(first, .toAgent), agent.accept(second, .toAgent)]
        let replayed = [agent.accept(first, .toAgent), agent.accept(second, .toAgent)]
        #expect(accepted == [true, true])
        #expect(replayed == [false, false], "a replay is refused")
    }

    @Test("a changed member, another key or the other direction does not verify", arguments: 0..<6)
    func tampering(_ change: Int) {
        var (server, agent) = pair()
        var message = server.sign(SessionMessage(.signal, sessionId: "s", signal: "INT"), .toAgent)
        var direction = SessionAuthenticator.Direction.toAgent
        switch change {
        case 0: message.signal = "KILL"
        case 1: message.sessionId = "t"
        case 2: message.seq = 7
        case 3: message.kind = .close
        case 4: direction = .fromAgent
        default: agent = SessionAuthenticator(key: SymmetricKey(size: .bits256))
        }
        let accepted = agent.accept(message, direction)
        #expect(!accepted)
    }

    @Test("an unsigned message or a key of the wrong size is refused")
    func unsigned() {
        var (_, agent) = pair()
        let accepted = agent.accept(.input("s", [3]), .toAgent)
        #expect(!accepted)
        #expect(SessionAuthenticator(base64: "c2hvcnQ=") == nil)
    }
}
