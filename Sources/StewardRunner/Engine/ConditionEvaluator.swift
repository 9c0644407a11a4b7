import Crypto
import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Evaluates an AWSTOE `if` expression whose strings have been resolved already.
public enum ConditionEvaluator {
    /// What to do with the step: run it, skip it, or abort the run.
    public enum Decision: String, Sendable {
        case execute = "Execute"
        case skip = "Skip"
        case abort = "Abort"
    }

    public static func decide(_ condition: JSONValue, path: String) -> Decision {
        if case .bool(let b) = condition { return b ? .execute : .skip }
        let result = evaluate(condition, path: path)
        let word = result ? condition["then"]?.stringValue ?? "Execute" : condition["else"]?.stringValue ?? "Skip"
        return Decision(rawValue: word) ?? (result ? .execute : .skip)
    }

    /// A number as AWSTOE reads one: digits with an optional sign and fraction; anything else is no number.
    static func number(_ text: String) -> Double? {
        let t = text.trimmingSpaces
        var body = Substring(t)
        if body.first == "+" || body.first == "-" { body.removeFirst() }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.last?.isEmpty == false,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }), parts.count == 1 || !parts[0].isEmpty
        else { return nil }
        return Double(t)
    }

    public static func evaluate(_ condition: JSONValue, path: String) -> Bool {
        guard case .object(let map) = condition else { return false }
        if let items = map["and"]?.arrayValue { return items.allSatisfy { evaluate($0, path: path) } }
        if let items = map["or"]?.arrayValue { return items.contains { evaluate($0, path: path) } }
        if let inner = map["not"] {
            if case .array(let items) = inner { return !items.allSatisfy { evaluate($0, path: path) } }
            return !evaluate(inner, path: path)
        }
        guard let op = map.keys.first(where: { Condition.operators.contains($0) }), let subject = map[op] else { return false }
        // The operator's argument is what `value` is compared against: `numberGreaterThan: 1` with `value: 2` is true.
        let argument = subject.textValue
        let value = map["value"]?.textValue ?? ""
        switch op {
        case "stringIsEmpty": return argument.isEmpty
        case "stringIsWhitespace": return !argument.isEmpty && argument.allSatisfy(\.isWhitespace)
        case "stringEquals": return value == argument
        case "stringLessThan": return value < argument
        case "stringLessThanEquals": return value <= argument
        case "stringGreaterThan": return value > argument
        case "stringGreaterThanEquals": return value >= argument
        case "patternMatches":
            guard let regex = try? Regex(argument) else { return false }
            return value.contains(regex)
        case "numberEquals", "numberLessThan", "numberLessThanEquals", "numberGreaterThan", "numberGreaterThanEquals":
            guard let x = number(value), let y = number(argument) else { return false }
            switch op {
            case "numberEquals": return x == y
            case "numberLessThan": return x < y
            case "numberLessThanEquals": return x <= y
            case "numberGreaterThan": return x > y
            default: return x >= y
            }
        case "fileExists": return FileSystem.kind(argument) == .file
        case "folderExists": return FileSystem.kind(argument) == .folder
        case "binaryExists": return FileSystem.findBinary(argument, path: path) != nil
        case "fileMD5Equals", "fileSHA1Equals", "fileSHA256Equals", "fileSHA512Equals":
            let algorithm = String(op.dropFirst(4).dropLast(6))
            guard let file = map["path"]?.textValue, let digest = FileSystem.digest(ofFile: file, algorithm: algorithm) else {
                return false
            }
            return digest == argument.lowercased().trimmingSpaces
        default: return false
        }
    }
}

/// Small file-system helpers the actions and conditions share.
public enum FileSystem {
    public enum Kind: Sendable { case file, folder, other, missing }

    public static func kind(_ path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .folder
        default: return .other
        }
    }

    public static func findBinary(_ name: String, path: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if kind(candidate) == .file, access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// The hex digest of a file with MD5, SHA1, SHA256 or SHA512, read in chunks.
    public static func digest(ofFile path: String, algorithm: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var md5 = Insecure.MD5()
        var sha1 = Insecure.SHA1()
        var sha256 = SHA256()
        var sha512 = SHA512()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { break }
            let chunk = buffer[0..<n]
            switch algorithm.uppercased() {
            case "MD5": md5.update(data: chunk)
            case "SHA1": sha1.update(data: chunk)
            case "SHA256": sha256.update(data: chunk)
            case "SHA512": sha512.update(data: chunk)
            default: return nil
            }
        }
        let bytes: [UInt8] =
            switch algorithm.uppercased() {
            case "MD5": Array(md5.finalize())
            case "SHA1": Array(sha1.finalize())
            case "SHA256": Array(sha256.finalize())
            default: Array(sha512.finalize())
            }
        return bytes.hexString
    }
}
