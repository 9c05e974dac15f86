import Foundation
import OmniTensor

/// diffusers' `FlowMatchEulerDiscreteScheduler` (0.42.1): the sigma schedule of rectified-flow
/// models (Flux, SD3, Z-Image, ...) and its Euler step `x + (sigma_next - sigma) * v`.
///
/// `timesteps` and `sigmas` come out equal to diffusers' float32 tensors bit for bit: the schedule is
/// computed in float64 where diffusers computes it in numpy float64 (the default linspace), and in
/// float32 where numpy does (custom `sigmas` or `timesteps` are cast to float32 first), with
/// torch's float32 arithmetic for the training schedule and the final conversions.
///
/// The scheduler never holds latents. `step(_:sample:at:)` is a pure function of the step index, so
/// requests at different points of their schedules can share a batch; the `timestep:` variant keeps
/// diffusers' step counter for callers that mirror a diffusers loop.
public struct FlowMatchEulerDiscreteScheduler: Sendable {
    public typealias Config = FlowMatchEulerDiscreteSchedulerConfig

    public let config: Config
    /// The static shift (`set_shift` changes it); starts as `config.shift`.
    public var shift: Double
    /// The training schedule's sigma at its first and last timestep (`sigma_max`, `sigma_min`).
    public let sigmaMax: Double
    public let sigmaMin: Double
    /// One timestep per inference step (the model's `t` input), after `setTimesteps`.
    public private(set) var timesteps: [Float]
    /// One sigma per inference step plus the terminal one (0, or 1 with `invertSigmas`).
    public private(set) var sigmas: [Float]
    public private(set) var numInferenceSteps: Int?
    /// diffusers' step counter: set by the first `step(_:timestep:sample:)`, then one per step.
    public private(set) var stepIndex: Int?
    public private(set) var beginIndex: Int?

    public init(config: Config = Config()) {
        self.config = config
        shift = config.shift
        // torch float32: linspace(1, N, N) reversed, / N, then the static shift unless dynamic.
        let n = config.numTrainTimesteps
        let trainSigmas = (0..<n).map { i -> Float in
            let sigma = Float(n - i) / Float(n)
            return config.useDynamicShifting ? sigma : Self.staticShift(sigma, shift: config.shift)
        }
        timesteps = trainSigmas.map { $0 * Float(n) }
        sigmas = trainSigmas
        sigmaMax = Double(trainSigmas[0])
        sigmaMin = Double(trainSigmas[n - 1])
    }

    /// The `mu` of dynamic shifting for an image of `imageSeqLen` latent patches, on the config's
    /// line (pipelines' `calculate_shift` with the scheduler config's values).
    public func calculateShift(imageSeqLen: Int) -> Double {
        Self.calculateShift(imageSeqLen: imageSeqLen, baseSeqLen: config.baseImageSeqLen, maxSeqLen: config.maxImageSeqLen,
                            baseShift: config.baseShift, maxShift: config.maxShift)
    }

    /// diffusers' `calculate_shift`: linear in the sequence length through (baseSeqLen, baseShift)
    /// and (maxSeqLen, maxShift), in float64 as Python computes it.
    public static func calculateShift(imageSeqLen: Int, baseSeqLen: Int = 256, maxSeqLen: Int = 4096,
                                      baseShift: Double = 0.5, maxShift: Double = 1.15) -> Double {
        let m = (maxShift - baseShift) / Double(maxSeqLen - baseSeqLen)
        let b = baseShift - m * Double(baseSeqLen)
        return Double(imageSeqLen) * m + b
    }

    // MARK: Schedule

    /// `set_timesteps`: the schedule for one generation, from a step count (evenly spaced over the
    /// training schedule), from custom `sigmas`, or from custom `timesteps`, then shifted (`mu` is
    /// required with dynamic shifting), stretched to `shiftTerminal`, respaced, terminated.
    /// - Throws: `SchedulerError` for a missing `mu`, inconsistent lengths or no steps.
    public mutating func setTimesteps(_ numInferenceSteps: Int? = nil, sigmas customSigmas: [Double]? = nil,
                                      mu: Double? = nil, timesteps customTimesteps: [Double]? = nil) throws(SchedulerError) {
        if config.useDynamicShifting && mu == nil { throw .missingMu }
        if let s = customSigmas, let t = customTimesteps, s.count != t.count {
            throw .lengthMismatch("sigmas has \(s.count) values, timesteps \(t.count)")
        }
        let steps: Int
        if let n = numInferenceSteps {
            if let s = customSigmas, s.count != n { throw .lengthMismatch("sigmas has \(s.count) values for \(n) steps") }
            if let t = customTimesteps, t.count != n { throw .lengthMismatch("timesteps has \(t.count) values for \(n) steps") }
            steps = n
        } else {
            guard let count = customSigmas?.count ?? customTimesteps?.count else { throw .noSteps }
            steps = count
        }
        guard steps >= 1 else { throw .noSteps }

        let n = config.numTrainTimesteps
        let givenTimesteps = customTimesteps.map { $0.map(Float.init) }
        var finalSigmas: [Float]
        if customSigmas == nil && givenTimesteps == nil {
            // numpy float64 throughout.
            let spaced = Self.numpyLinspace(sigmaMax * Double(n), sigmaMin * Double(n), count: steps).map { $0 / Double(n) }
            finalSigmas = respaced(stretched(shifted(spaced, mu: mu)), steps: steps)
        } else {
            // numpy float32 arrays: custom sigmas, or custom timesteps / N.
            let start = customSigmas.map { $0.map(Float.init) } ?? givenTimesteps!.map { $0 / Float(n) }
            let shiftedSigmas = stretched(shifted(start, mu: mu))
            switch config.sigmaSpacing {
            case .shifted: finalSigmas = shiftedSigmas
            case .karras, .exponential: finalSigmas = respaced(shiftedSigmas.map(Double.init), steps: steps)
            }
        }
        var finalTimesteps = givenTimesteps ?? finalSigmas.map { $0 * Float(n) }
        if config.invertSigmas {
            finalSigmas = finalSigmas.map { 1 - $0 }
            finalTimesteps = finalSigmas.map { $0 * Float(n) }
            finalSigmas.append(1)
        } else {
            finalSigmas.append(0)
        }
        self.numInferenceSteps = steps
        timesteps = finalTimesteps
        sigmas = finalSigmas
        stepIndex = nil
        beginIndex = nil
    }

    /// `set_begin_index`: the first `step(_:timestep:sample:)` starts at this index instead of
    /// looking its timestep up (pipelines set 0).
    public mutating func setBeginIndex(_ index: Int = 0) { beginIndex = index }

    /// `index_for_timestep`: where `timestep` sits in the schedule; the second match when it occurs
    /// twice, so a schedule entered midway never skips a sigma.
    public func index(for timestep: Float) -> Int? {
        let matches = timesteps.indices.filter { timesteps[$0] == timestep }
        return matches.count > 1 ? matches[1] : matches.first
    }

    // MARK: Step

    /// One Euler step from schedule position `index`: `sample + (sigmas[index+1] - sigmas[index]) *
    /// modelOutput` in float32, with torch's roundings. With `stochasticSampling` the step is
    /// `(1 - sigma_next) * x0 + sigma_next * noise` for `x0 = sample - sigma * modelOutput`, and
    /// `noise` (a standard normal tensor of the sample's shape, diffusers draws it with
    /// `randn_tensor` from the request's generator) is required.
    ///
    /// The result has the model output's dtype, as diffusers casts it; the sample is read as f32.
    /// - Throws: `SchedulerError` for an index outside the schedule or missing noise.
    public func step(_ modelOutput: Tensor, sample: Tensor, at index: Int, noise: Tensor? = nil,
                     backend: any Backend) throws(SchedulerError) -> Tensor {
        guard index >= 0, index + 1 < sigmas.count else { throw .indexOutOfRange(index, steps: sigmas.count - 1) }
        precondition(modelOutput.shape == sample.shape, "model output \(modelOutput.shape) vs sample \(sample.shape)")
        let sigma = sigmas[index], sigmaNext = sigmas[index + 1]
        // torch multiplies a bf16/f16 tensor by a float scalar in f32 and rounds to the tensor's dtype.
        func scaledOutput(_ factor: Float) -> Tensor {
            let product = backend.scale(modelOutput, by: factor)
            return modelOutput.dtype == .f32 ? product : backend.toFloat32(backend.cast(product, to: modelOutput.dtype))
        }
        let sample = backend.toFloat32(sample)
        let next: Tensor
        if config.stochasticSampling {
            guard let noise else { throw .missingNoise }
            precondition(noise.shape == sample.shape, "noise \(noise.shape) vs sample \(sample.shape)")
            let x0 = backend.sub(sample, scaledOutput(sigma))
            next = backend.add(backend.scale(x0, by: 1 - sigmaNext), backend.scale(noise, by: sigmaNext))
        } else {
            next = backend.add(sample, scaledOutput(sigmaNext - sigma))
        }
        return modelOutput.dtype == .f32 ? next : backend.cast(next, to: modelOutput.dtype)
    }

    /// diffusers' stateful `step(model_output, timestep, sample)`: the first call finds its index
    /// (`beginIndex`, else the timestep's place in the schedule), every call advances it by one.
    public mutating func step(_ modelOutput: Tensor, timestep: Float, sample: Tensor, noise: Tensor? = nil,
                              backend: any Backend) throws(SchedulerError) -> Tensor {
        if stepIndex == nil {
            guard let start = beginIndex ?? index(for: timestep) else { throw .unknownTimestep(timestep) }
            stepIndex = start
        }
        let result = try step(modelOutput, sample: sample, at: stepIndex!, noise: noise, backend: backend)
        stepIndex! += 1
        return result
    }

    // MARK: Schedule arithmetic

    /// torch/numpy float32: shift * s / (1 + (shift - 1) * s), the scalars rounded to float32.
    private static func staticShift(_ s: Float, shift: Double) -> Float {
        Float(shift) * s / (1 + Float(shift - 1) * s)
    }

    private func shifted(_ s: [Double], mu: Double?) -> [Double] {
        guard config.useDynamicShifting, let mu else {
            return s.map { shift * $0 / (1 + (shift - 1) * $0) }
        }
        switch config.timeShiftType {
        case .exponential:
            let e = Foundation.exp(mu)
            return s.map { e / (e + (1 / $0 - 1)) }
        case .linear:
            return s.map { mu / (mu + (1 / $0 - 1)) }
        }
    }

    private func shifted(_ s: [Float], mu: Double?) -> [Float] {
        guard config.useDynamicShifting, let mu else { return s.map { Self.staticShift($0, shift: shift) } }
        let m = Float(config.timeShiftType == .exponential ? Foundation.exp(mu) : mu)
        return s.map { m / (m + (1 / $0 - 1)) }
    }

    /// `stretch_shift_to_terminal`: 1 - (1 - s) / ((1 - s_last) / (1 - shiftTerminal)).
    private func stretched(_ s: [Double]) -> [Double] {
        guard let terminal = config.shiftTerminal, terminal != 0, let last = s.last else { return s }
        let scale = (1 - last) / (1 - terminal)
        return s.map { 1 - (1 - $0) / scale }
    }

    private func stretched(_ s: [Float]) -> [Float] {
        guard let terminal = config.shiftTerminal, terminal != 0, let last = s.last else { return s }
        let scale = (1 - last) / Float(1 - terminal)
        return s.map { 1 - (1 - $0) / scale }
    }

    /// Karras or exponential spacing between the first and last sigma (float64), then float32.
    private func respaced(_ s: [Double], steps: Int) -> [Float] {
        let high = s[0], low = s[s.count - 1]
        switch config.sigmaSpacing {
        case .shifted:
            return s.map(Float.init)
        case .karras:
            let rho = 7.0
            let lowRoot = Foundation.pow(low, 1 / rho), highRoot = Foundation.pow(high, 1 / rho)
            return Self.numpyLinspace(0, 1, count: steps).map { Float(Foundation.pow(highRoot + $0 * (lowRoot - highRoot), rho)) }
        case .exponential:
            return Self.numpyLinspace(Foundation.log(high), Foundation.log(low), count: steps).map { Float(Foundation.exp($0)) }
        }
    }

    /// `np.linspace(start, stop, count)` in float64: i * step + start, the last value exactly `stop`.
    static func numpyLinspace(_ start: Double, _ stop: Double, count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (stop - start) / Double(count - 1)
        var values = (0..<count).map { Double($0) * step + start }
        values[count - 1] = stop
        return values
    }
}

/// Why a schedule could not be set or a step not taken.
public enum SchedulerError: Error, Equatable, CustomStringConvertible {
    case missingMu
    case lengthMismatch(String)
    case noSteps
    case indexOutOfRange(Int, steps: Int)
    case unknownTimestep(Float)
    case missingNoise

    public var description: String {
        switch self {
        case .missingMu:
            "the scheduler uses dynamic shifting: pass mu (calculateShift(imageSeqLen:) of the latent patch count)"
        case .lengthMismatch(let detail):
            "inconsistent schedule lengths: \(detail)"
        case .noSteps:
            "give a number of inference steps (at least 1), custom sigmas or custom timesteps"
        case .indexOutOfRange(let index, let steps):
            "step index \(index) is outside the schedule of \(steps) steps; call setTimesteps first"
        case .unknownTimestep(let t):
            "timestep \(t) is not in the schedule; pass one of `timesteps` or call setBeginIndex"
        case .missingNoise:
            "the scheduler samples stochastically (stochastic_sampling): pass noise of the sample's shape"
        }
    }
}
