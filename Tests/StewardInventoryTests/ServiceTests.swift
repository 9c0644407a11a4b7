import Foundation
import Testing

@testable import StewardInventory

@Suite("AWS:Service from systemd")
struct ServiceTests {
    static let listUnits = """
        cron.service                     loaded    active     running   Regular background program processing daemon
        ● ntp.service                    not-found inactive   dead      ntp.service
        systemd-remount-fs.service       loaded    active     exited    Remount Root and Kernel File Systems
        ● ssh.service                    loaded    failed     failed    OpenBSD Secure Shell server
        getty@tty1.service               loaded    active     running   Getty on tty1
        apt-daily.service                loaded    inactive   dead      Daily apt download activities
        nginx.service                    loaded    activating start-pre A high performance web server and a reverse proxy server
        postgresql.service               loaded    deactivating stop-sigterm PostgreSQL RDBMS
        """

    /// `systemctl list-unit-files --type=service --no-legend --no-pager`, partly as captured on Debian 12.
    static let listUnitFiles = """
        apt-daily.service                      static   -
        console-getty.service                  disabled disabled
        cron.service                           enabled  enabled
        cryptdisks.service                     masked   enabled
        dbus-org.freedesktop.hostname1.service alias    -
        getty@.service                         enabled  enabled
        nginx.service                          enabled  enabled
        postgresql.service                     enabled  enabled
        ssh.service                            enabled  enabled
        systemd-remount-fs.service             static   -
        """

    static let show = """
        Id=cron.service
        Type=forking

        Id=systemd-remount-fs.service
        Type=oneshot

        Id=nginx.service
        Type=forking

        """

    @Test("list-units lines split into unit, load, active, sub and description, with or without the bullet")
    func units() {
        let units = ServiceGatherer.parseUnits(Self.listUnits)
        #expect(units.count == 8)
        #expect(
            units[0]
                == .init(
                    unit: "cron.service", load: "loaded", active: "active", sub: "running",
                    description: "Regular background program processing daemon"))
        #expect(units[1] == .init(unit: "ntp.service", load: "not-found", active: "inactive", sub: "dead", description: "ntp.service"))
        #expect(units[3].unit == "ssh.service" && units[3].active == "failed")
        #expect(units[6].description == "A high performance web server and a reverse proxy server")
    }

    @Test("unit files and types parse into maps")
    func filesAndTypes() {
        let files = ServiceGatherer.parseUnitFiles(Self.listUnitFiles)
        #expect(
            files["console-getty.service"] == "disabled" && files["cryptdisks.service"] == "masked" && files["getty@.service"] == "enabled")
        #expect(files.count == 10)
        #expect(
            ServiceGatherer.parseTypes(Self.show) == [
                "cron.service": "forking", "systemd-remount-fs.service": "oneshot", "nginx.service": "forking",
            ])
    }

    @Test("entries use AWS words for status and start type; templates, aliases and missing units are left out")
    func entries() {
        let content = ServiceGatherer.entries(
            units: ServiceGatherer.parseUnits(Self.listUnits), unitFiles: ServiceGatherer.parseUnitFiles(Self.listUnitFiles),
            types: ServiceGatherer.parseTypes(Self.show))
        let byName = Dictionary(uniqueKeysWithValues: content.map { ($0["Name"]!, $0) })
        #expect(
            Set(byName.keys) == [
                "apt-daily", "console-getty", "cron", "cryptdisks", "getty@tty1", "nginx", "postgresql", "ssh", "systemd-remount-fs",
            ])
        #expect(
            byName["cron"] == [
                "Name": "cron", "DisplayName": "Regular background program processing daemon", "Status": "Running",
                "StartType": "Automatic",
                "ServiceType": "forking",
            ])
        #expect(byName["systemd-remount-fs"]?["Status"] == "Running" && byName["systemd-remount-fs"]?["StartType"] == "Manual")
        #expect(byName["ssh"]?["Status"] == "Stopped" && byName["ssh"]?["StartType"] == "Automatic")
        #expect(byName["apt-daily"]?["Status"] == "Stopped")
        #expect(byName["nginx"]?["Status"] == "StartPending" && byName["postgresql"]?["Status"] == "StopPending")
        #expect(byName["console-getty"] == ["Name": "console-getty", "Status": "Stopped", "StartType": "Disabled"])
        #expect(byName["cryptdisks"]?["StartType"] == "Disabled")
        #expect(byName["getty@tty1"]?["StartType"] == nil && byName["getty@tty1"]?["Status"] == "Running")
        #expect(content.map { $0["Name"]! } == content.map { $0["Name"]! }.sorted())
    }

    @Test("without a running systemd there is no AWS:Service item and no problem")
    func noSystemd() async throws {
        guard !FileManager.default.fileExists(atPath: "/run/systemd/system") else { return }
        let found = try await ServiceGatherer().gather(captureTime: "2026-11-29T16:00:00Z")
        #expect(found.items.isEmpty && found.problems.isEmpty)
    }
}
