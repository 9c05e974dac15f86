import OmniTensor
import OmniWeights

/// What distinguishes the Llama-family decoder-only LMs we serve; everything else is shared.
public struct DecoderConfig: Sendable, Equatable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var tieWordEmbeddings: Bool
    /// Bias on q/k/v projections (Qwen2, Qwen2.5; Llama with `attention_bias`).
    public var qkvBias: Bool
    /// Bias on the output projection (Llama with `attention_bias`).
    public var outputBias: Bool
    /// Per-head RMSNorm of queries and keys before RoPE (Qwen3).
    public var qkNorm: Bool
    public var rope: RotaryEmbedding
    public var maxPositions: Int

    public init(vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, kvHeads: Int,
                headDim: Int, rmsNormEps: Float, tieWordEmbeddings: Bool, qkvBias: Bool, outputBias: Bool, qkNorm: Bool,
                rope: RotaryEmbedding, maxPositions: Int) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.rmsNormEps = rmsNormEps
        self.tieWordEmbeddings = tieWordEmbeddings
        self.qkvBias = qkvBias
        self.outputBias = outputBias
        self.qkNorm = qkNorm
        self.rope = rope
        self.maxPositions = maxPositions
    }
}

extension RotaryEmbedding: Equatable {
    public static func == (a: RotaryEmbedding, b: RotaryEmbedding) -> Bool {
        a.rotaryDim == b.rotaryDim && a.inverseFrequencies == b.inverseFrequencies && a.attentionScaling == b.attentionScaling
    }
}

/// One forward step's inputs: the flattened new tokens of every scheduled sequence.
public struct ForwardBatch: Sendable {
    public var tokens: [Int32]
    public var positions: [Int32]
    /// Cache slot for each new token's keys and values.
    public var slots: [Int32]
    public var attention: AttentionBatch
    /// Rows of `tokens` whose next-token logits are wanted (a sequence's last new token).
    public var logitRows: [Int]
    /// Decoder layers whose output hidden states are wanted, as HF numbers `hidden_states`:
    /// 0 = embeddings, i = output of layer i, `layers` = after the final norm.
    public var hiddenStateLayers: Set<Int>

    public init(tokens: [Int32], positions: [Int32], slots: [Int32], attention: AttentionBatch, logitRows: [Int], hiddenStateLayers: Set<Int> = []) {
        self.tokens = tokens
        self.positions = positions
        self.slots = slots
        self.attention = attention
        self.logitRows = logitRows
        self.hiddenStateLayers = hiddenStateLayers
    }
}

public struct ForwardOutput: Sendable {
    /// `[logitRows.count, vocab]` f32.
    public var logits: Tensor
    /// Requested hidden states, `[tokens, hidden]` each, keyed by HF layer index.
    public var hiddenStates: [Int: Tensor]
}

/// The decoder-only transformer shared by Llama, Qwen2/2.5 and Qwen3 (weights named as in their
/// checkpoints: `model.layers.N.self_attn.q_proj.weight`, ...).
public final class DecoderOnlyLM: Sendable {
    public let config: DecoderConfig
    public let backend: any Backend
    let embedTokens: Tensor
    let layers: [DecoderLayer]
    let norm: RMSNorm
    let lmHead: Linear

    struct DecoderLayer: Sendable {
        let inputNorm: RMSNorm
        let postAttentionNorm: RMSNorm
        /// q_proj, k_proj and v_proj stacked into one `[q + 2 kv, hidden]` projection, so a decode
        /// step streams the three weights in one pass (and one parallel loop) instead of three.
        let qkvProj: StackedLinear, oProj: Linear
        let qNorm: RMSNorm?, kNorm: RMSNorm?
        /// gate_proj and up_proj stacked the same way: `[2 intermediate, hidden]`.
        let gateUpProj: StackedLinear, downProj: Linear
    }

    /// Loads every weight, checking names and shapes; errors name the file and the tensor.
    public init(config c: DecoderConfig, weights: some WeightSource, backend: any Backend) throws {
        self.config = c
        self.backend = backend
        let w = WeightReader(source: weights)
        embedTokens = try w.tensor("model.embed_tokens.weight", shape: [c.vocabularySize, c.hiddenSize])
        let qWidth = c.heads * c.headDim, kvWidth = c.kvHeads * c.headDim
        layers = try (0..<c.layers).map { i in
            let p = "model.layers.\(i)."
            func linear(_ name: String, _ out: Int, _ inp: Int, bias: Bool) throws -> Linear {
                Linear(weight: try w.tensor(p + name + ".weight", shape: [out, inp]),
                       bias: bias ? try w.tensor(p + name + ".bias", shape: [out]) : nil)
            }
            func norm(_ name: String, _ width: Int) throws -> RMSNorm {
                RMSNorm(weight: try w.tensor(p + name + ".weight", shape: [width]), eps: c.rmsNormEps)
            }
            return DecoderLayer(
                inputNorm: try norm("input_layernorm", c.hiddenSize),
                postAttentionNorm: try norm("post_attention_layernorm", c.hiddenSize),
                qkvProj: Self.stackedLinear([try linear("self_attn.q_proj", qWidth, c.hiddenSize, bias: c.qkvBias),
                                  try linear("self_attn.k_proj", kvWidth, c.hiddenSize, bias: c.qkvBias),
                                  try linear("self_attn.v_proj", kvWidth, c.hiddenSize, bias: c.qkvBias)], backend),
                oProj: try linear("self_attn.o_proj", c.hiddenSize, qWidth, bias: c.outputBias),
                qNorm: c.qkNorm ? try norm("self_attn.q_norm", c.headDim) : nil,
                kNorm: c.qkNorm ? try norm("self_attn.k_norm", c.headDim) : nil,
                gateUpProj: Self.stackedLinear([try linear("mlp.gate_proj", c.intermediateSize, c.hiddenSize, bias: false),
                                     try linear("mlp.up_proj", c.intermediateSize, c.hiddenSize, bias: false)], backend),
                downProj: try linear("mlp.down_proj", c.hiddenSize, c.intermediateSize, bias: false))
        }
        norm = RMSNorm(weight: try w.tensor("model.norm.weight", shape: [c.hiddenSize]), eps: c.rmsNormEps)
        if c.tieWordEmbeddings || !weights.contains("lm_head.weight") {
            if !c.tieWordEmbeddings {
                throw WeightsError.missingTensor(source: weights.location(of: "lm_head.weight"), tensor: "lm_head.weight")
            }
            lmHead = Linear(weight: embedTokens)
        } else {
            lmHead = Linear(weight: try w.tensor("lm_head.weight", shape: [c.vocabularySize, c.hiddenSize]))
        }
        for layer in layers {
            for stacked in [layer.qkvProj, layer.gateUpProj] { stacked.prepareForDecode(backend) }
            for linear in [layer.oProj, layer.downProj] { backend.prepareForDecode(linearWeight: linear.weight) }
        }
        backend.prepareForDecode(linearWeight: lmHead.weight)
    }

    /// One projection computing several in a row: weights (and biases) stacked along the output
    /// dimension in the checkpoint's dtype, once at load; or, where the backend multiplies the parts
    /// as they are (CPU bf16 mode, from its packed copy of them), the parts without a stacked copy.
    private static func stackedLinear(_ parts: [Linear], _ backend: any Backend) -> StackedLinear {
        let biases = parts.compactMap(\.bias), weights = parts.map(\.weight)
        let bias = biases.isEmpty ? nil : backend.concat(biases, dim: 0)
        if backend.multipliesStackedParts(weights) { return StackedLinear(parts: weights, bias: bias) }
        return StackedLinear(parts: [backend.concat(weights, dim: 0)], bias: bias)
    }

    /// The KV cache's dtype: bf16 when the backend multiplies bf16 weights in bf16 precision (as
    /// vLLM caches a bf16 model's keys and values in bf16: half the bytes per cached token to store
    /// and to read each step), else f32.
    public var kvCacheDType: DType {
        Self.kvCacheDType(weights: embedTokens.dtype, precision: (backend as? CPUBackend)?.matmulPrecision ?? .float32)
    }

    /// The KV cache dtype for weights stored in `weights` computed at `precision`.
    public static func kvCacheDType(weights: DType, precision: CPUBackend.MatmulPrecision) -> DType {
        precision == .bfloat16 && weights == .bf16 ? .bf16 : .f32
    }

    /// A paged KV cache for every layer.
    public func makeCaches(blocks: Int, blockSize: Int) -> [PagedKVCache] {
        (0..<config.layers).map { _ in
            PagedKVCache(blocks: blocks, blockSize: blockSize, kvHeads: config.kvHeads, headDim: config.headDim, dtype: kvCacheDType)
        }
    }

    /// Bytes one cached token takes across all layers (keys and values).
    public var kvBytesPerToken: Int { config.layers * 2 * config.kvHeads * config.headDim * kvCacheDType.size }

    public func forward(_ batch: ForwardBatch, caches: [PagedKVCache]) -> ForwardOutput {
        let b = backend, c = config
        let t = batch.tokens.count
        precondition(batch.positions.count == t && batch.slots.count == t && caches.count == c.layers, "forward: inconsistent batch")
        var hidden = b.embedding(embedTokens, ids: Tensor(integers: batch.tokens.map(Int.init), shape: [t], dtype: .i32))
        var states = [Int: Tensor]()
        if batch.hiddenStateLayers.contains(0) { states[0] = hidden }
        let (cos, sin) = c.rope.tables(positions: batch.positions)
        let ropeCos = cos.unsqueezed(1), ropeSin = sin.unsqueezed(1)   // broadcast over heads
        let scale = 1 / Float(c.headDim).squareRoot()
        let qWidth = c.heads * c.headDim, kvWidth = c.kvHeads * c.headDim
        for (i, layer) in layers.enumerated() {
            let x = layer.inputNorm(hidden, b)
            let qkv = layer.qkvProj(x, b).split(sizes: [qWidth, kvWidth, kvWidth], dim: 1)
            var q = qkv[0].reshaped([t, c.heads, c.headDim])
            var k = qkv[1].reshaped([t, c.kvHeads, c.headDim])
            let v = qkv[2].reshaped([t, c.kvHeads, c.headDim])
            if let qNorm = layer.qNorm, let kNorm = layer.kNorm {
                q = qNorm(q, b)
                k = kNorm(k, b)
            }
            q = b.rope(q, cos: ropeCos, sin: ropeSin, layout: .halfSplit)
            k = b.rope(k, cos: ropeCos, sin: ropeSin, layout: .halfSplit)
            b.writeKV(key: k, value: v, into: caches[i], slots: batch.slots)
            let attended = b.pagedAttention(query: q, cache: caches[i], batch: batch.attention, scale: scale)
            hidden = b.add(hidden, layer.oProj(attended.reshaped([t, c.heads * c.headDim]), b))
            let y = layer.postAttentionNorm(hidden, b)
            let gateUp = layer.gateUpProj(y, b).chunked(2, dim: 1)
            let mlp = layer.downProj(b.siluMul(gateUp[0], gateUp[1]), b)
            hidden = b.add(hidden, mlp)
            if batch.hiddenStateLayers.contains(i + 1) && i + 1 < c.layers { states[i + 1] = hidden }
        }
        hidden = norm(hidden, b)
        if batch.hiddenStateLayers.contains(c.layers) { states[c.layers] = hidden }
        if batch.logitRows.isEmpty {   // a prefill chunk that ends no sequence: KV only
            return ForwardOutput(logits: Tensor(zeros: [0, c.vocabularySize]), hiddenStates: states)
        }
        let rows = batch.logitRows == Array(0..<t) ? hidden
            : b.concat(batch.logitRows.map { hidden.sliced(dim: 0, $0..<($0 + 1)) }, dim: 0)
        return ForwardOutput(logits: lmHead(rows, b), hiddenStates: states)
    }
}
