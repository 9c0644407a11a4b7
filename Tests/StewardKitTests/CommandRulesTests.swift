import Crypto
import Testing

@testable import StewardKit

@Suite("Run Command rules: targets, rate control, statuses, page tokens")
struct CommandRulesTests {
    let web1 = TargetExpression.Node(instanceId: "mi-0123456789abcdef0", tags: ["Role": "web", "Env": "prod"])
    let db1 = TargetExpression.Node(instanceId: "mi-0123456789abcdef1", tags: ["Role": "db"])

    @Test("tag targets OR values within a key and AND across keys")
    func targets() throws {
        let roles = try TargetExpression(targets: [("tag:Role", ["web", "db"])])
        #expect(roles.matches(web1) && roles.matches(db1))
        let both = try TargetExpression(targets: [("tag:Role", ["web", "db"]), ("tag:Env", ["prod"])])
        #expect(both.matches(web1) && !both.matches(db1))
        let key = try TargetExpression(targets: [("tag-key", ["Env"])])
        #expect(key.matches(web1) && !key.matches(db1))
        let all = try TargetExpression(targets: [("InstanceIds", ["*"])])
        #expect(all.matches(web1) && all.matches(db1))
        let ids = try TargetExpression(targets: [("instanceids", ["mi-0123456789abcdef1"])])
        #expect(!ids.matches(web1) && ids.matches(db1))
    }

    @Test("bad targets are refused")
    func badTargets() {
        #expect(throws: AWSError.self) { try TargetExpression(targets: []) }
        #expect(throws: AWSError.self) { try TargetExpression(targets: [("tag:Role", [])]) }
        #expect(throws: AWSError.self) { try TargetExpression(targets: [("color", ["x"])]) }
        #expect(throws: AWSError.self) { try TargetExpression(targets: [("InstanceIds", ["i-bad"])]) }
    }

    @Test("MaxConcurrency and MaxErrors accept numbers and percentages and resolve like SSM")
    func rateLimits() throws {
        #expect(try RateLimit.parseConcurrency(nil).concurrency(targets: 1000) == 50)
        #expect(try RateLimit.parseConcurrency("10%").concurrency(targets: 15) == 2)
        #expect(try RateLimit.parseConcurrency("1%").concurrency(targets: 3) == 1)
        #expect(try RateLimit.parseErrors(nil).errorThreshold(targets: 10) == 0)
        #expect(try RateLimit.parseErrors("10%").errorThreshold(targets: 50) == 5)
        #expect(try RateLimit.parseErrors("3").errorThreshold(targets: 50) == 3)
        for bad in ["0", "-1", "abc", "101%", "1.5", "01"] {
            #expect(throws: AWSError.self, "\(bad)") { try RateLimit.parseConcurrency(bad) }
        }
        for bad in ["-1", "x", "101%"] {
            #expect(throws: AWSError.self, "\(bad)") { try RateLimit.parseErrors(bad) }
        }
    }

    struct StateCase: Sendable, CustomTestStringConvertible {
        var states: [InvocationState]
        var threshold: Int
        var cancel: Bool
        var status: String
        var details: String
        var testDescription: String { "\(states.map(\.rawValue)) → \(status)/\(details)" }
    }

    static let stateCases: [StateCase] = [
        StateCase(states: [.pending, .pending], threshold: 0, cancel: false, status: "Pending", details: "Pending"),
        StateCase(states: [.inProgress, .pending], threshold: 0, cancel: false, status: "InProgress", details: "InProgress"),
        StateCase(states: [.success, .success], threshold: 0, cancel: false, status: "Success", details: "Success"),
        StateCase(states: [.failed, .terminated, .terminated], threshold: 0, cancel: false, status: "Failed", details: "Failed"),
        StateCase(states: [.success, .failed], threshold: 1, cancel: false, status: "Failed", details: "Incomplete"),
        StateCase(states: [.deliveryTimedOut], threshold: 0, cancel: false, status: "TimedOut", details: "DeliveryTimedOut"),
        StateCase(states: [.executionTimedOut], threshold: 0, cancel: false, status: "TimedOut", details: "ExecutionTimedOut"),
        StateCase(states: [.success, .deliveryTimedOut], threshold: 0, cancel: false, status: "Failed", details: "Incomplete"),
        StateCase(states: [.cancelled, .success], threshold: 0, cancel: true, status: "Cancelled", details: "Cancelled"),
        StateCase(states: [.cancelling, .success], threshold: 0, cancel: true, status: "Cancelling", details: "Cancelling"),
    ]

    @Test("a command's status follows its invocations", arguments: stateCases)
    func aggregate(_ c: StateCase) {
        let s = CommandState.aggregate(c.states, errorThreshold: c.threshold, cancelRequested: c.cancel)
        #expect(s.status == c.status)
        #expect(s.details == c.details)
    }

    @Test("invocation details map to the coarse Status as SSM reports it")
    func statuses() {
        #expect(InvocationState.deliveryTimedOut.status == "TimedOut")
        #expect(InvocationState.executionTimedOut.status == "TimedOut")
        #expect(InvocationState.terminated.status == "Cancelled")
        #expect(InvocationState.failed.countsAsError && InvocationState.executionTimedOut.countsAsError)
        #expect(!InvocationState.deliveryTimedOut.countsAsError && !InvocationState.undeliverable.countsAsError)
    }

    @Test("page tokens round-trip and refuse tampering or another query")
    func tokens() throws {
        let tokens = PageToken(key: SymmetricKey(size: .bits256))
        let t = tokens.make(offset: 20, query: "q1")
        #expect(try tokens.offset(from: t, query: "q1") == 20)
        #expect(try tokens.offset(from: nil, query: "q1") == 0)
        #expect(throws: AWSError.invalidNextToken) { try tokens.offset(from: t, query: "q2") }
        #expect(throws: AWSError.invalidNextToken) { try tokens.offset(from: String(t.reversed()), query: "q1") }
        #expect(throws: AWSError.invalidNextToken) { try tokens.offset(from: "garbage", query: "q1") }
        let other = PageToken(key: SymmetricKey(size: .bits256))
        #expect(throws: AWSError.invalidNextToken) { try other.offset(from: t, query: "q1") }
        let keyed = tokens.make(offset: 3, lastKey: "mi-0123456789abcdef0:x", query: "q1")
        #expect(try tokens.position(from: keyed, query: "q1") == .init(offset: 3, lastKey: "mi-0123456789abcdef0:x"))
    }

    @Test("request bodies give SerializationException for wrong types and ValidationException for missing members")
    func requestBody() throws {
        #expect(throws: AWSError.self) { try RequestBody(bytes: Array("{not json".utf8)) }
        do { _ = try RequestBody(bytes: Array("{not json".utf8)) } catch { #expect(error.code == "SerializationException") }
        let body = try RequestBody(bytes: Array(#"{"Name": 3, "List": ["a", 1]}"#.utf8))
        do { _ = try body.string("Name") } catch { #expect(error.code == "SerializationException") }
        do { _ = try body.stringList("List") } catch { #expect(error.code == "SerializationException") }
        do { _ = try body.requiredString("Missing") } catch { #expect(error.code == "ValidationException") }
        #expect(try RequestBody(bytes: []).fields.isEmpty)
    }

    @Test("instance ids follow the SSM pattern")
    func instanceIds() {
        #expect(InstanceID.isValid(InstanceID.generate()))
        #expect(InstanceID.isValid("i-0123456789abcdef0"))
        #expect(!InstanceID.isValid("mi-123"))
        #expect(!InstanceID.isValid("mi-0123456789abcdef0 "))
    }
}
