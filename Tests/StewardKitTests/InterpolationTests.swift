import Testing

@testable import StewardDocuments
@testable import StewardKit

@Suite("{{ }} interpolation")
struct InterpolationTests {
    let values: [String: JSONValue] = ["name": "world", "list": ["a", "b"], "n": 3, "dollar": "$$x"]

    @Test("a whole-string placeholder takes the typed value")
    func whole() {
        #expect(Interpolation.apply("{{ list }}", values: values) == ["a", "b"])
        #expect(Interpolation.apply("{{n}}", values: values) == 3)
    }

    @Test("an embedded placeholder takes the value as text")
    func embedded() {
        #expect(Interpolation.apply("hello {{ name }}!", values: values) == "hello world!")
        #expect(Interpolation.apply("x={{ list }}", values: values) == "x=[\"a\",\"b\"]")
        #expect(Interpolation.apply("{{name}}{{name}}", values: values) == "worldworld")
    }

    @Test("unknown names and Parameter Store references are left alone")
    func leftAlone() {
        #expect(Interpolation.apply("{{ other }}", values: values) == "{{ other }}")
        #expect(Interpolation.apply("{{ssm:/a/b}} {{ssm-secure:x}}", values: values) == "{{ssm:/a/b}} {{ssm-secure:x}}")
        #expect(Interpolation.apply("{{", values: values) == "{{")
        #expect(Interpolation.apply("}} {{ name", values: values) == "}} {{ name")
    }

    @Test("values are not scanned again")
    func noRecursion() {
        let v: [String: JSONValue] = ["a": "{{ b }}", "b": "no"]
        #expect(Interpolation.apply("{{ a }} and {{ b }}", values: v) == "{{ b }} and no")
    }

    @Test("substitution reaches into lists and maps")
    func nested() {
        let doc: JSONValue = ["runCommand": ["echo {{ name }}"], "opts": ["k": "{{ n }}"]]
        #expect(Interpolation.apply(doc, values: values) == ["runCommand": ["echo world"], "opts": ["k": 3]])
    }

    @Test("interpolating arbitrary text never crashes and keeps text without placeholders", arguments: 0..<200)
    func fuzz(seed: Int) {
        var rng = SplitMix(seed: UInt64(seed))
        let alphabet = Array("{} ab_1$\n\"")
        let text = String((0..<Int(rng.next() % 40)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        let out = Interpolation.apply(.string(text), values: ["ab": "Z"])
        if !text.contains("{{") { #expect(out == .string(text)) }
    }
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("JSON reading and writing")
struct JSONTests {
    @Test("the reader parses what the writer writes, escapes and all")
    func roundTrip() throws {
        let value: JSONValue = [
            "s": "a \"quoted\" \\ line\nwith\ttab and ünïcödé 🚀 \u{01}", "n": -12.5, "i": 42, "e": 1e21, "b": true, "z": .null,
            "list": [1, "two", ["three"], [:]], "empty": "",
        ]
        #expect(try JSONReader.parse(JSONWriter.string(value)) == value)
    }

    @Test("escapes, surrogate pairs and exponents are read as JSON defines them")
    func escapes() throws {
        #expect(try JSONReader.parse(#"["\u00e9\ud83d\ude80\/\b\f\r", 1E2, -0.5e-1, 0]"#) == ["é🚀/\u{08}\u{0C}\r", 100, -0.05, 0])
    }

    @Test(
        "malformed JSON is refused",
        arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "01x", "\"\\x\"", "\"\\ud800\"", "[1] 2", "{\"a\":1,}", "\"a\u{01}\""])
    func malformed(_ text: String) {
        #expect(throws: JSONReader.SyntaxError.self) { try JSONReader.parse(text) }
    }
}
