import Testing

@testable import StewardKit

@Suite("Version order and the inventory query language")
struct InventoryTextTests {
    @Test(
        "dpkg order: epochs, revisions, tilde before everything, letters before symbols",
        arguments: [
            ("3.0.9", "3.0.13", -1), ("3.0.13", "3.0.13", 0), ("1:1.0", "2.0", 1), ("1.0~rc1", "1.0", -1), ("1.0", "1.0+b1", -1),
            ("1.0-1", "1.0-2", -1), ("1.0a", "1.0+", -1), ("2.36-9+deb12u4", "2.36-9+deb12u10", -1), ("0:1.2", "1.2", 0),
            ("1.02", "1.2", 0), ("1.0~~", "1.0~", -1), ("3.0.15-1~deb12u1", "3.0.13", 1),
        ])
    func dpkg(_ a: String, _ b: String, _ expected: Int) {
        #expect(VersionOrder.dpkg.compare(a, b) == expected)
        #expect(VersionOrder.dpkg.compare(b, a) == -expected)
    }

    @Test(
        "rpm order: alphanumeric segments, numbers newer than letters, tilde older, caret newer than the end",
        arguments: [
            ("1.0", "1.0", 0), ("1.0", "1.1", -1), ("1.0.1", "1.0", 1), ("1.0a", "1.0", 1), ("1.0", "1.0.a", -1), ("1.a", "1.1", -1),
            ("1.0~rc1", "1.0", -1), ("1.0^git1", "1.0", 1), ("1.0^git1", "1.0.1", -1), ("2:1.0", "1:9.0", 1),
            ("3.0.8-1.amzn2023", "3.0.13-1", -1),
            ("1.010", "1.9", 1), ("1.0-1.el9", "1.0-2.el9", -1),
        ])
    func rpm(_ a: String, _ b: String, _ expected: Int) {
        #expect(VersionOrder.rpm.compare(a, b) == expected)
        #expect(VersionOrder.rpm.compare(b, a) == -expected)
    }

    @Test("the platform picks the order")
    func platforms() {
        #expect(VersionOrder.forPlatform("Amazon Linux") == .rpm)
        #expect(VersionOrder.forPlatform("Rocky Linux") == .rpm)
        #expect(VersionOrder.forPlatform("Ubuntu") == .dpkg)
        #expect(VersionOrder.forPlatform("Debian GNU/Linux") == .dpkg)
    }

    @Test("queries become GetInventory filters and aggregators")
    func parse() throws {
        let q = try InventoryQueryText.parse("AWS:Application.Name = openssl and AWS:Application.Version < '3.0.13'")
        #expect(q.conditions.map(\.type) == ["Equal", "LessThan"])
        #expect(q.request["ResultAttributes"] == [["TypeName": "AWS:Application"]])
        let lacking = try InventoryQueryText.parse("not AWS:Service.Name = nginx and Custom:Role.Tier in (web, 'api gw')")
        #expect(
            lacking.conditions == [
                .init(key: "AWS:Service.Name", type: "NotEqual", values: ["nginx"]),
                .init(key: "Custom:Role.Tier", type: "Equal", values: ["web", "api gw"]),
            ])
        let count = try InventoryQueryText.parse("count by AWS:InstanceInformation.PlatformName, AWS:InstanceInformation.PlatformVersion")
        #expect(
            count.request["Aggregators"] == [
                [
                    "Expression": "AWS:InstanceInformation.PlatformName",
                    "Aggregators": [["Expression": "AWS:InstanceInformation.PlatformVersion"]],
                ]
            ])
        let prefix = try InventoryQueryText.parse("AWS:InstanceInformation.PlatformName ^= Ubuntu and AWS:File.Name exists")
        #expect(prefix.conditions.map(\.type) == ["BeginWith", "Exists"])
    }

    @Test(
        "bad queries say what is wrong",
        arguments: [
            ("", "empty"), ("Name = x", "TypeName.Attribute"), ("AWS:Application.Name ~ x", "operator"),
            ("AWS:Application.Name =", "value"),
            ("AWS:Application.Name = x or AWS:Application.Name = y", "'and'"), ("not AWS:Application.Version < 2", "not takes"),
            ("AWS:Application.Name = 'open", "not closed"),
        ])
    func errors(_ text: String, _ fragment: String) {
        #expect {
            _ = try InventoryQueryText.parse(text)
        } throws: { error in
            "\(error)".contains(fragment)
        }
    }

    @Test("placeholders are filled, and a missing one is named")
    func placeholders() throws {
        let text = try InventoryQueryText.fill(
            "AWS:Application.Name = {{package}} and AWS:Application.Version < {{ version }}",
            parameters: ["package": "openssl", "version": "3.0.13"])
        #expect(text == "AWS:Application.Name = openssl and AWS:Application.Version < 3.0.13")
        #expect(throws: InventoryQueryText.ParseError.self) { try InventoryQueryText.fill("{{x}}", parameters: [:]) }
    }
}
