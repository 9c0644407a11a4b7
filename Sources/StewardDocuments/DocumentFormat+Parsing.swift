import Foundation
import StewardKit
import Yams

extension DocumentFormat {
    /// Parses content in this format into a JSON value.
    public func parse(_ content: String) throws(AWSError) -> JSONValue {
        switch self {
        case .json, .text:
            do { return try JSONReader.parse(content) } catch {
                throw AWSError("InvalidDocumentContent", "The content is not valid JSON.")
            }
        case .yaml:
            let loaded: Any?
            do { loaded = try Yams.load(yaml: content) } catch {
                throw AWSError("InvalidDocumentContent", "The content is not valid YAML: \(firstLine(of: error))")
            }
            guard let loaded else { throw AWSError("InvalidDocumentContent", "The content is empty.") }
            return try JSONValue(yaml: loaded)
        }
    }

    /// Writes a JSON value in this format.
    public func render(_ value: JSONValue) -> String {
        switch self {
        case .json, .text: return JSONWriter.string(value)
        case .yaml: return (try? Yams.dump(object: value.yamlObject, sortKeys: true)) ?? JSONWriter.string(value)
        }
    }
}

private func firstLine(of error: any Error) -> String {
    String(describing: error).split(separator: "\n").first.map(String.init) ?? "syntax error"
}

extension JSONValue {
    init(yaml: Any) throws(AWSError) {
        switch yaml {
        case let s as String: self = .string(s)
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .number(Double(i))
        case let d as Double: self = .number(d)
        case let a as [Any]:
            var items: [JSONValue] = []
            for item in a { items.append(try JSONValue(yaml: item)) }
            self = .array(items)
        case let m as [String: Any]:
            var fields: [String: JSONValue] = [:]
            for (k, v) in m { fields[k] = try JSONValue(yaml: v) }
            self = .object(fields)
        case let m as [AnyHashable: Any]:
            var fields: [String: JSONValue] = [:]
            for (k, v) in m { fields[String(describing: k.base)] = try JSONValue(yaml: v) }
            self = .object(fields)
        case is NSNull: self = .null
        default:
            if let date = yaml as? Date {
                self = .string(ISO8601DateFormatter().string(from: date))
            } else {
                self = .string(String(describing: yaml))
            }
        }
    }

    var yamlObject: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? Int(n) as Any : n as Any
        case .string(let s): return s
        case .array(let a): return a.map(\.yamlObject)
        case .object(let o): return o.mapValues(\.yamlObject)
        }
    }
}
