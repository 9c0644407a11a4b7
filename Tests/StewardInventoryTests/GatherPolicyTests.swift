import StewardKit
import Testing

@testable import StewardInventory

@Suite("GatherPolicy from AWS-GatherSoftwareInventory parameters")
struct GatherPolicyTests {
    @Test("without parameters every type is gathered and no files")
    func defaults() throws {
        let policy = try GatherPolicy(parameters: [:])
        #expect(policy == GatherPolicy())
        #expect(policy.applications && policy.awsComponents && policy.networkConfig && policy.services)
        #expect(policy.instanceDetailedInformation && policy.customInventory && policy.files.isEmpty)
    }

    @Test("switches take Enabled or Disabled, as a string or a list of one string, in any case")
    func switches() throws {
        let policy = try GatherPolicy(parameters: [
            "applications": "Disabled", "awsComponents": ["Disabled"], "NetworkConfig": ["Enabled"], "services": "disabled",
            "instanceDetailedInformation": "Enabled", "customInventory": ["Disabled"], "windowsUpdates": "Enabled",
            "billingInfo": ["Enabled"],
        ])
        #expect(!policy.applications && !policy.awsComponents && policy.networkConfig && !policy.services)
        #expect(policy.instanceDetailedInformation && !policy.customInventory)
    }

    @Test("files is the JSON text AWS passes, alone or in a list")
    func files() throws {
        let text =
            #"[{"Path":"/etc","Pattern":["*.conf","hosts"],"Recursive":true,"DirScanLimit":100},{"Path":"/opt/app","Pattern":["*.jar"]}]"#
        let expected = [
            FileFilter(path: "/etc", patterns: ["*.conf", "hosts"], recursive: true, dirScanLimit: 100),
            FileFilter(path: "/opt/app", patterns: ["*.jar"], recursive: false, dirScanLimit: nil),
        ]
        #expect(try GatherPolicy(parameters: ["files": .string(text)]).files == expected)
        #expect(try GatherPolicy(parameters: ["files": [.string(text)]]).files == expected)
        #expect(try GatherPolicy(parameters: ["files": try JSONReader.parse(text)]).files == expected)
        #expect(try GatherPolicy(parameters: ["files": ""]).files.isEmpty)
        #expect(try GatherPolicy(parameters: ["files": [""]]).files.isEmpty)
        let loose = #"[{"Path":"/srv","Pattern":"*.log","Recursive":"true","DirScanLimit":"7"}]"#
        #expect(
            try GatherPolicy(parameters: ["files": .string(loose)]).files == [
                FileFilter(path: "/srv", patterns: ["*.log"], recursive: true, dirScanLimit: 7)
            ])
    }

    @Test("the custom inventory folder can be set; empty keeps the default")
    func customFolder() throws {
        #expect(try GatherPolicy(parameters: ["CustomInventoryDirectory": "/srv/inv"]).customInventoryDirectory == "/srv/inv")
        #expect(
            try GatherPolicy(parameters: ["customInventoryDirectory": [""]]).customInventoryDirectory
                == GatherPolicy().customInventoryDirectory)
    }

    @Test(
        "a value the plugin cannot use is refused with the parameter's name",
        arguments: [
            (["applications": "Yes"], "applications"),
            (["networkConfig": ["Enabled", "Disabled"]], "networkConfig"),
            (["services": true], "services"),
            (["files": "[{\"Pattern\":[\"*\"]}]"], "Path"),
            (["files": "[{\"Path\":\"/etc\"}]"], "Pattern"),
            (["files": "[{\"Path\":\"/etc\",\"Pattern\":[\"*\"],\"Recursive\":\"maybe\"}]"], "Recursive"),
            (["files": "[{\"Path\":\"/etc\",\"Pattern\":[\"*\"],\"DirScanLimit\":-1}]"], "DirScanLimit"),
            (["files": "{not json"], "files"),
            (["files": "{\"Path\":\"/etc\"}"], "files"),
        ] as [([String: JSONValue], String)])
    func refused(parameters: [String: JSONValue], mentions: String) {
        #expect {
            _ = try GatherPolicy(parameters: parameters)
        } throws: { error in
            "\(error)".contains(mentions)
        }
    }
}
