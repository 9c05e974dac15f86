import OmniEngine
import OmniTokenizer
import Testing
@testable import OmniServer

@Suite struct RequestParsingTests {
    let model = DemoModel.served

    private func completion(_ json: String) throws -> GenerationRequest {
        try CompletionRequest.parse(try RequestFields(body: Array(json.utf8)), model: model)
    }

    private func chat(_ json: String) throws -> GenerationRequest {
        try ChatCompletionRequest.parse(try RequestFields(body: Array(json.utf8)), model: model)
    }

    private func failure(_ body: () throws -> Any) -> APIError? {
        do { _ = try body() } catch { return APIError(from: error) }
        return nil
    }

    @Test func everyPromptFormReadsAsTokenPrompts() throws {
        let tokenizer = model.omni.tokenizer
        let hello = tokenizer.encode("Hello", addSpecialTokens: true)
        #expect(try completion(#"{"prompt": "Hello"}"#).prompts.map(\.tokenIds) == [hello])
        #expect(try completion(#"{"prompt": ["Hello", "Hello"]}"#).prompts.count == 2)
        #expect(try completion(#"{"prompt": [5, 6, 7]}"#).prompts.map(\.tokenIds) == [[5, 6, 7]])
        #expect(try completion(#"{"prompt": [[5], [6, 7]]}"#).prompts.map(\.tokenIds) == [[5], [6, 7]])
    }

    @Test func completionsDefaultToSixteenTokensAndChatToTheContext() throws {
        #expect(try completion(#"{"prompt": "a"}"#).params.maxTokens == 16)
        #expect(try chat(#"{"messages": [{"role": "user", "content": "a"}]}"#).params.maxTokens == nil)
        #expect(try chat(#"{"messages": [{"role": "user", "content": "a"}], "max_tokens": 3, "max_completion_tokens": 5}"#).params.maxTokens == 5)
    }

    @Test func badFieldsAre400sNamingTheField() {
        let cases: [(String, String)] = [
            (#"{"prompt": "a", "temperature": 3}"#, "temperature"),
            (#"{"prompt": "a", "n": 0}"#, "n"),
            (#"{"prompt": "a", "max_tokens": 0}"#, "max_tokens"),
            (#"{"prompt": "a", "logprobs": 21}"#, "logprobs"),
            (#"{"prompt": "a", "stop": 5}"#, "stop"),
            (#"{"prompt": "a", "stream_options": {"include_usage": true}}"#, "stream_options"),
            (#"{"prompt": [1, "a"]}"#, "prompt[1]"),
            (#"{"prompt": [100000]}"#, "prompt"),
            (#"{"prompt": []}"#, "prompt"),
            (#"{"max_tokens": 3}"#, "prompt"),
            (#"{"prompt": "a", "best_of": 3}"#, "best_of"),
        ]
        for (body, param) in cases {
            let error = failure { try completion(body) }
            #expect(error?.status == .badRequest && error?.param == param, "\(body) -> \(String(describing: error))")
        }
    }

    @Test func unknownModelIs404() {
        let error = failure { try completion(#"{"model": "other", "prompt": "a"}"#) }
        #expect(error?.status == .notFound && error?.code == "model_not_found")
    }

    @Test func chatRendersThroughTheTemplateWithToolCallArgumentsAsObjects() throws {
        let request = try chat(#"""
            {"messages": [
              {"role": "user", "content": [{"type": "text", "text": "Weather"}, {"type": "text", "text": "in Paris?"}]},
              {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
              {"role": "tool", "tool_call_id": "c1", "content": "sunny"}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]}
            """#)
        let text = request.prompts[0].text
        #expect(text.contains("Weather\nin Paris?"))
        #expect(text.contains(#"{"name": "get_weather", "arguments": {"city": "Paris"}}"#))
        #expect(text.hasSuffix("<|im_start|>assistant\n"))
    }

    @Test func badMessagesNameTheMessage() {
        let cases: [(String, String)] = [
            (#"{"messages": []}"#, "messages"),
            (#"{"messages": [{"content": "a"}]}"#, "messages[0].role"),
            (#"{"messages": [{"role": "user"}]}"#, "messages[0].content"),
            (#"{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}"#, "messages[0].content[0]"),
            (#"{"messages": [{"role": "user", "content": "a"}], "top_logprobs": 2}"#, "top_logprobs"),
            (#"{"messages": [{"role": "user", "content": "a"}], "tool_choice": "required", "tools": []}"#, "tool_choice"),
            (#"{"messages": [{"role": "user", "content": "a"}], "modalities": ["audio"]}"#, "modalities"),
        ]
        for (body, param) in cases {
            let error = failure { try chat(body) }
            #expect(error?.status == .badRequest && error?.param == param, "\(body) -> \(String(describing: error))")
        }
    }
}

@Suite struct ContentFormatTests {
    private let fields = RequestFields(object: JinjaObject(), path: "")

    private func content(_ json: String, _ format: ChatTemplate.ContentFormat) throws -> JinjaValue? {
        let message = try ChatCompletionRequest.message(try JinjaValue(json: json), at: 0, in: fields, format: format)
        return JinjaObject.of(message)["content"]
    }

    @Test func stringTemplatesGetTextPartsJoinedWithNewlines() throws {
        let parts = #"{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}"#
        #expect(try content(parts, .string) == "a\nb")
        #expect(try content(#"{"role": "user", "content": "a"}"#, .string) == "a")
    }

    @Test func partTemplatesGetEveryContentAsTextParts() throws {
        let parts = #"{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}"#
        #expect(try content(parts, .openAI) == [["type": "text", "text": "a"], ["type": "text", "text": "b"]])
        #expect(try content(#"{"role": "user", "content": "a"}"#, .openAI) == [["type": "text", "text": "a"]])
    }
}
