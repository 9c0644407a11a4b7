import StewardKit
import Testing

@testable import StewardImages

@Suite("Image Builder semantic versions, version filters and ARNs")
struct VersionTests {
    @Test("x.y.z parses with parts from 0 to 2^30 - 1 and orders numerically")
    func semanticVersions() throws {
        #expect(SemanticVersion("1.2.3") == SemanticVersion(1, 2, 3))
        #expect(SemanticVersion("0.0.0") != nil)
        #expect(SemanticVersion("1073741823.0.1") != nil)
        for bad in ["1.2", "1.2.3.4", "1.x.3", "a.b.c", "1..3", "-1.0.0", "1.0.0/1", "1073741824.0.0", "", " 1.0.0"] {
            #expect(SemanticVersion(bad) == nil, "\(bad)")
        }
        #expect(SemanticVersion(1, 10, 0) > SemanticVersion(1, 9, 9))
        #expect(SemanticVersion(2, 0, 0) > SemanticVersion(1, 99, 99))
        let error = #expect(throws: AWSError.self) { try SemanticVersion.parse("1.0") }
        #expect(error?.code == "InvalidVersionNumberException")
    }

    @Test("build versions are x.y.z/n with n >= 1 and order by version then build")
    func buildVersions() {
        #expect(BuildVersion("1.2.3/4") == BuildVersion(SemanticVersion(1, 2, 3), build: 4))
        #expect(BuildVersion("1.2.3/0") == nil)
        #expect(BuildVersion("1.2.3") == nil)
        #expect(BuildVersion("1.2.x/1") == nil)
        #expect(BuildVersion("1.2.3/2")! > BuildVersion("1.2.3/1")!)
        #expect(BuildVersion("1.2.4/1")! > BuildVersion("1.2.3/9")!)
        #expect(BuildVersion("1.2.3/4")!.description == "1.2.3/4")
    }

    @Test("wildcards: every part after the first x is x, and the newest match wins")
    func filters() throws {
        let versions = ["2.2.4/1", "1.7.8/1", "1.6.8/1", "1.6.8/2"].compactMap { BuildVersion($0) }
        #expect(VersionFilter("x.x.x")!.newest(of: versions)?.description == "2.2.4/1")
        #expect(VersionFilter("1.x.x")!.newest(of: versions)?.description == "1.7.8/1")
        #expect(VersionFilter("1.6.x")!.newest(of: versions)?.description == "1.6.8/2")
        #expect(VersionFilter("1.6.8/1")!.newest(of: versions)?.description == "1.6.8/1")
        #expect(VersionFilter("3.x.x")!.newest(of: versions) == nil)
        for bad in ["x.2.x", "1.x.8", "x.x.1", "1.2", "1.x.x/1", "1.2.3/x", "*.*.*"] {
            #expect(VersionFilter(bad) == nil, "\(bad)")
        }
        #expect(VersionFilter("1.X.x")?.description == "1.x.x")
        #expect(VersionFilter("1.2.3")!.isExact && !VersionFilter("1.2.x")!.isExact)
    }

    @Test("ARNs round-trip and name their kind, version or build")
    func arns() throws {
        let text = "arn:aws:imagebuilder:us-east-1:123456789012:component/hello-world/1.0.0/1"
        let arn = try #require(ImageBuilderARN(text))
        #expect(arn.kind == .component && arn.name == "hello-world" && arn.region == "us-east-1" && arn.account == "123456789012")
        #expect(arn.version?.build == 1 && arn.version?.isExact == true)
        #expect(arn.description == text)
        #expect(ImageBuilderARN("arn:aws:imagebuilder:us-east-1:aws:component/x/x.x.x")?.version?.fixed == [])
        #expect(ImageBuilderARN("arn:aws:imagebuilder:eu-west-1:123456789012:image-pipeline/nightly")?.kind == .imagePipeline)
        #expect(
            ImageBuilderARN("arn:aws:imagebuilder:eu-west-1:123456789012:infrastructure-configuration/local")?.kind
                == .infrastructureConfiguration)
        for bad in [
            "arn:aws:ssm:us-east-1:123456789012:component/a/1.0.0", "arn:aws:imagebuilder:us-east-1:123456789012:widget/a",
            "arn:aws:imagebuilder:us-east-1:123456789012:component/a/1.x.0",
            "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/a/1.0.0",
            "arn:aws:imagebuilder::123456789012:component/a/1.0.0", "component/a/1.0.0",
        ] {
            #expect(ImageBuilderARN(bad) == nil, "\(bad)")
        }
        let made = ImageBuilderARN.of(
            .imageRecipe, region: "us-east-1", account: "123456789012", name: "My Recipe", version: SemanticVersion(2, 0, 1))
        #expect(made.description == "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/2.0.1")
        #expect(throws: AWSError.self) { try ImageBuilderARN.parse(text, kind: .image, member: "imageBuildVersionArn") }
    }

    @Test("component documents give their parameters and type; recipe parameters are checked against them")
    func componentsAndRecipes() throws {
        let yaml = """
            name: hello
            schemaVersion: 1.0
            parameters:
              - Greeting:
                  type: string
                  default: hello
              - Target:
                  type: string
            phases:
              - name: build
                steps:
                  - name: Say
                    action: ExecuteBash
                    inputs:
                      commands: ['echo "{{ Greeting }} {{ Target }}"']
            """
        let definition = try ComponentDefinition(data: yaml)
        #expect(definition.type == "BUILD")
        #expect(definition.parameters.map(\.name) == ["Greeting", "Target"])
        #expect(definition.parameters[0].defaultValue == "hello")
        let test = try ComponentDefinition(
            data:
                "schemaVersion: 1.0\nphases:\n  - name: test\n    steps:\n      - name: T\n        action: ExecuteBash\n        inputs:\n          commands: ['true']\n"
        )
        #expect(test.type == "TEST")
        #expect(throws: AWSError.self) { try ComponentDefinition(data: "schemaVersion: 2.0\nphases: []\n") }
        #expect(throws: AWSError.self) { try ComponentDefinition(data: "phases: [") }

        try RecipeValidation.parameters([("Target", ["world"])], declared: definition.parameters, component: "c")
        #expect(throws: AWSError.self) { try RecipeValidation.parameters([], declared: definition.parameters, component: "c") }
        #expect(throws: AWSError.self) {
            try RecipeValidation.parameters([("Target", ["a"]), ("Nope", ["b"])], declared: definition.parameters, component: "c")
        }
        #expect(throws: AWSError.self) {
            try RecipeValidation.parameters([("Target", ["a", "b"])], declared: definition.parameters, component: "c")
        }
        #expect(throws: AWSError.self) { try RecipeValidation.workingDirectory("tmp") }
        #expect(try RecipeValidation.workingDirectory("/tmp") == "/tmp")
        #expect(throws: AWSError.self) { try RecipeValidation.parentImage("arn:aws:imagebuilder:us-east-1:1:component/a/1.0.0") }
        #expect(try RecipeValidation.parentImage("debian-12") == "debian-12")
        #expect(ScheduleExpression.check("cron(0 10 * * ? *)") == nil)
        #expect(ScheduleExpression.check("cron(0 10 * * *)") != nil)
        #expect(ScheduleExpression.check("cron(0 10 ? * ? *)") != nil)
        #expect(ScheduleExpression.check("cron(0/15 8-18 ? * MON-FRI *)") == nil)
        // Image Builder pipelines have cron schedules only; values out of range are refused here, not at run time.
        #expect(ScheduleExpression.check("rate(1 day)") != nil)
        #expect(ScheduleExpression.check("cron(0 24 ? * * *)") != nil)
        #expect(ScheduleExpression.check("cron(0 10 ? * FUNDAY *)") != nil)
        #expect(ScheduleExpression.check("daily") != nil)
    }
}
