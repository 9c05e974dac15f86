import Foundation
import Testing
@testable import OmniTokenizer

/// The Jinja engine on small templates exercising one construct each (whitespace control with
/// trim/lstrip blocks, loop variables, namespaces, macros, slicing, filters, tests, tojson,
/// Python printing and string escapes, errors). Expected outputs were rendered by jinja2 in
/// transformers' environment (Tests/Fixtures/chat_templates/jinja_cases.json).
@Suite struct ChatTemplateJinjaTests {
    static let cases: [String: JinjaObject] = {
        guard let root = try? ChatTemplateFixtures.object(ChatTemplateFixtures.json("jinja_cases.json")),
            case .array(let items) = root["cases"]
        else { return [:] }
        var cases: [String: JinjaObject] = [:]
        for item in items {
            if case .object(let object) = item, let name = object["name"]?.stringValue { cases[name] = object }
        }
        return cases
    }()

    static var caseNames: [String] { cases.keys.sorted() }

    @Test(arguments: caseNames)
    func rendersLikeJinja2(name: String) throws {
        let fixture = try #require(Self.cases[name])
        let source = try #require(fixture["template"]?.stringValue)
        let context = try ChatTemplateFixtures.object(fixture["context"])
        let result = Result { () throws(ChatTemplateError) -> String in
            try JinjaTemplate(source: source).render(context, clock: ChatTemplateFixtures.clock)
        }
        _ = ChatTemplateFixtures.check(result, against: fixture, label: "\(name): \(source)")
    }

    @Test func fixturesAreLoaded() {
        #expect(Self.cases.count > 100)
    }

    /// Seeded random templates (whitespace-control layouts, statement mixes, expressions over
    /// every filter, test, method and operator), rendered by jinja2 over one context.
    @Test(arguments: ["layout", "statements", "expression"])
    func randomTemplatesRenderLikeJinja2(kind: String) throws {
        let root = try ChatTemplateFixtures.object(ChatTemplateFixtures.json("jinja_random_cases.json"))
        let context = try ChatTemplateFixtures.object(root["context"])
        guard case .array(let cases) = root["cases"] else { throw ChatTemplateFixtures.Malformed("jinja_random_cases.json") }
        var total = 0
        var passed = 0
        for item in cases {
            let fixture = try ChatTemplateFixtures.object(item)
            guard fixture["kind"]?.stringValue == kind, let source = fixture["template"]?.stringValue else { continue }
            total += 1
            let result = Result { () throws(ChatTemplateError) -> String in
                try JinjaTemplate(source: source).render(context, clock: ChatTemplateFixtures.clock)
            }
            if ChatTemplateFixtures.check(result, against: fixture, label: "\(kind): \(source)") { passed += 1 }
        }
        #expect(total >= 500)
        #expect(passed == total, "\(kind): \(passed)/\(total) random templates match jinja2")
    }
}

/// Reading the chat-template fixtures, and comparing a render with its expectation.
enum ChatTemplateFixtures {
    struct Malformed: Error, CustomStringConvertible {
        var description: String
        init(_ what: String) { description = "malformed fixture: \(what)" }
    }

    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/chat_templates")

    static func url(_ path: String) -> URL { directory.appendingPathComponent(path) }

    static func json(_ path: String) throws -> JinjaValue {
        try JinjaValue(json: String(contentsOf: url(path), encoding: .utf8))
    }

    static func object(_ value: JinjaValue?) throws -> JinjaObject {
        guard case .object(let object) = value else { throw Malformed("expected an object") }
        return object
    }

    /// The fixed time the fixtures were rendered at (`strftime_now` reads it).
    static let clock: RenderClock = {
        var components = DateComponents()
        (components.year, components.month, components.day) = (2025, 3, 14)
        (components.hour, components.minute, components.second) = (9, 26, 53)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return RenderClock(date: calendar.date(from: components)!, timeZone: calendar.timeZone)
    }()

    /// Compares a render with the fixture's `expected` text or `error`, recording an issue with
    /// the first differing offset when they disagree. Returns whether they agree.
    static func check(_ result: Result<String, ChatTemplateError>, against fixture: JinjaObject, label: String) -> Bool {
        if let expected = fixture["expected"]?.stringValue {
            switch result {
            case .success(let output):
                if output == expected { return true }
                Issue.record(Comment(rawValue: "\(label): output differs from transformers\n" + firstDifference(output, expected)))
            case .failure(let error):
                Issue.record(Comment(rawValue: "\(label): threw \(error), transformers rendered \(expected.count) characters"))
            }
            return false
        }
        guard let error = try? object(fixture["error"]) else {
            Issue.record(Comment(rawValue: "\(label): fixture has neither expected nor error"))
            return false
        }
        let kind = error["kind"]?.stringValue ?? ""
        let message = error["message"]?.stringValue ?? ""
        switch result {
        case .success(let output):
            Issue.record(Comment(rawValue: "\(label): rendered \(output.count) characters, transformers raised \(kind): \(message)"))
            return false
        case .failure(let thrown):
            switch (kind, thrown) {
            case ("raised", .raised(let text, _)), ("runtime", .runtime(let text, _)):
                if text == message { return true }
                Issue.record(Comment(rawValue: "\(label): error message '\(text)', transformers '\(message)'"))
                return false
            case ("syntax", .syntax):
                // jinja2's parser words its messages differently; the kind and the failure matter.
                return true
            default:
                Issue.record(Comment(rawValue: "\(label): threw \(thrown), transformers raised \(kind): \(message)"))
                return false
            }
        }
    }

    /// "at offset N" with the text around the first difference of each string.
    static func firstDifference(_ actual: String, _ expected: String) -> String {
        let a = Array(actual.unicodeScalars)
        let b = Array(expected.unicodeScalars)
        var index = 0
        while index < a.count, index < b.count, a[index] == b[index] { index += 1 }
        func excerpt(_ scalars: [Unicode.Scalar]) -> String {
            let start = max(0, index - 60)
            let end = min(scalars.count, index + 60)
            let before = String(String.UnicodeScalarView(scalars[start..<index]))
            let after = String(String.UnicodeScalarView(scalars[index..<end]))
            return JinjaValue.string(before).pythonRepr + " ⟪HERE⟫ " + JinjaValue.string(after).pythonRepr
        }
        return "first difference at scalar offset \(index) (lengths \(a.count) vs \(b.count))\n"
            + "  swift:        \(excerpt(a))\n  transformers: \(excerpt(b))"
    }
}
