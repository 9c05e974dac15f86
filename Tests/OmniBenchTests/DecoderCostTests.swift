import Foundation
import OmniModels
import Testing
@testable import OmniBench

/// The roof's bytes and FLOPs on models/demo-qwen3 (Qwen3, bf16, hidden 64, intermediate 128,
/// 2 layers, 4 heads, 2 KV heads, head_dim 16, vocabulary 500, tied embeddings), worked by hand.
@Suite struct DecoderCostTests {
    static let demo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/demo-qwen3")

    // Per layer: q 64x64 + k 32x64 + v 32x64 + o 64x64 + gate/up/down 3 x 128x64 = 36,864 matmul
    // weights, + 2 norms of 64 + q_norm and k_norm of 16 = 37,024.
    static let layerMatmul = 36_864
    static let layerAll = 37_024

    @Test func bytesPerTokenCountEveryLayerTheTiedLMHeadAndOneEmbeddingRow() throws {
        let cost = try DecoderCost(directory: Self.demo)
        // 2 layers + final norm 64 + lm_head (= embedding) 500x64 + one embedding row 64, 2 bytes each.
        let elements = 2 * Self.layerAll + 64 + 500 * 64 + 64
        #expect(cost.dtype == .bf16 && cost.dtypeName == "bfloat16")
        #expect(cost.weightBytesPerToken == 2 * elements)
        #expect(cost.weightBytesPerToken == 212_352)
        #expect(cost.parameters == 2 * Self.layerAll + 64 + 500 * 64)
        #expect(cost.layerMatmulParameters == 2 * Self.layerMatmul)
        #expect(cost.lmHeadParameters == 500 * 64)
        // Keys and values, 2 KV heads x 16, f32, 2 layers.
        #expect(cost.kvBytesPerPosition == 2 * 2 * 2 * 16 * 4)
        // At a mean context of 80 positions (16 prompt tokens, 128 new): 80 x 512 bytes of KV.
        #expect(DecoderCost.meanDecodeContext(promptTokens: 16, newTokens: 128) == 80)
        #expect(cost.bytesPerToken(context: 80) == Double(212_352 + 80 * 512))
    }

    @Test func untiedHeadAndBiasesAreCountedInTheirStoredDtype() throws {
        var config = try DecoderCost(directory: Self.demo).config
        config.tieWordEmbeddings = false
        config.qkvBias = true
        // Stored as f32: the lm_head and the biases; everything else bf16 (2 bytes an element).
        let cost = DecoderCost(config: config, dtype: .bf16) { name in
            if name == "lm_head.weight" { return 500 * 64 * 4 }
            if name.hasSuffix("q_proj.bias") { return 64 * 4 }
            if name.hasSuffix("k_proj.bias") || name.hasSuffix("v_proj.bias") { return 32 * 4 }
            return nil
        }
        let bf16Elements = 2 * Self.layerAll + 64 + 64   // layers, final norm, one embedding row
        #expect(cost.weightBytesPerToken == 2 * bf16Elements + 500 * 64 * 4 + 2 * 128 * 4)
        #expect(cost.parameters == 2 * (Self.layerAll + 128) + 64 + 2 * 500 * 64)
    }

    @Test func flopsCountMatmulsTheLogitRowAndCausalAttention() throws {
        let cost = try DecoderCost(directory: Self.demo)
        // 4 prompt positions: 2 x 73,728 x 4 matmul + 2 x 32,000 lm_head + 4 x (2 layers x 4 heads x
        // 16) x (1 + 2 + 3 + 4) query-key pairs.
        #expect(cost.flops(positions: 0..<4, logitRows: 1) == Double(2 * 73_728 * 4 + 2 * 32_000 + 4 * 128 * 10))
        // One decode step at position 10 attends over 11 positions.
        #expect(cost.flops(positions: 10..<11, logitRows: 1) == Double(2 * 73_728 + 2 * 32_000 + 4 * 128 * 11))
    }
}
