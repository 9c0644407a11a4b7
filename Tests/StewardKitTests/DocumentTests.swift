import Testing

@testable import StewardDocuments
@testable import StewardKit

@Suite("SSM documents: parsing and validation")
struct DocumentTests {
    static func doc(_ json: String) throws(AWSError) -> SSMDocument {
        try SSMDocument.parse(content: json, format: .json)
    }

    static let twoSteps = """
        {"schemaVersion":"2.2","description":"two steps","parameters":{
          "message":{"type":"String","default":"hi","allowedPattern":"^[a-z ]+$"},
          "color":{"type":"String","allowedValues":["red","blue"],"default":"red"},
          "lines":{"type":"StringList","default":["a","b"]}},
         "mainSteps":[
          {"action":"aws:runShellScript","name":"first","inputs":{"runCommand":["echo {{ message }}","echo {{color}}"]}},
          {"action":"aws:runShellScript","name":"second","precondition":{"StringEquals":["platformType","Linux"]},
           "inputs":{"runCommand":"{{ lines }}","timeoutSeconds":"10"}}]}
        """

    @Test("AWS-RunShellScript parses as schema 1.2 with its three parameters")
    func builtin() throws {
        let d = try Self.doc(BuiltinDocuments.named("AWS-RunShellScript")!.content)
        #expect(d.schemaVersion == "1.2")
        #expect(d.parameters.map(\.name).sorted() == ["commands", "executionTimeout", "workingDirectory"])
        #expect(d.steps.map(\.name) == ["aws:runShellScript"])
        let plan = d.plan(parameters: try d.resolveParameters(["commands": ["echo a", "echo b"]]))
        #expect(plan.steps[0].inputs["runCommand"] == ["echo a", "echo b"])
        #expect(plan.steps[0].executionTimeoutSeconds == 3600)
    }

    @Test("every built-in document parses")
    func builtins() throws {
        for entry in BuiltinDocuments.all { _ = try Self.doc(entry.content) }
    }

    @Test("a 2.2 document with two steps, defaults and a precondition becomes a plan")
    func twoStepPlan() throws {
        let d = try Self.doc(Self.twoSteps)
        let plan = d.plan(parameters: try d.resolveParameters(["color": ["blue"]]))
        #expect(plan.steps.count == 2)
        #expect(plan.steps[0].inputs["runCommand"] == ["echo hi", "echo blue"])
        #expect(plan.steps[1].inputs["runCommand"] == ["a", "b"])
        #expect(plan.steps[1].executionTimeoutSeconds == 10)
        #expect(plan.steps[1].applies(toPlatform: "Linux"))
        #expect(!plan.steps[1].applies(toPlatform: "Windows"))
    }

    @Test("YAML content parses the same as JSON")
    func yaml() throws {
        let yaml = """
            schemaVersion: '2.2'
            description: yaml
            parameters:
              name:
                type: String
                default: world
            mainSteps:
              - action: aws:runShellScript
                name: hello
                inputs:
                  runCommand:
                    - echo hello {{ name }}
            """
        let d = try SSMDocument.parse(content: yaml, format: .yaml)
        let plan = d.plan(parameters: try d.resolveParameters([:]))
        #expect(plan.steps[0].inputs["runCommand"] == ["echo hello world"])
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        var content: String
        var code: String
        var mentions: String
        var testDescription: String { "\(code) mentioning \(mentions)" }
    }

    static let badCases: [BadCase] = [
        BadCase(content: "{not json", code: "InvalidDocumentContent", mentions: "JSON"),
        BadCase(content: "[]", code: "InvalidDocumentContent", mentions: "map"),
        BadCase(content: #"{"mainSteps":[]}"#, code: "InvalidDocumentContent", mentions: "schemaVersion"),
        BadCase(content: #"{"schemaVersion":"9.9","mainSteps":[]}"#, code: "InvalidDocumentSchemaVersion", mentions: "9.9"),
        BadCase(content: #"{"schemaVersion":"2.2"}"#, code: "InvalidDocumentContent", mentions: "mainSteps"),
        BadCase(content: #"{"schemaVersion":"2.2","mainSteps":[]}"#, code: "InvalidDocumentContent", mentions: "mainSteps"),
        BadCase(
            content: #"{"schemaVersion":"2.2","mainSteps":[{"name":"a","inputs":{}}]}"#, code: "InvalidDocumentContent",
            mentions: "mainSteps[0].action"),
        BadCase(
            content: #"{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runShellScript","inputs":{"runCommand":["x"]}}]}"#,
            code: "InvalidDocumentContent", mentions: "mainSteps[0].name"),
        BadCase(
            content: #"{"schemaVersion":"2.2","mainSteps":[{"action":"aws:nope","name":"a"}]}"#, code: "InvalidDocumentContent",
            mentions: "aws:nope"),
        BadCase(
            content: #"{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runShellScript","name":"a","inputs":{}}]}"#,
            code: "InvalidDocumentContent", mentions: "runCommand"),
        BadCase(
            content:
                #"{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["x"]}},{"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["y"]}}]}"#,
            code: "InvalidDocumentContent", mentions: "mainSteps[1].name"),
        BadCase(
            content:
                #"{"schemaVersion":"2.2","parameters":{"p":{"type":"Number"}},"mainSteps":[{"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["x"]}}]}"#,
            code: "InvalidDocumentContent", mentions: "parameters.p"),
        BadCase(
            content:
                #"{"schemaVersion":"2.2","parameters":{"p":{"type":"String","allowedPattern":"(["}},"mainSteps":[{"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["x"]}}]}"#,
            code: "InvalidDocumentContent", mentions: "allowedPattern"),
        BadCase(
            content:
                #"{"schemaVersion":"2.0","mainSteps":[{"action":"aws:runShellScript","name":"a","precondition":{"StringEquals":["platformType","Linux"]},"inputs":{"runCommand":["x"]}}]}"#,
            code: "InvalidDocumentContent", mentions: "precondition"),
        BadCase(content: #"{"schemaVersion":"1.2","runtimeConfig":{}}"#, code: "InvalidDocumentContent", mentions: "runtimeConfig"),
    ]

    @Test("invalid content is refused with the AWS code, naming the field at fault", arguments: badCases)
    func invalid(_ c: BadCase) {
        do {
            _ = try Self.doc(c.content)
            Issue.record("expected \(c.code)")
        } catch {
            #expect(error.code == c.code)
            #expect(error.message.contains(c.mentions), "\(error.message)")
        }
    }

    @Test("content over 64 KB is MaxDocumentSizeExceeded")
    func oversize() {
        let big = "{\"schemaVersion\":\"2.2\",\"description\":\"" + String(repeating: "x", count: 70_000) + "\"}"
        #expect(throws: AWSError("MaxDocumentSizeExceeded", "The content for the document exceeds the maximum size of 64 KB.")) {
            try Self.doc(big)
        }
    }

    struct ParamCase: Sendable, CustomTestStringConvertible {
        var supplied: [String: [String]]
        var ok: Bool
        var testDescription: String { "\(supplied) -> \(ok ? "ok" : "InvalidParameters")" }
    }

    static let paramCases: [ParamCase] = [
        ParamCase(supplied: [:], ok: true),
        ParamCase(supplied: ["message": ["hello there"]], ok: true),
        ParamCase(supplied: ["message": ["Hello"]], ok: false),
        ParamCase(supplied: ["message": ["a", "b"]], ok: false),
        ParamCase(supplied: ["color": ["green"]], ok: false),
        ParamCase(supplied: ["unknown": ["x"]], ok: false),
        ParamCase(supplied: ["lines": []], ok: true),
    ]

    @Test("parameter values are checked against type, allowedValues and allowedPattern", arguments: paramCases)
    func parameters(_ c: ParamCase) throws {
        let d = try Self.doc(Self.twoSteps)
        if c.ok {
            _ = try d.resolveParameters(c.supplied)
        } else {
            #expect(throws: AWSError.self) { try d.resolveParameters(c.supplied) }
            do { _ = try d.resolveParameters(c.supplied) } catch { #expect(error.code == "InvalidParameters") }
        }
    }

    @Test("a required parameter without a value is InvalidParameters")
    func required() throws {
        let d = try Self.doc(BuiltinDocuments.named("AWS-RunShellScript")!.content)
        do {
            _ = try d.resolveParameters([:])
            Issue.record("expected InvalidParameters")
        } catch {
            #expect(error.code == "InvalidParameters")
            #expect(error.message.contains("commands"))
        }
        #expect(throws: AWSError.self) { try d.resolveParameters(["commands": ["x"], "executionTimeout": ["0"]]) }
        #expect(throws: AWSError.self) { try d.resolveParameters(["commands": ["x"], "executionTimeout": ["172801"]]) }
    }

    @Test("ENV_VAR parameters travel as SSM_ environment variables")
    func envVar() throws {
        let d = try Self.doc(
            #"{"schemaVersion":"2.2","parameters":{"msg":{"type":"String","interpolationType":"ENV_VAR","allowedPattern":"^[^\"]*$"}},"mainSteps":[{"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["echo \"$SSM_msg\""]}}]}"#
        )
        let plan = d.plan(parameters: try d.resolveParameters(["msg": ["$(reboot)"]]))
        #expect(plan.environment["SSM_msg"] == "$(reboot)")
        #expect(plan.steps[0].inputs["runCommand"] == ["echo \"$SSM_msg\""])
    }
}
