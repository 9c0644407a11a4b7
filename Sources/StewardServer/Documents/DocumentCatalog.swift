import Crypto
import Foundation
import StewardDocuments
import StewardKit
import StewardStore

/// Finds documents by name and version: the built-in AWS documents and those stored per region.
struct DocumentCatalog: Sendable {
    let store: Store

    struct Resolved: Sendable {
        var head: DocumentHead
        var version: DocumentVersion
        var document: SSMDocument
    }

    static let reservedPrefixes = ["aws", "amazon", "amzn", "AWSEC2", "AWSConfigRemediation", "AWSSupport"]

    static func builtin(_ name: String) -> (DocumentHead, DocumentVersion)? {
        guard let entry = BuiltinDocuments.named(name) else { return nil }
        let created = 1_500_000_000.0
        let head = DocumentHead(region: "", name: name, owner: "Amazon", defaultVersion: 1, latestVersion: 1, createdDate: created)
        let version = DocumentVersion(
            region: "", name: name, version: 1, content: entry.content, format: .json, documentType: "Command",
            schemaVersion: (try? SSMDocument.parse(content: entry.content, format: .json).schemaVersion) ?? "2.2",
            hash: Self.hash(entry.content), createdDate: created, versionName: nil, targetType: nil, displayName: nil)
        return (head, version)
    }

    static func hash(_ content: String) -> String { SigV4.hex(Array(SHA256.hash(data: Data(content.utf8)))) }

    /// Parses a version selector: nil, `$DEFAULT`, `$LATEST` or a number.
    static func versionNumber(_ text: String?, head: DocumentHead) throws(AWSError) -> Int {
        switch text {
        case nil, "", "$DEFAULT": return head.defaultVersion
        case "$LATEST": return head.latestVersion
        case let t?:
            guard let n = Int(t), n >= 1, t.first != "0" else {
                throw AWSError("InvalidDocumentVersion", "The document version \(t) is not valid.")
            }
            return n
        }
    }

    func resolve(region: String, name rawName: String, version: String?, versionName: String? = nil) async throws -> Resolved {
        let name = Self.plainName(rawName)
        let head: DocumentHead
        var stored: DocumentVersion?
        if let (h, v) = Self.builtin(name) {
            head = h
            stored = v
            if let version, !["$DEFAULT", "$LATEST", "1"].contains(version) {
                throw AWSError("InvalidDocumentVersion", "The document version \(version) is not valid or does not exist.")
            }
        } else {
            guard let h = try await store.documentHead(region: region, name: name) else {
                throw AWSError("InvalidDocument", "Document with name \(name) does not exist.")
            }
            head = h
            if let versionName {
                stored = try await store.documentVersion(region: region, name: name, versionName: versionName)
                if let version, let s = stored, try Self.versionNumber(version, head: head) != s.version { stored = nil }
            } else {
                stored = try await store.documentVersion(region: region, name: name, version: try Self.versionNumber(version, head: head))
            }
        }
        guard let stored else {
            throw AWSError("InvalidDocumentVersion", "The document version \(versionName ?? version ?? "") is not valid or does not exist.")
        }
        let document: SSMDocument
        do { document = try SSMDocument.parse(content: stored.content, format: stored.format) } catch {
            throw AWSError("InvalidDocument", "The stored document \(name) can no longer be parsed: \(error.message)")
        }
        return Resolved(head: head, version: stored, document: document)
    }

    /// Accepts a document ARN as well as a bare name.
    static func plainName(_ name: String) -> String {
        if name.hasPrefix("arn:"), let slash = name.lastIndex(of: "/") { return String(name[name.index(after: slash)...]) }
        return name
    }
}
