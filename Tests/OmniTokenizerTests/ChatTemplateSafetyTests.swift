import Foundation
import Testing
@testable import OmniTokenizer

/// Templates come from model directories: a malformed or hostile one must end in a typed error
/// with a location, never a crash or a hang; and the renderer's own API contracts.
@Suite struct ChatTemplateSafetyTests {
    private func renderError(_ source: String, context: JinjaObject = JinjaObject(),
                             limits: JinjaTemplate.Limits = JinjaTemplate.Limits()) -> ChatTemplateError? {
        do {
            _ = try JinjaTemplate(source: source).render(context, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func syntaxErrorNamesLineAndColumn() throws {
        let error = try #require(renderError("line one\n{% if x %}\n  {{ 1 + }}\n{% endif %}"))
        guard case .syntax(_, let location) = error else { Issue.record("expected a syntax error, got \(error)"); return }
        #expect(location.line == 3)
        #expect(location.column > 3)
        #expect(error.description.contains("line 3"))
    }

    @Test func runtimeErrorNamesTheExpression() throws {
        let error = try #require(renderError("ok\n{{ messages[0].content.upper() + 1 }}", context: ["messages": [["content": "x"]]]))
        guard case .runtime(let message, let location) = error else { Issue.record("expected a runtime error, got \(error)"); return }
        #expect(message.contains("concatenate"))
        #expect(location.line == 2)
    }

    @Test func raiseExceptionSurfacesTheTemplatesMessage() throws {
        let template = try ChatTemplate(source: "{% if messages[0].role != 'user' %}{{ raise_exception('First message must be from the user, got ' + messages[0].role) }}{% endif %}ok")
        #expect(throws: ChatTemplateError.raised("First message must be from the user, got assistant", .init(line: 1, column: 39))) {
            try template.render(messages: [["role": "assistant", "content": "hi"]])
        }
        #expect(try template.render(messages: [["role": "user", "content": "hi"]]) == "ok")
    }

    @Test func infiniteRecursionStopsAtTheCallDepthLimit() throws {
        let error = try #require(renderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"))
        guard case .limitExceeded = error else { Issue.record("expected limitExceeded, got \(error)"); return }
    }

    @Test func runawayLoopsStopAtTheStepLimit() throws {
        let source = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
        let error = try #require(renderError(source, limits: .init(maxSteps: 200_000)))
        guard case .limitExceeded = error else { Issue.record("expected limitExceeded, got \(error)"); return }
    }

    @Test func hugeValuesAreRefused() throws {
        for source in ["{{ 'x' * 1000000000 }}", "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                       "{{ [1] * 100000000000 }}", "{{ range(1000000)|length }}", "{{ 'ab'|center(2000000000) }}"] {
            #expect(renderError(source) != nil, "\(source)")
        }
    }

    @Test func outputSizeIsBounded() throws {
        let error = try #require(renderError("{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", limits: .init(maxOutputBytes: 1 << 20)))
        guard case .limitExceeded = error else { Issue.record("expected limitExceeded, got \(error)"); return }
    }

    @Test func deepNestingIsASyntaxErrorNotAStackOverflow() throws {
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        #expect(renderError("{{ \(deep) }}") != nil)
        let blocks = String(repeating: "{% if true %}", count: 5000) + String(repeating: "{% endif %}", count: 5000)
        #expect(renderError(blocks) != nil)
        let json = String(repeating: "[", count: 100_000)
        #expect(throws: JinjaJSONError.self) { try JinjaValue(json: json) }
    }

    @Test func selfReferencingNamespaceRendersWithoutHanging() throws {
        let output = try JinjaTemplate(source: "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns|string|length > 0 }}").render(JinjaObject())
        #expect(output == "True")
    }

    /// Every prefix, and every single-character deletion near tags, of real templates: parse and
    /// render must end in a value or a `ChatTemplateError`, whatever the damage.
    @Test func damagedTemplatesFailCleanly() throws {
        let scenario = try ChatTemplateFixtures.scenario("tool_call")
        for name in ["Qwen-Qwen3-0.6B", "meta-llama-Llama-3.1-8B-Instruct", "openai-gpt-oss-120b"] {
            let source = Array(try String(contentsOf: ChatTemplateFixtures.url("templates/\(name).jinja"), encoding: .utf8).unicodeScalars)
            var cuts = Array(stride(from: 0, to: source.count, by: max(1, source.count / 60)))
            cuts += source.indices.filter { "{}%#-".unicodeScalars.contains(source[$0]) }.prefix(120)
            for cut in cuts {
                for damaged in [Array(source[..<cut]), Array(source[..<cut] + source[(cut + 1)...])] {
                    let text = String(String.UnicodeScalarView(damaged))
                    guard let template = try? ChatTemplate(source: text) else { continue }
                    _ = try? template.render(
                        messages: scenario.messages, tools: scenario.tools, addGenerationPrompt: true,
                        limits: .init(maxSteps: 100_000))
                }
            }
        }
    }

    @Test func reservedNamesCannotBeOverridden() throws {
        let template = try ChatTemplate(source: "{{ messages|length }}")
        #expect(throws: ChatTemplateError.self) {
            try template.render(messages: [], extraContext: ["messages": "x"])
        }
    }

    @Test func messagesArePreparedAsTransformersDoes() throws {
        let template = try ChatTemplate(source: "{% for m in messages %}{{ m|tojson }}\n{% endfor %}{{ tools }}|{{ documents }}")
        let output = try template.render(messages: [
            ["role": "assistant", "content": .none, "reasoning": "why", "tool_calls": [["id": "1"]]],
            ["role": "user", "content": "x", "name": .none],
        ])
        #expect(output == """
            {"thinking": "why", "role": "assistant", "reasoning": "why", "tool_calls": [{"id": "1"}], "reasoning_content": "why"}
            {"role": "user", "content": "x"}
            None|None
            """)
        #expect(throws: ChatTemplateError.self) { try template.render(messages: ["not an object"]) }
    }

    @Test func extraContextOverridesSpecialTokens() throws {
        let template = try ChatTemplate(source: "{{ bos_token }}{{ eos_token }}{{ enable_thinking }}")
        let output = try template.render(
            messages: [], specialTokens: ["bos_token": "<s>", "eos_token": "</s>"],
            extraContext: ["eos_token": "<|end|>", "enable_thinking": false])
        #expect(output == "<s><|end|>False")
    }

    @Test func jsonRoundTripKeepsOrderAndNumberKinds() throws {
        let text = #"{"z": 1, "a": [1.0, 2.5e-7, -0.0, 10000000000000000.0, null, true, "é\u00e9\ud83d\ude00\n"], "m": {}}"#
        let value = try JinjaValue(json: text)
        #expect(try value.jsonString() == #"{"z": 1, "a": [1.0, 2.5e-07, -0.0, 1e+16, null, true, "éé😀\n"], "m": {}}"#)
        #expect(try value.jsonString(ensureASCII: true).contains(#"\ud83d\ude00"#))
        #expect(value.pythonRepr == #"{'z': 1, 'a': [1.0, 2.5e-07, -0.0, 1e+16, None, True, 'éé😀\n'], 'm': {}}"#)
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "nul", "[1] 2"] {
            #expect(throws: JinjaJSONError.self, "\(bad)") { try JinjaValue(json: bad) }
        }
    }

    @Test func parsedTemplateIsReusableAcrossThreads() async throws {
        let template = try ChatTemplate(source: "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}")
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<16 {
                group.addTask {
                    let output = try template.render(messages: [["role": "user", "content": .string("n\(index)")]])
                    return output == "<user>n\(index)"
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }
}

/// The template and special tokens of a model directory, chosen as transformers chooses them.
@Suite struct ChatTemplateConfigurationTests {
    @Test func namedTemplatesAndSpecialTokensComeFromTheModelDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = """
            {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
             "chat_template": [{"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"},
                               {"name": "tool_use", "template": "{{ bos_token }}tools={{ tools|length }}"}]}
            """
        try config.write(to: directory.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        let configuration = try TokenizerConfiguration(directory: directory)
        let tokens = configuration.chatTemplateSpecialTokens
        #expect(tokens == ["bos_token": "<s>", "eos_token": "</s>"])

        let plain = try ChatTemplate(configuration: configuration)
        #expect(try plain.render(messages: [["role": "user", "content": "hi"]], specialTokens: tokens) == "<s>hi</s>")
        let withTools = try ChatTemplate(configuration: configuration, hasTools: true)
        #expect(try withTools.render(messages: [], tools: [["type": "function"]], specialTokens: tokens) == "<s>tools=1")
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(configuration: configuration, named: "rag") }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(configuration: TokenizerConfiguration()) }
    }
}
