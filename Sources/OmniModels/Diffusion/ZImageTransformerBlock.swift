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
        callAsFunction([x], ropes: [rope], adaLNs: [adaLN], b)[0]
    }

    /// Several independent sequences at once (a step-level batch of requests): their rows are
    /// stacked for every projection and feed-forward GEMM, while modulation and attention stay per
    /// sequence. Every op is row-wise or per sequence, so each result equals the sequence's result
    /// alone; the stacking only saves reading the weights once per sequence.
    func callAsFunction(_ xs: [Tensor], ropes: [(cos: Tensor, sin: Tensor)], adaLNs: [Tensor?], _ b: any Backend) -> [Tensor] {
        precondition(xs.count == ropes.count && xs.count == adaLNs.count, "one rope table and adaLN per sequence")
        let rows = xs.map { $0.shape[0] }
        var starts = [0]
        for r in rows { starts.append(starts.last! + r) }
        func segment(_ t: Tensor, _ i: Int) -> Tensor { xs.count == 1 ? t : t.sliced(dim: 0, starts[i]..<starts[i + 1]) }
        func stacked(_ parts: [Tensor]) -> Tensor { parts.count == 1 ? parts[0] : b.concat(parts, dim: 0) }
        /// `f` applied to each sequence's rows of `t`, the results stacked again.
        func perSequence(_ t: Tensor, _ f: (Int, Tensor) -> Tensor) -> Tensor { stacked(xs.indices.map { f($0, segment(t, $0)) }) }

        // Per sequence: (1 + scale) for each pre-norm, tanh(gate) for each residual branch.
        let modulations: [[Tensor]?] = adaLNs.map { adaLN in
            guard let modulation, let adaLN else { return nil }
            let parts = modulation(adaLN, b).chunked(4, dim: 1)
            return [b.binary(.add, parts[0], scalar: 1), b.tanh(parts[1]), b.binary(.add, parts[2], scalar: 1), b.tanh(parts[3])]
        }
        func scaled(_ t: Tensor, _ which: Int) -> Tensor {
            modulations.allSatisfy({ $0 == nil }) ? t : perSequence(t) { i, s in modulations[i].map { b.mul(s, $0[which]) } ?? s }
        }

        let x = stacked(xs)
        let normed = scaled(attentionNorm1(x, b), 0)
        let q = toQ(normed, b), k = toK(normed, b), v = toV(normed, b)
        let attended = perSequence(q) { i, qi in attention(q: qi, k: segment(k, i), v: segment(v, i), rope: ropes[i], b) }
        var h = b.add(x, scaled(attentionNorm2(toOut(attended, b), b), 1))
        let ffIn = scaled(ffnNorm1(h, b), 2)
        let ff = w2(b.siluMul(w1(ffIn, b), w3(ffIn, b)), b)
        h = b.add(h, scaled(ffnNorm2(ff, b), 3))
        return xs.count == 1 ? [h] : xs.indices.map { b.contiguous(segment(h, $0)) }
    }

    /// `attention_norm1(x) * (1 + scale_msa)`: the modulated input of the attention branch.
    func modulatedInput(_ x: Tensor, adaLN: Tensor?, _ b: any Backend) -> Tensor {
        let normed = attentionNorm1(x, b)
        guard let modulation, let adaLN else { return normed }
        return b.mul(normed, b.binary(.add, modulation(adaLN, b).chunked(4, dim: 1)[0], scalar: 1))
    }

    /// Full (unmasked) attention over one sequence's projections `[S, dim]`: every token, padding
    /// included, sees every other, as diffusers' SDPA does within an item. `[S, dim]` out, before
    /// the output projection.
    private func attention(q: Tensor, k: Tensor, v: Tensor, rope: (cos: Tensor, sin: Tensor), _ b: any Backend) -> Tensor {
        let s = q.shape[0], dim = q.shape[1], headDim = dim / heads
        func split(_ t: Tensor, _ norm: RMSNorm?, rotate: Bool) -> Tensor {
            var t = t.reshaped([s, heads, headDim])
            if let norm { t = norm(t, b) }
            if rotate { t = b.rope(t, cos: rope.cos, sin: rope.sin, layout: .interleaved) }
            return t.permuted([1, 0, 2]).unsqueezed(0)   // [1, H, S, D]
        }
        let o = b.attention(query: split(q, normQ, rotate: true), key: split(k, normK, rotate: true),
                            value: split(v, nil, rotate: false), mask: nil, causal: nil, scale: nil)   // [1, H, S, D]
        return b.contiguous(o.squeezed(0).permuted([1, 0, 2])).reshaped([s, dim])
    }
}
