import Foundation
@testable import OmniModels
import OmniWeights
import Testing

@Suite struct ZImageTransformerConfigTests {
    private func config(_ json: String) throws -> ZImageTransformerConfig {
        try ZImageTransformerConfig(ConfigObject(json: JSONValue(parsing: Data(json.utf8)), path: "transformer/config.json"))
    }

    @Test func zImageTurboConfigReadsWithItsDerivedSizes() throws {
        let c = try config("""
        {"_class_name": "ZImageTransformer2DModel", "all_f_patch_size": [1], "all_patch_size": [2], "axes_dims": [32, 48, 48],
         "axes_lens": [1536, 512, 512], "cap_feat_dim": 2560, "dim": 3840, "in_channels": 16, "n_heads": 30,
         "n_kv_heads": 30, "n_layers": 30, "n_refiner_layers": 2, "norm_eps": 1e-05, "qk_norm": true,
         "rope_theta": 256.0, "t_scale": 1000.0}
        """)
        #expect(c.headDim == 128 && c.adaLNEmbedDim == 256 && c.feedForwardDim == 10240)
        #expect(c.axesLens == [1536, 512, 512] && c.layers == 30 && c.captionFeatureDim == 2560)
    }

    @Test func axesThatDoNotSumToTheHeadDimAreRejectedByName() throws {
        #expect {
            try config(#"{"dim": 64, "n_heads": 2, "axes_dims": [8, 8, 8]}"#)
        } throws: { "\($0)".contains("axes_dims") }
        #expect {
            try config(#"{"dim": 64, "n_heads": 2, "axes_dims": [8, 12, 12], "siglip_feat_dim": 32}"#)
        } throws: { "\($0)".contains("siglip_feat_dim") }
        #expect {
            try config(#"{"_class_name": "FluxTransformer2DModel", "dim": 64, "n_heads": 2}"#)
        } throws: { "\($0)".contains("_class_name") }
    }
}
