import Crypto
import Foundation
import StewardKit
import Testing

@Suite("Direct grants and protocol")
struct DirectGrantTests {
    let server = Curve25519.Signing.PrivateKey()
    let operatorKey = Curve25519.Signing.PrivateKey()
    let now = 1_800_000_000.0

    func grant(
        instanceIds: [String] = ["mi-0123456789abcdef0"], targets: [CommandRecord.TargetPair] = [],
        documents: [DirectGrant.Document] = [], commands: [String] = ["systemctl restart *"], expiresIn: Double = 3600,
        issuer: String? = nil
    ) -> DirectGrant {
        DirectGrant(
            grantId: "grant-1", accountId: "123456789012", region: "us-east-1",
            issuer: issuer ?? DirectKeys.fingerprint(server.publicKey),
            operatorKey: operatorKey.publicKey.rawRepresentation.base64EncodedString(), instanceIds: instanceIds, targets: targets,
            documents: documents, commands: commands, nodeKeys: [:], issuedAt: now, expiresAt: now + expiresIn)
    }

    func code(_ body: () throws(DirectRefusal) -> DirectGrant) -> DirectRefusal.Code? {
        do {
            _ = try body()
            return nil
        } catch { return error.code }
    }

    @Test("a grant signed by the pinned server key verifies while it is in force")
    func valid() throws {
        let signed = try SignedGrant.sign(grant(), with: server)
        let checked = try signed.verify(serverKey: server.publicKey, now: now + 10)
        #expect(checked.grantId == "grant-1")
    }

    @Test("an expired grant is refused as expired")
    func expired() throws {
        let signed = try SignedGrant.sign(grant(expiresIn: 60), with: server)
        #expect(code { () throws(DirectRefusal) in try signed.verify(serverKey: server.publicKey, now: now + 61) } == .expired)
    }

    @Test("an altered grant, or one signed by another key in the server's name, is refused as badly signed")
    func forged() throws {
        let signed = try SignedGrant.sign(grant(), with: server)
        var content = try signed.unverified()
        content.expiresAt += 86_400
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let altered = SignedGrant(payload: try encoder.encode(content).base64EncodedString(), signature: signed.signature)
        #expect(code { () throws(DirectRefusal) in try altered.verify(serverKey: server.publicKey, now: now) } == .badSignature)

        let mallory = Curve25519.Signing.PrivateKey()
        let impostor = try SignedGrant.sign(grant(), with: mallory)
        #expect(code { () throws(DirectRefusal) in try impostor.verify(serverKey: server.publicKey, now: now) } == .badSignature)
    }

    @Test("a grant from a key the agent does not pin is refused as from an unknown issuer")
    func unknownIssuer() throws {
        let other = Curve25519.Signing.PrivateKey()
        let signed = try SignedGrant.sign(grant(issuer: DirectKeys.fingerprint(other.publicKey)), with: other)
        #expect(code { () throws(DirectRefusal) in try signed.verify(serverKey: server.publicKey, now: now) } == .unknownIssuer)
    }

    @Test("garbage is refused as malformed")
    func malformed() {
        let junk = SignedGrant(payload: "bm90IGpzb24=", signature: "")
        #expect(code { () throws(DirectRefusal) in try junk.verify(serverKey: server.publicKey, now: now) } == .malformed)
    }

    @Test("a grant covers the nodes it names and the nodes whose tags match its targets")
    func scopeOfNodes() {
        let byId = grant()
        #expect(byId.covers(instanceId: "mi-0123456789abcdef0", tags: [:]))
        #expect(!byId.covers(instanceId: "mi-00000000000000000", tags: [:]))
        let byTag = grant(instanceIds: [], targets: [.init(key: "tag:Role", values: ["web", "api"])])
        #expect(byTag.covers(instanceId: "mi-00000000000000000", tags: ["Role": "web"]))
        #expect(!byTag.covers(instanceId: "mi-00000000000000000", tags: ["Role": "db"]))
        #expect(!byTag.covers(instanceId: "mi-00000000000000000", tags: [:]))
    }

    @Test("commands must match a pattern line by line, unless the grant allows the shell document")
    func scopeOfCommands() {
        let g = grant(commands: ["systemctl restart *", "uptime"])
        #expect(g.allowsCommands(["systemctl restart nginx"]))
        #expect(g.allowsCommands(["uptime", "systemctl restart web api"]))
        #expect(!g.allowsCommands(["uptime; rm -rf /"]))
        #expect(!g.allowsCommands(["reboot"]))
        #expect(!g.allowsCommands(["uptime\nreboot"]))
        #expect(!g.allowsCommands([" "]))
        #expect(grant(documents: [.init(name: "AWS-RunShellScript", sha256: nil)], commands: []).allowsCommands(["anything"]))
    }

    @Test("documents are allowed by the SHA-256 of their content")
    func scopeOfDocuments() {
        let content = #"{"schemaVersion":"2.2"}"#
        let hash = DirectKeys.sha256Hex(Data(content.utf8))
        let g = grant(documents: [.init(name: "Deploy", sha256: hash)], commands: [])
        #expect(g.document(sha256: hash)?.name == "Deploy")
        #expect(g.document(sha256: DirectKeys.sha256Hex(Data((content + " ").utf8))) == nil)
    }

    @Test(
        "glob patterns",
        arguments: [
            ("*", "", true), ("a*c", "abc", true), ("a*c", "abd", false), ("echo *", "echo hi there", true), ("uptime", "uptime", true),
            ("uptime", "uptimes", false), ("*x*", "yyxyy", true), ("a**b", "ab", true),
        ])
    func glob(pattern: String, text: String, expected: Bool) {
        #expect(DirectGrant.glob(pattern, matches: text) == expected)
    }

    @Test("frames split across reads come out whole and in order")
    func frames() throws {
        var bytes: [UInt8] = []
        for text in ["one", "", String(repeating: "x", count: 70_000)] { bytes += DirectProtocol.frame(Data(text.utf8)) }
        var reader = DirectProtocol.FrameReader()
        var out: [String] = []
        for chunk in stride(from: 0, to: bytes.count, by: 7).map({ bytes[$0..<min($0 + 7, bytes.count)] }) {
            reader.append(chunk)
            while let frame = try reader.next() { out.append(String(decoding: frame, as: UTF8.self)) }
        }
        #expect(out.map(\.count) == [3, 0, 70_000])
    }

    @Test("sealed frames open only once and in order")
    func cipher() throws {
        let key = SymmetricKey(size: .bits256)
        var sender = DirectProtocol.Cipher(key: key)
        var receiver = DirectProtocol.Cipher(key: key)
        let first = try sender.seal(Data("first".utf8))
        let second = try sender.seal(Data("second".utf8))
        #expect(String(decoding: try receiver.open(first), as: UTF8.self) == "first")
        #expect(throws: (any Error).self) { try receiver.open(first) }
        var fresh = DirectProtocol.Cipher(key: key)
        #expect(throws: (any Error).self) { try fresh.open(second) }
    }

    @Test("parameters with secret-looking names are masked in audit records")
    func masking() {
        let masked = DirectAuditRecord.masked(["version": ["1.2"], "dbPassword": ["hunter2"], "apiToken": ["t"], "x": ["{{ssm-secure:k}}"]])
        #expect(masked == ["version": ["1.2"], "dbPassword": ["****"], "apiToken": ["****"], "x": ["****"]])
    }
}
