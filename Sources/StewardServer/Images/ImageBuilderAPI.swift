import Crypto
import Foundation
import HTTPTypes
import StewardImages
import StewardKit
import StewardStore

/// The EC2 Image Builder API (REST-JSON: `PUT /CreateComponent`, `GET /GetComponent?componentBuildVersionArn=...`, ...)
/// over the generic records table: components, image recipes, infrastructure and distribution configurations,
/// pipelines, and images as records (the build engine comes later).
///
/// Records hold the AWS output shape; members that begin with `_` are Steward's own and never leave the server.
struct ImageBuilderAPI: Sendable {
    let store: Store
    let pager: Pager
    /// Where component documents too large to keep inline are written (`<data>/images/components`).
    let blobFolder: String
    /// Writes run one at a time (within this server; replicas sharing a database do not coordinate yet).
    let writes = WriteLock()

    /// Component data above this size goes to a file under ``blobFolder`` rather than into a record.
    static let inlineDataLimit = 2 << 20

    enum Kind {
        static let component = "ib-component"
        static let componentData = "ib-component-data"
        static let recipe = "ib-recipe"
        static let infrastructure = "ib-infrastructure"
        static let distribution = "ib-distribution"
        static let pipeline = "ib-pipeline"
        static let image = "ib-image"
        static let token = "ib-token"
        static let counter = "ib-build-counter"
    }

    func register(into routes: inout [String: RESTRoute]) {
        func add(_ method: HTTPRequest.Method, _ name: String, query: String? = nil, max: Int = 1 << 20, _ op: @escaping Operation) {
            var route = RESTRoute(method: method, path: "/\(name)", maxBody: max, clientErrorCode: "InvalidRequestException", operation: op)
            if let query { route.query[query] = .init(member: query, type: .string) }
            routes[route.key] = route
        }
        add(.put, "CreateComponent", max: 24 << 20, createComponent)
        add(.get, "GetComponent", query: "componentBuildVersionArn", getComponent)
        add(.post, "ListComponents", listComponents)
        add(.post, "ListComponentBuildVersions", listComponentBuildVersions)
        add(.delete, "DeleteComponent", query: "componentBuildVersionArn", deleteComponent)
        add(.put, "CreateImageRecipe", createRecipe)
        add(.get, "GetImageRecipe", query: "imageRecipeArn", getRecipe)
        add(.post, "ListImageRecipes", listRecipes)
        add(.delete, "DeleteImageRecipe", query: "imageRecipeArn", deleteRecipe)
        add(.put, "CreateInfrastructureConfiguration", createInfrastructure)
        add(.get, "GetInfrastructureConfiguration", query: "infrastructureConfigurationArn", getInfrastructure)
        add(.post, "ListInfrastructureConfigurations", listInfrastructure)
        add(.put, "UpdateInfrastructureConfiguration", updateInfrastructure)
        add(.delete, "DeleteInfrastructureConfiguration", query: "infrastructureConfigurationArn", deleteInfrastructure)
        add(.put, "CreateDistributionConfiguration", createDistribution)
        add(.get, "GetDistributionConfiguration", query: "distributionConfigurationArn", getDistribution)
        add(.post, "ListDistributionConfigurations", listDistribution)
        add(.put, "UpdateDistributionConfiguration", updateDistribution)
        add(.delete, "DeleteDistributionConfiguration", query: "distributionConfigurationArn", deleteDistribution)
        add(.put, "CreateImagePipeline", createPipeline)
        add(.get, "GetImagePipeline", query: "imagePipelineArn", getPipeline)
        add(.post, "ListImagePipelines", listPipelines)
        add(.put, "UpdateImagePipeline", updatePipeline)
        add(.delete, "DeleteImagePipeline", query: "imagePipelineArn", deletePipeline)
        add(.put, "StartImagePipelineExecution", startPipeline)
        add(.post, "ListImagePipelineImages", listPipelineImages)
        add(.put, "CreateImage", createImage)
        add(.get, "GetImage", query: "imageBuildVersionArn", getImage)
        add(.post, "ListImages", listImages)
        add(.post, "ListImageBuildVersions", listImageBuildVersions)
        add(.put, "CancelImageCreation", cancelImage)
        add(.delete, "DeleteImage", query: "imageBuildVersionArn", deleteImage)
        add(.put, "ImportDiskImage", importDiskImage)
        add(.get, "GetImageBuildLog", query: "imageBuildVersionArn", getImageBuildLog)
    }

    // MARK: errors

    static func invalid(_ message: String) -> AWSError { AWSError("InvalidParameterValueException", message) }
    static func notFound(_ what: String) -> AWSError {
        AWSError("ResourceNotFoundException", "The resource \(what) does not exist.", status: 404)
    }
    static func exists(_ arn: String) -> AWSError { AWSError("ResourceAlreadyExistsException", "The resource \(arn) already exists.") }
    static func inUse(_ message: String) -> AWSError { AWSError("ResourceInUseException", message) }
    static func dependency(_ arn: String, usedBy: [String]) -> AWSError {
        AWSError(
            "ResourceDependencyException",
            "Resource dependency error: \(arn) is used by \(usedBy.prefix(5).joined(separator: ", "))\(usedBy.count > 5 ? ", ..." : "").")
    }

    // MARK: request members

    /// A resource name: 3 to 128 letters, digits, `-`, `_`, with spaces only inside.
    static func name(_ body: RequestBody) throws(AWSError) -> String {
        let name = try body.requiredString("name")
        let edge: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        guard (3...128).contains(name.count), let first = name.first, let last = name.last, edge(first), edge(last),
            name.allSatisfy({ edge($0) || $0 == " " })
        else {
            throw invalid("The name \(name) is not valid: use 3 to 128 letters, digits, hyphens and underscores (spaces inside).")
        }
        return name
    }

    static func description(_ body: RequestBody, _ member: String = "description") throws(AWSError) -> JSONValue {
        guard let text = try body.string(member) else { return .null }
        guard (1...1024).contains(text.count) else { throw invalid("\(member) must be 1 to 1024 characters.") }
        return .string(text)
    }

    /// A `map<string,string>` of tags: at most 50, keys 1 to 128 characters, values at most 256.
    static func tags(_ body: RequestBody, _ member: String = "tags") throws(AWSError) -> JSONValue {
        guard let map = try body.object(member) else { return .null }
        guard map.fields.count <= 50 else { throw invalid("At most 50 \(member) are allowed.") }
        for (key, value) in map.fields {
            guard let text = value.stringValue, (1...128).contains(key.count), text.count <= 256, !key.hasPrefix("aws:") else {
                throw invalid("\(member): keys are 1 to 128 characters (not aws:...) and values strings of at most 256.")
            }
        }
        return .object(map.fields)
    }

    static func raw(_ body: RequestBody, _ member: String) -> JSONValue { body.fields[member] ?? .null }

    /// The ARN of `kind` a member names; it must be in the caller's region and account.
    static func arn(_ ctx: APIContext, _ body: RequestBody, _ member: String, kind: ImageBuilderARN.Kind) throws(AWSError)
        -> ImageBuilderARN
    {
        let arn = try ImageBuilderARN.parse(try body.requiredString(member), kind: kind, member: member)
        guard arn.region == ctx.region, arn.account == ctx.accountId else { throw notFound(arn.description) }
        return arn
    }

    /// A record without Steward's own `_` members.
    static func visible(_ record: JSONValue) -> JSONValue {
        guard case .object(let fields) = record else { return record }
        return .object(fields.filter { !$0.key.hasPrefix("_") })
    }

    static func pick(_ record: JSONValue, _ keys: [String]) -> JSONValue {
        .compact(Dictionary(uniqueKeysWithValues: keys.map { ($0, record[$0] ?? .null) }))
    }

    // MARK: idempotency

    /// Runs a mutating operation once per `clientToken`: the same token with the same request answers the first
    /// response again; with another request it is `IdempotentParameterMismatchException`.
    func idempotent(_ ctx: APIContext, _ body: RequestBody, operation: String, _ work: () async throws -> JSONValue) async throws
        -> JSONValue
    {
        await writes.acquire()
        do {
            let response = try await once(ctx, body, operation: operation, work)
            await writes.release()
            return response
        } catch {
            await writes.release()
            throw error
        }
    }

    private func once(_ ctx: APIContext, _ body: RequestBody, operation: String, _ work: () async throws -> JSONValue) async throws
        -> JSONValue
    {
        let token = try body.requiredString("clientToken")
        guard (1...64).contains(token.count) else { throw Self.invalid("clientToken must be 1 to 64 characters.") }
        var request = body.fields
        request["clientToken"] = nil
        let fingerprint = JSONWriter.string(.object(request))
        let digest = SHA256.hash(data: Data(fingerprint.utf8)).map { String(format: "%02x", $0) }.joined()
        let id = "\(operation)/\(token)"
        if let seen = try await store.record(kind: Kind.token, region: ctx.region, id: id) {
            guard seen["request"]?.stringValue == digest else {
                throw AWSError(
                    "IdempotentParameterMismatchException",
                    "The client token \(token) was already used with a different request to \(operation).")
            }
            var response = seen["response"] ?? [:]
            response["requestId"] = .string(ctx.requestId)
            return response
        }
        var response = try await work()
        response["requestId"] = .string(ctx.requestId)
        response["clientToken"] = .string(token)
        try await store.putRecord(
            kind: Kind.token, region: ctx.region, id: id, body: ["request": .string(digest), "response": response], now: ctx.nowSeconds)
        return response
    }

    /// The next build number of `name` at `version` (build numbers are never reused, even after a delete).
    func nextBuild(_ ctx: APIContext, kind: String, name: String, version: SemanticVersion) async throws -> Int {
        let id = "\(kind)/\(name)/\(version)"
        let last = try await store.record(kind: Kind.counter, region: ctx.region, id: id)?["build"]?.numberValue ?? 0
        let next = Int(last) + 1
        try await store.putRecord(
            kind: Kind.counter, region: ctx.region, id: id, body: ["build": .number(Double(next))], now: ctx.nowSeconds)
        return next
    }

    // MARK: lists

    /// One page of `items` with Image Builder's `maxResults` (1 to 25) and `nextToken`.
    func page(_ items: [JSONValue], _ body: RequestBody, key: (JSONValue) -> String) throws(AWSError) -> (
        items: ArraySlice<JSONValue>, nextToken: JSONValue
    ) {
        var fields = body.fields
        let token = fields.removeValue(forKey: "nextToken")
        let size = fields.removeValue(forKey: "maxResults")
        let query = JSONWriter.string(.object(fields))
        var paging: [String: JSONValue] = [:]
        paging["NextToken"] = token
        paging["MaxResults"] = size
        do {
            return try pager.page(items, body: try RequestBody(.object(paging)), range: 1...25, defaultSize: 25, query: query, key: key)
        } catch {
            if error.code == AWSError.invalidNextToken.code {
                throw AWSError("InvalidPaginationTokenException", "The nextToken is not valid for this request.")
            }
            throw error
        }
    }

    /// `filters: [{name, values}]`, each name one of `allowed`, 1 to 10 values; answers name → values.
    static func filters(_ body: RequestBody, allowed: [String]) throws(AWSError) -> [(name: String, values: [String])] {
        var out: [(String, [String])] = []
        for filter in try body.objectList("filters") ?? [] {
            let name = try filter.requiredString("name")
            guard allowed.contains(name) else {
                throw invalid("The filter name \(name) is not valid; use \(allowed.joined(separator: ", ")).")
            }
            guard let values = try filter.stringList("values"), (1...10).contains(values.count) else {
                throw invalid("Filter \(name) needs 1 to 10 values.")
            }
            out.append((name, values))
        }
        guard out.count <= 10 else { throw invalid("At most 10 filters are allowed.") }
        return out
    }

    /// Whether a record passes every filter (values of one filter are alternatives; `version` takes wildcards).
    static func passes(_ record: JSONValue, _ filters: [(name: String, values: [String])], members: [String: String] = [:]) -> Bool {
        filters.allSatisfy { filter in
            let member = members[filter.name] ?? filter.name
            if filter.name == "version", let version = record["version"]?.stringValue {
                let exact = version.split(separator: "/").first.flatMap { SemanticVersion($0) }
                return filter.values.contains { v in
                    guard let f = VersionFilter(v), let exact else { return v == version }
                    return f.build == nil ? f.matches(exact) : BuildVersion(version).map(f.matches) ?? false
                }
            }
            let value = record[member]
            if let list = value?.arrayValue { return list.contains { filter.values.contains($0.textValue) } }
            return filter.values.contains(value?.textValue ?? "")
        }
    }

    /// The `owner` member of list calls: only `Self` holds anything here (there is no shared or Amazon catalogue).
    static func ownsNothing(_ body: RequestBody) throws(AWSError) -> Bool {
        guard let owner = try body.string("owner") else { return false }
        guard ["Self", "Shared", "Amazon", "ThirdParty", "AWSMarketplace"].contains(owner) else {
            throw invalid("owner must be Self, Shared, Amazon, ThirdParty or AWSMarketplace.")
        }
        return owner != "Self"
    }

    /// `latestVersionReferences` for a versioned resource among its siblings (`version` members `x.y.z[/n]`).
    static func latestReferences(
        _ ctx: APIContext, kind: ImageBuilderARN.Kind, name: String, of version: SemanticVersion, among records: [JSONValue]
    )
        -> JSONValue
    {
        let versions = records.compactMap { r -> BuildVersion? in
            guard let text = r["version"]?.stringValue else { return nil }
            return BuildVersion(text)
                ?? SemanticVersion(text).map { BuildVersion($0, build: r["_build"]?.numberValue.map { Int($0) } ?? 1) }
        }
        func newest(_ keep: (BuildVersion) -> Bool) -> JSONValue {
            guard let v = versions.filter(keep).max() else { return .null }
            return .string(ImageBuilderARN.of(kind, region: ctx.region, account: ctx.accountId, name: name, version: v.version).description)
        }
        var refs: [String: JSONValue] = [
            "latestVersionArn": newest { _ in true },
            "latestMajorVersionArn": newest { $0.version.major == version.major },
            "latestMinorVersionArn": newest { $0.version.major == version.major && $0.version.minor == version.minor },
        ]
        if let v = versions.filter({ $0.version == version }).max() {
            let arn = ImageBuilderARN.of(
                kind, region: ctx.region, account: ctx.accountId, name: name, version: v.version,
                build: kind == .imageRecipe ? nil : v.build)
            refs["latestPatchVersionArn"] = .string(arn.description)
        }
        return .compact(refs)
    }
}
