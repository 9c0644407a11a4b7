import StewardKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// AWS:Network: one entry per interface in /sys/class/net, with addresses from getifaddrs.
///
/// The loopback interface is left out, as the SSM agent leaves it out; interfaces that are down or have no address
/// are kept. IPV4, IPV6 and SubnetMask list every address, comma-separated, in the kernel's order (SubnetMask pairs
/// with IPV4). DNSServer is the node's resolvers, the same on every interface.
struct NetworkGatherer: Gatherer {
    var name: String { "AWS:Network" }
    var sysFolder = "/sys/class/net"

    func gather(captureTime: String) async throws -> Gathering {
        guard let names = Host.listFolder(sysFolder) else {
            throw Host.CommandError(description: "cannot read \(sysFolder)")
        }
        let addresses = try Self.addresses()
        let gateways = Self.defaultGateways(Host.readText("/proc/net/route") ?? "")
        let dns = Self.nameServers()
        var dhcp = Self.dhclientServers()
        var content: [[String: String]] = []
        for interface in names {
            let folder = "\(sysFolder)/\(interface)"
            let flags = Host.readText("\(folder)/flags").flatMap { UInt32($0.trimmingCharacters(in: " \n").dropFirst(2), radix: 16) } ?? 0
            if flags & UInt32(IFF_LOOPBACK) != 0 { continue }
            var entry = ["Name": interface]
            if let mac = Host.readText("\(folder)/address")?.trimmingCharacters(in: " \n"), !mac.isEmpty { entry["MacAddress"] = mac }
            let own = addresses.filter { $0.interface == interface }
            let v4 = own.filter { !$0.isIPv6 }
            let v6 = own.filter(\.isIPv6)
            if !v4.isEmpty {
                entry["IPV4"] = v4.map(\.address).joined(separator: ",")
                entry["SubnetMask"] = v4.map(\.mask).joined(separator: ",")
            }
            if !v6.isEmpty { entry["IPV6"] = v6.map(\.address).joined(separator: ",") }
            if let gateway = gateways[interface] { entry["Gateway"] = gateway }
            if dhcp[interface] == nil, let index = Host.readText("\(folder)/ifindex")?.trimmingCharacters(in: " \n"),
                let lease = Host.readText("/run/systemd/netif/leases/\(index)")
            {
                dhcp[interface] = Self.networkdServer(lease)
            }
            if let server = dhcp[interface] { entry["DHCPServer"] = server }
            if !dns.isEmpty { entry["DNSServer"] = dns.joined(separator: ",") }
            content.append(entry)
        }
        return Gathering(items: [InventoryItem(typeName: name, schemaVersion: "1.0", captureTime: captureTime, content: content)])
    }

    struct Address: Sendable, Hashable {
        var interface: String
        var address: String
        var mask: String
        var isIPv6: Bool
    }

    /// Every IPv4 and IPv6 address the kernel reports, in its order.
    static func addresses() throws -> [Address] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else {
            throw Host.CommandError(description: "getifaddrs failed: \(String(cString: strerror(errno)))")
        }
        defer { freeifaddrs(list) }
        var out: [Address] = []
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let addr = entry.pointee.ifa_addr else { continue }
            let family = Int32(addr.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6, let address = text(of: addr) else { continue }
            let mask = entry.pointee.ifa_netmask.flatMap(text(of:)) ?? ""
            out.append(
                Address(interface: String(cString: entry.pointee.ifa_name), address: address, mask: mask, isIPv6: family == AF_INET6))
        }
        return out
    }

    /// An address in its usual text form; IPv6 link-local addresses without their "%interface" suffix.
    static func text(of addr: UnsafeMutablePointer<sockaddr>) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok: Bool
        switch Int32(addr.pointee.sa_family) {
        case AF_INET:
            ok = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                var raw = v4.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count)) != nil
            }
        case AF_INET6:
            ok = addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                var raw = v6.pointee.sin6_addr
                return inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)) != nil
            }
        default: ok = false
        }
        guard ok else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Each interface's IPv4 default gateway from /proc/net/route, the lowest metric winning.
    static func defaultGateways(_ routes: String) -> [String: String] {
        var best: [String: (metric: Int, gateway: String)] = [:]
        for line in routes.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 8, f[1] == "00000000", f[7] == "00000000",
                let flags = Int(f[3], radix: 16), flags & 0x3 == 0x3,  // RTF_UP | RTF_GATEWAY
                let raw = UInt32(f[2], radix: 16), let metric = Int(f[6])
            else { continue }
            // The kernel prints the address in host (little-endian) byte order: the first octet is the low byte.
            let gateway = (0..<4).map { String((raw >> (8 * $0)) & 0xff) }.joined(separator: ".")
            let name = String(f[0])
            if best[name].map({ metric < $0.metric }) ?? true { best[name] = (metric, gateway) }
        }
        return best.mapValues(\.gateway)
    }

    /// The resolvers in resolv.conf; behind systemd-resolved's local stub, the upstream ones it uses.
    static func nameServers(
        _ path: String = "/etc/resolv.conf", upstream: String = "/run/systemd/resolve/resolv.conf"
    ) -> [String] {
        let servers = resolvConfServers(Host.readText(path) ?? "")
        if !servers.isEmpty, servers.allSatisfy({ $0 == "127.0.0.53" }), let real = Host.readText(upstream) {
            let upstreamServers = resolvConfServers(real)
            if !upstreamServers.isEmpty { return upstreamServers }
        }
        return servers
    }

    static func resolvConfServers(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return f.count >= 2 && f[0] == "nameserver" ? String(f[1]) : nil
        }
    }

    /// DHCP servers named by dhclient's lease files, the last lease of each interface winning.
    static func dhclientServers(folders: [String] = ["/var/lib/dhcp", "/var/lib/dhclient", "/var/lib/NetworkManager"]) -> [String: String] {
        var out: [String: String] = [:]
        for folder in folders {
            for file in Host.listFolder(folder) ?? [] where file.hasSuffix(".lease") || file.hasSuffix(".leases") {
                guard let text = Host.readText("\(folder)/\(file)") else { continue }
                if file.hasPrefix("internal-") {
                    // NetworkManager's own DHCP client: "internal-<uuid>-<interface>.lease" in networkd's format.
                    let stem = file.dropLast(".lease".count)
                    if let interface = stem.split(separator: "-").last, let server = networkdServer(text) {
                        out[String(interface)] = server
                    }
                    continue
                }
                out.merge(dhclientLeases(text)) { _, newer in newer }
            }
        }
        return out
    }

    /// `lease { interface "eth0"; option dhcp-server-identifier 10.0.0.1; ... }` blocks, the last one of an interface winning.
    static func dhclientLeases(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        var interface: String?
        var server: String?
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingSpaces.trimmingCharacters(in: ";")
            if line.hasPrefix("lease") {
                interface = nil
                server = nil
            } else if line.hasPrefix("interface ") {
                interface = String(line.dropFirst("interface ".count)).trimmingCharacters(in: "\" ")
            } else if line.hasPrefix("option dhcp-server-identifier ") {
                server = String(line.dropFirst("option dhcp-server-identifier ".count)).trimmingSpaces
            } else if line == "}", let interface, let server {
                out[interface] = server
            }
        }
        return out
    }

    /// SERVER_ADDRESS in a systemd-networkd (or NetworkManager internal) lease file.
    static func networkdServer(_ text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("SERVER_ADDRESS=") {
            let value = String(line.dropFirst("SERVER_ADDRESS=".count)).trimmingSpaces
            if !value.isEmpty { return value }
        }
        return nil
    }
}
