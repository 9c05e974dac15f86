import CKernels
import Foundation

/// One sequence's sampling state: its random generator, advanced only by its own draws, and what
/// the penalties need to know about its tokens.
public struct SamplerState: Sendable {
    var generator: Xoshiro256StarStar
    /// Distinct prompt tokens (only kept when the repetition penalty is on).
    let promptTokens: Set<Int>
    /// Occurrences of each generated token (only kept when a penalty is on).
    private(set) var outputCounts: [Int: Int] = [:]
    public private(set) var numOutputTokens = 0
    /// EOS and stop token ids, masked while fewer than min_tokens tokens are generated.
    let minTokensStopIds: [Int]
    private let tracksOutput: Bool

    public init(params: SamplingParams, promptTokenIds: some Collection<Int>, minTokensStopIds: [Int] = [], seed: UInt64) {
        generator = Xoshiro256StarStar(seed: seed)
        promptTokens = params.repetitionPenalty != 1 ? Set(promptTokenIds) : []
        tracksOutput = params.hasPenalties
        self.minTokensStopIds = minTokensStopIds
    }

    /// Counts a generated token.
    public mutating func record(_ tokenId: Int) {
        numOutputTokens += 1
        if tracksOutput { outputCounts[tokenId, default: 0] += 1 }
    }
}

/// A sampled token and, when the request asked for them, its logprobs.
public struct SampledToken: Sendable, Equatable {
    public var tokenId: Int
    public var logprobs: TokenLogprobs?
}

/// Turns one sequence's logits row into a token, applying the request's processors in vLLM's
/// (v1) order:
/// 1. min_tokens: EOS and stop token ids get -inf while fewer than min_tokens tokens are generated;
/// 2. penalties: repetition (tokens of prompt or output: positive logits divided by it, negative
///    multiplied), then frequency (minus penalty x count in the output), then presence (minus
///    penalty once per token in the output);
/// 3. temperature 0: argmax, the lowest index winning ties (as torch.argmax); otherwise
/// 4. logits / temperature, then min-p (drop p < min_p x p_max), then top-k (keep logits >= the
///    k-th largest, ties included), then top-p (keep the most likely tokens while the mass of
///    those ranked above stays below p; the first is always kept), then one draw.
///
/// The draw is inverse-CDF sampling with one uniform from the sequence's own xoshiro256** over
/// the kept tokens in index order: one draw per token, so a seed gives the same tokens whatever
/// else is in the batch. (vLLM draws exponentials from torch's CUDA generator instead; the
/// distribution is the same, the random stream is not.) Top-p boundaries are computed in double
/// precision; vLLM's float32 cumsum can decide a token within rounding of the boundary otherwise.
///
/// Logprobs are vLLM's default "raw_logprobs" mode: the log-softmax of the raw logits from the
/// model, before any processor above, for the chosen token and the top N.
public struct Sampler {
    private var scratch: [Float] = []
    private var buckets = LogitBuckets.Scratch()

    public init() {}

    public mutating func sample(logits: UnsafeBufferPointer<Float>, params: SamplingParams, state: inout SamplerState) -> SampledToken {
        precondition(!logits.isEmpty, "an empty logits row")
        let tokenId = processAndChoose(logits: logits, params: params, state: &state, draws: true)
        let logprobs = params.logprobs.map { Logprobs.of(tokenId, in: logits, top: $0) }
        return SampledToken(tokenId: tokenId, logprobs: logprobs)
    }

    public mutating func sample(logits: [Float], params: SamplingParams, state: inout SamplerState) -> SampledToken {
        logits.withUnsafeBufferPointer { sample(logits: $0, params: params, state: &state) }
    }

    /// The logits the choice is made from, masked tokens at -inf (for greedy: after penalties).
    mutating func processedLogits(_ logits: [Float], params: SamplingParams, state: SamplerState) -> [Float] {
        var state = state
        _ = logits.withUnsafeBufferPointer { processAndChoose(logits: $0, params: params, state: &state, draws: false) }
        return scratch
    }

    private mutating func processAndChoose(
        logits: UnsafeBufferPointer<Float>, params: SamplingParams, state: inout SamplerState, draws: Bool
    ) -> Int {
        // Greedy with nothing to change the logits (the common case): the largest of them, without
        // copying the row (600 KB for a 152k vocabulary, on a decode step's serial path).
        if draws && params.isGreedy && !Self.penalizes(params: params, state: state) { return Self.argmax(logits) }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: logits)
        scratch.withUnsafeMutableBufferPointer { Self.applyPenalties($0, params: params, state: state) }
        if params.isGreedy {
            return scratch.withUnsafeBufferPointer { Self.argmax($0) }
        }
        let temperature = Float(params.temperature)
        let logMinP = params.minP > 0 ? Float(log(params.minP)) : nil
        scratch.withUnsafeMutableBufferPointer { values in
            if temperature != 1 {
                for i in values.indices { values[i] /= temperature }
            }
            // min-p: p_i < min_p * p_max, i.e. exp(l_i - l_max) < min_p.
            if let logMinP {
                let maximum = Self.maximum(values)
                for i in values.indices where values[i] - maximum < logMinP { values[i] = -.infinity }
            }
        }
        if params.topK > 0 && params.topK < scratch.count {
            scratch.withUnsafeMutableBufferPointer { Self.applyTopK($0, k: params.topK, scratch: &buckets) }
        }
        if params.topP < 1 {
            scratch.withUnsafeMutableBufferPointer { Self.applyTopP($0, p: params.topP, scratch: &buckets) }
        }
        guard draws else { return 0 }
        let drawn = scratch.withUnsafeMutableBufferPointer { Self.draw($0, generator: &state.generator) }
        return drawn ?? Self.argmax(logits)
    }

    // MARK: Processors

    /// Whether `applyPenalties` would change any logit.
    static func penalizes(params: SamplingParams, state: SamplerState) -> Bool {
        (state.numOutputTokens < params.minTokens && !state.minTokensStopIds.isEmpty) || params.repetitionPenalty != 1
            || params.frequencyPenalty != 0 || params.presencePenalty != 0
    }

    static func applyPenalties(_ values: UnsafeMutableBufferPointer<Float>, params: SamplingParams, state: SamplerState) {
        if state.numOutputTokens < params.minTokens {
            for id in state.minTokensStopIds where id >= 0 && id < values.count { values[id] = -.infinity }
        }
        if params.repetitionPenalty != 1 {
            let penalty = Float(params.repetitionPenalty)
            func penalize(_ id: Int) {
                guard id >= 0 && id < values.count else { return }
                values[id] = values[id] > 0 ? values[id] / penalty : values[id] * penalty
            }
            for id in state.promptTokens { penalize(id) }
            for id in state.outputCounts.keys where !state.promptTokens.contains(id) { penalize(id) }
        }
        if params.frequencyPenalty != 0 || params.presencePenalty != 0 {
            let frequency = Float(params.frequencyPenalty)
            let presence = Float(params.presencePenalty)
            for (id, count) in state.outputCounts where id >= 0 && id < values.count {
                values[id] -= frequency * Float(count)
                values[id] -= presence
            }
        }
    }

    /// Masks every logit below the k-th largest. Only the bucket holding the k-th is searched.
    static func applyTopK(_ values: UnsafeMutableBufferPointer<Float>, k: Int, scratch: inout LogitBuckets.Scratch) {
        let maximum = Self.maximum(values)
        guard maximum > -.infinity else { return }
        let buckets = LogitBuckets(maximum: maximum)
        scratch.reset()
        for value in values where value > -.infinity { scratch.counts[buckets.index(of: value)] += 1 }
        var numAbove = 0
        var boundary = -1
        for bucket in 0..<LogitBuckets.count {
            if numAbove + scratch.counts[bucket] >= k {
                boundary = bucket
                break
            }
            numAbove += scratch.counts[bucket]
        }
        guard boundary >= 0 else { return }  // fewer than k finite logits: nothing to drop
        scratch.values.removeAll(keepingCapacity: true)
        for value in values where value > -.infinity && buckets.index(of: value) == boundary { scratch.values.append(value) }
        let kth = scratch.values.withUnsafeBufferPointer { kthLargest($0, k: k - numAbove, buffer: &scratch.selection) }
        for i in values.indices where values[i] < kth { values[i] = -.infinity }
    }

    /// Masks every token outside the top-p nucleus: a token stays while the probability mass of
    /// the tokens ranked above it is below p. The mass per bucket finds the bucket where the cut
    /// falls; only that bucket's tokens are sorted.
    static func applyTopP(_ values: UnsafeMutableBufferPointer<Float>, p: Double, scratch: inout LogitBuckets.Scratch) {
        let maximum = Self.maximum(values)
        guard maximum > -.infinity else { return }
        let buckets = LogitBuckets(maximum: maximum)
        scratch.reset()
        var total = 0.0
        for value in values where value > -.infinity {
            let weight = Double(exp(value - maximum))
            total += weight
            scratch.masses[buckets.index(of: value)] += weight
        }
        let target = p * total
        var massAbove = 0.0
        var boundary = LogitBuckets.count - 1
        for bucket in 0..<LogitBuckets.count {
            if massAbove + scratch.masses[bucket] >= target {
                boundary = bucket
                break
            }
            massAbove += scratch.masses[bucket]
        }
        scratch.indices.removeAll(keepingCapacity: true)
        for i in values.indices where values[i] > -.infinity {
            let bucket = buckets.index(of: values[i])
            if bucket == boundary {
                scratch.indices.append(i)
            } else if bucket > boundary {
                values[i] = -.infinity
            }
        }
        scratch.indices.sort { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        for i in scratch.indices {
            if massAbove >= target {
                values[i] = -.infinity
            } else {
                massAbove += Double(exp(values[i] - maximum))
            }
        }
    }

    /// One inverse-CDF draw over the finite logits (their softmax); nil when none is finite.
    /// e^(x - max) over the whole vocabulary goes through the vectorised exp kernel (masked -inf
    /// logits give exactly 0, NaN counts as masked); the weights are summed in double.
    static func draw(_ values: UnsafeMutableBufferPointer<Float>, generator: inout Xoshiro256StarStar) -> Int? {
        let maximum = Self.maximum(values)
        guard maximum > -.infinity, let base = values.baseAddress else { return nil }
        var shift = -maximum
        omni_binary_f32(Int32(OMNI_ADD.rawValue), base, &shift, 0, base, values.count)
        omni_unary_f32(Int32(OMNI_EXP.rawValue), base, base, values.count)
        var partial = (0.0, 0.0, 0.0, 0.0)
        var i = 0
        while i + 4 <= values.count {
            for lane in 0..<4 where values[i + lane].isNaN { values[i + lane] = 0 }
            partial.0 += Double(values[i]); partial.1 += Double(values[i + 1])
            partial.2 += Double(values[i + 2]); partial.3 += Double(values[i + 3])
            i += 4
        }
        while i < values.count {
            if values[i].isNaN { values[i] = 0 }
            partial.0 += Double(values[i])
            i += 1
        }
        let total = (partial.0 + partial.1) + (partial.2 + partial.3)
        let target = generator.nextUnitInterval() * total
        var cumulative = 0.0
        var last: Int?
        for i in values.indices where values[i] > 0 {
            cumulative += Double(values[i])
            last = i
            if cumulative > target { return i }
        }
        return last
    }

    // MARK: Helpers

    /// The first index of the largest value (NaN never wins; 0 when none is above -inf): the
    /// largest found 16 lanes at a time, then its first position.
    static func argmax(_ values: UnsafeBufferPointer<Float>) -> Int {
        let largest = maximum(values)
        guard largest > -.infinity, let base = values.baseAddress else { return 0 }
        let raw = UnsafeRawPointer(base), target = SIMD16<Float>(repeating: largest)
        var i = 0
        while i + 16 <= values.count {
            if any(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) .== target) { break }
            i += 16
        }
        while i < values.count && values[i] != largest { i += 1 }
        return i < values.count ? i : 0
    }

    static func maximum(_ values: UnsafeMutableBufferPointer<Float>) -> Float { maximum(UnsafeBufferPointer(values)) }

    /// The largest value (NaN never wins), 16 lanes at a time.
    static func maximum(_ values: UnsafeBufferPointer<Float>) -> Float {
        var lanes = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        if let base = values.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 16 <= values.count {
                let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                lanes.replace(with: v, where: v .> lanes)
                i += 16
            }
        }
        var result = -Float.infinity
        for lane in 0..<16 where lanes[lane] > result { result = lanes[lane] }
        while i < values.count {
            if values[i] > result { result = values[i] }
            i += 1
        }
        return result
    }

    /// The k-th largest value (k >= 1), by three-way quickselect on a copy.
    static func kthLargest(_ values: UnsafeBufferPointer<Float>, k: Int, buffer: inout [Float]) -> Float {
        precondition(k >= 1 && k <= values.count, "k out of range")
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: values)
        return buffer.withUnsafeMutableBufferPointer { b in
            let target = k - 1
            var low = 0
            var high = b.count - 1
            while low < high {
                let middle = low + (high - low) / 2
                let pivot = medianOfThree(b[low], b[middle], b[high])
                // Descending: [low, lessThan) > pivot, [lessThan, i) == pivot, (greaterThan, high] < pivot.
                var lessThan = low
                var i = low
                var greaterThan = high
                while i <= greaterThan {
                    if b[i] > pivot {
                        b.swapAt(lessThan, i)
                        lessThan += 1
                        i += 1
                    } else if b[i] < pivot {
                        b.swapAt(i, greaterThan)
                        greaterThan -= 1
                    } else {
                        i += 1
                    }
                }
                if target < lessThan {
                    high = lessThan - 1
                } else if target > greaterThan {
                    low = greaterThan + 1
                } else {
                    return pivot
                }
            }
            return b[low]
        }
    }

    private static func medianOfThree(_ a: Float, _ b: Float, _ c: Float) -> Float {
        max(min(a, b), min(max(a, b), c))
    }
}

/// Logits grouped by how far below the maximum they lie, finest near the top: bucket b holds
/// values in (max - (b + 1) w, max - b w], the last bucket everything lower. Larger logits never
/// land in a later bucket, so top-k and top-p can find their cut bucket by bucket and sort only
/// the tokens of the bucket it falls in.
struct LogitBuckets {
    static let count = 2048
    /// Logits more than this below the maximum share the last bucket (relative weight < 1e-17).
    static let range: Float = 40

    let maximum: Float
    private let scale = Float(LogitBuckets.count) / LogitBuckets.range

    init(maximum: Float) {
        self.maximum = maximum
    }

    @inline(__always)
    func index(of value: Float) -> Int {
        let distance = (maximum - value) * scale
        return distance < Float(Self.count - 1) ? Int(distance) : Self.count - 1
    }

    /// Reusable buffers, so that sampling allocates nothing per token once warm.
    struct Scratch {
        var counts = [Int](repeating: 0, count: LogitBuckets.count)
        var masses = [Double](repeating: 0, count: LogitBuckets.count)
        var values: [Float] = []
        var selection: [Float] = []
        var indices: [Int] = []

        mutating func reset() {
            for i in 0..<LogitBuckets.count {
                counts[i] = 0
                masses[i] = 0
            }
        }
    }
}
