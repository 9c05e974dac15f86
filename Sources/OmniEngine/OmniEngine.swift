/// The AR engine (Scheduler, BlockManager, Sequence, ModelRunner, Sampler) and the diffusion and
/// generation engines live in this module (DESIGN.md §2). Engines move token ids, block ids and
/// requests; all tensor work goes through OmniModels.
public enum EngineKind: String, Sendable, CaseIterable {
    case ar, diffusion, generation
}
