import Foundation
import OmniModels
import OmniTensor
import OmniTokenizer
import OmniWeights

/// Z-Image's prompt features: the prompt as one user message through the chat template (with
/// `enable_thinking`), tokenized and cut at `max_sequence_length`, run through the Qwen3 text
/// encoder, whose `hidden_states[-2]` rows of the real (unpadded) tokens are the caption the DiT
/// reads. As diffusers' `ZImagePipeline._encode_prompt`.
///
/// diffusers pads every prompt to `max_sequence_length` and drops the padded rows afterwards; with
/// right padding and causal attention the kept rows do not see the padding, so only the real
/// tokens are run here, through a throwaway paged KV cache sized to the prompt.
public final class ZImagePromptEncoder: Sendable {
    public let tokenizer: PreTrainedTokenizer
    public let template: ChatTemplate
    public let model: DecoderOnlyLM

    static let blockSize = 16

    /// Loads `tokenizer/` and `text_encoder/` of a diffusers directory. The text encoder is a
    /// transformers Qwen3 checkpoint, either the base model (`Qwen3Model`, weights without the
    /// `model.` prefix and no `lm_head`, as Z-Image ships it) or a `Qwen3ForCausalLM`.
    public init(tokenizerDirectory: URL, textEncoderDirectory: URL, backend: any Backend) throws {
        tokenizer = try PreTrainedTokenizer(directory: tokenizerDirectory)
        template = try ChatTemplate(configuration: tokenizer.configuration)
        let hf = try TransformerConfig(directory: textEncoderDirectory)
        let config = try Qwen3.config(hf, file: textEncoderDirectory.appendingPathComponent("config.json").path)
        model = try DecoderOnlyLM(config: config, weights: BaseModelWeights(try Checkpoint(directory: textEncoderDirectory)),
                                  backend: backend)
    }

    /// The prompt's token ids, as `tokenizer(apply_chat_template(...), truncation=True, max_length=...)`.
    public func tokenIds(_ prompt: String, maxSequenceLength: Int) throws -> [Int] {
        let text = try template.render(
            messages: [["role": "user", "content": .string(prompt)]],
            addGenerationPrompt: true, specialTokens: tokenizer.configuration.chatTemplateSpecialTokens,
            extraContext: ["enable_thinking": .bool(true)])
        return Array(tokenizer.encode(text, addSpecialTokens: true).prefix(maxSequenceLength))
    }

    /// Caption features `[L, hidden]` f32, one row per prompt token.
    public func encode(_ prompt: String, maxSequenceLength: Int = 512) throws -> Tensor {
        let ids = try tokenIds(prompt, maxSequenceLength: maxSequenceLength)
        guard !ids.isEmpty else { throw PipelineError.invalidPrompt("the prompt encodes to no tokens") }
        let count = ids.count, blocks = (count + Self.blockSize - 1) / Self.blockSize
        let caches = model.makeCaches(blocks: blocks, blockSize: Self.blockSize)
        let layer = max(model.config.layers - 1, 0)   // HF's hidden_states[-2]
        let batch = ForwardBatch(
            tokens: ids.map { Int32($0) }, positions: (0..<count).map { Int32($0) }, slots: (0..<count).map { Int32($0) },
            attention: AttentionBatch(sequences: [.init(queryStart: 0, queryCount: count, contextLength: count,
                                                        blockTable: (0..<blocks).map { Int32($0) })]),
            logitRows: [], hiddenStateLayers: [layer])
        guard let hidden = model.forward(batch, caches: caches).hiddenStates[layer] else {
            fatalError("DecoderOnlyLM.forward did not return hidden_states[\(layer)]")
        }
        return model.backend.toFloat32(hidden)
    }
}

/// A transformers base-model checkpoint (`Qwen3Model`: `embed_tokens.weight`, `layers.N...`) read
/// under the causal-LM names `DecoderOnlyLM` asks for (`model.embed_tokens.weight`, ...). A missing
/// `lm_head.weight` reads as the embeddings: the encoder never computes logits.
struct BaseModelWeights<Base: WeightSource>: WeightSource {
    let base: Base

    init(_ base: Base) { self.base = base }

    private func resolved(_ name: String) -> String {
        if base.contains(name) { return name }
        if name.hasPrefix("model."), case let stripped = String(name.dropFirst(6)), base.contains(stripped) { return stripped }
        if name == "lm_head.weight" { return resolved("model.embed_tokens.weight") }
        return name
    }

    func contains(_ name: String) -> Bool { base.contains(resolved(name)) }
    func tensor(_ name: String) throws -> Tensor { try base.tensor(resolved(name)) }
    func location(of name: String) -> String { base.location(of: resolved(name)) }
}
