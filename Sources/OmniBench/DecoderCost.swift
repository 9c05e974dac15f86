import Foundation
import OmniModels
import OmniTensor
import OmniWeights

/// What a token costs a decoder-only LM (Llama / Qwen2 / Qwen3 as `DecoderOnlyLM` runs them): the
/// bytes a batch-1 decode step reads, which bound decode by memory bandwidth, and the FLOPs of a
/// batch of positions, which bound prefill by GEMM throughput.
public struct DecoderCost: Sendable, Equatable {
    public let config: DecoderConfig
    /// The weights' stored dtype (the embedding's; the checkpoint's dtype for every weight we ship).
    public let dtype: DType
    /// Bytes of weights one decode step reads, each in its stored dtype: every decoder-layer weight,
    /// the final norm, the lm_head (the embedding matrix itself when tied) and one embedding row.
    public let weightBytesPerToken: Int
    /// Weights multiplied once per token in the decoder layers (q/k/v/o, gate/up/down).
    public let layerMatmulParameters: Int
    /// The lm_head's weights, multiplied once per logit row.
    public let lmHeadParameters: Int
    /// Every weight the model loads (the tied lm_head counted once).
    public let parameters: Int
    /// Bytes of cached keys and values attention reads per context position (all layers; the
    /// paged cache stores f32, or bf16 for bf16 weights in the bf16 matmul mode).
    public let kvBytesPerPosition: Int

    /// - Parameter storedBytes: bytes of each named tensor as stored, nil for tensors the
    ///   checkpoint lacks (a tied lm_head).
    public init(config c: DecoderConfig, dtype: DType, storedBytes: (String) -> Int?) {
        self.config = c
        self.dtype = dtype
        let qWidth = c.heads * c.headDim, kvWidth = c.kvHeads * c.headDim
        let layerMatmul = c.hiddenSize * (qWidth + 2 * kvWidth) + qWidth * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize
        func bytes(_ name: String, elements: Int) -> Int { storedBytes(name) ?? elements * dtype.size }

        var layerBytes = 0, layerParameters = 0
        for i in 0..<c.layers {
            for (name, elements) in Self.layerTensors(c) {
                layerBytes += bytes("model.layers.\(i).\(name)", elements: elements)
                layerParameters += elements
            }
        }
        let embedding = c.vocabularySize * c.hiddenSize
        let embeddingBytes = bytes("model.embed_tokens.weight", elements: embedding)
        let lmHeadBytes = c.tieWordEmbeddings ? embeddingBytes : bytes("lm_head.weight", elements: embedding)
        weightBytesPerToken = layerBytes + bytes("model.norm.weight", elements: c.hiddenSize) + lmHeadBytes
            + embeddingBytes / c.vocabularySize
        layerMatmulParameters = c.layers * layerMatmul
        lmHeadParameters = embedding
        parameters = layerParameters + c.hiddenSize + embedding + (c.tieWordEmbeddings ? 0 : embedding)
        let kvDType = DecoderOnlyLM.kvCacheDType(weights: dtype, precision: CPUBackend.MatmulPrecision.fromEnvironment)
        kvBytesPerPosition = c.layers * 2 * kvWidth * kvDType.size
    }

    /// The cost of the model in a transformers directory, from config.json and the safetensors
    /// headers (no weight is read).
    public init(directory: URL) throws {
        let (_, config) = try CausalLMLoader.config(directory: directory)
        let checkpoint = try Checkpoint(directory: directory)
        let dtype = checkpoint.info("model.embed_tokens.weight")?.dtype ?? .f32
        self.init(config: config, dtype: dtype) { checkpoint.info($0)?.byteCount }
    }

    /// The tensors of one decoder layer as `DecoderOnlyLM` loads them, with their element counts.
    static func layerTensors(_ c: DecoderConfig) -> [(String, Int)] {
        let qWidth = c.heads * c.headDim, kvWidth = c.kvHeads * c.headDim
        var tensors: [(String, Int)] = [
            ("input_layernorm.weight", c.hiddenSize), ("post_attention_layernorm.weight", c.hiddenSize),
            ("self_attn.q_proj.weight", qWidth * c.hiddenSize), ("self_attn.k_proj.weight", kvWidth * c.hiddenSize),
            ("self_attn.v_proj.weight", kvWidth * c.hiddenSize), ("self_attn.o_proj.weight", c.hiddenSize * qWidth),
            ("mlp.gate_proj.weight", c.intermediateSize * c.hiddenSize), ("mlp.up_proj.weight", c.intermediateSize * c.hiddenSize),
            ("mlp.down_proj.weight", c.hiddenSize * c.intermediateSize),
        ]
        if c.qkvBias {
            tensors += [("self_attn.q_proj.bias", qWidth), ("self_attn.k_proj.bias", kvWidth), ("self_attn.v_proj.bias", kvWidth)]
        }
        if c.outputBias { tensors.append(("self_attn.o_proj.bias", c.hiddenSize)) }
        if c.qkNorm { tensors += [("self_attn.q_norm.weight", c.headDim), ("self_attn.k_norm.weight", c.headDim)] }
        return tensors
    }

    /// Bytes one decode step reads when it attends over `context` cached positions.
    public func bytesPerToken(context: Double) -> Double {
        Double(weightBytesPerToken) + Double(kvBytesPerPosition) * context
    }

    /// The mean context of the decode steps after a `promptTokens` prefill that generate tokens 2
    /// through `newTokens`: step j attends over prompt + j positions.
    public static func meanDecodeContext(promptTokens: Int, newTokens: Int) -> Double {
        guard newTokens > 1 else { return Double(promptTokens + 1) }
        return Double(promptTokens) + Double(newTokens) / 2
    }

    /// FLOPs of computing the positions `positions` of one sequence in one or more steps (each
    /// attends causally to itself and everything before it) with `logitRows` lm_head rows:
    /// 2 x matmul weights per position, 2 x lm_head per logit row, and 4 x heads x head_dim per
    /// (query, key) pair per layer for QK^T and attention x V.
    public func flops(positions: Range<Int>, logitRows: Int) -> Double {
        let n = Double(positions.count)
        let pairs = positions.reduce(0.0) { $0 + Double($1 + 1) }
        let attention = 4 * Double(config.layers * config.heads * config.headDim) * pairs
        return 2 * Double(layerMatmulParameters) * n + 2 * Double(lmHeadParameters) * Double(logitRows) + attention
    }

    /// The dtype's name as torch and the JSON records spell it ("bfloat16").
    public var dtypeName: String { Self.torchName(dtype) }

    static func torchName(_ dtype: DType) -> String {
        switch dtype {
        case .f32: "float32"
        case .f16: "float16"
        case .bf16: "bfloat16"
        case .i32: "int32"
        case .i64: "int64"
        case .u8: "uint8"
        }
    }
}
