import Foundation
import Hummingbird
import OmniEngine
import OmniModels
import OmniPipeline
import OmniTokenizer

/// `POST /v1/images/generations` (DESIGN.md §6) for a text-to-image model: OpenAI's fields
/// (`prompt`, `n`, `size`, `response_format` = `b64_json`) and vLLM-Omni's extensions
/// (`negative_prompt`, `num_inference_steps`, `guidance_scale`, `true_cfg_scale`, `seed`).
extension APIRoutes {
    /// Largest side and area of a generated image.
    static let maxImageSide = 2048
    static let maxImagePixels = 2048 * 2048

    func generateImages(_ request: Request, context: OmniRequestContext) async throws -> Response {
        var request = request
        let model = try host.imageModel()
        let fields = try RequestFields(body: try await body(of: &request))
        let jobs = try Self.parseImageRequest(fields, model: model)
        let id = Self.makeId(prefix: "img")
        context.record.update { $0.requestId = id }
        guard let reservation = admission.reserve(jobs.count) else { throw APIError.overloaded(retryAfter: 1) }
        defer { reservation.release() }
        let created = Int(Date().timeIntervalSince1970), start = ContinuousClock.now
        let images: [ServedImageModel.Image]
        do {
            if let connection = await DisconnectWatcher.connection(of: context.channel) {
                images = try await connection.cancellingOnClose { try await model.generate(jobs) }
            } else {
                images = try await model.generate(jobs)
            }
        } catch {
            metrics.imagesFinished(images: 0, skippedBlocks: 0, computedBlocks: 0, latency: ContinuousClock.now - start)
            throw Self.imageError(error) ?? error
        }
        let skipped = images.reduce(0) { $0 + $1.cache.skippedBlocks }, computed = images.reduce(0) { $0 + $1.cache.computedBlocks }
        metrics.imagesFinished(images: images.count, skippedBlocks: skipped, computedBlocks: computed,
                               latency: ContinuousClock.now - start)
        context.record.update {
            $0.images = images.count
            $0.skippedBlocks = skipped
            $0.computedBlocks = computed
        }
        let data: [JinjaValue] = images.map { ["b64_json": .string(Data($0.png).base64EncodedString())] }
        // Extension: what the step cache did, per image and in all (joint-block evaluations).
        let cache: JinjaValue = [
            "backend": .string(jobs[0].cache.kind.rawValue),
            "skipped_blocks": .int(skipped), "computed_blocks": .int(computed),
            "cached_steps": .array(images.map { .array($0.cache.cachedSteps.map { .int($0) }) }),
        ]
        return json(["created": .int(created), "data": .array(data), "cache": cache])
    }

    /// The 400 for what the model refuses about a request that passed the field checks (an image
    /// too large for this checkpoint's rotary position range, a caption too long for it).
    static func imageError(_ error: any Error) -> APIError? {
        switch error {
        case ZImagePipelineError.invalidSize:
            return .invalid("size", "size: \(error)")
        case ZImagePipelineError.invalidSteps:
            return .invalid("num_inference_steps", "\(error)")
        case PipelineError.invalidPrompt(let message):
            return .invalid("prompt", message)
        case ZImageTransformerError.tooManyPositions(_, let grid, let lens):
            let sizeAtFault = grid.count == 3 && lens.count == 3 && (grid[1] > lens[1] || grid[2] > lens[2])
            return .invalid(sizeAtFault ? "size" : "prompt", "This model cannot generate it: \(error).")
        default:
            return nil
        }
    }

    static func parseImageRequest(_ fields: RequestFields, model: ServedImageModel) throws(APIError) -> [ImageRequest] {
        if let requested = try fields.string("model"), requested != model.name { throw .modelNotFound(requested) }
        return try parseImageFields(fields, model: model)
    }

    private static func parseImageFields(_ fields: RequestFields, model: ServedImageModel) throws(APIError) -> [ImageRequest] {
        guard let prompt = try fields.string("prompt") else { throw .invalid("prompt", "prompt is required (a string).") }
        let n = try fields.int("n", in: 1...4) ?? 1
        let format = try fields.string("response_format") ?? "b64_json"
        guard format == "b64_json" else {
            throw .invalid("response_format", "response_format must be b64_json (this server does not host images at URLs), got \(format).")
        }
        let (width, height) = try imageSize(fields, multiple: model.pipeline.sizeMultiple)
        let steps = try fields.int("num_inference_steps", in: 1...100) ?? 8
        // Z-Image's guidance_scale is classifier-free guidance itself (with the negative prompt),
        // which is what true_cfg_scale means for pipelines that have both: either names it.
        let guidanceField = try fields.double("guidance_scale"), trueCFG = try fields.double("true_cfg_scale")
        for (name, value) in [("guidance_scale", guidanceField), ("true_cfg_scale", trueCFG)] {
            if let value, !(0...100).contains(value) { throw .invalid(name, "\(name) must be in [0, 100], got \(value).") }
        }
        if let guidanceField, let trueCFG, guidanceField != trueCFG {
            throw .invalid("true_cfg_scale", "true_cfg_scale \(trueCFG) contradicts guidance_scale \(guidanceField): for this model both are the classifier-free guidance scale; give one.")
        }
        let guidance = guidanceField ?? trueCFG ?? 0
        let cfgTruncation = try fields.double("cfg_truncation") ?? 1
        guard (0...1).contains(cfgTruncation) else {
            throw .invalid("cfg_truncation", "cfg_truncation must be in [0, 1], got \(cfgTruncation).")
        }
        let cfgNormalization = try fields.double("cfg_normalization") ?? 0
        guard cfgNormalization >= 0, cfgNormalization.isFinite else {
            throw .invalid("cfg_normalization", "cfg_normalization must be at least 0 (0: off), got \(cfgNormalization).")
        }
        let maxSequenceLength = try fields.int("max_sequence_length", in: 1...1024) ?? 512
        let cache = try cacheConfig(fields, default: model.generator.defaultCache)
        let negativePrompt = try fields.string("negative_prompt")
        let seed: UInt64
        if let given = try fields.int("seed", in: 0...Int.max) {
            seed = UInt64(given)
        } else {
            seed = UInt64.random(in: 0...UInt64(UInt32.max))
        }
        return (0..<n).map { index in
            ImageRequest(prompt: prompt, negativePrompt: negativePrompt, width: width, height: height, steps: steps,
                         guidanceScale: guidance, cfgTruncation: cfgTruncation, cfgNormalization: cfgNormalization,
                         seed: seed &+ UInt64(index), maxSequenceLength: maxSequenceLength, cache: cache)
        }
    }

    /// The request's step cache: `cache_backend` (none, tea_cache, first_block_cache) and
    /// `cache_config` (that backend's settings) override the server's `--cache-backend` /
    /// `--cache-config`; settings alone adjust the server's backend.
    private static func cacheConfig(_ fields: RequestFields, default server: DiffusionCacheConfig) throws(APIError) -> DiffusionCacheConfig {
        let backend = try fields.string("cache_backend")
        let settings = try fields.object("cache_config")
        guard backend != nil || settings != nil else { return server }
        let kind: DiffusionCacheConfig.Kind
        if let backend {
            guard let k = DiffusionCacheConfig.Kind(rawValue: backend) else {
                throw .invalid("cache_backend", "\(DiffusionCacheConfigError.unknownBackend(backend)).")
            }
            kind = k
        } else {
            kind = server.kind
        }
        guard let settings else { return backend == nil || kind == server.kind ? server : DiffusionCacheConfig(kind: kind) }
        do {
            return try DiffusionCacheConfig(kind: kind, fields: settings.cacheSettings)
        } catch {
            throw .invalid("cache_config.\(error.field)", "cache_config: \(error).")
        }
    }

    /// `size` as "WxH": each side a multiple of the model's patch size, within the limits.
    private static func imageSize(_ fields: RequestFields, multiple: Int) throws(APIError) -> (Int, Int) {
        guard let size = try fields.string("size"), size != "auto" else { return (1024, 1024) }
        let parts = size.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]) else {
            throw .invalid("size", "size must be \"WIDTHxHEIGHT\" (e.g. \"1024x1024\"), got \"\(size)\".")
        }
        let lower = max(multiple, 16)
        guard (lower...maxImageSide).contains(width), (lower...maxImageSide).contains(height),
              width % multiple == 0, height % multiple == 0 else {
            throw .invalid("size", "size \(size): width and height must be multiples of \(multiple) in [\(lower), \(maxImageSide)].")
        }
        guard width * height <= maxImagePixels else {
            throw .invalid("size", "size \(size) has more than \(maxImagePixels) pixels.")
        }
        return (width, height)
    }
}
