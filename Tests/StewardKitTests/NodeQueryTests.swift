import StewardKit
import Testing

@Suite struct NodeQueryTests {
    let web = NodeQuery.Node(
        instanceId: "mi-00000000000000001", tags: ["Role": "web", "Stage": "prod"],
        attributes: ["PlatformName": "Ubuntu", "PlatformVersion": "22.04", "AgentVersion": "1.10.2", "PingStatus": "Online"])

    func matches(_ text: String, inventory: Bool = false) throws -> Bool {
        try NodeQuery.parse(text).matches(web) { _ in inventory }
    }

    @Test func andBindsTighterThanOr() throws {
        #expect(try matches("tag:Role = db and tag:Stage = test or PlatformName = Ubuntu"))
        #expect(try !matches("tag:Role = db and (tag:Stage = test or PlatformName = Ubuntu)"))
        #expect(try matches("not (tag:Role = db or tag:Role = api)"))
        #expect(try matches("tag:Role in (api, web) and tag:Stage exists and not tag:Owner exists"))
    }

    @Test func versionsCompareAsVersions() throws {
        #expect(try matches("AgentVersion > 1.9"))
        #expect(try matches("AgentVersion >= 1.10.2 and AgentVersion <= 1.10.2"))
        #expect(try matches("PlatformVersion < 22.10"))
        #expect(try !matches("AgentVersion < 1.9.9"))
    }

    @Test func keysAreCanonicalAndInventoryIsAskedFor() throws {
        let q = try NodeQuery.parse("platformname ^= Ubu and AWS:Application.Name = nginx")
        #expect(q.conditions.map(\.key) == ["PlatformName", "AWS:Application.Name"])
        #expect(q.matches(web) { $0.key == "AWS:Application.Name" })
        #expect(!q.matches(web) { _ in false })
    }

    @Test func textRoundTrips() throws {
        for text in [
            "tag:Role = web and (PlatformName = 'Red Hat' or AgentVersion >= 2.0)", "not tag:Stage in (test, dev)",
            "Custom:Role.Tier exists or PingStatus != Online",
        ] {
            let q = try NodeQuery.parse(text)
            #expect(try NodeQuery.parse(q.text) == q)
        }
    }

    @Test(arguments: [
        ("", "empty"), ("tag:Role =", "expected a value"), ("Colour = red", "unknown key"), ("(tag:a = b", "not closed"),
        ("tag:a = b c", "unexpected c"), ("tag:a ~ b", "unknown operator"), ("tag:a in (b", "not closed"),
        ("AWS:Application = x", "TypeName.Attribute"),
    ])
    func errorsSayWhatIsWrong(text: String, fragment: String) {
        #expect {
            _ = try NodeQuery.parse(text)
        } throws: { error in
            "\(error)".contains(fragment)
        }
    }
}
