import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// AWSTOE `Reboot`: waits `delaySeconds`, then asks the runner to reboot; the run goes on with the next step.
public struct RebootAction: StepAction {
    public init() {}

    public func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        let delay = inputs["delaySeconds"].flatMap { Int($0.textValue.trimmingSpaces) } ?? 0
        guard delay >= 0 else { return .failed("delaySeconds must be 0 or more") }
        if delay > 0 {
            do { try await Task.sleep(for: .seconds(delay)) } catch { return ActionResult(failure: "Cancelled", cancelled: true) }
        }
        return ActionResult(reboot: .nextStep)
    }
}

/// AWSTOE `Assert`: fails the step when its condition (the same grammar as `if`) is false.
public struct AssertAction: StepAction {
    public init() {}

    public func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        ConditionEvaluator.evaluate(inputs, path: context.environment["PATH"] ?? "/usr/bin:/bin")
            ? ActionResult() : .failed("The assertion is false: \(inputs.textValue)")
    }
}

/// AWSTOE `ExecuteDocument`: runs other component documents inside this step.
public struct ExecuteDocument: StepAction {
    public init() {}

    public func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        guard let documents = context.documents else { return .failed("ExecuteDocument runs only inside a component run") }
        guard let document = inputs["document"]?.stringValue, !document.isEmpty else { return .failed("ExecuteDocument needs document") }
        let phases = inputs["phases"]?.stringValue.map { $0.split(separator: ",").map { String($0).trimmingSpaces } }
        var parameters: [String: String] = [:]
        for item in inputs["parameters"]?.arrayValue ?? [] {
            guard let name = item["name"]?.stringValue else { return .failed("ExecuteDocument parameters are {name, value} maps") }
            parameters[name] = item["value"]?.textValue ?? ""
        }
        return await documents.run(document: document, phases: phases, parameters: parameters, context: context)
    }
}

/// AWSTOE `UpdateOS`: updates the operating system's packages with the package manager it finds
/// (apt-get, dnf, yum, zypper or apk); `include` limits the update to those packages, `exclude` holds some back.
public struct UpdateOS: StepAction {
    public init() {}

    public static let managers = ["apt-get", "dnf", "yum", "zypper", "apk"]

    public func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        let path = context.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        guard let manager = Self.managers.first(where: { FileSystem.findBinary($0, path: path) != nil }) else {
            return .failed("UpdateOS found none of \(Self.managers.joined(separator: ", ")) on this system")
        }
        let include = inputs["include"]?.arrayValue?.map(\.textValue) ?? []
        let exclude = inputs["exclude"]?.arrayValue?.map(\.textValue) ?? []
        let script = Self.script(manager: manager, include: include, exclude: exclude)
        let file: String
        do { file = try Program.writeScript(script, context: context, suffix: "update.sh") } catch {
            return .failed("Could not write the script: \(error)")
        }
        let result = await Program.run("/bin/sh", [file], workingDirectory: context.workingDirectory, context: context)
        var r = ExecuteBinary.finish(result, rebootCode: -1)
        r.outputs = [:]
        if r.failure != nil, !r.timedOut, !r.cancelled { r.failure = "\(manager) failed: \(r.failure!)" }
        return r
    }

    /// The shell script that updates with `manager`: include minus exclude, held packages released again afterwards.
    public static func script(manager: String, include: [String], exclude: [String]) -> String {
        let wanted = include.filter { !exclude.contains($0) }
        if !include.isEmpty && wanted.isEmpty { return "echo 'UpdateOS: every included package is also excluded; nothing to do'" }
        let pkgs = wanted.map(quote).joined(separator: " ")
        let held = exclude.map(quote).joined(separator: " ")
        var lines = ["set -e"]
        switch manager {
        case "apt-get":
            lines.append("export DEBIAN_FRONTEND=noninteractive")
            lines.append("apt-get update -q")
            if wanted.isEmpty {
                if !exclude.isEmpty { lines += ["apt-mark hold \(held)", "trap 'apt-mark unhold \(held)' EXIT"] }
                lines.append("apt-get -y -q -o Dpkg::Options::=--force-confold upgrade")
            } else {
                lines.append("apt-get -y -q -o Dpkg::Options::=--force-confold install --only-upgrade \(pkgs)")
            }
        case "dnf", "yum":
            let excludes = exclude.isEmpty ? "" : " --exclude=\(quote(exclude.joined(separator: ",")))"
            lines.append("\(manager) -y upgrade\(excludes)\(wanted.isEmpty ? "" : " " + pkgs)")
        case "zypper":
            if !exclude.isEmpty {
                lines += ["zypper --non-interactive addlock \(held)", "trap 'zypper --non-interactive removelock \(held)' EXIT"]
            }
            lines.append("zypper --non-interactive refresh")
            lines.append("zypper --non-interactive update\(wanted.isEmpty ? "" : " " + pkgs)")
        default:  // apk
            lines.append("apk update")
            if !wanted.isEmpty {
                lines.append("apk add --upgrade \(pkgs)")
            } else if exclude.isEmpty {
                lines.append("apk upgrade")
            } else {
                let pattern = exclude.map { "^\($0)$" }.joined(separator: "|")
                lines.append(
                    "for p in $(apk version -q -l '<' | sed 's/-[0-9].*//' | grep -vE \(quote(pattern)) || true); do apk add --upgrade \"$p\"; done"
                )
            }
        }
        return lines.joined(separator: "\n")
    }

    static func quote(_ s: String) -> String { "'" + s.replacing("'", with: "'\\''") + "'" }
}

/// AWSTOE `WebDownload`: fetches http(s) sources (only a 200 counts, redirects followed, up to 5 retries),
/// verifies an optional checksum, and writes the file only once it is verified. Output: `destination`.
public struct WebDownload: StepAction {
    public init() {}

    public func run(_ inputs: JSONValue, context: ActionContext) async -> ActionResult {
        let items: [JSONValue] = inputs.arrayValue ?? [inputs]
        var written: [String] = []
        for (i, item) in items.enumerated() {
            guard let source = item["source"]?.stringValue, source.hasPrefix("http://") || source.hasPrefix("https://") else {
                return .failed("inputs[\(i)]: source must be an http or https URL")
            }
            guard var destination = item["destination"]?.stringValue, !destination.isEmpty else {
                return .failed("inputs[\(i)]: destination is required")
            }
            if destination.hasSuffix("/") {
                let name = source.split(separator: "?").first.map { PathParts(path: String($0)).last } ?? "download"
                destination += name
            }
            if Paths.exists(destination), !item.flag("overwrite", default: true) {
                return .failed("inputs[\(i)]: \(destination) exists and overwrite is false")
            }
            do { try Paths.makeParents(of: destination) } catch { return .failed("inputs[\(i)]: \(error.description)") }
            let partial = "\(destination).download"
            var arguments = ["-sSL", "--retry", "5", "--retry-delay", "1", "-o", partial, "-w", "%{http_code}"]
            if item.flag("ignoreCertificateErrors", default: false) { arguments.append("-k") }
            arguments.append(source)
            guard let curl = FileSystem.findBinary("curl", path: context.environment["PATH"] ?? "/usr/bin:/bin") else {
                return .failed("WebDownload needs curl on this system")
            }
            let r = await Program.run(curl, arguments, workingDirectory: context.workingDirectory, context: quiet(context))
            guard let outcome = r.0, outcome.exitCode == 0, r.stdout.trimmingSpaces == "200" else {
                unlink(partial)
                if r.0?.timedOut == true { return ActionResult(failure: "The download timed out.", timedOut: true) }
                let code = r.stdout.trimmingSpaces
                return .failed(
                    "inputs[\(i)]: downloading \(source) failed"
                        + (code.isEmpty || code == "000" ? ": \(r.stderr.trimmingSpaces)" : " with HTTP status \(code)"))
            }
            // textValue: a checksum YAML read as a number must still be checked (and fail), not skipped.
            if let checksum = item["checksum"]?.textValue, !checksum.isEmpty {
                let algorithm = item["algorithm"]?.stringValue ?? "SHA256"
                guard ["MD5", "SHA1", "SHA256", "SHA512"].contains(algorithm.uppercased()) else {
                    unlink(partial)
                    return .failed("inputs[\(i)]: algorithm must be MD5, SHA1, SHA256 or SHA512")
                }
                let actual = FileSystem.digest(ofFile: partial, algorithm: algorithm) ?? ""
                guard actual == checksum.lowercased() else {
                    unlink(partial)
                    return .failed("inputs[\(i)]: the \(algorithm) checksum of \(source) is \(actual), not \(checksum.lowercased())")
                }
            }
            guard rename(partial, destination) == 0 else {
                return .failed("inputs[\(i)]: cannot write \(destination): \(Paths.errorText())")
            }
            written.append(destination)
        }
        return ActionResult(outputs: ["destination": .string(written.joined(separator: "\n"))])
    }

    /// curl's own output (the status code) is not the step's console output.
    func quiet(_ context: ActionContext) -> ActionContext {
        var c = context
        c.console = .silent
        return c
    }
}
