import Foundation
import OmniTensor
import OmniWeights
import Testing

@Suite struct CheckpointTests {
    @Test func shardedTransformersCheckpointLoadsEveryTensorFromItsShard() throws {
        let checkpoint = try Checkpoint(directory: Fixtures.url("qwen2_sharded"))
        let expected = try Fixtures.json("qwen2_sharded.expected.json")
        let tensors = try #require(expected["tensors"]?.object)
        let index = try Fixtures.json("qwen2_sharded/model.safetensors.index.json")

        #expect(checkpoint.indexURL?.lastPathComponent == "model.safetensors.index.json")
        #expect(checkpoint.files.map(\.url.lastPathComponent) == expected["shards"]?.array?.compactMap(\.string))
        #expect(checkpoint.names == tensors.keys.sorted())
        #expect(checkpoint.indexMetadata["total_size"] == index["metadata"]?["total_size"])
        for (name, entry) in tensors {
            let tensor = try checkpoint.tensor(name)
            #expect(tensor.dtype == .bf16)
            #expect(tensor.shape == entry["shape"]?.array?.compactMap(\.int), "\(name)")
            #expect(fnv1a64(tensor) == entry["fnv1a64"]?.string, "\(name): bytes differ")
            #expect(checkpoint.file(containing: name)?.url.lastPathComponent == index["weight_map"]?[name]?.string)
        }
        #expect(checkpoint.info("lm_head.weight")?.shape == [64, 16])
        #expect(checkpoint.contains("model.norm.weight") && !checkpoint.contains("model.norm.bias"))
    }

    @Test func missingTensorErrorNamesDirectoryAndTensor() throws {
        let checkpoint = try Checkpoint(directory: Fixtures.url("qwen2_sharded"))
        let text = try #require(errorText { _ = try checkpoint.tensor("model.layers.9.mlp.up_proj.weight") })
        #expect(text.contains("qwen2_sharded") && text.contains("\"model.layers.9.mlp.up_proj.weight\""), "\(text)")
    }

    @Test func singleFileCheckpointIsPreferredOverOtherFiles() throws {
        let directory = try TemporaryDirectory()
        try SafeTensorsWriter.write([("a", Tensor([1], shape: [1]))], to: directory.file("model.safetensors"))
        try SafeTensorsWriter.write([("a", Tensor([2], shape: [1]))], to: directory.file("consolidated.safetensors"))
        let checkpoint = try Checkpoint(directory: directory.url)
        #expect(checkpoint.indexURL == nil && checkpoint.files.count == 1)
        #expect(try checkpoint.tensor("a").toFloats() == [1])
    }

    @Test func unindexedFilesAreAllLoaded() throws {
        let directory = try TemporaryDirectory()
        try SafeTensorsWriter.write([("a", Tensor([1], shape: [1]))], to: directory.file("part-b.safetensors"))
        try SafeTensorsWriter.write([("b", Tensor([2], shape: [1])), ("c", Tensor([3], shape: [1]))], to: directory.file("part-a.safetensors"))
        try directory.write("README.md", text: "not weights")
        let checkpoint = try Checkpoint(directory: directory.url)
        #expect(checkpoint.names == ["a", "b", "c"])
        #expect(try checkpoint.tensor("c").toFloats() == [3])
        #expect(checkpoint.file(containing: "a")?.url.lastPathComponent == "part-b.safetensors")
    }

    @Test func unindexedFilesMustNotShareATensor() throws {
        let directory = try TemporaryDirectory()
        try SafeTensorsWriter.write([("w", Tensor([1], shape: [1]))], to: directory.file("a.safetensors"))
        try SafeTensorsWriter.write([("w", Tensor([2], shape: [1]))], to: directory.file("b.safetensors"))
        let text = try #require(errorText { _ = try Checkpoint(directory: directory.url) })
        #expect(text.contains("b.safetensors") && text.contains("\"w\"") && text.contains("a.safetensors"), "\(text)")
    }

    @Test func indexPointingToAMissingShardNamesIndexShardAndTensor() throws {
        let directory = try copyOfShardedFixture()
        let shard = "model-00002-of-00002.safetensors"
        try FileManager.default.removeItem(at: directory.file(shard))
        let text = try #require(errorText { _ = try Checkpoint(directory: directory.url) })
        #expect(text.contains("model.safetensors.index.json") && text.contains(shard) && text.contains("tensor \""), "\(text)")
    }

    @Test func indexListingATensorItsShardLacksNamesIndexShardAndTensor() throws {
        let directory = try copyOfShardedFixture()
        var index = try #require(try Fixtures.json("qwen2_sharded/model.safetensors.index.json").object)
        var map = try #require(index["weight_map"]?.object)
        map["model.extra.weight"] = .string("model-00001-of-00002.safetensors")
        index["weight_map"] = .object(map)
        try directory.write("model.safetensors.index.json", text: JSONValue.object(index).jsonText)
        let text = try #require(errorText { _ = try Checkpoint(directory: directory.url) })
        #expect(text.contains("model.safetensors.index.json") && text.contains("model-00001-of-00002.safetensors")
                && text.contains("\"model.extra.weight\""), "\(text)")
    }

    @Test(arguments: [
        (#"{"weight_map": {"a": "../outside.safetensors"}}"#, "not a file name inside"),
        (#"{"weight_map": {"a": 3}}"#, "expected a file name"),
        (#"{"weight_map": []}"#, "expected an object"),
        (#"{"metadata": {}}"#, "missing \"weight_map\""),
        (#"{"weight_map": {"#, "invalid JSON"),
    ])
    func malformedIndexIsReported(index: String, mention: String) throws {
        let directory = try TemporaryDirectory()
        try directory.write("model.safetensors.index.json", text: index)
        let text = try #require(errorText { _ = try Checkpoint(directory: directory.url) })
        #expect(text.contains("model.safetensors.index.json") && text.contains(mention), "\(text)")
    }

    @Test func corruptShardErrorNamesTheShard() throws {
        let directory = try copyOfShardedFixture()
        let shard = directory.file("model-00002-of-00002.safetensors")
        let bytes = try Data(contentsOf: shard)
        try bytes.prefix(bytes.count / 2).write(to: shard)
        let text = try #require(errorText { _ = try Checkpoint(directory: directory.url) })
        #expect(text.contains("model-00002-of-00002.safetensors") && text.contains("tensor \""), "\(text)")
    }

    @Test func directoryWithoutWeightsOrMissingIsReported() throws {
        let directory = try TemporaryDirectory()
        try directory.write("config.json", text: "{}")
        let empty = try #require(errorText { _ = try Checkpoint(directory: directory.url) })
        #expect(empty.contains(directory.url.path) && empty.contains("no *.safetensors"), "\(empty)")
        let missing = try #require(errorText { _ = try Checkpoint(directory: directory.file("nope")) })
        #expect(missing == "\(directory.file("nope").path): file not found")
    }

    @Test func diffusersComponentsLoadFromTheirFolders() throws {
        let root = Fixtures.url("flux_tiny")
        let expected = try Fixtures.json("flux_tiny.expected.json")
        let transformer = try Checkpoint(directory: root, component: "transformer")
        #expect(transformer.indexURL?.lastPathComponent == "diffusion_pytorch_model.safetensors.index.json")
        #expect(transformer.files.count >= 2)
        let vae = try Checkpoint(directory: root, component: "vae")
        #expect(vae.indexURL == nil && vae.files.map(\.url.lastPathComponent) == ["diffusion_pytorch_model.safetensors"])
        for (component, checkpoint) in [("transformer", transformer), ("vae", vae)] {
            let tensors = try #require(expected[component]?.object)
            #expect(checkpoint.names == tensors.keys.sorted(), "\(component)")
            for (name, entry) in tensors {
                let tensor = try checkpoint.tensor(name)
                #expect(tensor.shape == entry["shape"]?.array?.compactMap(\.int), "\(component) \(name)")
                #expect(fnv1a64(tensor) == entry["fnv1a64"]?.string, "\(component) \(name): bytes differ")
            }
        }
    }

    /// A writable copy of the sharded fixture.
    private func copyOfShardedFixture() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        let source = Fixtures.url("qwen2_sharded")
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: directory.file(name))
        }
        return directory
    }
}
