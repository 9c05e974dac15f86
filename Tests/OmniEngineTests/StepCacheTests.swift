import OmniEngine
import OmniTensor
import Testing

/// The step caches' bookkeeping on synthetic residuals: when each decides to skip, what it adds
/// back, and how its settings are read. (Their effect on real denoising, against diffusers' own
/// first-block cache, is in OmniPipelineTests.)
@Suite struct StepCacheTests {
    let b = CPUBackend(threads: 1)

    private func constant(_ v: Float, count: Int = 8) -> [Tensor] { [Tensor([Float](repeating: v, count: count), shape: [count])] }

    /// Runs `steps` steps of first-block cache where the first block's residual is `residuals[i]`;
    /// returns the steps that reused the cache.
    private func firstBlockRun(_ config: DiffusionCacheConfig, residuals: [Float]) -> [Int] {
        var state = config.makeState()
        for (step, r) in residuals.enumerated() {
            let input = constant(1), output = constant(1 + r)
            if state.shouldComputeRemainingBlocks(step: step, firstBlockInput: input, firstBlockOutput: output, backend: b) {
                state.recordComputed(start: output, end: constant(5 + r), layers: 4, backend: b)
            } else {
                let h = state.applyCached(step: step, to: output, layers: 4, backend: b)
                // The cached tail residual is the last computed step's: 5 + r' - (1 + r') = 4.
                #expect(h[0].toFloats() == [Float](repeating: 1 + r + 4, count: 8))
            }
        }
        return state.cachedSteps
    }

    /// diffusers' first-block cache: no warm-up, no limits.
    private var unlimited: DiffusionCacheConfig {
        var c = DiffusionCacheConfig(kind: .firstBlockCache)
        c.warmupSteps = 0
        c.maxContinuousCachedSteps = -1
        return c
    }

    @Test func firstBlockCacheDefaultsAreVLLMOmnis() {
        let c = DiffusionCacheConfig(kind: .firstBlockCache)
        #expect(c.residualDiffThreshold == 0.24 && c.warmupSteps == 4 && c.maxContinuousCachedSteps == 3 && c.maxCachedSteps == -1)
        #expect(DiffusionCacheConfig(kind: .teaCache).relL1Threshold == 0.2)
    }

    @Test func firstBlockCacheComparesWithTheLastComputedStep() {
        var c = unlimited
        c.residualDiffThreshold = 0.1
        // Residuals drift by 4% a step: steps 1 and 2 are within 10% of step 0's; step 3 (12.5%
        // from 1.0) is not and recomputes, then 4 and 5 are close to step 3's again.
        #expect(firstBlockRun(c, residuals: [1.0, 1.04, 1.08, 1.125, 1.16, 1.2]) == [1, 2, 4, 5])
        // Threshold 0: reuses only an identical residual (diffusers computes when diff > threshold).
        c.residualDiffThreshold = 0
        #expect(firstBlockRun(c, residuals: [1, 1.01, 1.02, 1.03]) == [])
        #expect(firstBlockRun(c, residuals: [1, 1, 1.02, 1.02]) == [1, 3])
    }

    @Test func firstBlockCacheLimits() {
        var c = unlimited
        c.residualDiffThreshold = 1e9
        let flat = [Float](repeating: 1, count: 10)
        #expect(firstBlockRun(c, residuals: flat) == Array(1..<10))
        c.warmupSteps = 3
        #expect(firstBlockRun(c, residuals: flat) == Array(3..<10))
        c.maxContinuousCachedSteps = 2
        #expect(firstBlockRun(c, residuals: flat) == [3, 4, 6, 7, 9])
        c.maxCachedSteps = 3
        #expect(firstBlockRun(c, residuals: flat) == [3, 4, 6])
    }

    @Test func skippedBlockCounts() {
        var c = unlimited
        c.residualDiffThreshold = 1e9
        var state = c.makeState()
        for step in 0..<3 {
            let input = constant(1) + constant(2), output = constant(2) + constant(3)   // two branches (CFG)
            if state.shouldComputeRemainingBlocks(step: step, firstBlockInput: input, firstBlockOutput: output, backend: b) {
                state.recordComputed(start: output, end: output, layers: 6, backend: b)
            } else {
                _ = state.applyCached(step: step, to: output, layers: 6, backend: b)
            }
        }
        // Step 0 runs 6 blocks per branch; steps 1 and 2 run the first and skip 5, per branch.
        #expect(state.skippedBlocks == 2 * 5 * 2)
        #expect(state.computedBlocks == 2 * 6 + 2 * 1 * 2)
        #expect(state.cachedSteps == [1, 2])
    }

    /// TeaCache: the first step always runs; then the rescaled relative change of the modulated
    /// input accumulates and the blocks are skipped while the sum stays below the threshold, the sum
    /// restarting after each computed step. The last step is not forced (vLLM-Omni's rule).
    @Test func teaCacheAccumulatesRescaledChanges() {
        var c = DiffusionCacheConfig(kind: .teaCache)
        c.relL1Threshold = 0.26
        c.coefficients = [-2, 0]   // |rescaled| = 2 * rel: the absolute value is taken
        // Modulated inputs growing by 5% a step: rel = 0.05 / (1 + 0.05 (i-1)), rescaled ~ 0.1.
        var state = c.makeState()
        var computed: [Int] = []
        for step in 0..<8 {
            let m = constant(1 + 0.05 * Float(step))
            if state.shouldComputeBlocks(step: step, modulatedInput: m) {
                computed.append(step)
                state.recordComputed(start: m, end: m, layers: 3, backend: b)
            } else {
                _ = state.applyCached(step: step, to: m, layers: 3, backend: b)
            }
        }
        // Sums: 0.100, 0.195, 0.286 -> step 3 runs; 0.087, 0.170, 0.250 (< 0.26, skipped), 0.327 -> step 7 runs.
        #expect(computed == [0, 3, 7])
        #expect(state.skippedBlocks == 5 * 3)
    }

    @Test func polynomialIsNumpyPoly1d() {
        // numpy.poly1d([1, -2, 3])(2) = 4 - 4 + 3
        #expect(StepCacheState.polynomial([1, -2, 3], at: 2) == 3)
    }

    @Test func settingsFromJSON() throws {
        let fb = try DiffusionCacheConfig(backend: "first_block_cache",
                                          json: #"{"residual_diff_threshold": 0.12, "max_warmup_steps": 2, "max_continuous_cached_steps": 3}"#)
        #expect(fb.kind == .firstBlockCache && fb.residualDiffThreshold == 0.12 && fb.warmupSteps == 2 && fb.maxContinuousCachedSteps == 3)
        let tea = try DiffusionCacheConfig(backend: "tea_cache", json: #"{"rel_l1_thresh": 0.4, "coefficients": [1, 2.5, -3]}"#)
        #expect(tea.relL1Threshold == 0.4 && tea.coefficients == [1, 2.5, -3])
        #expect(try DiffusionCacheConfig(backend: "none", json: nil) == DiffusionCacheConfig())

        #expect(throws: DiffusionCacheConfigError.unknownBackend("magic")) { try DiffusionCacheConfig(backend: "magic", json: nil) }
        #expect(throws: DiffusionCacheConfigError.notAnObject) { try DiffusionCacheConfig(backend: "tea_cache", json: "[1]") }
        for (backend, json, field) in [
            ("tea_cache", #"{"residual_diff_threshold": 0.1}"#, "residual_diff_threshold"),
            ("first_block_cache", #"{"threshold": -0.1}"#, "threshold"),
            ("first_block_cache", #"{"max_warmup_steps": 1.5}"#, "max_warmup_steps"),
            ("first_block_cache", #"{"max_cached_steps": -2}"#, "max_cached_steps"),
            ("tea_cache", #"{"coefficients": [1, "x"]}"#, "coefficients"),
            ("none", #"{"rel_l1_thresh": 0.1}"#, "rel_l1_thresh"),
            ("tea_cache", #"{"rel_l1_thresh": 0.1"#, "cache_config"),
        ] {
            do {
                _ = try DiffusionCacheConfig(backend: backend, json: json)
                Issue.record("\(backend) \(json) was accepted")
            } catch {
                #expect(error.field == field, "\(backend) \(json): \(error)")
            }
        }
    }
}
