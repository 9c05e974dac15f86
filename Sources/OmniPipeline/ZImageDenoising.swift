import Foundation
import OmniEngine
import OmniMedia
import OmniModels
import OmniTensor

/// What one text-to-image request asks for.
public struct ImageRequest: Sendable, Equatable {
    public var prompt: String
    /// The prompt guidance steers away from; `nil` is the empty prompt.
    public var negativePrompt: String?
    public var width: Int
    public var height: Int
    public var steps: Int
    /// Classifier-free guidance runs when it is above 1 (diffusers' rule).
    public var guidanceScale: Double
    /// Guidance stops once the normalized time `(1000 - t) / 1000` exceeds it.
    public var cfgTruncation: Double
    /// When above 0, the guided prediction's norm is capped at this multiple of the conditional one's.
    public var cfgNormalization: Double
    /// `torch.Generator("cpu").manual_seed(seed)` for the initial latents.
    public var seed: UInt64
    public var maxSequenceLength: Int
    public var cache: DiffusionCacheConfig

    public init(prompt: String, negativePrompt: String? = nil, width: Int = 1024, height: Int = 1024, steps: Int = 8,
                guidanceScale: Double = 0, cfgTruncation: Double = 1, cfgNormalization: Double = 0, seed: UInt64 = 0,
                maxSequenceLength: Int = 512, cache: DiffusionCacheConfig = DiffusionCacheConfig()) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.width = width
        self.height = height
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.cfgTruncation = cfgTruncation
        self.cfgNormalization = cfgNormalization
        self.seed = seed
        self.maxSequenceLength = maxSequenceLength
        self.cache = cache
    }
}

/// One request between its steps: its caption features, latents, its own scheduler (timesteps depend
/// on its size and step count) and step cache. `ZImagePipeline.step` advances any set of jobs by one
/// step each, whatever step each is at.
public struct ZImageJob: Sendable {
    public let request: ImageRequest
    let caption: Tensor
    let negativeCaption: Tensor?
    public private(set) var latents: Tensor
    var scheduler: FlowMatchEulerDiscreteScheduler
    /// Steps done so far.
    public private(set) var stepIndex = 0
    /// Mutated by `ZImagePipeline.step` as the cache decides.
    public internal(set) var cache: StepCacheState

    public var isFinished: Bool { stepIndex >= scheduler.timesteps.count }
    public var totalSteps: Int { scheduler.timesteps.count }

    /// The current step's transformer inputs: one branch, or the positive and negative branches when
    /// guidance applies at this step.
    fileprivate func branches() -> (time: Float, captions: [Tensor]) {
        let t = scheduler.timesteps[stepIndex]
        let time = (1000 - t) / 1000
        if request.guidanceScale > 1, Double(time) <= request.cfgTruncation, let negativeCaption {
            return (time, [caption, negativeCaption])
        }
        return (time, [caption])
    }

    fileprivate mutating func advance(prediction: Tensor, backend b: any Backend) throws {
        let t = scheduler.timesteps[stepIndex]
        let flow = b.scale(prediction.reshaped(latents.shape), by: -1)
        latents = try scheduler.step(flow, timestep: t, sample: latents, backend: b)
        stepIndex += 1
    }

}

extension ZImagePipeline {
    /// TeaCache's rescaling polynomial for Z-Image (vLLM-Omni's calibration, highest power first):
    /// maps the relative change of the first block's modulated input to the expected change of the
    /// output.
    public static let teaCacheCoefficients = [-75.4613422, -92.3596156, 57.5318402, -3.76790311, 0.227176809]

    /// Checks a request, encodes its prompts and draws its seeded latents: the job before its first
    /// step. Everything a request can be refused for is checked here, so that a batch of jobs never
    /// fails because of one of them.
    /// - Throws: `ZImagePipelineError` for a bad size or step count, `ZImageTransformerError` for a
    ///   caption or image beyond the model's position range, `PipelineError` for an empty prompt.
    public func makeJob(_ r: ImageRequest) throws -> ZImageJob {
        for (name, value) in [("width", r.width), ("height", r.height)] where value < sizeMultiple || value % sizeMultiple != 0 {
            throw ZImagePipelineError.invalidSize(name: name, value: value, multiple: sizeMultiple)
        }
        guard r.steps >= 1 else { throw ZImagePipelineError.invalidSteps(r.steps) }
        let shape = latentShape(width: r.width, height: r.height)
        let caption = try promptEncoder.encode(r.prompt, maxSequenceLength: r.maxSequenceLength)
        let negative = r.guidanceScale > 1 ? try promptEncoder.encode(r.negativePrompt ?? "", maxSequenceLength: r.maxSequenceLength) : nil
        for c in [caption] + (negative.map { [$0] } ?? []) {
            try transformer.checkInputs(latentShape: [shape[1], 1, shape[2], shape[3]], captionTokens: c.shape[0])
        }
        var generator = TorchGenerator(seed: r.seed)
        let latents = generator.randn(shape)
        var scheduler = self.scheduler
        let mu = scheduler.calculateShift(imageSeqLen: (shape[2] / 2) * (shape[3] / 2))
        try scheduler.setTimesteps(sigmas: SigmaSchedules.zImageDefault(steps: r.steps), mu: mu)
        scheduler.setBeginIndex(0)
        var cache = r.cache
        if cache.kind == .teaCache, cache.coefficients == nil { cache.coefficients = Self.teaCacheCoefficients }
        return ZImageJob(request: r, caption: caption, negativeCaption: negative, latents: latents, scheduler: scheduler,
                         cache: cache.makeState())
    }

    /// One denoising step for each unfinished job, as one batch: every branch of every job goes
    /// through the joint blocks together (their rows stacked in each GEMM), each under its own
    /// timestep, caption and step cache. A job's result does not depend on what it was batched with.
    public func step(_ jobs: inout [ZImageJob]) throws {
        let b = backend, layers = transformer.layerCount
        let active = jobs.indices.filter { !jobs[$0].isFinished }
        guard !active.isEmpty else { return }

        // Every branch's state after the refiners; `owner[k]` is the job of state k.
        var states: [ZImageTransformerState] = [], owner: [Int] = [], branchesOf: [Int: Range<Int>] = [:]
        for j in active {
            let (time, captions) = jobs[j].branches()
            let s = jobs[j].latents.shape
            let item = jobs[j].latents.reshaped([s[1], 1, s[2], s[3]])
            let first = states.count
            for caption in captions {
                states.append(try transformer.prepare(latents: item, timestep: time, caption: caption))
                owner.append(j)
            }
            branchesOf[j] = first..<states.count
        }
        func hidden(_ j: Int) -> [Tensor] { branchesOf[j]!.map { states[$0].hidden } }
        func setHidden(_ j: Int, _ values: [Tensor]) { for (k, v) in zip(branchesOf[j]!, values) { states[k].hidden = v } }

        // tea_cache: skip every block of a job whose modulated input barely moved.
        var running = Set(active), blockInput: [Int: [Tensor]] = [:]
        for j in active {
            let step = jobs[j].stepIndex, ranges = branchesOf[j]!
            let compute = jobs[j].cache.shouldComputeBlocks(
                step: step, modulatedInput: ranges.map { self.transformer.modulatedInput(layer: 0, of: states[$0]) })
            if compute {
                blockInput[j] = hidden(j)
            } else {
                let input = hidden(j)
                setHidden(j, jobs[j].cache.applyCached(step: step, to: input, layers: layers, backend: b))
                running.remove(j)
            }
        }
        func runningItems() -> [Int] { states.indices.filter { running.contains(owner[$0]) } }

        // The first block, then first_block_cache's choice, then the other blocks.
        if layers > 0 { transformer.applyLayer(0, to: &states, items: runningItems()) }
        var firstOutput: [Int: [Tensor]] = [:]
        for j in active where running.contains(j) {
            let step = jobs[j].stepIndex, output = hidden(j), input = blockInput[j]!
            firstOutput[j] = output
            let compute = jobs[j].cache.shouldComputeRemainingBlocks(step: step, firstBlockInput: input,
                                                                     firstBlockOutput: output, backend: b)
            if !compute {
                setHidden(j, jobs[j].cache.applyCached(step: step, to: output, layers: layers, backend: b))
                running.remove(j)
            }
        }
        let rest = runningItems()
        for i in 1..<max(layers, 1) { transformer.applyLayer(i, to: &states, items: rest) }
        for j in active where running.contains(j) {
            let start = jobs[j].request.cache.kind == .firstBlockCache ? firstOutput[j]! : blockInput[j]!
            let end = hidden(j)
            jobs[j].cache.recordComputed(start: start, end: end, layers: layers, backend: b)
        }

        // Final layer, guidance, scheduler step.
        for j in active {
            let outs = branchesOf[j]!.map { transformer.finish(states[$0]) }
            let r = jobs[j].request
            let prediction = outs.count == 2
                ? guided(positive: outs[0], negative: outs[1], scale: Float(r.guidanceScale), normalization: r.cfgNormalization)
                : outs[0]
            try jobs[j].advance(prediction: prediction, backend: b)
        }
    }

    /// The finished job's image: VAE decode of the unscaled latents, then diffusers' postprocess.
    public func decode(_ job: ZImageJob, vaeTiling: AutoencoderKLTiling? = nil) throws -> ZImageOutput {
        let decoded = try vae.decode(vae.unscale(job.latents), tiling: vaeTiling)
        let image = try PixelImage.postprocessed(nchw: decoded.toFloats(), shape: decoded.shape)[0]
        return ZImageOutput(latents: job.latents, decoded: decoded, image: image, cache: job.cache)
    }
}
