import Foundation
import OmniEngine
import OmniTensor

/// How to run a model: one flat value with documented defaults, checked where it is made
/// (the CLI contract of DESIGN.md §5 maps onto it field by field).
public struct EngineOptions: Sendable {
    /// Threads for CPU kernels and BLAS. Default: physical cores.
    public var threads: Int?
    /// What CPU products with bf16 weights compute in (`CPUBackend.MatmulPrecision`). Default:
    /// `OMNI_MATMUL_PRECISION`, else float32.
    public var matmulPrecision: CPUBackend.MatmulPrecision = .fromEnvironment
    /// Longest prompt + completion. Default: the model's max_position_embeddings, lowered to what
    /// the KV cache holds when the user did not set it.
    public var maxModelLen: Int?
    /// Sequences in flight at once.
    public var maxNumSeqs: Int = 256
    /// Tokens computed per engine step (prefill chunks + decodes).
    public var maxNumBatchedTokens: Int = 2048
    /// Bytes for the KV cache. Default: a quarter of available memory, at most 4 GiB (vLLM's CPU
    /// default), and no more than max_num_seqs full-length sequences need.
    public var kvCacheMemory: Int?
    public var blockSize: Int = 16
    public var enablePrefixCaching: Bool = true
    /// Weight storage dtype: nil keeps the checkpoint's.
    public var weightDType: String?
    /// Diffusion models: requests denoised together in one step batch.
    public var maxDiffusionBatchSize: Int = 4
    /// Diffusion models: the step cache requests run with unless they ask for another.
    public var diffusionCache = DiffusionCacheConfig()

    public init() {}

    /// Available memory in bytes (MemAvailable), or nil where the system doesn't say.
    static var availableMemory: Int? {
        guard let info = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }) else { return nil }
        let fields = line.split(separator: " ")
        guard fields.count >= 2, let kib = Int(fields[1]) else { return nil }
        return kib * 1024
    }
}
