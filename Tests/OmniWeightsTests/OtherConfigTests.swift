import Foundation
import OmniWeights
import Testing

@Suite struct GenerationConfigTests {
    @Test func transformersGenerationConfigIsRead() throws {
        let config = try #require(try GenerationConfig(directory: Fixtures.url("qwen2_sharded")))
        #expect(config.bosTokenId == 1 && config.eosTokenIds == [2, 3] && config.padTokenId == 0)
        #expect(config.doSample == true && config.temperature == 0.7 && config.topP == 0.8 && config.topK == 20)
        #expect(config.repetitionPenalty == 1.05 && config.maxNewTokens == 32)
        #expect(config.minP == nil && config.maxLength == nil)
    }

    @Test func absentFileIsNoConfigAndSingleEosIsAList() throws {
        let directory = try TemporaryDirectory()
        #expect(try GenerationConfig(directory: directory.url) == nil)
        try directory.write("generation_config.json", text: #"{"eos_token_id": 151645, "top_p": null}"#)
        let config = try #require(try GenerationConfig(directory: directory.url))
        #expect(config.eosTokenIds == [151645] && config.topP == nil && config.temperature == nil)
    }

    @Test func badValuesNameFileAndField() throws {
        let directory = try TemporaryDirectory()
        let url = try directory.write("generation_config.json", text: #"{"top_p": 1.5}"#)
        let text = try #require(errorText { _ = try GenerationConfig(contentsOf: url) })
        #expect(text == #"\#(url.path): field "top_p" must be in (0, 1], got 1.5"#)
    }
}

@Suite struct DiffusersModelIndexTests {
    @Test func diffusersPipelineIndexListsComponentsIncludingNullOnes() throws {
        let index = try DiffusersModelIndex(directory: Fixtures.url("flux_tiny"))
        #expect(index.className == "FluxPipeline")
        #expect(index.diffusersVersion?.isEmpty == false)
        #expect(index.presentComponents == ["scheduler", "transformer", "vae"])
        #expect(index.components["transformer"] == .init(name: "transformer", library: "diffusers", className: "FluxTransformer2DModel"))
        let encoder = try #require(index.components["text_encoder"])
        #expect(!encoder.isPresent && encoder.library == nil && encoder.className == nil)
        #expect(index.components.count == 9)
    }

    @Test func componentConfigsAndWeightsLoad() throws {
        let index = try DiffusersModelIndex(directory: Fixtures.url("flux_tiny"))
        let scheduler = try index.config(of: "scheduler")
        #expect(scheduler.path.hasSuffix("scheduler/scheduler_config.json"))
        #expect(try scheduler.requiredString("_class_name") == "FlowMatchEulerDiscreteScheduler")
        #expect(try scheduler.double("shift") == 3)
        let transformer = try index.config(of: "transformer")
        #expect(try transformer.int("num_layers") == 1)
        #expect(try transformer.ints("axes_dims_rope") == [2, 2, 4])
        let vae = try index.checkpoint(of: "vae")
        #expect(vae.contains("encoder.conv_in.weight"))
    }

    @Test func absentOrUnknownComponentIsReported() throws {
        let index = try DiffusersModelIndex(directory: Fixtures.url("flux_tiny"))
        let absent = try #require(errorText { _ = try index.config(of: "text_encoder") })
        #expect(absent.contains("model_index.json: field \"text_encoder\"") && absent.contains("[null, null]"), "\(absent)")
        let unknown = try #require(errorText { _ = try index.checkpoint(of: "unet") })
        #expect(unknown.hasSuffix("model_index.json: missing required field \"unet\""), "\(unknown)")
    }

    @Test func malformedIndexIsReported() throws {
        let directory = try TemporaryDirectory()
        try directory.write("model_index.json", text: #"{"_class_name": "P", "vae": ["diffusers"], "flag": true}"#)
        let text = try #require(errorText { _ = try DiffusersModelIndex(directory: directory.url) })
        #expect(text.contains(#"field "vae" must be a component [library, class name]"#), "\(text)")
        try directory.write("model_index.json", text: #"{"vae": ["diffusers", "AutoencoderKL"]}"#)
        let missing = try #require(errorText { _ = try DiffusersModelIndex(directory: directory.url) })
        #expect(missing.hasSuffix(#"missing required field "_class_name""#))
        let none = try #require(errorText { _ = try DiffusersModelIndex(directory: directory.file("none")) })
        #expect(none.hasSuffix("none/model_index.json: file not found"))
    }
}
