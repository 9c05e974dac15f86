/// The AR engine (Engine, Scheduler, BlockManager, EngineSequence, ModelRunner, Sampler) and, later,
/// the diffusion and generation engines live in this module (DESIGN.md §2). Engines move token ids,
/// block ids and requests; all tensor work sits behind `ModelRunner`, written with OmniModels.
public enum EngineKind: String, Sendable, CaseIterable {
    case ar, diffusion, generation
}
