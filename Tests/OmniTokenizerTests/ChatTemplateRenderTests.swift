import Foundation
import Testing
@testable import OmniTokenizer

/// Real chat templates (Qwen2.5/3/3.5, Llama 3.x, Mistral, Gemma, DeepSeek, Phi, gpt-oss, ...)
/// rendered over the conversations of Tests/Fixtures/chat_templates/scenarios.json must equal,
/// byte for byte, what transformers' `apply_chat_template(..., tokenize=False)` rendered
/// (tools/reference/make_chat_template_fixtures.py); where transformers raised (roles that do not
/// alternate, unsupported inputs), the template must fail too, with the same message (syntax
/// errors: the same kind of failure).
@Suite struct ChatTemplateRenderTests {
    @Test(arguments: ChatTemplateFixtures.renderFileNames)
    func rendersLikeTransformers(file: String) throws {
        let record = try ChatTemplateFixtures.object(try ChatTemplateFixtures.json("renders/\(file)"))
        let templatePath = try #require(record["template"]?.stringValue)
        let source = try String(contentsOf: ChatTemplateFixtures.url(templatePath), encoding: .utf8)
        let template = try ChatTemplate(source: source)
        #expect(template.contentFormat.rawValue == record["content_format"]?.stringValue, "\(file): content format as vLLM detects it")
        var specialTokens: [String: String] = [:]
        for (name, value) in try ChatTemplateFixtures.object(record["special_tokens"]) {
            specialTokens[name] = value.stringValue
        }
        guard case .array(let cases) = record["cases"] else { throw ChatTemplateFixtures.Malformed(file) }
        var passed = 0
        for caseValue in cases {
            let testCase = try ChatTemplateFixtures.object(caseValue)
            let scenarioName = try #require(testCase["scenario"]?.stringValue)
            let scenario = try ChatTemplateFixtures.scenario(scenarioName)
            let addGenerationPrompt = testCase["add_generation_prompt"]?.isTruthy ?? false
            let label = "\(file) / \(scenarioName) / add_generation_prompt=\(addGenerationPrompt)"
            let result = Result { () throws(ChatTemplateError) -> String in
                try template.render(
                    messages: scenario.messages, tools: scenario.tools, documents: scenario.documents,
                    addGenerationPrompt: addGenerationPrompt, specialTokens: specialTokens,
                    extraContext: scenario.kwargs, clock: ChatTemplateFixtures.clock)
            }
            if ChatTemplateFixtures.check(result, against: testCase, label: label) { passed += 1 }
        }
        #expect(passed == cases.count, "\(file): \(passed)/\(cases.count) cases match transformers")
    }

    @Test func everyTemplateHasRenders() {
        #expect(ChatTemplateFixtures.renderFileNames.count >= 40)
        #expect(ChatTemplateFixtures.scenarios.count >= 20)
    }
}

/// The conversations of scenarios.json and the per-template render files.
extension ChatTemplateFixtures {
    struct Scenario {
        var messages: [JinjaValue]
        var tools: [JinjaValue]?
        var documents: [JinjaValue]?
        var kwargs: [String: JinjaValue]
    }

    static var renderFileNames: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: url("renders").path)) ?? []
        return files.filter { $0.hasSuffix(".json") }.sorted()
    }

    static let scenarios: JinjaObject = {
        guard let root = try? object(json("scenarios.json")), let scenarios = try? object(root["scenarios"]) else {
            return JinjaObject()
        }
        return scenarios
    }()

    static func scenario(_ name: String) throws -> Scenario {
        let record = try object(scenarios[name])
        func list(_ key: String) throws -> [JinjaValue]? {
            guard let value = record[key] else { return nil }
            guard case .array(let items) = value else { throw Malformed("\(name).\(key)") }
            return items
        }
        var kwargs: [String: JinjaValue] = [:]
        if let extra = record["kwargs"] {
            for (key, value) in try object(extra) { kwargs[key] = value }
        }
        return Scenario(messages: try list("messages") ?? [], tools: try list("tools"), documents: try list("documents"), kwargs: kwargs)
    }
}
