@testable import OmniEngine
import OmniTokenizer
import Testing
@testable import OmniServer

@Suite struct ResponseBuilderTests {
    let tokenizer = DemoModel.served.omni.tokenizer

    private func request(_ kind: GenerationRequest.Kind, n: Int = 1, stream: Bool = false, echo: Bool = false,
                         top: Int? = nil, includeUsage: Bool = false) throws -> GenerationRequest {
        let ids = tokenizer.encode("Hello world", addSpecialTokens: false)
        return GenerationRequest(kind: kind, model: "demo", prompts: [.init(tokenIds: ids, text: "Hello world")],
                                 params: try SamplingParams(n: n, temperature: 1, maxTokens: 4, logprobs: top), stream: stream,
                                 includeUsage: includeUsage, echo: echo, topLogprobs: top)
    }

    private func output(index: Int = 0, token: Int, text: String, count: Int, finish: FinishReason? = nil,
                        logprob: Float? = nil) -> SequenceOutput {
        let logprobs = logprob.map { [TokenLogprobs(token: .init(tokenId: token, logprob: $0, rank: 1),
                                                    top: [.init(tokenId: token, logprob: $0, rank: 1)])] } ?? []
        return SequenceOutput(requestId: "r", index: index, newTokenIds: [token], text: text, logprobs: logprobs,
                              promptLogprobs: nil, hiddenStates: [], finishReason: finish, stopReason: nil,
                              numPromptTokens: 2, numCachedPromptTokens: 0, numOutputTokens: count)
    }

    private func object(_ value: JinjaValue) -> JinjaObject { JinjaObject.of(value) }

    @Test func wholeResponseConcatenatesDeltasPerChoiceAndCountsUsage() throws {
        var builder = ResponseBuilder(request: try request(.completion, n: 2), id: "cmpl-1", created: 0, tokenizer: tokenizer)
        _ = builder.absorb(prompt: 0, output(index: 1, token: 5, text: "b", count: 1))
        _ = builder.absorb(prompt: 0, output(index: 0, token: 6, text: "a", count: 1))
        _ = builder.absorb(prompt: 0, output(index: 0, token: 7, text: "c", count: 2, finish: .length))
        _ = builder.absorb(prompt: 0, output(index: 1, token: 8, text: "", count: 2, finish: .stop))
        #expect(builder.isFinished)
        let response = object(builder.response)
        guard case .array(let choices)? = response["choices"] else { Issue.record("no choices"); return }
        #expect(object(choices[0])["text"] == "ac" && object(choices[0])["finish_reason"] == "length")
        #expect(object(choices[1])["text"] == "b" && object(choices[1])["finish_reason"] == "stop")
        let promptTokens = tokenizer.encode("Hello world", addSpecialTokens: false).count
        #expect(response["usage"] == ["prompt_tokens": .int(promptTokens), "completion_tokens": 4, "total_tokens": .int(promptTokens + 4)])
    }

    @Test func chatStreamOpensWithTheRoleAndClosesWithAnEmptyDelta() throws {
        var builder = ResponseBuilder(request: try request(.chat, stream: true, includeUsage: true), id: "c", created: 0,
                                      tokenizer: tokenizer)
        let opening = builder.openingChunks.map(object)
        #expect(opening.count == 1)
        #expect(opening[0]["usage"] == .null)
        let chunks = builder.absorb(prompt: 0, output(token: 5, text: "Hi", count: 1, finish: .stop)).map(object)
        #expect(chunks.count == 2)
        guard case .array(let first)? = chunks[0]["choices"], case .array(let last)? = chunks[1]["choices"] else {
            Issue.record("no choices"); return
        }
        #expect(object(first[0])["delta"] == ["content": "Hi"])
        #expect(object(last[0])["delta"] == [:] && object(last[0])["finish_reason"] == "stop")
        #expect(object(builder.usageChunk)["choices"] == [])
    }

    @Test func completionLogprobsCountTextOffsetsInCharacters() throws {
        var builder = ResponseBuilder(request: try request(.completion, top: 1), id: "c", created: 0, tokenizer: tokenizer)
        let a = tokenizer.encode("Hello", addSpecialTokens: false)[0]
        let b = tokenizer.encode(" world", addSpecialTokens: false)[0]
        _ = builder.absorb(prompt: 0, output(token: a, text: "x", count: 1, logprob: -0.5))
        _ = builder.absorb(prompt: 0, output(token: b, text: "y", count: 2, finish: .length, logprob: -.infinity))
        guard case .array(let choices)? = object(builder.response)["choices"] else { Issue.record("no choices"); return }
        let logprobs = object(object(choices[0])["logprobs"]!)
        let first = tokenizer.decode([a])
        #expect(logprobs["text_offset"] == [0, .int(first.unicodeScalars.count)])
        #expect(logprobs["token_logprobs"] == [-0.5, -9999.0])
        #expect(logprobs["tokens"] == [.string(first), .string(tokenizer.decode([b]))])
    }
}
