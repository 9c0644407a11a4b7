import Foundation
import Testing

@testable import StewardInventory

@Suite("AWS:Application from dpkg, rpm and apk")
struct ApplicationTests {
    static let hasDpkg = FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg-query")

    @Test("names and versions are exactly what dpkg-query -W lists", .enabled(if: hasDpkg, "dpkg-query is not installed"))
    func matchesDpkgQuery() async throws {
        let listed = try #require(output(of: "dpkg-query", ["-W", "-f=${Package}\t${Version}\n"]))
        let expected = listed.split(separator: "\n").map(String.init).sorted()
        let packages = try await DpkgDatabase.installed("/usr/bin/dpkg-query")
        #expect(packages.map { "\($0.name)\t\($0.version)" }.sorted() == expected)

        // Through the gatherer, when dpkg is the only package database here.
        if Host.program("rpm") == nil, !Host.exists(ApkDatabase.path) {
            let found = try await ApplicationGatherer(applications: true, awsComponents: true).gather(captureTime: "2026-11-29T16:00:00Z")
            let item = try #require(found.items.first { $0.typeName == "AWS:Application" })
            #expect(item.schemaVersion == "1.1")
            #expect(item.content.map { "\($0["Name"]!)\t\($0["Version"]!)" }.sorted() == expected)
            #expect(found.items.contains { $0.typeName == "AWS:AWSComponent" })
            #expect(found.problems.isEmpty)
        }
    }

    @Test("each dpkg package carries its architecture, publisher and install time", .enabled(if: hasDpkg, "dpkg-query is not installed"))
    func dpkgDetails() async throws {
        let listed = try #require(output(of: "dpkg-query", ["-W", "-f=${Package}\t${Architecture}\t${Maintainer}\n"]))
        var expected: [String: (arch: String, maintainer: String)] = [:]
        for line in listed.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            expected[f[0]] = (f[1], f[2])
        }
        let packages = try await DpkgDatabase.installed("/usr/bin/dpkg-query")
        for package in packages {
            let want = try #require(expected[package.name])
            #expect(package.entry["Architecture"] == InstalledPackage.awsArchitecture(want.arch))
            #expect(package.entry["Publisher"] == (want.maintainer.isEmpty ? nil : want.maintainer))
            #expect(package.entry["Epoch"] == nil && package.entry["Release"] == nil)
        }
        // A package installed from the archive has a file list, hence an install time.
        #expect(packages.filter { $0.installedTime != nil }.count >= packages.count * 9 / 10)
        let stamp = try #require(packages.compactMap { $0.entry["InstalledTime"] }.first)
        #expect(stamp.count == 20 && stamp.hasSuffix("Z"))
    }

    @Test("dpkg-query output becomes AWS attributes, with the whole Debian version as Version")
    func dpkgParser() {
        let record = { (fields: [String]) in fields.map { $0 + "\u{1F}" }.joined() + "\u{1E}" }
        let text =
            record([
                "sed", "4.9-1", "amd64", "Debian Developers <d@debian.org>", "GNU stream editor", "https://www.gnu.org/software/sed/",
                "utils", "sed",
            ])
            + record(["libc6", "2.36-9+deb12u4", "i386", "GNU Libc Maintainers <l@debian.org>", "GNU C Library", "", "libs", "libc6:i386"])
            + record(["zlib1g", "1:1.2.13.dfsg-1", "all", "", "compression library", "", "", "zlib1g"])
        var asked: [String] = []
        let packages = DpkgDatabase.parse(text) { name, arch, binary in
            asked.append("\(name) \(arch) \(binary)")
            return name == "sed" ? 1_700_000_000 : nil
        }
        #expect(asked == ["sed amd64 sed", "libc6 i386 libc6:i386", "zlib1g all zlib1g"])
        #expect(
            packages.map(\.entry) == [
                [
                    "Name": "sed", "Version": "4.9-1", "Architecture": "x86_64", "Publisher": "Debian Developers <d@debian.org>",
                    "Summary": "GNU stream editor", "URL": "https://www.gnu.org/software/sed/", "ApplicationType": "utils",
                    "PackageId": "sed_4.9-1_amd64.deb", "InstalledTime": "2023-11-14T22:13:20Z",
                ],
                [
                    "Name": "libc6", "Version": "2.36-9+deb12u4", "Architecture": "i386",
                    "Publisher": "GNU Libc Maintainers <l@debian.org>",
                    "Summary": "GNU C Library", "ApplicationType": "libs", "PackageId": "libc6_2.36-9+deb12u4_i386.deb",
                ],
                [
                    "Name": "zlib1g", "Version": "1:1.2.13.dfsg-1", "Architecture": "all", "Summary": "compression library",
                    "PackageId": "zlib1g_1:1.2.13.dfsg-1_all.deb",
                ],
            ])
    }

    @Test("rpm query output keeps Epoch and Release apart and drops (none)")
    func rpmParser() {
        let record = { (fields: [String]) in fields.map { $0 + "\u{1F}" }.joined() + "\u{1E}" }
        let text =
            record([
                "vim-minimal", "2", "9.0.2153", "1.fc39", "x86_64", "Fedora Project", "A minimal version of the VIM editor",
                "http://www.vim.org/", "1700000000", "Unspecified", "vim-9.0.2153-1.fc39.src.rpm",
            ])
            + record([
                "gpg-pubkey", "(none)", "18b8e74c", "62f2920f", "(none)", "(none)",
                "Fedora (39) <fedora-39-primary@fedoraproject.org> public key",
                "(none)", "1690000000", "Public Keys", "(none)",
            ])
        #expect(
            RpmDatabase.parse(text).map(\.entry) == [
                [
                    "Name": "vim-minimal", "Epoch": "2", "Version": "9.0.2153", "Release": "1.fc39", "Architecture": "x86_64",
                    "Publisher": "Fedora Project", "Summary": "A minimal version of the VIM editor", "URL": "http://www.vim.org/",
                    "InstalledTime": "2023-11-14T22:13:20Z", "ApplicationType": "Unspecified", "PackageId": "vim-9.0.2153-1.fc39.src.rpm",
                ],
                [
                    "Name": "gpg-pubkey", "Version": "18b8e74c", "Release": "62f2920f",
                    "Summary": "Fedora (39) <fedora-39-primary@fedoraproject.org> public key", "InstalledTime": "2023-07-22T04:26:40Z",
                    "ApplicationType": "Public Keys",
                ],
            ])
        #expect(RpmDatabase.queryFormat.hasPrefix("%{NAME}\u{1F}%{EPOCH}\u{1F}"))
    }

    @Test("the apk database gives name, version, architecture, maintainer, summary and URL")
    func apkParser() {
        let text = """
            C:Q1abc=
            P:musl
            V:1.2.4-r2
            A:x86_64
            S:383152
            I:622592
            T:the musl c library (libc) implementation
            U:https://musl.libc.org/
            L:MIT
            o:musl
            m:Timo Teräs <timo.teras@iki.fi>
            t:1698670089
            F:lib
            R:ld-musl-x86_64.so.1

            C:Q1def=
            P:busybox
            V:1.36.1-r5
            A:x86_64
            T:Size optimized toolbox of many common UNIX utilities
            U:https://busybox.net/
            t:1699000000

            """
        #expect(
            ApkDatabase.parse(text).map(\.entry) == [
                [
                    "Name": "musl", "Version": "1.2.4-r2", "Architecture": "x86_64", "Publisher": "Timo Teräs <timo.teras@iki.fi>",
                    "Summary": "the musl c library (libc) implementation", "URL": "https://musl.libc.org/",
                    "PackageId": "musl-1.2.4-r2.apk",
                ],
                [
                    "Name": "busybox", "Version": "1.36.1-r5", "Architecture": "x86_64",
                    "Summary": "Size optimized toolbox of many common UNIX utilities", "URL": "https://busybox.net/",
                    "PackageId": "busybox-1.36.1-r5.apk",
                ],
            ])
    }

    @Test("AWS components are the SSM agent's list plus our own agent")
    func awsComponents() {
        let names = ["amazon-ssm-agent", "aws-cfn-bootstrap", "steward-agent", "aws-apitools-ec2", "aws-amitools-ec2", "awscli", "sed"]
        let picked = names.filter { InstalledPackage(name: $0, version: "1").isAWSComponent }
        #expect(picked == ["amazon-ssm-agent", "aws-cfn-bootstrap", "steward-agent", "aws-apitools-ec2", "aws-amitools-ec2"])
    }
}
