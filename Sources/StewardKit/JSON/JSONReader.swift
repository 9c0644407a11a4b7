#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Parses JSON text into a ``JSONValue``.
public enum JSONReader {
    public struct SyntaxError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw SyntaxError(description: "the body is not valid JSON")
        }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }
}
