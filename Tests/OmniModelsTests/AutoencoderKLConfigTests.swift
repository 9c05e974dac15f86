import Foundation
import OmniModels
import OmniTensor
import OmniWeights
import Testing

/// Reading vae/config.json, and the errors a user gets for checkpoints, latents and tile sizes
/// that don't fit.
private let fixtureRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/vae").standardized
private let backend = CPUBackend(threads: 2)

private func config(_ json: String) throws -> AutoencoderKLConfig {
    try AutoencoderKLConfig(ConfigObject(json: JSONValue(parsing: Data(json.utf8)), path: "vae/config.json"))
}

private func configError(_ json: String) -> String? {
    do { _ = try config(json); return nil } catch { return "\(error)" }
}

@Suite struct AutoencoderKLConfigTests {
    /// Tongyi-MAI/Z-Image-Turbo's vae/config.json (the Flux VAE's shape).
    @Test func zImageConfigReadsEveryDecoderField() throws {
        let c = try config("""
            {"_class_name": "AutoencoderKL", "_diffusers_version": "0.36.0.dev0", "act_fn": "silu",
             "block_out_channels": [128, 256, 512, 512],
             "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
             "force_upcast": true, "in_channels": 3, "latent_channels": 16, "latents_mean": null, "latents_std": null,
             "layers_per_block": 2, "mid_block_add_attention": true, "norm_num_groups": 32, "out_channels": 3,
             "sample_size": 1024, "scaling_factor": 0.3611, "shift_factor": 0.1159,
             "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
             "use_post_quant_conv": false, "use_quant_conv": false}
            """)
        #expect(c == AutoencoderKLConfig(outChannels: 3, latentChannels: 16, blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2,
                                         normNumGroups: 32, midBlockAddAttention: true, usePostQuantConv: false,
                                         scalingFactor: 0.3611, shiftFactor: 0.1159, sampleSize: 1024, forceUpcast: true))
        #expect(c.spatialScale == 8)
    }

    @Test func absentFieldsTakeDiffusersDefaults() throws {
        let c = try config("{}")
        #expect(c == AutoencoderKLConfig())
        #expect(c.blockOutChannels == [64] && c.normNumGroups == 32 && c.usePostQuantConv && c.scalingFactor == 0.18215 && c.shiftFactor == nil)
        #expect(try config(#"{"sample_size": [768, 512]}"#).sampleSize == 768)
    }

    @Test func unsupportedConfigsNameTheField() {
        let cases: [(String, String)] = [
            (#"{"_class_name": "AutoencoderKLQwenImage"}"#, "\"_class_name\""),
            (#"{"block_out_channels": [8, 16], "up_block_types": ["UpDecoderBlock2D"], "norm_num_groups": 4}"#, "\"up_block_types\""),
            (#"{"block_out_channels": [8], "up_block_types": ["AttnUpDecoderBlock2D"], "norm_num_groups": 4}"#, "AttnUpDecoderBlock2D"),
            (#"{"block_out_channels": [8, 12], "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"], "norm_num_groups": 8}"#,
             "\"norm_num_groups\""),
            (#"{"act_fn": "gelu"}"#, "\"act_fn\""),
            (#"{"scaling_factor": 0}"#, "\"scaling_factor\""),
            (#"{"latent_channels": 0}"#, "\"latent_channels\""),
            (#"{"block_out_channels": []}"#, "\"block_out_channels\""),
        ]
        for (json, field) in cases {
            let message = configError(json)
            #expect(message?.contains("vae/config.json") == true && message?.contains(field) == true, "\(json): \(message ?? "accepted")")
        }
    }

    @Test func checkpointThatDoesNotMatchTheConfigFailsAtLoad() throws {
        let dir = fixtureRoot.appendingPathComponent("f32-zimage-3level")
        let weights = try Checkpoint(directory: dir)
        let base = try AutoencoderKLConfig(ConfigObject(contentsOf: dir.appendingPathComponent("config.json")))
        var withPostQuant = base
        withPostQuant.usePostQuantConv = true
        #expect(throws: WeightsError.missingTensor(source: weights.directory.path, tensor: "post_quant_conv.weight")) {
            _ = try AutoencoderKL(config: withPostQuant, weights: weights, backend: backend)
        }
        var wider = base
        wider.latentChannels = 8
        do {
            _ = try AutoencoderKL(config: wider, weights: weights, backend: backend)
            Issue.record("a 16-channel checkpoint loaded with latent_channels 8")
        } catch {
            #expect("\(error)".contains("decoder.conv_in.weight") && "\(error)".contains("[16, 16, 3, 3]"), "\(error)")
        }
    }

    @Test func latentsOfTheWrongShapeAreRejected() throws {
        let vae = try AutoencoderKL(directory: fixtureRoot.appendingPathComponent("f32-zimage-3level"), backend: backend)
        for shape in [[1, 4, 8, 8], [16, 8, 8], [1, 16, 0, 8]] {
            #expect(throws: AutoencoderKLError.invalidLatents(shape: shape, dtype: .f32, expectedChannels: 16)) {
                _ = try vae.decode(Tensor(zeros: shape))
            }
        }
        #expect(AutoencoderKLError.invalidLatents(shape: [1, 4, 8, 8], dtype: .f32, expectedChannels: 16).description
                    .contains("[batch, 16, height, width]"))
    }

    /// diffusers itself returns a wrong-sized image for such tiles (5-latent tiles: 57x42 pixels
    /// for 12x9 latents at 4 pixels per latent); we refuse them.
    @Test func tilesThatDoNotTileTheImageAreRejected() throws {
        let vae = try AutoencoderKL(directory: fixtureRoot.appendingPathComponent("f32-zimage-3level"), backend: backend)
        let latents = Tensor(zeros: [1, 16, 12, 9])
        let bad = [AutoencoderKLTiling(sampleTileSize: 20, latentTileSize: 5),
                   AutoencoderKLTiling(sampleTileSize: 16, latentTileSize: 5),
                   AutoencoderKLTiling(sampleTileSize: 4, latentTileSize: 1),
                   AutoencoderKLTiling(sampleTileSize: 16, latentTileSize: 4, overlapFactor: 1)]
        for tiling in bad {
            do {
                _ = try vae.decode(latents, tiling: tiling)
                Issue.record("\(tiling) accepted")
            } catch {
                guard case .invalidTiling = error else { Issue.record("\(tiling): \(error)"); continue }
            }
        }
        #expect(try vae.decode(latents, tiling: AutoencoderKLTiling(sampleTileSize: 32, latentTileSize: 8)).shape == [1, 3, 48, 36])
    }
}
