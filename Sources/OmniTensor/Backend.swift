/// Every compute operation runs through a `Backend`, so model code never asks where it runs.
/// Floating results are f32 on CPU whatever the input dtypes (DESIGN.md §8); inputs may be any
/// float dtype and any strided view. Shape errors are bugs in the caller (preconditions).
public protocol Backend: AnyObject, Sendable {
    var device: Device { get }

    // Memory and dtype
    /// The same values in a new contiguous tensor of the same dtype (or `x` if already contiguous).
    func contiguous(_ x: Tensor) -> Tensor
    /// The values converted to `dtype` (round-to-nearest-even for bf16/f16), contiguous.
    func cast(_ x: Tensor, to dtype: DType) -> Tensor
    /// Writes `source` (broadcast to `destination`'s shape) into the view `destination`.
    func copy(_ source: Tensor, into destination: Tensor)

    // Linear algebra
    /// Batched matrix product `[..., m, k] x [..., k, n]`; batch dimensions broadcast.
    func matmul(_ a: Tensor, _ b: Tensor) -> Tensor
    /// `x @ weight^T + bias` with `weight` `[out, in]` in f32, bf16 or f16 (read as stored).
    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor
    /// Readies a linear weight for products with few rows at a time (decode steps), where the
    /// backend keeps a second layout of it (CPU bf16 mode: packed once), so that the first request
    /// does not pay for it. Models call it at load for the weights their decode steps multiply.
    func prepareForDecode(linearWeight: Tensor)
    /// `x @ [w_0; w_1; ...]^T + bias`: one product over weights stacked along the output dimension
    /// (each `[out_i, in]`). Where `multipliesStackedParts` is true the backend reads the parts
    /// without a stacked copy; elsewhere this stacks them for the call, and a model should stack
    /// them once at load instead.
    func linear(_ x: Tensor, stacked weights: [Tensor], bias: Tensor?) -> Tensor
    /// Whether `linear(_:stacked:bias:)` multiplies these parts as fast as one stacked weight.
    func multipliesStackedParts(_ weights: [Tensor]) -> Bool
    /// `prepareForDecode(linearWeight:)` for parts that `linear(_:stacked:bias:)` will multiply.
    func prepareForDecode(stackedLinearWeights: [Tensor])
    /// Scaled dot-product attention, `q [B, Hq, Sq, D]`, `k [B, Hkv, Sk, D]`, `v [B, Hkv, Sk, Dv]`,
    /// Hq a multiple of Hkv (grouped-query attention). `mask` is additive (float) or boolean
    /// (u8, nonzero = attend), broadcast to `[B, Hq, Sq, Sk]`.
    func attention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor?, causal: CausalMask?, scale: Float?) -> Tensor

    /// Writes the keys and values of new tokens (`[T, Hkv, D]`) into a paged cache at `slots`
    /// (slot = block * blockSize + offset in block).
    func writeKV(key: Tensor, value: Tensor, into cache: PagedKVCache, slots: [Int32])
    /// Causal attention of the new tokens of each sequence over its paged cache (read in place
    /// through its block table, never gathered). `query [T, Hq, D]`; result `[T, Hq, Dv]` f32.
    func pagedAttention(query: Tensor, cache: PagedKVCache, batch: AttentionBatch, scale: Float) -> Tensor

    // Elementwise
    func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor
    func binary(_ op: BinaryOp, _ a: Tensor, scalar: Float) -> Tensor
    func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor
    /// `silu(gate) * up` (SwiGLU's product) in one pass; `gate` and `up` have one shape and may be
    /// views with rows apart (the halves of a stacked gate/up projection). Same values as
    /// `mul(silu(gate), up)`.
    func siluMul(_ gate: Tensor, _ up: Tensor) -> Tensor

    // Reductions and normalisation
    func softmax(_ x: Tensor, dim: Int) -> Tensor
    func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor
    func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor
    /// `x [N, C, *]` normalised over groups of C/groups channels and all spatial positions.
    func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor
    /// Sum or mean over one dimension (kept with size 1 when `keepDim`).
    func reduce(_ op: ReduceOp, _ x: Tensor, dim: Int, keepDim: Bool) -> Tensor

    // Positional
    /// Rotary embedding on the last dimension of `x [..., D]`. `cos`/`sin` `[..., R/2]` broadcast
    /// against `x`'s leading dimensions; the first R features rotate, the rest pass through.
    func rope(_ x: Tensor, cos: Tensor, sin: Tensor, layout: RopeLayout) -> Tensor
    /// Rows of `table [V, D]` (any float dtype) for integer `ids`; result `[ids.shape..., D]` f32.
    func embedding(_ table: Tensor, ids: Tensor) -> Tensor

    // Shape
    func concat(_ tensors: [Tensor], dim: Int) -> Tensor

    // Convolution, resampling, pooling (channels-first, as torch)
    func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, dilation: Int, groups: Int) -> Tensor
    func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int) -> Tensor
    /// Weight `[Cin, Cout/groups, K]`, as torch's ConvTranspose1d.
    func convTranspose1d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, outputPadding: Int, dilation: Int, groups: Int) -> Tensor
    func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int), outputPadding: (Int, Int), dilation: (Int, Int), groups: Int) -> Tensor
    /// Resamples the spatial dimensions of `x [N, C, L]` or `[N, C, H, W]` to `size`.
    func upsample(_ x: Tensor, size: [Int], mode: UpsampleMode) -> Tensor
    /// Max or average pooling over the spatial dimensions of `[N, C, L]` or `[N, C, H, W]`
    /// (average counts padding, as torch's default `count_include_pad=True`).
    func pool(_ x: Tensor, kind: PoolKind, kernel: [Int], stride: [Int], padding: [Int]) -> Tensor
}

public enum BinaryOp: Int32, Sendable { case add = 0, sub, mul, div, maximum, minimum, pow }

public enum UnaryOp: Int32, Sendable {
    case silu = 0, geluErf, geluTanh, sigmoid, tanh, exp, neg, sqrt, rsqrt, relu, abs, log, sin, cos, square, reciprocal
}

public enum ReduceOp: Sendable { case sum, mean, max }

/// How rotary pairs are laid out in the head dimension.
public enum RopeLayout: Sendable {
    /// Pairs `(i, i + R/2)`: HF's `rotate_half` (Llama, Qwen).
    case halfSplit
    /// Pairs `(2i, 2i + 1)`: the complex / interleaved form (GPT-J, Z-Image's DiT).
    case interleaved
}

/// Causal masking of attention scores.
public enum CausalMask: Sendable {
    /// Query i sees keys 0...i (torch `is_causal=True`).
    case topLeft
    /// Query i sees keys 0...(Sk - Sq + i): the queries are the last Sq positions (KV-cache decode).
    case bottomRight
}

public enum UpsampleMode: Sendable, Equatable {
    case nearest
    /// Linear / bilinear interpolation.
    case linear(alignCorners: Bool)
}

public enum PoolKind: Sendable { case max, average }

/// Convenience spellings for model code.
extension Backend {
    public func prepareForDecode(linearWeight: Tensor) {}
    public func prepareForDecode(stackedLinearWeights: [Tensor]) {}
    public func multipliesStackedParts(_ weights: [Tensor]) -> Bool { false }
    public func linear(_ x: Tensor, stacked weights: [Tensor], bias: Tensor?) -> Tensor {
        linear(x, weight: concat(weights, dim: 0), bias: bias)
    }
    public func add(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.add, a, b) }
    public func sub(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.sub, a, b) }
    public func mul(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.mul, a, b) }
    public func div(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.div, a, b) }
    public func scale(_ a: Tensor, by s: Float) -> Tensor { binary(.mul, a, scalar: s) }
    public func silu(_ x: Tensor) -> Tensor { unary(.silu, x) }
    public func gelu(_ x: Tensor, approximateTanh: Bool = false) -> Tensor { unary(approximateTanh ? .geluTanh : .geluErf, x) }
    public func sigmoid(_ x: Tensor) -> Tensor { unary(.sigmoid, x) }
    public func tanh(_ x: Tensor) -> Tensor { unary(.tanh, x) }
    public func exp(_ x: Tensor) -> Tensor { unary(.exp, x) }
    public func toFloat32(_ x: Tensor) -> Tensor { x.dtype == .f32 ? contiguous(x) : cast(x, to: .f32) }
}

/// One layer's paged KV cache: `key [numBlocks, blockSize, Hkv, D]`, `value [numBlocks, blockSize, Hkv, Dv]`.
public struct PagedKVCache: Sendable {
    public let key: Tensor
    public let value: Tensor

    public init(key: Tensor, value: Tensor) {
        precondition(key.rank == 4 && value.rank == 4 && key.shape[0...2] == value.shape[0...2], "PagedKVCache: key \(key.shape) value \(value.shape)")
        self.key = key
        self.value = value
    }

    public init(blocks: Int, blockSize: Int, kvHeads: Int, headDim: Int, valueDim: Int? = nil, dtype: DType = .f32) {
        self.init(key: Tensor(lazyZeros: [blocks, blockSize, kvHeads, headDim], dtype: dtype),
                  value: Tensor(lazyZeros: [blocks, blockSize, kvHeads, valueDim ?? headDim], dtype: dtype))
    }

    public var blocks: Int { key.shape[0] }
    public var blockSize: Int { key.shape[1] }
    public var kvHeads: Int { key.shape[2] }
    public var headDim: Int { key.shape[3] }
    public var valueDim: Int { value.shape[3] }
}

/// Where each sequence's new tokens sit in a flattened batch and what they attend to.
public struct AttentionBatch: Sendable {
    public struct Sequence: Sendable {
        /// First row of this sequence's new tokens in the flattened `[T, ...]` batch.
        public var queryStart: Int
        /// Number of new tokens (a prefill chunk, or 1 when decoding).
        public var queryCount: Int
        /// Tokens in the cache after this step's writes; the new tokens are the last `queryCount`.
        public var contextLength: Int
        /// Cache blocks holding positions 0..<contextLength, in order.
        public var blockTable: [Int32]

        public init(queryStart: Int, queryCount: Int, contextLength: Int, blockTable: [Int32]) {
            self.queryStart = queryStart
            self.queryCount = queryCount
            self.contextLength = contextLength
            self.blockTable = blockTable
        }
    }

    public var sequences: [Sequence]

    public init(sequences: [Sequence]) { self.sequences = sequences }

    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.queryCount } }
}
