import Foundation
import OmniWeights
import Testing

@Suite struct JSONValueTests {
    private func parse(_ text: String, rejectingDuplicateKeys: Bool = false) throws -> JSONValue {
        try JSONValue(parsing: Data(text.utf8), rejectingDuplicateKeys: rejectingDuplicateKeys)
    }

    @Test func integersAndFloatsStayApart() throws {
        let value = try parse(#"{"a": 32, "b": 32.0, "c": 1e-06, "d": -0, "e": 123456789012345678901234}"#)
        #expect(value["a"] == .int(32) && value["b"] == .double(32) && value["c"] == .double(1e-6))
        #expect(value["d"] == .int(0))
        #expect(value["e"] == .double(1.2345678901234568e23), "integers beyond Int64 become doubles")
        #expect(value["b"]?.int == 32 && value["c"]?.int == nil && value["a"]?.double == 32)
    }

    @Test func pythonNonFiniteFloatsAreAccepted() throws {
        let value = try parse("[NaN, Infinity, -Infinity]")
        #expect(value[0]?.double?.isNaN == true && value[1] == .double(.infinity) && value[2] == .double(-.infinity))
        #expect(value.jsonText == "[NaN,Infinity,-Infinity]")
    }

    @Test func stringEscapesAndUnicodeDecode() throws {
        let value = try parse(#"["a\"b\\c\/d\n\t\u00e9\ud83d\ude00", "中文", "\ud800"]"#)
        #expect(value[0]?.string == "a\"b\\c/d\n\té😀")
        #expect(value[1]?.string == "中文")
        #expect(value[2]?.string == "\u{FFFD}", "a lone surrogate becomes U+FFFD")
    }

    @Test func serializationRoundTrips() throws {
        let value = try parse(#"{"z": [1, 2.5, true, false, null], "a": {"q": "x\"y\n\u0001"}}"#)
        #expect(value.jsonText == #"{"a":{"q":"x\"y\n\u0001"},"z":[1,2.5,true,false,null]}"#)
        #expect(try parse(value.jsonText) == value)
    }

    @Test func duplicateKeysKeepTheLastUnlessRejected() throws {
        #expect(try parse(#"{"a": 1, "a": 2}"#)["a"] == .int(2))
        #expect(throws: JSONParseError.self) { try parse(#"{"a": 1, "a": 2}"#, rejectingDuplicateKeys: true) }
    }

    @Test(arguments: [
        ("", "unexpected end of text at line 1, column 1"),
        ("{\n  \"a\": tru\n}", "invalid literal (expected true) at line 2, column 8"),
        ("[1,]", "unexpected character ']' at line 1, column 4"),
        ("01", "leading zero in number at line 1, column 2"),
        ("\"a\u{1}\"", "control character in string (must be escaped) at line 1, column 3"),
        ("\"abc", "unterminated string at line 1, column 1"),
        ("{} x", "unexpected text after the JSON value at line 1, column 4"),
        ("1.", "expected a digit after '.' at line 1, column 3"),
        (#""\x""#, "invalid escape '\\x' at line 1, column 3"),
    ])
    func malformedTextReportsWhereAndWhy(text: String, message: String) throws {
        let error = try #require(throws: JSONParseError.self) { try parse(text) }
        #expect(error.description == message)
    }

    @Test func nestingIsLimited() throws {
        let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(throws: JSONParseError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(try parse(fine).array?.count == 1)
    }

    @Test func decodableThroughFoundation() throws {
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"a": [1, 2.5, "x", null, true]}"#.utf8))
        #expect(decoded == .object(["a": .array([.int(1), .double(2.5), .string("x"), .null, .bool(true)])]))
        let encoded = try JSONEncoder().encode(decoded)
        #expect(try JSONDecoder().decode(JSONValue.self, from: encoded) == decoded)
    }
}
