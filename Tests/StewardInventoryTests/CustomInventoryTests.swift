import Foundation
import Testing

@testable import StewardInventory

@Suite("Custom inventory files")
struct CustomInventoryTests {
    func write(_ files: [String: String]) throws -> String {
        let folder = try temporaryFolder("custom")
        for (name, text) in files { try text.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8) }
        return folder
    }

    @Test("a custom JSON file becomes a Custom type; a bad one is reported and the rest still gathered")
    func goodAndBad() async throws {
        let folder = try write([
            "rack.json":
                #"{"SchemaVersion":"1.0","TypeName":"Custom:RackInfo","Content":{"RackLocation":"Bay B","Slot":12,"Spare":false,"Note":null}}"#,
            "disks.json":
                #"{"SchemaVersion":"2.1","TypeName":"Custom:Disks","Content":[{"Name":"sda","Size":"100G"},{"Name":"sdb","Size":"2T"}]}"#,
            "bad.json": #"{"SchemaVersion":"1.0","TypeName":"Rack","Content":{"A":"b"}}"#,
            "broken.json": #"{"TypeName":"Custom:Broken","Content":"#,
            "notes.txt": "not inventory",
        ])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let found = try await CustomInventoryGatherer(folder: folder).gather(captureTime: "2026-11-29T16:00:00Z")
        #expect(found.items.map(\.typeName) == ["Custom:Disks", "Custom:RackInfo"])
        let rack = try #require(found.items.last)
        #expect(rack.schemaVersion == "1.0" && rack.captureTime == "2026-11-29T16:00:00Z")
        #expect(rack.content == [["RackLocation": "Bay B", "Slot": "12", "Spare": "false", "Note": ""]])
        #expect(rack.contentHash == ContentHash.of(rack.content))
        #expect(found.items.first?.schemaVersion == "2.1" && found.items.first?.content.count == 2)
        #expect(found.problems.count == 2)
        #expect(found.problems.contains { $0.contains("bad.json") && $0.contains("Custom:") })
        #expect(found.problems.contains { $0.contains("broken.json") && $0.contains("not JSON") })
    }

    @Test("through Gatherers.gather, problems name the custom gatherer and other types are unaffected")
    func throughGather() async throws {
        let folder = try write([
            "a.json": #"{"TypeName":"Custom:A","Content":{"K":"v"}}"#,
            "b.json": #"{"TypeName":"Custom:B","Content":{"K":{"nested":true}}}"#,
        ])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var policy = GatherPolicy()
        policy.applications = false
        policy.awsComponents = false
        policy.networkConfig = false
        policy.services = false
        policy.instanceDetailedInformation = false
        policy.customInventoryDirectory = folder
        let facts = InstanceFacts(
            instanceId: "mi-0123456789abcdef0", computerName: "node1", ipAddress: "192.0.2.2", platformName: "Debian GNU/Linux",
            platformType: "Linux", platformVersion: "12", agentVersion: "0.1.0")
        let (items, problems) = await Gatherers.gather(policy, facts: facts, now: Date(timeIntervalSince1970: 1_795_968_000))
        #expect(items.map(\.typeName) == ["AWS:InstanceInformation", "Custom:A"])
        #expect(items.allSatisfy { $0.captureTime == "2026-11-29T16:00:00Z" })
        #expect(items[1].schemaVersion == "1.0")
        #expect(problems.count == 1 && problems[0].hasPrefix("Custom: ") && problems[0].contains("b.json"))
    }

    @Test(
        "the limits are enforced",
        arguments: [
            (#"{"TypeName":"Custom:\#(String(repeating: "x", count: 94))","Content":{"a":"b"}}"#, "100"),
            (#"{"TypeName":"Custom:T","Content":{"\#(String(repeating: "n", count: 65))":"b"}}"#, "64"),
            (#"{"TypeName":"Custom:T","Content":{"a":"\#(String(repeating: "v", count: 4097))"}}"#, "4096"),
            (#"{"TypeName":"Custom:T","Content":{\#((1...51).map { "\"a\($0)\":\"v\"" }.joined(separator: ","))}}"#, "50"),
            (#"{"TypeName":"Custom:T","SchemaVersion":"1","Content":{"a":"b"}}"#, "SchemaVersion"),
            (#"{"TypeName":"Custom:T","Content":["a"]}"#, "not a map"),
            (#"{"Content":{"a":"b"}}"#, "TypeName"),
            (#"{"TypeName":"Custom:T"}"#, "Content"),
        ])
    func limits(text: String, mentions: String) {
        #expect {
            _ = try CustomInventoryGatherer.item(from: text, captureTime: "t")
        } throws: { error in
            "\(error)".contains(mentions)
        }
    }

    @Test("values at the limits are accepted")
    func atLimits() throws {
        let content = (1...50).map {
            "\"\(String(repeating: "n", count: 62))\($0 < 10 ? "0" : "")\($0)\":\"\(String(repeating: "v", count: 4096))\""
        }
        let text = #"{"TypeName":"Custom:\#(String(repeating: "x", count: 93))","Content":{\#(content.joined(separator: ","))}}"#
        let item = try CustomInventoryGatherer.item(from: text, captureTime: "t")
        #expect(item.content[0].count == 50)
    }

    @Test("at most 20 custom types; a repeated type is kept once")
    func typeCount() async throws {
        var files: [String: String] = [:]
        for i in 1...22 { files["t\(i < 10 ? "0" : "")\(i).json"] = #"{"TypeName":"Custom:T\#(i)","Content":{"a":"b"}}"# }
        files["t00.json"] = #"{"TypeName":"Custom:T1","Content":{"a":"first"}}"#
        let folder = try write(files)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let found = try await CustomInventoryGatherer(folder: folder).gather(captureTime: "t")
        #expect(found.items.count == 20)
        #expect(found.items.first { $0.typeName == "Custom:T1" }?.content == [["a": "first"]])
        #expect(found.problems.count == 3)
    }

    @Test("a missing folder is no inventory and no problem")
    func missingFolder() async throws {
        let found = try await CustomInventoryGatherer(folder: "/nonexistent/steward/custom").gather(captureTime: "t")
        #expect(found.items.isEmpty && found.problems.isEmpty)
    }
}
