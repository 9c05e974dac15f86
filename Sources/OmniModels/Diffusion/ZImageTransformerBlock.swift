import OmniTensor

/// diffusers' `ZImageTransformerBlock`: self-attention with per-head q/k RMSNorm and interleaved
/// 3-axis RoPE, then a SwiGLU feed-forward, each wrapped in RMSNorms before and after. With
/// modulation (noise refiner, joint layers) the timestep embedding gives, through
/// `adaLN_modulation.0`, a scale `1 + s` for each pre-norm and a `tanh` gate on each residual branch;
/// without it (context refiner) both are plain.
struct ZImageTransformerBlock: Sendable {
    let toQ, toK, toV, toOut: Linear
    let normQ, normK: RMSNorm?
    let w1, w2, w3: Linear
    let attentionNorm1, attentionNorm2, ffnNorm1, ffnNorm2: RMSNorm
    let modulation: Linear?
    let heads: Int

    init(_ w: WeightReader<some WeightSource>, prefix p: String, config c: ZImageTransformerConfig, modulated: Bool) throws {
        let dim = c.dim, hidden = c.feedForwardDim
        toQ = Linear(weight: try w.tensor("\(p).attention.to_q.weight", shape: [dim, dim]))
        toK = Linear(weight: try w.tensor("\(p).attention.to_k.weight", shape: [dim, dim]))
        toV = Linear(weight: try w.tensor("\(p).attention.to_v.weight", shape: [dim, dim]))
        toOut = Linear(weight: try w.tensor("\(p).attention.to_out.0.weight", shape: [dim, dim]))
        // diffusers' Attention builds its q/k norms with eps 1e-5 whatever norm_eps says.
        normQ = c.qkNorm ? RMSNorm(weight: try w.tensor("\(p).attention.norm_q.weight", shape: [c.headDim]), eps: 1e-5) : nil
        normK = c.qkNorm ? RMSNorm(weight: try w.tensor("\(p).attention.norm_k.weight", shape: [c.headDim]), eps: 1e-5) : nil
        w1 = Linear(weight: try w.tensor("\(p).feed_forward.w1.weight", shape: [hidden, dim]))
        w2 = Linear(weight: try w.tensor("\(p).feed_forward.w2.weight", shape: [dim, hidden]))
        w3 = Linear(weight: try w.tensor("\(p).feed_forward.w3.weight", shape: [hidden, dim]))
        func norm(_ name: String) throws -> RMSNorm {
            RMSNorm(weight: try w.tensor("\(p).\(name).weight", shape: [dim]), eps: c.normEps)
        }
        attentionNorm1 = try norm("attention_norm1")
        attentionNorm2 = try norm("attention_norm2")
        ffnNorm1 = try norm("ffn_norm1")
        ffnNorm2 = try norm("ffn_norm2")
        modulation = modulated
            ? Linear(weight: try w.tensor("\(p).adaLN_modulation.0.weight", shape: [4 * dim, c.adaLNEmbedDim]),
                     bias: try w.tensor("\(p).adaLN_modulation.0.bias", shape: [4 * dim]))
            : nil
        heads = c.heads
    }

    /// `x [S, dim]` f32 (one sequence), `rope` tables `[S, 1, headDim/2]`, `adaLN` `[1, adaLNEmbedDim]`
    /// for a modulated block.
    func callAsFunction(_ x: Tensor, rope: (cos: Tensor, sin: Tensor), adaLN: Tensor?, _ b: any Backend) -> Tensor {
        var scaleAttention: Tensor?, gateAttention: Tensor?, scaleMLP: Tensor?, gateMLP: Tensor?
        if let modulation, let adaLN {
            let parts = modulation(adaLN, b).chunked(4, dim: 1)
            scaleAttention = b.binary(.add, parts[0], scalar: 1)
            gateAttention = b.tanh(parts[1])
            scaleMLP = b.binary(.add, parts[2], scalar: 1)
            gateMLP = b.tanh(parts[3])
        }
        func scaled(_ t: Tensor, _ s: Tensor?) -> Tensor { s.map { b.mul(t, $0) } ?? t }

        let attentionOut = attention(scaled(attentionNorm1(x, b), scaleAttention), rope: rope, b)
        var h = b.add(x, scaled(attentionNorm2(attentionOut, b), gateAttention))
        let ffIn = scaled(ffnNorm1(h, b), scaleMLP)
        let ff = w2(b.mul(b.silu(w1(ffIn, b)), w3(ffIn, b)), b)
        h = b.add(h, scaled(ffnNorm2(ff, b), gateMLP))
        return h
    }

    /// Full (unmasked) attention over one sequence: every token, padding included, sees every other,
    /// as diffusers' SDPA does within an item.
    private func attention(_ x: Tensor, rope: (cos: Tensor, sin: Tensor), _ b: any Backend) -> Tensor {
        let s = x.shape[0], dim = x.shape[1], headDim = dim / heads
        func split(_ t: Tensor, _ norm: RMSNorm?, rotate: Bool) -> Tensor {
            var t = t.reshaped([s, heads, headDim])
            if let norm { t = norm(t, b) }
            if rotate { t = b.rope(t, cos: rope.cos, sin: rope.sin, layout: .interleaved) }
            return t.permuted([1, 0, 2]).unsqueezed(0)   // [1, H, S, D]
        }
        let q = split(toQ(x, b), normQ, rotate: true)
        let k = split(toK(x, b), normK, rotate: true)
        let v = split(toV(x, b), nil, rotate: false)
        let o = b.attention(query: q, key: k, value: v, mask: nil, causal: nil, scale: nil)   // [1, H, S, D]
        return toOut(b.contiguous(o.squeezed(0).permuted([1, 0, 2])).reshaped([s, dim]), b)
    }
}
