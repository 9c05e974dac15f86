import OmniTensor
import OmniWeights

/// Where a model's tensors come from: a checkpoint directory, or anything that names tensors.
public protocol WeightSource: Sendable {
    func contains(_ name: String) -> Bool
    func tensor(_ name: String) throws -> Tensor
    /// Where a tensor lives (or would), for error messages: its file, else the directory.
    func location(of name: String) -> String
}

extension Checkpoint: WeightSource {
    public func location(of name: String) -> String { file(containing: name)?.url.path ?? directory.path }
}

/// Reads tensors and checks their shapes against the config, so a mismatched checkpoint fails at
/// load time with the tensor's name rather than later inside a kernel.
struct WeightReader<Source: WeightSource> {
    let source: Source

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard source.contains(name) else { throw WeightsError.missingTensor(source: source.location(of: name), tensor: name) }
        let t = try source.tensor(name)
        guard t.shape == shape else {
            throw WeightsError.invalidTensor(path: source.location(of: name), tensor: name,
                                             reason: "shape \(t.shape) does not match \(shape) from config.json")
        }
        guard t.dtype.isFloatingPoint else {
            throw WeightsError.invalidTensor(path: source.location(of: name), tensor: name,
                                             reason: "dtype \(t.dtype) is not a floating type")
        }
        return t
    }
}
