/// An error in the shape AWS JSON 1.1 clients expect: a code for `__type` and a message.
public struct AWSError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: String
    public let message: String
    /// 400 for client errors; 500 for `InternalServerError`.
    public let status: Int

    public init(_ code: String, _ message: String, status: Int = 400) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { "\(code): \(message)" }

    /// The JSON body AWS sends: both `message` spellings, since the SSM model uses each.
    public var body: JSONValue {
        ["__type": .string(code), "message": .string(message), "Message": .string(message)]
    }

    public static func validation(_ message: String) -> AWSError { AWSError("ValidationException", message) }
    public static func serialization(_ message: String) -> AWSError { AWSError("SerializationException", message) }
    public static func internalError(_ message: String = "An internal error occurred.") -> AWSError {
        AWSError("InternalServerError", message, status: 500)
    }
    public static let invalidNextToken = AWSError("InvalidNextToken", "The specified token isn't valid.")
}
