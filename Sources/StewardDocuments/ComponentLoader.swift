import Foundation
import StewardKit
import StewardRunner

/// Reads AWSTOE component documents from files: YAML (or JSON) into a validated ``ComponentDocument``.
public enum ComponentLoader {
    public static func load(_ path: String) throws -> ComponentRun.Source {
        guard let data = FileManager.default.contents(atPath: path) else { throw RunnerError("\(path): cannot read the file") }
        guard let content = String(data: data, encoding: .utf8) else { throw RunnerError("\(path): the file is not UTF-8 text") }
        let json: JSONValue
        do { json = try DocumentFormat.yaml.parse(content) } catch { throw RunnerError("\(path): \(error.message)") }
        do {
            return ComponentRun.Source(path: path, content: content, document: try ComponentDocument(json))
        } catch {
            throw RunnerError("\(path): \(error.description)")
        }
    }
}
