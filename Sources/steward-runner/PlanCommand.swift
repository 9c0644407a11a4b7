import ArgumentParser
import StewardDocuments
import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `steward-runner plan`: an SSM Command document and parameter values to the ``RunPlan`` a runner executes.
///
/// The agent asks this of the runner for direct tasks that bring their own document, so that it never loads the
/// YAML parser itself; the plan is printed as JSON on standard output.
struct PlanDocument: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Print the run plan of an SSM Command document with parameter values, as JSON.")

    @Option(help: "The document (JSON or YAML).") var document: String
    @Option(help: "JSON or YAML (default: guessed from the content).") var format: String?
    @Option(help: "Parameter values as a JSON object of string lists.") var parametersJson: String = "{}"

    func run() throws {
        guard let data = FileManager.default.contents(atPath: document) else {
            throw AgentFailure(description: "cannot read \(document)")
        }
        let content = String(decoding: data, as: UTF8.self)
        let chosen: DocumentFormat =
            switch format?.uppercased() {
            case "JSON": .json
            case "YAML": .yaml
            case nil: content.drop(while: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).first == "{" ? .json : .yaml
            case let other?: throw AgentFailure(description: "--format must be JSON or YAML, not \(other)")
            }
        guard let supplied = try? JSONDecoder().decode([String: [String]].self, from: Data(parametersJson.utf8)) else {
            throw AgentFailure(description: "--parameters-json must be a JSON object of string lists")
        }
        do {
            let parsed = try SSMDocument.parse(content: content, format: chosen)
            let plan = parsed.plan(parameters: try parsed.resolveParameters(supplied))
            print(String(decoding: try JSONEncoder().encode(plan), as: UTF8.self))
        } catch let error as AWSError {
            throw AgentFailure(description: error.message)
        }
    }
}
