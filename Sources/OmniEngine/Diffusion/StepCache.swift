import Foundation
import OmniTensor
import OmniWeights

/// Which step cache a diffusion request runs with, and its settings (`--cache-backend`,
/// `--cache-config`, or a request's `cache_backend` / `cache_config`).
///
/// Both caches skip the DiT's joint blocks on steps whose input changed little since a step that ran
/// them, adding back the residual those blocks produced then:
/// - `first_block_cache` (diffusers' `apply_first_block_cache`; warm-up and limits as cache-dit's
///   DBCache with Fn=1, Bn=0): the first joint block always runs; when its residual differs from
///   the one of the last fully computed step by at most `residual_diff_threshold` (relative mean
///   absolute difference), the other blocks are skipped. Defaults are vLLM-Omni's (threshold 0.24,
///   4 warm-up steps, at most 3 cached steps in a row).
/// - `tea_cache` (TeaCache as vLLM-Omni has it): the first block's timestep-modulated input is
///   compared with the previous step's; the relative L1 change, rescaled by a per-model polynomial
///   (absolute value), accumulates, and all joint blocks are skipped while the sum stays below
///   `rel_l1_thresh` (default 0.2). The first step always runs.
public struct DiffusionCacheConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case none
        case teaCache = "tea_cache"
        case firstBlockCache = "first_block_cache"
    }

    public var kind: Kind
    /// first_block_cache: the largest relative change of the first block's residual that still
    /// reuses the cached residual of the other blocks.
    public var residualDiffThreshold: Double = 0.24
    /// first_block_cache: steps at the start that always compute every block.
    public var warmupSteps: Int = 4
    /// first_block_cache: at most this many cached steps in a row (negative: no limit).
    public var maxContinuousCachedSteps: Int = 3
    /// first_block_cache: at most this many cached steps in a request (negative: no limit).
    public var maxCachedSteps: Int = -1
    /// tea_cache: the accumulated rescaled change below which the blocks are skipped.
    public var relL1Threshold: Double = 0.2
    /// tea_cache: the rescaling polynomial's coefficients, highest power first (numpy's `poly1d`);
    /// nil takes the model's own (the pipeline fills them in; without any, the distance itself).
    public var coefficients: [Double]?

    public init(kind: Kind = .none) { self.kind = kind }

    /// The settings of `kind` from a JSON object's fields (`--cache-config`); fields that do not
    /// belong to `kind`, unknown fields and values of the wrong type are errors naming the field.
    public init(kind: Kind, fields: [String: StepCacheSetting]) throws(DiffusionCacheConfigError) {
        self.init(kind: kind)
        let allowed: Set<String> = switch kind {
        case .none: []
        case .firstBlockCache: ["residual_diff_threshold", "threshold", "max_warmup_steps", "warmup_steps",
                                "max_continuous_cached_steps", "max_cached_steps"]
        case .teaCache: ["rel_l1_thresh", "coefficients"]
        }
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard allowed.contains(key) else {
                throw .unknownField(key, kind: kind.rawValue, allowed: allowed.sorted())
            }
            switch key {
            case "residual_diff_threshold", "threshold":
                residualDiffThreshold = try value.number(key, atLeast: 0)
            case "max_warmup_steps", "warmup_steps":
                warmupSteps = try value.integer(key, atLeast: 0)
            case "max_continuous_cached_steps":
                maxContinuousCachedSteps = try value.integer(key, atLeast: -1)
            case "max_cached_steps":
                maxCachedSteps = try value.integer(key, atLeast: -1)
            case "rel_l1_thresh":
                relL1Threshold = try value.number(key, atLeast: 0)
            default:   // coefficients
                guard case .numbers(let list) = value, !list.isEmpty, list.allSatisfy(\.isFinite) else {
                    throw .invalidValue(key, "a non-empty list of numbers")
                }
                coefficients = list
            }
        }
    }

    /// The state one request carries through its steps.
    public func makeState() -> StepCacheState { StepCacheState(config: self) }
}

/// A `--cache-config` value, as the JSON gave it.
public enum StepCacheSetting: Sendable, Equatable {
    case number(Double)
    case numbers([Double])
    case other

    func number(_ key: String, atLeast low: Double) throws(DiffusionCacheConfigError) -> Double {
        guard case .number(let v) = self, v.isFinite, v >= low else { throw .invalidValue(key, "a number >= \(low)") }
        return v
    }

    func integer(_ key: String, atLeast low: Int) throws(DiffusionCacheConfigError) -> Int {
        guard case .number(let v) = self, v.rounded() == v, v >= Double(low), v < 1e9 else {
            throw .invalidValue(key, "an integer >= \(low)")
        }
        return Int(v)
    }
}

public enum DiffusionCacheConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownBackend(String)
    case unknownField(String, kind: String, allowed: [String])
    case invalidValue(String, String)
    case notAnObject
    case invalidJSON(String)

    /// The offending field's name, for an HTTP 400's `param`.
    public var field: String {
        switch self {
        case .unknownBackend: "cache_backend"
        case .unknownField(let key, _, _), .invalidValue(let key, _): key
        case .notAnObject, .invalidJSON: "cache_config"
        }
    }

    public var description: String {
        switch self {
        case .unknownBackend(let name):
            "cache backend \"\(name)\" is not one of \(DiffusionCacheConfig.Kind.allCases.map(\.rawValue).joined(separator: ", "))"
        case .unknownField(let key, let kind, let allowed):
            allowed.isEmpty ? "cache backend \(kind) takes no settings, got \"\(key)\""
                : "\"\(key)\" is not a \(kind) setting (\(allowed.joined(separator: ", ")))"
        case .invalidValue(let key, let expected):
            "cache setting \(key) must be \(expected)"
        case .notAnObject:
            "the cache config must be a JSON object"
        case .invalidJSON(let reason):
            "the cache config is not valid JSON: \(reason)"
        }
    }
}

/// One request's step cache: what it remembers between steps and its decisions. The model runs the
/// hooks in order each step: `beforeBlocks` (tea_cache may skip them all), the first block,
/// `afterFirstBlock` (first_block_cache may skip the rest), the rest, `afterBlocks`.
/// Tensors are per branch (one, or two under classifier-free guidance); a decision covers all
/// branches of the request, measured over all of them together.
public struct StepCacheState: Sendable {
    public let config: DiffusionCacheConfig
    /// Joint-block evaluations skipped and run so far (per branch).
    public private(set) var skippedBlocks = 0
    public private(set) var computedBlocks = 0
    /// Steps whose blocks were skipped, in order.
    public private(set) var cachedSteps: [Int] = []

    // first_block_cache: the first block's residual and the other blocks' residual, from the last
    // step that computed them.
    private var headResidual: [Tensor]?
    private var tailResidual: [Tensor]?
    private var consecutiveCached = 0
    // tea_cache: the previous step's modulated input, the accumulated distance, the blocks' residual.
    private var previousModulated: [Tensor]?
    private var accumulated = 0.0
    private var residual: [Tensor]?

    init(config: DiffusionCacheConfig) {
        self.config = config
    }

    /// The mean absolute difference of `a` and `b` relative to the mean absolute value of `b` (plus
    /// `epsilon`), over all branches together (`(a - b).abs().mean() / (b.abs().mean() + epsilon)`).
    static func relativeL1(_ a: [Tensor], _ b: [Tensor], epsilon: Double = 0) -> Double {
        var difference = 0.0, magnitude = 0.0, count = 0
        for (x, y) in zip(a, b) {
            let xs = x.toFloats(), ys = y.toFloats()
            precondition(xs.count == ys.count, "step cache: tensors of different sizes")
            for i in xs.indices {
                difference += Double(abs(xs[i] - ys[i]))
                magnitude += Double(abs(ys[i]))
            }
            count += xs.count
        }
        let n = Double(max(count, 1))
        let denominator = magnitude / n + epsilon
        return denominator > 0 ? (difference / n) / denominator : .infinity
    }

    /// tea_cache's choice before the blocks: whether to run them at `step`, given the first block's
    /// modulated input per branch. Other backends always run them. As vLLM-Omni: the first step
    /// (and a step whose branch count changed) runs and restarts the sum; the previous input is
    /// updated at every step, run or skipped.
    public mutating func shouldComputeBlocks(step: Int, modulatedInput: @autoclosure () -> [Tensor]) -> Bool {
        guard config.kind == .teaCache else { return true }
        let current = modulatedInput()
        defer { previousModulated = current }
        guard step > 0, let previous = previousModulated, previous.count == current.count,
              residual?.count == current.count else {
            accumulated = 0
            return true
        }
        let distance = Self.relativeL1(current, previous, epsilon: 1e-8)
        accumulated += abs(Self.polynomial(config.coefficients ?? [1, 0], at: distance))
        if accumulated < config.relL1Threshold { return false }
        accumulated = 0
        return true
    }

    /// first_block_cache's choice after the first block: whether to run the other blocks at `step`,
    /// given the first block's input and output per branch.
    public mutating func shouldComputeRemainingBlocks(step: Int, firstBlockInput: [Tensor], firstBlockOutput: [Tensor],
                                                     backend b: any Backend) -> Bool {
        guard config.kind == .firstBlockCache else { return true }
        let current = zip(firstBlockOutput, firstBlockInput).map { b.sub($0, $1) }
        let c = config
        var compute = true
        if step >= c.warmupSteps, let previous = headResidual, previous.count == current.count,
           tailResidual?.count == current.count,
           c.maxContinuousCachedSteps < 0 || consecutiveCached < c.maxContinuousCachedSteps,
           c.maxCachedSteps < 0 || cachedSteps.count < c.maxCachedSteps {
            compute = Self.relativeL1(current, previous) > c.residualDiffThreshold
        }
        // As diffusers: the reference residual is the last *computed* step's.
        if compute { headResidual = current }
        return compute
    }

    /// The hidden states of a skipped step: `hidden` (the blocks' input, or the first block's
    /// output under first_block_cache) plus the cached residual. Counts the skipped blocks.
    public mutating func applyCached(step: Int, to hidden: [Tensor], layers: Int, backend b: any Backend) -> [Tensor] {
        let cached = (config.kind == .teaCache ? residual : tailResidual)!
        cachedSteps.append(step)
        consecutiveCached += 1
        let skipped = config.kind == .teaCache ? layers : layers - 1
        skippedBlocks += skipped * hidden.count
        computedBlocks += (layers - skipped) * hidden.count
        return zip(hidden, cached).map { b.add($0, $1) }
    }

    /// After a computed step: remembers the residual the skipped blocks would have produced.
    /// `start` is the blocks' input (tea_cache) or the first block's output (first_block_cache).
    public mutating func recordComputed(start: [Tensor], end: [Tensor], layers: Int, backend b: any Backend) {
        consecutiveCached = 0
        computedBlocks += layers * end.count
        switch config.kind {
        case .none: break
        case .teaCache: residual = zip(end, start).map { b.sub($0, $1) }
        case .firstBlockCache: tailResidual = zip(end, start).map { b.sub($0, $1) }
        }
    }

    /// numpy's `poly1d(coefficients)(x)`: highest power first (TeaCache's rescaling).
    public static func polynomial(_ coefficients: [Double], at x: Double) -> Double {
        coefficients.reduce(0) { $0 * x + $1 }
    }
}

extension DiffusionCacheConfig {
    /// `--cache-backend NAME --cache-config JSON`: the backend's settings from a JSON object.
    /// - Throws: `DiffusionCacheConfigError` naming the backend or the field at fault.
    public init(backend: String, json: String?) throws(DiffusionCacheConfigError) {
        guard let kind = Kind(rawValue: backend) else { throw .unknownBackend(backend) }
        guard let json else {
            self.init(kind: kind)
            return
        }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: Data(json.utf8))
        } catch {
            throw .invalidJSON("\(error)")
        }
        guard case .object(let object) = value else { throw .notAnObject }
        try self.init(kind: kind, fields: object.mapValues(StepCacheSetting.init))
    }
}

extension StepCacheSetting {
    /// A JSON value as a setting: numbers and lists of numbers; anything else is `.other`.
    public init(_ value: JSONValue) {
        switch value {
        case .int(let v): self = .number(Double(v))
        case .double(let v): self = .number(v)
        case .array(let items):
            let numbers = items.compactMap { item -> Double? in
                switch item {
                case .int(let v): Double(v)
                case .double(let v): v
                default: nil
                }
            }
            self = numbers.count == items.count ? .numbers(numbers) : .other
        default: self = .other
        }
    }
}
