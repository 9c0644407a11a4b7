import Foundation
import StewardKit
import Testing

@testable import StewardInventory

@Suite("Inventory items and their content hash")
struct InventoryItemTests {
    @Test("the hash is base64 of the MD5 of compact JSON with sorted keys")
    func knownValues() {
        // Expected values computed independently: base64(md5(json.dumps(c, sort_keys=True, separators=(',', ':'))))
        #expect(ContentHash.of([]) == "11FxOYiYfpMxmANj4kGJzg==")
        let content = [
            ["Name": "sed", "Version": "4.9-1", "Architecture": "x86_64"],
            ["Name": "zlib1g", "Version": "1:1.2.13.dfsg-1", "Summary": "tab\there \"q\" é"],
        ]
        #expect(ContentHash.of(content) == "QxQRiVlm+PO852r+NXXEDw==")
    }

    @Test("the hash does not depend on the order the keys were written in")
    func keyOrder() {
        var a: [String: String] = [:]
        for key in ["Name", "Version", "Architecture", "URL", "Summary"] { a[key] = key.lowercased() }
        var b: [String: String] = [:]
        for key in ["Summary", "URL", "Architecture", "Version", "Name"].reversed() { b[key] = key.lowercased() }
        #expect(ContentHash.of([a]) == ContentHash.of([b]))
        #expect(
            InventoryItem(typeName: "AWS:Application", schemaVersion: "1.1", captureTime: "t", content: [a]).contentHash
                == ContentHash.of([b]))
    }

    @Test("the hash changes when a value, a key or the entry order changes")
    func changes() {
        let base = [["Name": "a", "Version": "1"], ["Name": "b", "Version": "2"]]
        let hashes = [
            base,
            [["Name": "a", "Version": "1"], ["Name": "b", "Version": "3"]],
            [["Name": "a", "Version": "1"], ["Name": "b", "Release": "2"]],
            [["Name": "b", "Version": "2"], ["Name": "a", "Version": "1"]],
            [["Name": "a", "Version": "1"]],
        ].map(ContentHash.of)
        #expect(Set(hashes).count == hashes.count)
    }

    @Test("an item encodes with the AWS member names and decodes back")
    func coding() throws {
        let item = InventoryItem(
            typeName: "Custom:RackInfo", schemaVersion: "1.0", captureTime: "2026-11-29T16:00:00Z", content: [["Rack": "R12"]])
        let data = try JSONEncoder().encode(item)
        let json = try JSONReader.parse(Array(data))
        #expect(json["TypeName"] == "Custom:RackInfo")
        #expect(json["ContentHash"]?.stringValue == item.contentHash)
        #expect(json["Content"] == [["Rack": "R12"]])
        #expect(try JSONDecoder().decode(InventoryItem.self, from: data) == item)

        let hashOnly = #"{"TypeName":"AWS:Network","SchemaVersion":"1.0","CaptureTime":"2026-11-29T16:00:00Z","ContentHash":"abc"}"#
        let decoded = try JSONDecoder().decode(InventoryItem.self, from: Data(hashOnly.utf8))
        #expect(decoded.content.isEmpty && decoded.contentHash == "abc")
    }

    @Test("capture times are UTC to the second with a Z")
    func captureTime() {
        #expect(Host.iso8601(0) == "1970-01-01T00:00:00Z")
        #expect(Host.iso8601(1_795_968_000) == "2026-11-29T16:00:00Z")
    }
}
