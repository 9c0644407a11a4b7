import Foundation
import Testing

@testable import StewardInventory

@Suite("AWS:InstanceInformation and AWS:InstanceDetailedInformation")
struct InstanceDetailsTests {
    @Test("cpuinfo of a two-socket machine with hyper-threading")
    func twoSockets() {
        var text = ""
        for cpu in 0..<8 {
            text += "processor\t: \(cpu)\nmodel name\t: Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz\ncpu MHz\t\t: 2400.072\n"
            text += "physical id\t: \(cpu / 4)\ncore id\t\t: \(cpu % 2)\n\n"
        }
        let facts = InstanceDetailedInformationGatherer.processorFacts(cpuinfo: text, topology: [])
        #expect(
            facts == [
                "CPUModel": "Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz", "CPUSpeedMHz": "2400", "CPUs": "8", "CPUSockets": "2",
                "CPUCores": "4", "CPUHyperThreadEnabled": "true",
            ])
    }

    @Test("an ARM cpuinfo without model or topology takes the topology from /sys")
    func arm() {
        let text = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\n\n"
        let facts = InstanceDetailedInformationGatherer.processorFacts(cpuinfo: text, topology: [("0", "0"), ("0", "1")])
        #expect(facts == ["CPUs": "2", "CPUSockets": "1", "CPUCores": "2", "CPUHyperThreadEnabled": "false"])
    }

    @Test("on this machine the counts agree with lscpu", .enabled(if: output(of: "lscpu", []) != nil, "lscpu is not installed"))
    func matchesLscpu() async throws {
        let lscpu = try #require(output(of: "lscpu", []))
        func field(_ key: String) -> String? {
            lscpu.split(separator: "\n").first { $0.hasPrefix(key + ":") }.map {
                $0.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
            }
        }
        let found = try await InstanceDetailedInformationGatherer().gather(captureTime: "t")
        let entry = try #require(found.items.first?.content.first)
        #expect(entry["CPUs"] == field("CPU(s)"))
        #expect(entry["CPUSockets"] == field("Socket(s)"))
        if let perSocket = field("Core(s) per socket").flatMap(Int.init), let sockets = field("Socket(s)").flatMap(Int.init) {
            #expect(entry["CPUCores"] == String(perSocket * sockets))
        }
        if let threads = field("Thread(s) per core").flatMap(Int.init) { #expect(entry["CPUHyperThreadEnabled"] == String(threads > 1)) }
        #expect(entry["CPUModel"] == field("Model name"))
        #expect(entry["OSServicePack"] == "")
        #expect(entry["KernelVersion"] == output(of: "uname", ["-r"])?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(entry.keys.allSatisfy { !$0.lowercased().contains("memory") })
    }

    @Test("instance information carries the agent's facts and the fixed AWS words")
    func instanceInformation() async throws {
        let facts = InstanceFacts(
            instanceId: "mi-0123456789abcdef0", computerName: "node1.example.com", ipAddress: "192.0.2.2", platformName: "Ubuntu",
            platformType: "Linux", platformVersion: "24.04", agentVersion: "0.1.0")
        let found = try await InstanceInformationGatherer(facts: facts).gather(captureTime: "2026-11-29T16:00:00Z")
        #expect(
            found.items.first?.content == [
                [
                    "AgentType": "steward-agent", "AgentVersion": "0.1.0", "ComputerName": "node1.example.com",
                    "InstanceId": "mi-0123456789abcdef0",
                    "IpAddress": "192.0.2.2", "PlatformName": "Ubuntu", "PlatformType": "Linux", "PlatformVersion": "24.04",
                    "ResourceType": "ManagedInstance", "InstanceStatus": "Active",
                ]
            ])
    }

    @Test("gathering everything on this machine finishes with every enabled type and no surprises")
    func everything() async throws {
        let facts = InstanceFacts(
            instanceId: "mi-0123456789abcdef0", computerName: "node1", ipAddress: "192.0.2.2", platformName: "Linux",
            platformType: "Linux", platformVersion: "1", agentVersion: "0.1.0")
        var policy = GatherPolicy()
        policy.customInventoryDirectory = "/nonexistent/custom"
        policy.files = [FileFilter(path: "/etc", patterns: ["hostname", "passwd"])]
        let (items, problems) = await Gatherers.gather(policy, facts: facts)
        let types = items.map(\.typeName)
        #expect(types.first == "AWS:InstanceInformation")
        for type in ["AWS:Network", "AWS:File", "AWS:InstanceDetailedInformation"] { #expect(types.contains(type)) }
        if FileManager.default.fileExists(atPath: "/usr/bin/dpkg-query") { #expect(types.contains("AWS:Application")) }
        #expect(types.contains("AWS:Service") == FileManager.default.fileExists(atPath: "/run/systemd/system"))
        #expect(problems.isEmpty, "\(problems)")
        for item in items {
            #expect(item.contentHash == ContentHash.of(item.content))
            #expect(item.content.allSatisfy { $0.count <= 50 && $0.values.allSatisfy { $0.utf8.count <= 4096 } })
        }
    }
}
