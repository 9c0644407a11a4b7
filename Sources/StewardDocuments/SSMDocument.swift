import Foundation
import StewardKit

/// A parsed and validated SSM Command document (schema 1.2, 2.0 or 2.2).
public struct SSMDocument: Sendable {
    public static let maxContentBytes = 64 * 1024
    public static let supportedSchemas: Set<String> = ["1.0", "1.2", "2.0", "2.0.1", "2.0.2", "2.0.3", "2.2"]

    public var schemaVersion: String
    public var description: String?
    public var parameters: [DocumentParameter]
    public var steps: [StepTemplate]
    public var content: JSONValue

    /// The platforms the document's actions can run on, as `DocumentDescription.PlatformTypes` gives them.
    public var platformTypes: [String] {
        let actions = Set(steps.map(\.action))
        if actions.isSubset(of: [
            "aws:runShellScript", "aws:runDocument", "aws:downloadContent", "aws:softwareInventory", "aws:refreshAssociation",
            "aws:updateSsmAgent", "aws:configurePackage", "aws:configureDocker", "aws:runDockerAction",
        ]) {
            if actions.contains("aws:runShellScript") { return ["Linux", "MacOS"] }
            return ["Windows", "Linux", "MacOS"]
        }
        if actions == ["aws:runPowerShellScript"] { return ["Windows", "Linux"] }
        return ["Linux"]
    }

    public static func parse(content: String, format: DocumentFormat) throws(AWSError) -> SSMDocument {
        guard content.utf8.count <= maxContentBytes else {
            throw AWSError("MaxDocumentSizeExceeded", "The content for the document exceeds the maximum size of 64 KB.")
        }
        return try parse(format.parse(content))
    }

    public static func parse(_ value: JSONValue) throws(AWSError) -> SSMDocument {
        guard case .object(let top) = value else {
            throw AWSError("InvalidDocumentContent", "The document must be a map at the top level.")
        }
        guard let schemaValue = top["schemaVersion"] else {
            throw AWSError("InvalidDocumentContent", "schemaVersion is required.")
        }
        let schema = schemaValue.textValue
        guard supportedSchemas.contains(schema) else {
            throw AWSError("InvalidDocumentSchemaVersion", "schemaVersion '\(schema)' is not supported; use 1.2, 2.0 or 2.2.")
        }
        var doc = SSMDocument(
            schemaVersion: schema, description: top["description"]?.stringValue, parameters: [], steps: [], content: value)
        if let params = top["parameters"], !params.isNull {
            guard case .object(let fields) = params else {
                throw AWSError("InvalidDocumentContent", "parameters must be a map of parameter names to definitions.")
            }
            for name in fields.keys.sorted() {
                doc.parameters.append(try DocumentParameter.parse(name: name, fields[name]!))
            }
        }
        if schema.hasPrefix("1.") {
            doc.steps = try parseRuntimeConfig(top["runtimeConfig"])
        } else {
            doc.steps = try parseMainSteps(top["mainSteps"], schema: schema)
        }
        return doc
    }

    static func parseRuntimeConfig(_ value: JSONValue?) throws(AWSError) -> [StepTemplate] {
        guard let value, case .object(let plugins) = value, !plugins.isEmpty else {
            throw AWSError("InvalidDocumentContent", "runtimeConfig is required for schema 1.2 and must name at least one plugin.")
        }
        var steps: [StepTemplate] = []
        for action in plugins.keys.sorted() {
            guard StepTemplate.knownActions.contains(action) else {
                throw AWSError("InvalidDocumentContent", "runtimeConfig.\(action): unknown plugin '\(action)'.")
            }
            guard case .object(let plugin) = plugins[action]!, let props = plugin["properties"] else {
                throw AWSError("InvalidDocumentContent", "runtimeConfig.\(action).properties is required.")
            }
            let list: [JSONValue]
            switch props {
            case .array(let a): list = a
            case .object: list = [props]
            default: throw AWSError("InvalidDocumentContent", "runtimeConfig.\(action).properties must be a list.")
            }
            for (i, p) in list.enumerated() {
                guard case .object = p else {
                    throw AWSError("InvalidDocumentContent", "runtimeConfig.\(action).properties[\(i)] must be a map.")
                }
                let name = list.count == 1 ? action : "\(action):\(p["id"]?.stringValue ?? String(i))"
                let step = StepTemplate(name: name, action: action, inputs: p, precondition: nil)
                try step.validateInputs(path: "runtimeConfig.\(action).properties[\(i)]")
                steps.append(step)
            }
        }
        return steps
    }

    static func parseMainSteps(_ value: JSONValue?, schema: String) throws(AWSError) -> [StepTemplate] {
        guard let value else { throw AWSError("InvalidDocumentContent", "mainSteps is required for schema \(schema).") }
        guard case .array(let items) = value, !items.isEmpty else {
            throw AWSError("InvalidDocumentContent", "mainSteps must be a non-empty list.")
        }
        var steps: [StepTemplate] = []
        var names: Set<String> = []
        for (i, item) in items.enumerated() {
            let path = "mainSteps[\(i)]"
            guard case .object(let fields) = item else { throw AWSError("InvalidDocumentContent", "\(path) must be a map.") }
            guard let action = fields["action"]?.stringValue, !action.isEmpty else {
                throw AWSError("InvalidDocumentContent", "\(path).action is required.")
            }
            guard StepTemplate.knownActions.contains(action) else {
                throw AWSError("InvalidDocumentContent", "\(path).action '\(action)' is not a supported plugin.")
            }
            guard let name = fields["name"]?.stringValue, !name.isEmpty else {
                throw AWSError("InvalidDocumentContent", "\(path).name is required.")
            }
            guard name.range(of: "^[a-zA-Z0-9_.-]+$", options: .regularExpression) != nil else {
                throw AWSError("InvalidDocumentContent", "\(path).name '\(name)' may contain only letters, digits, '.', '_' and '-'.")
            }
            guard names.insert(name).inserted else {
                throw AWSError("InvalidDocumentContent", "\(path).name '\(name)' is used by an earlier step.")
            }
            let inputs = fields["inputs"] ?? .object([:])
            guard case .object = inputs else { throw AWSError("InvalidDocumentContent", "\(path).inputs must be a map.") }
            var precondition: JSONValue?
            if let pre = fields["precondition"], !pre.isNull {
                guard schema == "2.2" else {
                    throw AWSError("InvalidDocumentContent", "\(path).precondition needs schemaVersion 2.2.")
                }
                guard case .object(let p) = pre, p.count == 1, let args = p["StringEquals"]?.arrayValue, args.count == 2 else {
                    throw AWSError("InvalidDocumentContent", "\(path).precondition must be {\"StringEquals\": [\"platformType\", VALUE]}.")
                }
                precondition = pre
            }
            let step = StepTemplate(name: name, action: action, inputs: inputs, precondition: precondition)
            try step.validateInputs(path: "\(path).inputs")
            steps.append(step)
        }
        return steps
    }

    /// Checks supplied parameters against the declarations, filling in defaults.
    public func resolveParameters(_ supplied: [String: [String]]) throws(AWSError) -> [String: JSONValue] {
        let declared = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0) })
        for name in supplied.keys.sorted() where declared[name] == nil {
            throw AWSError(
                "InvalidParameters",
                "Parameter \"\(name)\" is not defined in the document. You can only supply values to parameters defined in the SSM document."
            )
        }
        var resolved: [String: JSONValue] = [:]
        for p in parameters {
            if let values = supplied[p.name] {
                resolved[p.name] = try p.validate(values)
            } else if let d = p.defaultValue {
                resolved[p.name] = (try? p.typed(from: d)) ?? d
            } else {
                throw AWSError(
                    "InvalidParameters",
                    "You must specify values for all required parameters in the SSM document. Parameter \"\(p.name)\" has no value and no default."
                )
            }
        }
        return resolved
    }

    /// The steps with parameter values substituted, ready for a runner.
    public func plan(parameters values: [String: JSONValue]) -> RunPlan {
        let envNames = Set(parameters.filter { $0.interpolationType == "ENV_VAR" }.map(\.name))
        var environment: [String: String] = [:]
        for name in envNames { environment["SSM_\(name)"] = values[name]?.textValue ?? "" }
        let steps = self.steps.map { step in
            PlanStep(
                name: step.name, action: step.action,
                inputs: Interpolation.apply(step.inputs, values: values),
                precondition: step.precondition.map { Interpolation.apply($0, values: values) })
        }
        return RunPlan(schemaVersion: schemaVersion, steps: steps, environment: environment)
    }
}

/// One step of a document before its parameters are substituted.
public struct StepTemplate: Sendable, Hashable {
    public var name: String
    public var action: String
    public var inputs: JSONValue
    public var precondition: JSONValue?

    static let knownActions: Set<String> = [
        "aws:runShellScript", "aws:runPowerShellScript", "aws:runDocument", "aws:downloadContent",
        "aws:softwareInventory", "aws:configurePackage", "aws:refreshAssociation", "aws:updateSsmAgent",
        "aws:configureDocker", "aws:runDockerAction", "aws:applications", "aws:domainJoin", "aws:cloudWatch",
        "aws:psModule", "aws:updateAgent", "aws:configureDaemon",
    ]

    func validateInputs(path: String) throws(AWSError) {
        switch action {
        case "aws:runShellScript", "aws:runPowerShellScript":
            guard let run = inputs["runCommand"], !run.isNull else {
                throw AWSError("InvalidDocumentContent", "\(path).runCommand is required for \(action).")
            }
            switch run {
            case .string, .array: break
            default: throw AWSError("InvalidDocumentContent", "\(path).runCommand must be a list of strings or a string.")
            }
        default: break
        }
    }
}
