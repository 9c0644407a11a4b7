import StewardKit

/// AWS:Service, from systemd. (The SSM agent gathers services on Windows only; the attribute names are its.)
///
/// Status: active or reloading is "Running", activating "StartPending", deactivating "StopPending", anything else
/// (inactive, failed, dead) "Stopped"; a oneshot unit that ran and stays active counts as Running, as systemd sees it.
/// StartType: enabled, enabled-runtime, linked, linked-runtime and generated units start at boot, "Automatic"; static,
/// indirect and transient units start when something asks for them, "Manual"; disabled and masked units, "Disabled".
/// ServiceType is systemd's Type= (simple, forking, oneshot, notify, dbus, exec, idle).
/// DependentServices and ServicesDependedOn are left out.
struct ServiceGatherer: Gatherer {
    var name: String { "AWS:Service" }

    func gather(captureTime: String) async throws -> Gathering {
        // Without a running systemd there are no services to report; that is not a failure.
        guard Host.exists("/run/systemd/system"), let systemctl = Host.program("systemctl") else { return Gathering(items: []) }
        let units = Self.parseUnits(
            try await Host.run(systemctl, ["list-units", "--type=service", "--all", "--no-legend", "--no-pager", "--plain"]))
        let files = Self.parseUnitFiles(try await Host.run(systemctl, ["list-unit-files", "--type=service", "--no-legend", "--no-pager"]))
        var problems: [String] = []
        var types: [String: String] = [:]
        do {
            types = Self.parseTypes(try await Host.run(systemctl, ["show", "--property=Id,Type", "--no-pager", "*.service"]))
        } catch {
            problems.append("no ServiceType: \(error)")
        }
        let content = Self.entries(units: units, unitFiles: files, types: types)
        return Gathering(
            items: [InventoryItem(typeName: name, schemaVersion: "1.0", captureTime: captureTime, content: content)], problems: problems)
    }

    struct Unit: Sendable, Hashable {
        var unit: String
        var load: String
        var active: String
        var sub: String
        var description: String
    }

    /// `systemctl list-units --plain --no-legend`: UNIT LOAD ACTIVE SUB DESCRIPTION, with a "●" before units in trouble.
    static func parseUnits(_ text: String) -> [Unit] {
        text.split(separator: "\n").compactMap { line in
            var rest = Substring(line).drop { $0 == " " || $0 == "●" || $0 == "*" }
            var columns: [String] = []
            while columns.count < 4 {
                rest = rest.drop { $0 == " " || $0 == "\t" }
                let word = rest.prefix { $0 != " " && $0 != "\t" }
                guard !word.isEmpty else { return nil }
                columns.append(String(word))
                rest = rest.dropFirst(word.count)
            }
            guard columns[0].hasSuffix(".service") else { return nil }
            return Unit(unit: columns[0], load: columns[1], active: columns[2], sub: columns[3], description: rest.trimmingSpaces)
        }
    }

    /// `systemctl list-unit-files --no-legend`: UNIT-FILE STATE [PRESET], as unit name → state.
    static func parseUnitFiles(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2, f[0].hasSuffix(".service") else { continue }
            out[String(f[0])] = String(f[1])
        }
        return out
    }

    /// `systemctl show --property=Id,Type`: blocks of Key=value separated by blank lines, as unit name → Type.
    static func parseTypes(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        var id: String?
        var type: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) + [Substring("")] {
            if line.isEmpty {
                if let id, let type, !type.isEmpty { out[id] = type }
                id = nil
                type = nil
            } else if line.hasPrefix("Id=") {
                id = String(line.dropFirst(3))
            } else if line.hasPrefix("Type=") {
                type = String(line.dropFirst(5))
            }
        }
        return out
    }

    /// One entry per service: every loaded unit, and every unit file that is neither loaded, a template nor an alias.
    static func entries(units: [Unit], unitFiles: [String: String], types: [String: String]) -> [[String: String]] {
        var byName: [String: [String: String]] = [:]
        for unit in units where unit.load != "not-found" {
            var entry = ["Name": String(unit.unit.dropLast(".service".count)), "Status": status(unit.active)]
            if !unit.description.isEmpty { entry["DisplayName"] = unit.description }
            if let state = unitFiles[unit.unit], let start = startType(state) { entry["StartType"] = start }
            if let type = types[unit.unit] { entry["ServiceType"] = type }
            byName[unit.unit] = entry
        }
        for (file, state) in unitFiles where byName[file] == nil && !file.hasSuffix("@.service") && state != "alias" {
            var entry = ["Name": String(file.dropLast(".service".count)), "Status": "Stopped"]
            if let start = startType(state) { entry["StartType"] = start }
            byName[file] = entry
        }
        return byName.keys.sorted().map { byName[$0]! }
    }

    static func status(_ active: String) -> String {
        switch active {
        case "active", "reloading", "refreshing": "Running"
        case "activating": "StartPending"
        case "deactivating": "StopPending"
        default: "Stopped"
        }
    }

    static func startType(_ state: String) -> String? {
        switch state {
        case "enabled", "enabled-runtime", "linked", "linked-runtime", "generated": "Automatic"
        case "static", "indirect", "transient": "Manual"
        case "disabled", "masked", "masked-runtime": "Disabled"
        default: nil
        }
    }
}
