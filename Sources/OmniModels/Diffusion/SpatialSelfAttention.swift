import OmniTensor

/// Self-attention over the pixels of `[B, C, H, W]`, as diffusers' `Attention` in a VAE mid block
/// (`_from_deprecated_attn_block`): group norm, q/k/v/out linear projections with bias over the
/// C channels of each pixel, softmax in f32, residual added. One head of all C channels: the
/// decoder builds it with `attention_head_dim = C`.
struct SpatialSelfAttention: Sendable {
    let groupNorm: GroupNorm
    let toQ: Linear, toK: Linear, toV: Linear, toOut: Linear

    /// diffusers' names (`group_norm`, `to_q`, `to_k`, `to_v`, `to_out.0`) under `<prefix>.`, or
    /// the pre-0.14 ones (`query`, `key`, `value`, `proj_attn`) that diffusers converts on load.
    init(_ w: WeightReader<some WeightSource>, prefix p: String, channels c: Int, groups: Int, eps: Float) throws {
        groupNorm = try w.groupNorm(p + ".group_norm", channels: c, groups: groups, eps: eps)
        func projection(_ name: String, legacy: String) throws -> Linear {
            let prefix = !w.source.contains("\(p).\(name).weight") && w.source.contains("\(p).\(legacy).weight") ? "\(p).\(legacy)" : "\(p).\(name)"
            return Linear(weight: try w.tensor(prefix + ".weight", shape: [c, c]), bias: try w.tensor(prefix + ".bias", shape: [c]))
        }
        toQ = try projection("to_q", legacy: "query")
        toK = try projection("to_k", legacy: "key")
        toV = try projection("to_v", legacy: "value")
        toOut = try projection("to_out.0", legacy: "proj_attn")
    }

    func callAsFunction(_ x: Tensor, _ b: any Backend) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let pixels = h * w
        // [B, C, H, W] -> [B, H*W, C]: one token per pixel; [B, 1, H*W, C] for the attention op.
        let tokens = groupNorm(x, b).reshaped([n, c, pixels]).transposed(1, 2)
        let attended = b.attention(query: toQ(tokens, b).unsqueezed(1), key: toK(tokens, b).unsqueezed(1),
                                   value: toV(tokens, b).unsqueezed(1), mask: nil, causal: nil, scale: nil)
        let out = b.contiguous(toOut(attended.squeezed(1), b).transposed(1, 2)).reshaped([n, c, h, w])
        return b.add(out, x)
    }
}
