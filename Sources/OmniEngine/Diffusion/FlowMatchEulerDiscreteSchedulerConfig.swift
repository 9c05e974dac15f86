import OmniWeights

/// What a diffusers `scheduler/scheduler_config.json` for `FlowMatchEulerDiscreteScheduler` says,
/// with diffusers' defaults (0.42.1) for absent fields, checked once where it is read.
public struct FlowMatchEulerDiscreteSchedulerConfig: Sendable, Equatable {
    /// How resolution-dependent shifting maps a sigma with `mu` (`time_shift_type`).
    public enum TimeShiftType: String, Sendable {
        /// e^mu / (e^mu + (1/sigma - 1))
        case exponential
        /// mu / (mu + (1/sigma - 1))
        case linear
    }

    /// The spacing the shifted sigmas are finally converted to (`use_karras_sigmas`, ...).
    public enum SigmaSpacing: Sendable, Equatable {
        /// The shifted sigmas as they are.
        case shifted
        /// Karras et al. (rho = 7) between the shifted schedule's first and last sigma.
        case karras
        /// Log-linear between the first and last sigma.
        case exponential
    }

    public var numTrainTimesteps: Int
    /// The static shift (`shift`), used when `useDynamicShifting` is false.
    public var shift: Double
    /// Shift by `mu`, which the pipeline derives from the image size (`calculateShift`).
    public var useDynamicShifting: Bool
    /// `calculateShift`'s line through (baseImageSeqLen, baseShift) and (maxImageSeqLen, maxShift).
    public var baseShift: Double
    public var maxShift: Double
    public var baseImageSeqLen: Int
    public var maxImageSeqLen: Int
    /// Denoise along 1 - sigma (Mochi), ending at sigma 1.
    public var invertSigmas: Bool
    /// Stretch the shifted schedule so it ends at this sigma (LTX-Video); nil or 0: no stretch.
    public var shiftTerminal: Double?
    public var sigmaSpacing: SigmaSpacing
    public var timeShiftType: TimeShiftType
    /// Each step re-noises the predicted clean sample with fresh noise instead of an Euler step.
    public var stochasticSampling: Bool

    public init(numTrainTimesteps: Int = 1000, shift: Double = 1, useDynamicShifting: Bool = false, baseShift: Double = 0.5,
                maxShift: Double = 1.15, baseImageSeqLen: Int = 256, maxImageSeqLen: Int = 4096, invertSigmas: Bool = false,
                shiftTerminal: Double? = nil, sigmaSpacing: SigmaSpacing = .shifted, timeShiftType: TimeShiftType = .exponential,
                stochasticSampling: Bool = false) {
        self.numTrainTimesteps = numTrainTimesteps
        self.shift = shift
        self.useDynamicShifting = useDynamicShifting
        self.baseShift = baseShift
        self.maxShift = maxShift
        self.baseImageSeqLen = baseImageSeqLen
        self.maxImageSeqLen = maxImageSeqLen
        self.invertSigmas = invertSigmas
        self.shiftTerminal = shiftTerminal
        self.sigmaSpacing = sigmaSpacing
        self.timeShiftType = timeShiftType
        self.stochasticSampling = stochasticSampling
    }

    /// Reads and checks a `scheduler_config.json`.
    /// - Throws: `WeightsError` naming the file and the field.
    public init(_ c: ConfigObject) throws(WeightsError) {
        if let name = try c.string("_class_name"), name != "FlowMatchEulerDiscreteScheduler" {
            throw c.invalid("_class_name", "must be \"FlowMatchEulerDiscreteScheduler\" (other schedulers are not supported)",
                            c["_class_name"]!)
        }
        numTrainTimesteps = try c.int("num_train_timesteps") ?? 1000
        guard numTrainTimesteps >= 1 else { throw c.invalid("num_train_timesteps", "must be at least 1", c["num_train_timesteps"]!) }
        shift = try c.double("shift") ?? 1
        guard shift > 0 else { throw c.invalid("shift", "must be positive", c["shift"]!) }
        useDynamicShifting = try c.bool("use_dynamic_shifting") ?? false
        // diffusers types these `float | None`; a null only matters to pipelines, which read the defaults then.
        baseShift = try c.double("base_shift") ?? 0.5
        maxShift = try c.double("max_shift") ?? 1.15
        baseImageSeqLen = try c.int("base_image_seq_len") ?? 256
        maxImageSeqLen = try c.int("max_image_seq_len") ?? 4096
        guard maxImageSeqLen != baseImageSeqLen else {
            throw c.invalid("max_image_seq_len", "must differ from base_image_seq_len", c["max_image_seq_len"] ?? .null)
        }
        invertSigmas = try c.bool("invert_sigmas") ?? false
        shiftTerminal = try c.double("shift_terminal")
        if let terminal = shiftTerminal, terminal >= 1 {
            throw c.invalid("shift_terminal", "must be below 1", c["shift_terminal"]!)
        }
        let karras = try c.bool("use_karras_sigmas") ?? false
        let exponential = try c.bool("use_exponential_sigmas") ?? false
        let beta = try c.bool("use_beta_sigmas") ?? false
        guard [karras, exponential, beta].filter({ $0 }).count <= 1 else {
            throw c.invalid("use_karras_sigmas", "only one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas may be true",
                            c["use_karras_sigmas"]!)
        }
        if beta {
            throw c.invalid("use_beta_sigmas", "is not supported (beta sigmas need scipy's beta.ppf); set it to false", c["use_beta_sigmas"]!)
        }
        sigmaSpacing = karras ? .karras : exponential ? .exponential : .shifted
        let shiftType = try c.string("time_shift_type") ?? "exponential"
        guard let type = TimeShiftType(rawValue: shiftType) else {
            throw c.invalid("time_shift_type", "must be \"exponential\" or \"linear\"", c["time_shift_type"]!)
        }
        timeShiftType = type
        stochasticSampling = try c.bool("stochastic_sampling") ?? false
    }
}
