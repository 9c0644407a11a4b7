import ArgumentParser
import Foundation
import StewardKit

enum OutputFormat: String, ExpressibleByArgument, Sendable {
    case table
    case json
    case csv
}

/// Where and as whom the client commands call the API: flags, then the standard AWS variables and profiles.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("endpoint-url"), help: "The Steward server (default: AWS_ENDPOINT_URL, else http://127.0.0.1:8440).")
    var endpointURL: String?

    @Option(help: "The region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1).")
    var region: String?

    @Option(help: "A profile in ~/.aws/credentials and ~/.aws/config.")
    var profile: String?

    @Option(help: "Output format: table, json or csv (csv where the output is a table).")
    var output: OutputFormat = .table

    func client() throws -> APIClient {
        let env = ProcessInfo.processInfo.environment
        let profileName = profile ?? env["AWS_PROFILE"] ?? env["AWS_DEFAULT_PROFILE"] ?? "default"
        let home = env["HOME"] ?? "/root"
        let credentialsFile = env["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let configFile = env["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"
        let credentials = INIFile.read(credentialsFile)[profileName] ?? [:]
        let config = INIFile.read(configFile)[profileName == "default" ? "default" : "profile \(profileName)"] ?? [:]

        let keyId = (profile == nil ? env["AWS_ACCESS_KEY_ID"] : nil) ?? credentials["aws_access_key_id"] ?? config["aws_access_key_id"]
        let secret =
            (profile == nil ? env["AWS_SECRET_ACCESS_KEY"] : nil) ?? credentials["aws_secret_access_key"] ?? config["aws_secret_access_key"]
        guard let keyId, let secret else {
            throw CLIError(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (run `steward dev` to get them) or use --profile")
        }
        let region = self.region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? config["region"] ?? "us-east-1"
        let endpoint =
            endpointURL ?? env["AWS_ENDPOINT_URL_SSM"] ?? env["AWS_ENDPOINT_URL"] ?? config["endpoint_url"] ?? "http://127.0.0.1:8440"
        return APIClient(endpoint: endpoint, region: region, accessKeyId: keyId, secretAccessKey: secret)
    }

    func printJSON(_ value: JSONValue) {
        print(PrettyJSON.render(value))
    }
}

/// The AWS shared config file format: `[section]` headers and `key = value` lines.
enum INIFile {
    static func read(_ path: String) -> [String: [String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var out: [String: [String: String]] = [:]
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            out[section, default: [:]][parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return out
    }
}

/// Indented JSON with sorted keys, for `--output json`.
enum PrettyJSON {
    static func render(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "    "
        switch value {
        case .array(let items) where !items.isEmpty:
            return "[\n" + items.map { inner + render($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let fields) where !fields.isEmpty:
            return "{\n"
                + fields.keys.sorted().map { k in inner + JSONWriter.string(.string(k)) + ": " + render(fields[k]!, indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        default:
            return JSONWriter.string(value)
        }
    }
}

/// Plain aligned columns for `--output table`.
enum Table {
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

extension Double {
    var shortDate: String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: self))
    }
}
