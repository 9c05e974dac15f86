import Foundation
import OmniTensor
import OmniWeights
import Testing

@Suite struct TransformerConfigTests {
    static let configNames = [
        "gemma3_text_v5.json", "llama3_1_v4.json", "llama3_v5.json", "qwen2_5_omni_v4.json", "qwen2_5_v4.json",
        "qwen2_5_yarn_v4.json", "qwen2_vl_v4.json", "qwen2_vl_v5.json", "qwen3_v4.json", "qwen3_yarn_v5.json",
    ]

    @Test func everyFixtureConfigIsListedHere() throws {
        let expected = try #require(try Fixtures.json("configs/expected.json").object)
        #expect(expected.keys.sorted() == Self.configNames)
    }

    /// Old-style (rope_theta + rope_scaling) and new-style (rope_parameters) configs read the same
    /// as transformers 5 reads them.
    @Test(arguments: configNames)
    func configReadsAsTransformersReadsIt(name: String) throws {
        let expected = try #require(try Fixtures.json("configs/expected.json")[name])
        let keyPath = expected["key_path"]?.array?.compactMap(\.string) ?? []
        let config = try TransformerConfig(contentsOf: Fixtures.url("configs/\(name)"), keyPath: keyPath)

        #expect(config.hiddenSize == expected["hidden_size"]?.int)
        #expect(config.intermediateSize == expected["intermediate_size"]?.int)
        #expect(config.numHiddenLayers == expected["num_hidden_layers"]?.int)
        #expect(config.numAttentionHeads == expected["num_attention_heads"]?.int)
        #expect(config.numKeyValueHeads == expected["num_key_value_heads"]?.int)
        #expect(config.headDim == expected["head_dim"]?.int)
        #expect(config.vocabSize == expected["vocab_size"]?.int)
        #expect(config.maxPositionEmbeddings == expected["max_position_embeddings"]?.int)
        #expect(config.rmsNormEps == expected["rms_norm_eps"]?.double)
        // transformers fills absent layer_types with its model's rule; we keep what the file says.
        let layerTypes = expected["layer_types"]?.array?.compactMap(\.string)
        if let ours = config.layerTypes {
            #expect(ours == layerTypes)
        } else {
            #expect(layerTypes == nil || layerTypes!.allSatisfy { $0 == "full_attention" })
        }

        let rope = try #require(expected["rope_parameters"]?.object)
        if rope.values.allSatisfy({ $0.object != nil }) {
            #expect(config.ropeByLayerType.keys.sorted() == rope.keys.sorted())
            for (layerType, parameters) in rope {
                expectRope(config.rope(forLayerType: layerType), equals: parameters, "\(name) \(layerType)")
            }
            expectRope(config.rope, equals: rope["full_attention"]!, "\(name) shared")
        } else {
            #expect(config.ropeByLayerType.isEmpty)
            expectRope(config.rope, equals: .object(rope), name)
        }
    }

    private func expectRope(_ rope: RopeParameters, equals expected: JSONValue, _ label: String) {
        #expect(rope.ropeType == expected["rope_type"]?.string, "\(label)")
        #expect(rope.theta == expected["rope_theta"]?.double, "\(label)")
        #expect(rope.factor == expected["factor"]?.double, "\(label)")
        #expect(rope.partialRotaryFactor == expected["partial_rotary_factor"]?.double ?? 1, "\(label)")
        #expect(rope.originalMaxPositionEmbeddings == expected["original_max_position_embeddings"]?.int, "\(label)")
        #expect(rope.lowFreqFactor == expected["low_freq_factor"]?.double, "\(label)")
        #expect(rope.highFreqFactor == expected["high_freq_factor"]?.double, "\(label)")
        #expect(rope.mropeSection == expected["mrope_section"]?.array?.compactMap(\.int), "\(label)")
    }

    @Test func qwen3HeadDimDiffersFromHiddenOverHeads() throws {
        let config = try TransformerConfig(contentsOf: Fixtures.url("configs/qwen3_v4.json"))
        #expect(config.headDim == 128 && config.hiddenSize / config.numAttentionHeads == 64)
        #expect(config.architectures == ["Qwen3ForCausalLM"] && config.modelType == "qwen3")
        #expect(config.tieWordEmbeddings == true && config.attentionBias == false)
        #expect(config.dtype == .bf16, "torch_dtype (old spelling)")
        #expect(config.eosTokenIds == [151645] && config.bosTokenIds == [151643])
        #expect(config.slidingWindow == nil && config.useSlidingWindow == false)
    }

    @Test func transformers5SpellingsAreRead() throws {
        let config = try TransformerConfig(directory: Fixtures.url("qwen2_sharded"))
        #expect(config.dtype == .bf16, "dtype (new spelling)")
        #expect(config.eosTokenIds == [2, 3] && config.bosTokenIds == [1] && config.padTokenId == nil)
        #expect(config.tieWordEmbeddings == false)
        #expect(config.attentionBias == nil, "Qwen2 writes no attention_bias: the model's own default applies")
        #expect(config.rope == RopeParameters(ropeType: "default", theta: 10_000).with(raw: config.rope.raw))
        #expect(config.hiddenAct == "silu" && config.maxWindowLayers == 28)
        #expect(config.raw["transformers_version"]?.string?.hasPrefix("5.") == true)
        let f16 = try TransformerConfig(contentsOf: Fixtures.url("configs/qwen3_yarn_v5.json"))
        #expect(f16.dtype == .f16)
    }

    @Test func nestedTextConfigErrorsNameTheFullField() throws {
        let directory = try TemporaryDirectory()
        let url = try directory.write("config.json", text: #"{"thinker_config": {"text_config": {"hidden_size": "abc"}}}"#)
        let text = try #require(errorText { _ = try TransformerConfig(contentsOf: url, keyPath: ["thinker_config", "text_config"]) })
        #expect(text == #"\#(url.path): field "thinker_config.text_config.hidden_size" must be an integer, got "abc""#)
        let missing = try #require(errorText { _ = try TransformerConfig(contentsOf: url, keyPath: ["text_config"]) })
        #expect(missing == #"\#(url.path): missing required field "text_config""#)
    }

    @Test(arguments: [
        (#"{"hidden_size": "abc"}"#, #"field "hidden_size" must be an integer, got "abc""#),
        (#"{"hidden_size": 64.5}"#, #"field "hidden_size" must be an integer, got 64.5"#),
        (#"{"hidden_size": 64}"#, #"missing required field "intermediate_size""#),
        (#"{"hidden_size": 0}"#, #"field "hidden_size" must be at least 1, got 0"#),
        (#"{"hidden_size": null}"#, #"missing required field "hidden_size""#),
        ("[1]", "expected a JSON object, got an array"),
        (#"{"hidden_size": 64,"#, "invalid JSON: expected a string key at line 1, column 20"),
    ])
    func badFieldErrorsNameFileAndField(json: String, message: String) throws {
        let directory = try TemporaryDirectory()
        let url = try directory.write("config.json", text: json)
        let text = try #require(errorText { _ = try TransformerConfig(contentsOf: url) })
        #expect(text.hasPrefix(url.path + ": ") && text.hasSuffix(message), "\(text)")
    }

    @Test(arguments: [
        (#""num_key_value_heads": 3"#, #"field "num_key_value_heads" must divide num_attention_heads (4), got 3"#),
        (#""eos_token_id": [1, "x"]"#, #"field "eos_token_id" must be an integer or an array of integers"#),
        (#""torch_dtype": "float8""#, #"field "torch_dtype" must name a dtype"#),
        (#""rope_scaling": {"rope_type": "linear", "factor": -2}"#, #"field "rope_scaling.factor" must be positive, got -2"#),
        (#""rope_parameters": {"rope_theta": "big"}"#, #"field "rope_parameters.rope_theta" must be a number, got "big""#),
        (#""layer_types": ["full_attention"]"#, #"field "layer_types" must list one type per layer (2)"#),
        (#""tie_word_embeddings": "yes""#, #"field "tie_word_embeddings" must be true or false, got "yes""#),
    ])
    func inconsistentFieldsAreRejected(field: String, message: String) throws {
        let directory = try TemporaryDirectory()
        let json = #"{"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 10, \#(field)}"#
        let url = try directory.write("config.json", text: json)
        let text = try #require(errorText { _ = try TransformerConfig(contentsOf: url) })
        #expect(text.contains(message), "\(text)")
    }

    @Test func defaultsApplyWhenOptionalFieldsAreAbsent() throws {
        let directory = try TemporaryDirectory()
        let url = try directory.write("config.json", text:
            #"{"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 10}"#)
        let config = try TransformerConfig(contentsOf: url)
        #expect(config.numKeyValueHeads == 4 && config.headDim == 16)
        #expect(config.rope.ropeType == "default" && config.rope.theta == 10_000 && config.rope.partialRotaryFactor == 1)
        #expect(config.tieWordEmbeddings == nil && config.dtype == nil && config.eosTokenIds.isEmpty)
    }

    @Test func oldTopLevelRopeFieldsFillTheNewDict() throws {
        let directory = try TemporaryDirectory()
        let url = try directory.write("config.json", text: """
            {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 10,
             "max_position_embeddings": 4096, "rope_theta": 50000, "partial_rotary_factor": 0.5,
             "rope_scaling": {"type": "dynamic", "factor": 2.0}}
            """)
        let rope = try TransformerConfig(contentsOf: url).rope
        #expect(rope.ropeType == "dynamic" && rope.factor == 2 && rope.theta == 50_000 && rope.partialRotaryFactor == 0.5)
        #expect(rope.originalMaxPositionEmbeddings == nil, "only llama3/yarn/longrope fall back to max_position_embeddings")
    }

    @Test func yarnFallsBackToMaxPositionsAndKeepsItsExtraFields() throws {
        let directory = try TemporaryDirectory()
        let url = try directory.write("config.json", text: """
            {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 10,
             "max_position_embeddings": 4096,
             "rope_parameters": {"rope_type": "yarn", "factor": 4, "beta_fast": 32, "beta_slow": 1, "mscale": 0.707}}
            """)
        let rope = try TransformerConfig(contentsOf: url).rope
        #expect(rope.ropeType == "yarn" && rope.originalMaxPositionEmbeddings == 4096)
        #expect(rope.betaFast == 32 && rope.betaSlow == 1 && rope.raw["mscale"]?.double == 0.707)
    }
}

extension RopeParameters {
    func with(raw: [String: JSONValue]) -> RopeParameters {
        var copy = self
        copy.raw = raw
        return copy
    }
}
