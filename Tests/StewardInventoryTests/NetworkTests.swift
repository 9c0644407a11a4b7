import Foundation
import Testing

@testable import StewardInventory

@Suite("AWS:Network from /sys, getifaddrs and /proc")
struct NetworkTests {
    static let hasIP = output(of: "ip", ["-j", "addr"]) != nil

    @Test("interfaces, addresses, masks and MACs equal what ip -j addr shows, without loopback", .enabled(if: hasIP, "ip is not installed"))
    func matchesIP() async throws {
        let json = try #require(output(of: "ip", ["-j", "addr"]))
        let links = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        var expected: [String: (v4: [String], masks: [String], v6: [String], mac: String?)] = [:]
        for link in links {
            let name = try #require(link["ifname"] as? String)
            if (link["flags"] as? [String] ?? []).contains("LOOPBACK") { continue }
            let infos = link["addr_info"] as? [[String: Any]] ?? []
            let v4 = infos.filter { $0["family"] as? String == "inet" }
            let v6 = infos.filter { $0["family"] as? String == "inet6" }
            expected[name] = (
                v4.compactMap { $0["local"] as? String }.sorted(),
                v4.compactMap { ($0["prefixlen"] as? Int).map(Self.dotted) }.sorted(),
                v6.compactMap { $0["local"] as? String }.sorted(),
                link["address"] as? String
            )
        }

        let found = try await NetworkGatherer().gather(captureTime: "2026-11-29T16:00:00Z")
        let item = try #require(found.items.first)
        #expect(item.typeName == "AWS:Network" && item.schemaVersion == "1.0")
        #expect(Set(item.content.map { $0["Name"]! }) == Set(expected.keys))
        #expect(item.content.count == expected.count)
        for entry in item.content {
            let want = try #require(expected[entry["Name"]!])
            let list = { (key: String) in entry[key].map { $0.split(separator: ",").map(String.init).sorted() } ?? [] }
            #expect(list("IPV4") == want.v4, "IPV4 of \(entry["Name"]!)")
            #expect(list("SubnetMask") == want.masks, "SubnetMask of \(entry["Name"]!)")
            #expect(list("IPV6") == want.v6, "IPV6 of \(entry["Name"]!)")
            #expect(entry["MacAddress"] == want.mac, "MacAddress of \(entry["Name"]!)")
        }
    }

    @Test("the gateway is each interface's default route, as ip route shows it", .enabled(if: hasIP, "ip is not installed"))
    func gatewayMatchesIP() async throws {
        let json = try #require(output(of: "ip", ["-4", "-j", "route", "show", "default"]))
        let routes = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        var expected: [String: String] = [:]
        for route in routes.reversed() {
            if let dev = route["dev"] as? String, let gateway = route["gateway"] as? String { expected[dev] = gateway }
        }
        let gateways = NetworkGatherer.defaultGateways(try String(contentsOfFile: "/proc/net/route", encoding: .utf8))
        #expect(gateways == expected)
    }

    static func dotted(_ prefix: Int) -> String {
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - UInt32(prefix))
        return (0..<4).map { String((mask >> (24 - 8 * UInt32($0))) & 0xff) }.joined(separator: ".")
    }

    @Test("/proc/net/route: the default route with the lowest metric, little-endian addresses")
    func routes() {
        let text = """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
            eth0\t00000000\t FE0200C0\t0003\t0\t0\t50\t00000000\t0\t0\t0
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
            wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
            tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0
            """
        #expect(NetworkGatherer.defaultGateways(text) == ["eth0": "192.0.2.254", "wlan0": "192.168.1.1"])
    }

    @Test("DHCP servers come from dhclient and networkd leases; resolvers from resolv.conf")
    func leasesAndResolvers() {
        let dhclient = """
            lease {
              interface "eth0";
              fixed-address 10.0.0.5;
              option subnet-mask 255.255.255.0;
              option dhcp-server-identifier 10.0.0.1;
            }
            lease {
              interface "eth1";
              option dhcp-server-identifier 172.16.0.1;
            }
            lease {
              interface "eth0";
              option dhcp-server-identifier 10.0.0.2;
            }
            """
        #expect(NetworkGatherer.dhclientLeases(dhclient) == ["eth0": "10.0.0.2", "eth1": "172.16.0.1"])
        #expect(
            NetworkGatherer.networkdServer("# This is private data.\nADDRESS=10.0.0.5\nSERVER_ADDRESS=10.0.0.1\nDNS=10.0.0.1\n")
                == "10.0.0.1")
        #expect(NetworkGatherer.networkdServer("ADDRESS=10.0.0.5\n") == nil)
        #expect(
            NetworkGatherer.resolvConfServers("# generated\nnameserver 10.255.255.53\nsearch example.com\nnameserver\t2001:db8::53\n")
                == ["10.255.255.53", "2001:db8::53"])
    }
}
