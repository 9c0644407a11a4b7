import Foundation
import StewardDocuments
import StewardKit
import StewardStore

/// CreateDocument, GetDocument, DescribeDocument, ListDocuments, UpdateDocument, versions and DeleteDocument.
struct DocumentOperations: Sendable {
    let store: Store
    let catalog: DocumentCatalog
    let pager: Pager

    func register(into ops: inout [String: Operation]) {
        ops["CreateDocument"] = createDocument
        ops["GetDocument"] = getDocument
        ops["DescribeDocument"] = describeDocument
        ops["ListDocuments"] = listDocuments
        ops["UpdateDocument"] = updateDocument
        ops["UpdateDocumentDefaultVersion"] = updateDefaultVersion
        ops["ListDocumentVersions"] = listDocumentVersions
        ops["DeleteDocument"] = deleteDocument
    }

    static let namePattern = try! NSRegularExpression(pattern: "^[a-zA-Z0-9_\\-.]{3,128}$")
    static let supportedTypes: Set<String> = ["Command"]

    /// Parses and validates content for a new version, in the order AWS reports problems.
    func parseContent(_ body: RequestBody) throws(AWSError) -> (String, DocumentFormat, SSMDocument) {
        let content = try body.requiredString("Content")
        guard content.utf8.count <= SSMDocument.maxContentBytes else {
            throw AWSError("MaxDocumentSizeExceeded", "The content for the document exceeds the maximum size of 64 KB.")
        }
        let formatText = try body.string("DocumentFormat") ?? "JSON"
        guard let format = DocumentFormat(rawValue: formatText) else {
            throw AWSError.validation("DocumentFormat must be JSON, YAML or TEXT.")
        }
        let document = try SSMDocument.parse(content: content, format: format)
        return (content, format, document)
    }

    func createDocument(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        let (content, format, document) = try parseContent(body)
        guard Self.namePattern.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil else {
            throw AWSError.validation("Document name \(name) is not valid: use 3 to 128 letters, digits, '_', '-' and '.'.")
        }
        if DocumentCatalog.reservedPrefixes.contains(where: { name.lowercased().hasPrefix($0.lowercased()) }) {
            throw AWSError.validation(
                "Document names may not start with a reserved prefix (aws, amazon, amzn, AWSEC2, AWSConfigRemediation, AWSSupport).")
        }
        let type = try body.string("DocumentType") ?? "Command"
        guard Self.supportedTypes.contains(type) else {
            throw AWSError("InvalidDocumentType", "Document type \(type) is not supported; only Command documents are.")
        }
        let version = DocumentVersion(
            region: ctx.region, name: name, version: 1, content: content, format: format, documentType: type,
            schemaVersion: document.schemaVersion, hash: DocumentCatalog.hash(content), createdDate: ctx.nowSeconds,
            versionName: try body.string("VersionName"), targetType: try body.string("TargetType"),
            displayName: try body.string("DisplayName"))
        let tags = try Tag.list(from: body)
        switch try await store.createDocument(version, owner: ctx.accountId) {
        case .stored(let head, let stored):
            if !tags.isEmpty { _ = try await store.addTags(region: ctx.region, type: "Document", id: name, tags: tags) }
            return ["DocumentDescription": try await describe(head: head, version: stored, document: document, ctx: ctx)]
        case .alreadyExists:
            throw AWSError("DocumentAlreadyExists", "Document with same name \(name) already exists.")
        default:
            throw AWSError.internalError()
        }
    }

    func updateDocument(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        let (content, format, document) = try parseContent(body)
        guard let head = try await store.documentHead(region: ctx.region, name: name) else {
            if DocumentCatalog.builtin(name) != nil {
                throw AWSError("InvalidDocumentOperation", "Documents owned by Amazon cannot be updated.")
            }
            throw AWSError("InvalidDocument", "Document with name \(name) does not exist.")
        }
        var expected: Int?
        if let v = try body.string("DocumentVersion"), v != "$LATEST" {
            expected = try DocumentCatalog.versionNumber(v, head: head)
        }
        let current = try await store.documentVersion(region: ctx.region, name: name, version: head.latestVersion)
        let version = DocumentVersion(
            region: ctx.region, name: name, version: 0, content: content, format: format,
            documentType: current?.documentType ?? "Command", schemaVersion: document.schemaVersion,
            hash: DocumentCatalog.hash(content), createdDate: ctx.nowSeconds, versionName: try body.string("VersionName"),
            targetType: try body.string("TargetType") ?? current?.targetType,
            displayName: try body.string("DisplayName") ?? current?.displayName)
        switch try await store.addDocumentVersion(version, expectedLatest: expected) {
        case .stored(let head, let stored):
            return ["DocumentDescription": try await describe(head: head, version: stored, document: document, ctx: ctx)]
        case .duplicateContent:
            throw AWSError(
                "DuplicateDocumentContent",
                "The content of the association document matches another document. Change the content of the document and try again.")
        case .duplicateVersionName:
            throw AWSError(
                "DuplicateDocumentVersionName",
                "The version name has already been used in this document. Specify a different version name, and then try again.")
        case .versionLimit:
            throw AWSError(
                "DocumentVersionLimitExceeded", "The document has too many versions. Delete one or more document versions and try again.")
        case .notLatest:
            throw AWSError(
                "InvalidDocumentVersion",
                "The document version is not valid or does not exist; UpdateDocument needs $LATEST or the latest version number.")
        case .notFound:
            throw AWSError("InvalidDocument", "Document with name \(name) does not exist.")
        case .alreadyExists:
            throw AWSError.internalError()
        }
    }

    func getDocument(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let r = try await catalog.resolve(
            region: ctx.region, name: try body.requiredString("Name"), version: try body.string("DocumentVersion"),
            versionName: try body.string("VersionName"))
        var content = r.version.content
        var format = r.version.format
        if let wanted = try body.string("DocumentFormat") {
            guard let f = DocumentFormat(rawValue: wanted) else { throw AWSError.validation("DocumentFormat must be JSON, YAML or TEXT.") }
            if f != format, f != .text {
                content = f.render(r.document.content)
                format = f
            }
        }
        return .compact([
            "Name": .string(r.version.name), "CreatedDate": .number(r.version.createdDate),
            "DisplayName": JSONValue(r.version.displayName), "VersionName": JSONValue(r.version.versionName),
            "DocumentVersion": .string(String(r.version.version)), "Status": "Active", "Content": .string(content),
            "DocumentType": .string(r.version.documentType), "DocumentFormat": .string(format.rawValue),
        ])
    }

    func describeDocument(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let r = try await catalog.resolve(
            region: ctx.region, name: try body.requiredString("Name"), version: try body.string("DocumentVersion"),
            versionName: try body.string("VersionName"))
        return ["Document": try await describe(head: r.head, version: r.version, document: r.document, ctx: ctx)]
    }

    func describe(head: DocumentHead, version v: DocumentVersion, document: SSMDocument, ctx: APIContext) async throws -> JSONValue {
        let tags = head.owner == "Amazon" ? [] : try await store.tags(region: ctx.region, type: "Document", id: v.name)
        return .compact([
            "Sha1": .string(v.hash), "Hash": .string(v.hash), "HashType": "Sha256", "Name": .string(v.name),
            "DisplayName": JSONValue(v.displayName), "VersionName": JSONValue(v.versionName), "Owner": .string(head.owner),
            "CreatedDate": .number(v.createdDate), "Status": "Active", "DocumentVersion": .string(String(v.version)),
            "Description": JSONValue(document.description), "Parameters": .array(document.parameters.map(\.descriptionJSON)),
            "PlatformTypes": JSONValue(document.platformTypes), "DocumentType": .string(v.documentType),
            "SchemaVersion": .string(v.schemaVersion), "LatestVersion": .string(String(head.latestVersion)),
            "DefaultVersion": .string(String(head.defaultVersion)), "DocumentFormat": .string(v.format.rawValue),
            "TargetType": JSONValue(v.targetType), "Tags": .array(tags.map(\.json)),
        ])
    }

    func listDocuments(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        var entries: [(DocumentHead, DocumentVersion)] = BuiltinDocuments.all.compactMap { DocumentCatalog.builtin($0.name) }
        for head in try await store.documentHeads(region: ctx.region) {
            if let v = try await store.documentVersion(region: ctx.region, name: head.name, version: head.defaultVersion) {
                entries.append((head, v))
            }
        }
        let tags = try await store.tagsByResource(region: ctx.region, type: "Document")
        var filters: [(String, Set<String>)] = []
        for f in try body.objectList("DocumentFilterList") ?? [] {
            filters.append((try f.requiredString("key"), [try f.requiredString("value")]))
        }
        for f in try body.objectList("Filters") ?? [] {
            filters.append((try f.requiredString("Key"), Set(try f.stringList("Values") ?? [])))
        }
        func platforms(_ v: DocumentVersion) -> [String] {
            (try? SSMDocument.parse(content: v.content, format: v.format).platformTypes) ?? []
        }
        for (key, values) in filters {
            switch key {
            case "Name":
                entries = entries.filter { e in values.contains { e.0.name == $0 || e.0.name.hasPrefix($0) } }
            case "Owner":
                entries = entries.filter { e in
                    values.contains { v in
                        switch v {
                        case "Self", "Private": e.0.owner == ctx.accountId
                        case "Amazon": e.0.owner == "Amazon"
                        case "All", "Public": true
                        case "ThirdParty": false
                        default: e.0.owner == v
                        }
                    }
                }
            case "DocumentType":
                entries = entries.filter { values.contains($0.1.documentType) }
            case "PlatformTypes":
                entries = entries.filter { e in !values.isDisjoint(with: platforms(e.1)) }
            case "SearchKeyword":
                entries = entries.filter { e in values.contains { e.0.name.localizedCaseInsensitiveContains($0) } }
            case _ where key.hasPrefix("tag:"):
                let k = String(key.dropFirst(4))
                entries = entries.filter { e in tags[e.0.name]?[k].map { values.isEmpty || values.contains($0) } ?? false }
            default:
                throw AWSError("InvalidFilterKey", "The filter key \(key) is not valid.")
            }
        }
        entries.sort { $0.0.name < $1.0.name }
        let query =
            "documents:\(ctx.region):\(body.pagingQuery)"
        let page = try pager.page(entries, body: body, range: 1...50, defaultSize: 50, query: query, key: { $0.0.name })
        return .compact([
            "DocumentIdentifiers": .array(
                page.items.map { head, v in
                    .compact([
                        "Name": .string(v.name), "CreatedDate": .number(v.createdDate), "DisplayName": JSONValue(v.displayName),
                        "Owner": .string(head.owner), "VersionName": JSONValue(v.versionName),
                        "PlatformTypes": JSONValue(platforms(v)), "DocumentVersion": .string(String(v.version)),
                        "DocumentType": .string(v.documentType), "SchemaVersion": .string(v.schemaVersion),
                        "DocumentFormat": .string(v.format.rawValue), "TargetType": JSONValue(v.targetType),
                        "Tags": .array((tags[v.name] ?? [:]).sorted { $0.key < $1.key }.map { Tag(key: $0.key, value: $0.value).json }),
                    ])
                }),
            "NextToken": page.nextToken,
        ])
    }

    func updateDefaultVersion(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        let versionText = try body.requiredString("DocumentVersion")
        guard let head = try await store.documentHead(region: ctx.region, name: name) else {
            throw AWSError("InvalidDocument", "Document with name \(name) does not exist.")
        }
        let number = try DocumentCatalog.versionNumber(versionText, head: head)
        guard let updated = try await store.setDefaultDocumentVersion(region: ctx.region, name: name, version: number) else {
            throw AWSError("InvalidDocumentVersion", "The document version \(versionText) is not valid or does not exist.")
        }
        let v = try await store.documentVersion(region: ctx.region, name: name, version: number)
        return [
            "Description": .compact([
                "Name": .string(name), "DefaultVersion": .string(String(updated.defaultVersion)),
                "DefaultVersionName": JSONValue(v?.versionName),
            ])
        ]
    }

    func listDocumentVersions(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        let head: DocumentHead
        let versions: [DocumentVersion]
        if let (h, v) = DocumentCatalog.builtin(name) {
            head = h
            versions = [v]
        } else {
            guard let h = try await store.documentHead(region: ctx.region, name: name) else {
                throw AWSError("InvalidDocument", "Document with name \(name) does not exist.")
            }
            head = h
            versions = try await store.documentVersions(region: ctx.region, name: name)
        }
        let page = try pager.page(
            versions, body: body, range: 1...50, defaultSize: 50, query: "versions:\(ctx.region):\(name)", key: { String($0.version) })
        return .compact([
            "DocumentVersions": .array(
                page.items.map { v in
                    .compact([
                        "Name": .string(v.name), "DisplayName": JSONValue(v.displayName), "DocumentVersion": .string(String(v.version)),
                        "VersionName": JSONValue(v.versionName), "CreatedDate": .number(v.createdDate),
                        "IsDefaultVersion": .bool(v.version == head.defaultVersion), "DocumentFormat": .string(v.format.rawValue),
                        "Status": "Active",
                    ])
                }),
            "NextToken": page.nextToken,
        ])
    }

    func deleteDocument(_ ctx: APIContext, _ body: RequestBody) async throws -> JSONValue {
        let name = try body.requiredString("Name")
        if DocumentCatalog.builtin(name) != nil {
            throw AWSError("InvalidDocumentOperation", "Documents owned by Amazon cannot be deleted.")
        }
        guard let head = try await store.documentHead(region: ctx.region, name: name) else {
            throw AWSError("InvalidDocument", "Document with name \(name) does not exist.")
        }
        var version: Int?
        if let text = try body.string("DocumentVersion") {
            let n = try DocumentCatalog.versionNumber(text, head: head)
            guard n != head.defaultVersion else {
                throw AWSError(
                    "InvalidDocumentOperation",
                    "The default version of a document cannot be deleted on its own; delete the document instead.")
            }
            version = n
        }
        guard try await store.deleteDocument(region: ctx.region, name: name, version: version) else {
            throw AWSError("InvalidDocument", "Document with name \(name) does not exist.")
        }
        return [:]
    }
}
