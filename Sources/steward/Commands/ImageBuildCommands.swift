import ArgumentParser
import Foundation
import StewardKit

/// `steward images import|bootstrap|ls|show|logs|cancel`: base images and builds.
struct ImageImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a base image: a root file system tarball, a raw ext4 image or a qcow2 image (a file on the server's host).")
    @Argument(help: "The image file.") var file: String
    @Option(help: "The image name.") var name: String
    @Option(help: "Its semantic version, x.y.z.") var version: String
    @Option(help: "An OS version to record, e.g. \"Debian 12\".") var osVersion: String?
    @Flag(help: "Return at once instead of waiting until the image is AVAILABLE.") var noWait = false
    @OptionGroup var client: ClientOptions

    func run() async throws {
        do {
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            guard FileManager.default.isReadableFile(atPath: path) else { throw CLIError("cannot read \(file)") }
            var body: [String: JSONValue] = [
                "name": .string(name), "semanticVersion": .string(version), "uri": .string("file://\(path)"), "platform": "Linux",
                "clientToken": .string(ImageBuilderClient.token()),
            ]
            if let osVersion { body["osVersion"] = .string(osVersion) }
            let ib = try client.images()
            let arn = try await ib.call("PUT", "ImportDiskImage", body: .object(body))["imageBuildVersionArn"]?.textValue ?? ""
            let image = noWait ? nil : try await ImageWait.until(ib, arn: arn)
            if client.output == .json { return client.printJSON(image ?? ["imageBuildVersionArn": .string(arn)]) }
            print(arn)
        } catch { throw failure(error) }
    }
}

/// Waits for an image build to end.
enum ImageWait {
    static func until(_ ib: ImageBuilderClient, arn: String, timeout: Double = 3600) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let image = try await ib.call("GET", "GetImage", query: [("imageBuildVersionArn", arn)])["image"] ?? .null
            let status = image["state"]?["status"]?.textValue ?? ""
            if ["AVAILABLE", "FAILED", "CANCELLED"].contains(status) {
                guard status == "AVAILABLE" else {
                    throw CLIError("\(arn) is \(status): \(image["state"]?["reason"]?.textValue ?? "") (see `steward images logs \(arn)`)")
                }
                return image
            }
            guard Date() < deadline else { throw CLIError("\(arn) is still \(status) after \(Int(timeout)) s") }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

struct ImageBootstrap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap",
        abstract: "Make a minimal Debian base image with mmdebstrap (on this host) and import it.",
        discussion: "The mirror defaults to the one in this host's apt sources. Needs root (mmdebstrap --mode=root).")
    @Argument(help: "The distribution: debian.") var distribution: String
    @Option(help: "The Debian suite.") var suite = "bookworm"
    @Option(help: "mmdebstrap's variant: minbase, apt, required, important, standard.") var variant = "minbase"
    @Option(help: "Extra packages, comma-separated.") var include: String?
    @Option(help: "The Debian mirror (default: this host's).") var mirror: String?
    @Option(help: "The image name (default: debian-<suite>).") var name: String?
    @Option(help: "Its semantic version, x.y.z.") var version = "1.0.0"
    @Option(help: "Where the tarball is written (default: a temporary folder, removed after the import).") var keep: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        do {
            guard distribution == "debian" else { throw CLIError("only debian can be bootstrapped") }
            let folder = keep ?? NSTemporaryDirectory() + "steward-bootstrap-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { if keep == nil { try? FileManager.default.removeItem(atPath: folder) } }
            let tarball = "\(folder)/\(suite)-\(variant).tar"
            var argv = ["mmdebstrap", "--mode=root", "--variant=\(variant)", "--quiet"]
            if let include { argv.append("--include=\(include)") }
            argv += [suite, tarball, mirror ?? Self.hostMirror()]
            let started = Date()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = argv
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw CLIError("mmdebstrap failed with exit \(process.terminationStatus)") }
            FileHandle.standardError.write(
                Data("bootstrapped \(suite) (\(variant)) in \(String(format: "%.0f", Date().timeIntervalSince(started))) s\n".utf8))
            var importer = try ImageImport.parse([tarball, "--name", name ?? "debian-\(suite)", "--version", version])
            importer.client = client
            importer.osVersion = "Debian \(suite)"
            try await importer.run()
        } catch { throw failure(error) }
    }

    /// The first Debian mirror of this host's apt sources (deb822 `URIs:` or a `deb URL suite` line).
    static func hostMirror() -> String {
        let folder = "/etc/apt/sources.list.d"
        let files =
            ["/etc/apt/sources.list"]
            + ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { "\(folder)/\($0)" }
        for file in files {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                if words.first == "URIs:", let url = words.dropFirst().first(where: { !$0.contains("security") }) { return url }
                if words.first == "deb", words.count > 1, !words[1].contains("security") {
                    return words[1].hasPrefix("[") ? words.first(where: { $0.hasPrefix("http") }) ?? words[1] : words[1]
                }
            }
        }
        return "http://deb.debian.org/debian"
    }
}

struct ImageList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List image builds (all builds of every version).")
    @Option(help: "Only this name.") var name: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        do {
            let ib = try client.images()
            var body: [String: JSONValue] = [:]
            if let name { body["filters"] = [["name": "name", "values": [.string(name)]]] }
            var builds: [JSONValue] = []
            for version in try await ib.all("ListImages", .object(body), key: "imageVersionList") {
                builds += try await ib.all(
                    "ListImageBuildVersions", ["imageVersionArn": version["arn"] ?? .null], key: "imageSummaryList")
            }
            client.show(builds, header: ["NAME", "VERSION", "STATUS", "SOURCE", "CREATED", "ARN"]) {
                [
                    $0["name"]?.textValue ?? "", $0["version"]?.textValue ?? "", $0["state"]?["status"]?.textValue ?? "",
                    $0["imageSource"]?.textValue ?? "", shortDate($0["dateCreated"]), $0["arn"]?.textValue ?? "",
                ]
            }
        } catch { throw failure(error) }
    }
}

struct ImageShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show an image build.")
    @Argument(help: "The image build version ARN.") var arn: String
    @OptionGroup var client: ClientOptions

    func run() async throws {
        do {
            client.printJSON(try await client.images().call("GET", "GetImage", query: [("imageBuildVersionArn", arn)])["image"] ?? .null)
        } catch { throw failure(error) }
    }
}

struct ImageLogs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Show the steps and the log of an image build (--output json adds the manifest).")
    @Argument(help: "The image build version ARN.") var arn: String
    @Flag(help: "Keep printing until the build ends.") var follow = false
    @OptionGroup var client: ClientOptions

    func run() async throws {
        do {
            let ib = try client.images()
            var printed = 0
            while true {
                let got = try await ib.call("GET", "GetImageBuildLog", query: [("imageBuildVersionArn", arn)])
                if client.output == .json { return client.printJSON(got) }
                let log = got["log"]?.textValue ?? ""
                let bytes = Array(log.utf8)
                if bytes.count > printed {
                    FileHandle.standardOutput.write(Data(bytes[printed...]))
                    printed = bytes.count
                }
                let status = got["state"]?["status"]?.textValue ?? ""
                if !follow || ["AVAILABLE", "FAILED", "CANCELLED"].contains(status) {
                    print("")
                    for step in got["steps"]?.arrayValue ?? [] {
                        let seconds = step["seconds"]?.numberValue.map { String(format: "%.1f s", $0) } ?? ""
                        print(
                            "\(step["stage"]?.textValue ?? "")\t\(step["name"]?.textValue ?? "")\t\(step["status"]?.textValue ?? "")\t\(seconds)"
                        )
                    }
                    print("state: \(status) \(got["state"]?["reason"]?.textValue ?? "")")
                    return
                }
                try await Task.sleep(for: .seconds(1))
            }
        } catch { throw failure(error) }
    }
}

struct ImageCancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel an image build under way.")
    @Argument(help: "The image build version ARN.") var arn: String
    @OptionGroup var client: ClientOptions

    func run() async throws {
        do {
            _ = try await client.images().call(
                "PUT", "CancelImageCreation",
                body: ["imageBuildVersionArn": .string(arn), "clientToken": .string(ImageBuilderClient.token())])
            print("cancelled \(arn)")
        } catch { throw failure(error) }
    }
}
