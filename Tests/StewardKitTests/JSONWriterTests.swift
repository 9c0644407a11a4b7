import StewardKit
import Testing

@Suite struct JSONWriterTests {
    @Test func escapesWhatJSONRequiresAndKeepsUnicode() throws {
        let text = "quote \" backslash \\ tab \t line \n return \r bell \u{07} é 日本 🚀 end"
        let written = JSONWriter.string(["k": .string(text)])
        #expect(written == #"{"k":"quote \" backslash \\ tab \t line \n return \r bell \u0007 é 日本 🚀 end"}"#)
        #expect(try JSONReader.parse(written)["k"]?.stringValue == text)
        var out = "x"
        JSONWriter.appendString("a\"b", to: &out)
        #expect(out == #"x"a\"b""#)
    }

    @Test func roundTripsValues() throws {
        let value: JSONValue = [
            "b": [.number(1), .number(-2.5), .bool(true), .null, "s"], "a": ["nested": ["deep": "v\u{1F}"]], "n": .number(1_795_910_400),
        ]
        let text = JSONWriter.string(value)
        #expect(text.hasPrefix(#"{"a":"#))
        #expect(try JSONReader.parse(text) == value)
        #expect(JSONWriter.bytes(value) == Array(text.utf8))
    }
}
