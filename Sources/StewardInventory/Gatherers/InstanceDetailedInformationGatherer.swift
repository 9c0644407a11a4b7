import StewardKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// AWS:InstanceDetailedInformation: the processor and kernel, from /proc/cpuinfo, /sys and uname.
///
/// Counts follow the SSM agent (which reads lscpu): CPUs are logical processors, CPUCores physical cores over all
/// sockets, CPUSpeedMHz the first processor's current speed without its fraction, and hyper-threading is on when a
/// core runs more than one processor. Memory is left out: AWS's schema for this type has no attribute for it.
struct InstanceDetailedInformationGatherer: Gatherer {
    var name: String { "AWS:InstanceDetailedInformation" }

    func gather(captureTime: String) async throws -> Gathering {
        guard let cpuinfo = Host.readText("/proc/cpuinfo") else { throw Host.CommandError(description: "cannot read /proc/cpuinfo") }
        var entry = Self.processorFacts(cpuinfo: cpuinfo, topology: Self.sysTopology())
        entry["OSServicePack"] = ""
        if let kernel = Self.kernelRelease() { entry["KernelVersion"] = kernel }
        return Gathering(items: [InventoryItem(typeName: name, schemaVersion: "1.0", captureTime: captureTime, content: [entry])])
    }

    /// (package, core) of each online processor, from /sys/devices/system/cpu/cpuN/topology.
    static func sysTopology(_ folder: String = "/sys/devices/system/cpu") -> [(socket: String, core: String)] {
        (Host.listFolder(folder) ?? []).compactMap { name in
            guard name.hasPrefix("cpu"), Int(name.dropFirst(3)) != nil,
                let socket = Host.readText("\(folder)/\(name)/topology/physical_package_id"),
                let core = Host.readText("\(folder)/\(name)/topology/core_id")
            else { return nil }
            return (socket.trimmingCharacters(in: " \n"), core.trimmingCharacters(in: " \n"))
        }
    }

    /// The CPU attributes from /proc/cpuinfo, with /sys's topology where cpuinfo has none (as on ARM).
    static func processorFacts(cpuinfo: String, topology: [(socket: String, core: String)]) -> [String: String] {
        var processors: [[String: String]] = [[:]]
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingSpaces.isEmpty {
                if !processors[processors.count - 1].isEmpty { processors.append([:]) }
                continue
            }
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            processors[processors.count - 1][parts[0].trimmingSpaces] = parts[1].trimmingSpaces
        }
        processors = processors.filter { $0["processor"] != nil }
        var out: [String: String] = [:]
        guard let first = processors.first else { return out }
        if let model = first["model name"] ?? first["Model Name"] ?? first["cpu model"] ?? first["Hardware"] { out["CPUModel"] = model }
        if let mhz = first["cpu MHz"].flatMap(Double.init) { out["CPUSpeedMHz"] = String(Int(mhz)) }
        out["CPUs"] = String(processors.count)

        var pairs = Set(topology.map { "\($0.socket)/\($0.core)" })
        var sockets = Set(topology.map(\.socket))
        if pairs.isEmpty {
            for p in processors {
                guard let socket = p["physical id"], let core = p["core id"] else { continue }
                pairs.insert("\(socket)/\(core)")
                sockets.insert(socket)
            }
        }
        if !pairs.isEmpty {
            out["CPUSockets"] = String(sockets.count)
            out["CPUCores"] = String(pairs.count)
            out["CPUHyperThreadEnabled"] = processors.count > pairs.count ? "true" : "false"
        }
        return out
    }

    static func kernelRelease() -> String? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        return withUnsafeBytes(of: &u.release) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
