import Foundation
import OmniTensor

/// The weights of one model (or one diffusers component) in a directory, in whichever layout
/// Hugging Face saved them:
/// 1. sharded, with an index (`model.safetensors.index.json`,
///    `diffusion_pytorch_model.safetensors.index.json`, or another single `*.safetensors.index.json`)
///    whose `weight_map` names each tensor's shard;
/// 2. one file, `model.safetensors` or `diffusion_pytorch_model.safetensors`;
/// 3. otherwise every `*.safetensors` file in the directory (a name may appear in only one).
/// Every file is mapped and validated when the checkpoint opens, so a bad checkpoint fails
/// before serving starts; tensor data is read only when touched.
public final class Checkpoint: Sendable {
    public let directory: URL
    /// The index file, for a sharded checkpoint.
    public let indexURL: URL?
    /// The index's `metadata` (for example `total_size`); empty without an index.
    public let indexMetadata: [String: JSONValue]
    /// The safetensors files, in name order.
    public let files: [SafeTensorsFile]
    /// Tensor names, sorted.
    public let names: [String]

    private let fileIndexByName: [String: Int]

    static let indexNames = ["model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json"]
    static let singleNames = ["model.safetensors", "diffusion_pytorch_model.safetensors"]

    /// Opens the checkpoint in a diffusers component folder (`transformer`, `vae`, ...).
    public convenience init(directory: URL, component: String) throws(WeightsError) {
        try self.init(directory: directory.appendingPathComponent(component, isDirectory: true))
    }

    /// Opens and validates the checkpoint in `directory`.
    /// - Throws: `WeightsError` naming the directory, index, shard or tensor at fault.
    public init(directory: URL) throws(WeightsError) {
        self.directory = directory
        let listing = try Checkpoint.listFiles(in: directory)

        let indexName = Checkpoint.indexNames.first(where: listing.contains)
            ?? listing.filter { $0.hasSuffix(".safetensors.index.json") }.first
        if let indexName {
            let indexURL = directory.appendingPathComponent(indexName)
            let index = try ShardIndex(url: indexURL)
            var files = [SafeTensorsFile]()
            var fileIndexByShard = [String: Int]()
            for shard in Set(index.weightMap.values).sorted() {
                let shardURL = directory.appendingPathComponent(shard)
                guard FileManager.default.fileExists(atPath: shardURL.path) else {
                    let tensor = index.weightMap.filter { $0.value == shard }.keys.min()!
                    throw .invalidIndex(path: indexURL.path, reason: "tensor \"\(tensor)\" is in shard \"\(shard)\", which does not exist")
                }
                fileIndexByShard[shard] = files.count
                files.append(try SafeTensorsFile(url: shardURL))
            }
            var fileIndexByName = [String: Int]()
            for (tensor, shard) in index.weightMap {
                let fileIndex = fileIndexByShard[shard]!
                guard files[fileIndex].contains(tensor) else {
                    throw .invalidIndex(path: indexURL.path, reason: "tensor \"\(tensor)\" is mapped to shard \"\(shard)\", which has no such tensor")
                }
                fileIndexByName[tensor] = fileIndex
            }
            self.indexURL = indexURL
            self.indexMetadata = index.metadata
            self.files = files
            self.fileIndexByName = fileIndexByName
        } else {
            let fileNames = Checkpoint.singleNames.first(where: listing.contains).map { [$0] }
                ?? listing.filter { $0.hasSuffix(".safetensors") }
            guard !fileNames.isEmpty else { throw .noWeights(directory: directory.path) }
            var files = [SafeTensorsFile]()
            var fileIndexByName = [String: Int]()
            for name in fileNames {
                let file = try SafeTensorsFile(url: directory.appendingPathComponent(name))
                for tensor in file.names {
                    if let other = fileIndexByName[tensor] {
                        throw .invalidTensor(path: file.url.path, tensor: tensor, reason:
                            "also in \(files[other].url.lastPathComponent); without an index every tensor must be in one file only")
                    }
                    fileIndexByName[tensor] = files.count
                }
                files.append(file)
            }
            self.indexURL = nil
            self.indexMetadata = [:]
            self.files = files
            self.fileIndexByName = fileIndexByName
        }
        names = fileIndexByName.keys.sorted()
    }

    public func contains(_ name: String) -> Bool { fileIndexByName[name] != nil }

    /// The file that holds `name`, or nil.
    public func file(containing name: String) -> SafeTensorsFile? {
        fileIndexByName[name].map { files[$0] }
    }

    /// Where the tensor lies and what it holds; nil when the checkpoint has no such tensor.
    public func info(_ name: String) -> TensorInfo? { file(containing: name)?.info(name) }

    /// The tensor as stored, a zero-copy view of its file (see `SafeTensorsFile.tensor(_:)`).
    public func tensor(_ name: String) throws(WeightsError) -> Tensor {
        guard let file = file(containing: name) else { throw .missingTensor(source: directory.path, tensor: name) }
        return try file.tensor(name)
    }

    private static func listFiles(in directory: URL) throws(WeightsError) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: directory.path)
        }
        guard isDirectory.boolValue else { throw .io(path: directory.path, message: "not a directory") }
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        } catch {
            throw .io(path: directory.path, message: "cannot list: \(error.localizedDescription)")
        }
    }
}

/// A sharded checkpoint's `*.safetensors.index.json`: `{"metadata": {...}, "weight_map": {tensor: shard}}`.
struct ShardIndex {
    let weightMap: [String: String]
    let metadata: [String: JSONValue]

    init(url: URL) throws(WeightsError) {
        let json = try JSONValue(contentsOf: url)
        let path = url.path
        guard json.object != nil else { throw .invalidIndex(path: path, reason: "expected a JSON object, got \(json.kindDescription)") }
        guard let map = json["weight_map"] else { throw .invalidIndex(path: path, reason: "missing \"weight_map\"") }
        guard let entries = map.object else {
            throw .invalidIndex(path: path, reason: "\"weight_map\" is \(map.kindDescription), expected an object of tensor name -> shard file")
        }
        guard !entries.isEmpty else { throw .invalidIndex(path: path, reason: "\"weight_map\" is empty") }
        var weightMap = [String: String]()
        for (tensor, value) in entries {
            guard let shard = value.string else {
                throw .invalidIndex(path: path, reason: "tensor \"\(tensor)\": shard is \(value.kindDescription), expected a file name")
            }
            let components = shard.split(separator: "/", omittingEmptySubsequences: false)
            guard !shard.isEmpty, !shard.hasPrefix("/"), !components.contains("..") else {
                throw .invalidIndex(path: path, reason: "tensor \"\(tensor)\": shard \"\(shard)\" is not a file name inside the checkpoint directory")
            }
            weightMap[tensor] = shard
        }
        self.weightMap = weightMap
        self.metadata = json["metadata"]?.object ?? [:]
    }
}
