import ArgumentParser
import Foundation
import OmniEngine
import OmniPipeline
import OmniTokenizer

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one request through the same pipeline as the server; text goes to stdout.")

    @OptionGroup var model: ModelOptions

    @Option(help: "The prompt text.")
    var prompt: String

    @Flag(help: "Wrap the prompt as one user message through the model's chat template.")
    var chat = false

    @Option(help: "Tokens to generate at most.")
    var maxTokens: Int = 128

    @Option(help: "Sampling temperature (0 = greedy). Default: generation_config.json, else 1.")
    var temperature: Double?

    @Option(help: "Nucleus sampling mass.")
    var topP: Double?

    @Option(help: "Sample among the K most likely tokens.")
    var topK: Int?

    @Option(help: "Seed for reproducible sampling.")
    var seed: Int?

    @Option(help: "Completions to generate.")
    var n: Int = 1

    @Flag(help: "Keep generating past end-of-sequence tokens.")
    var ignoreEos = false

    @Flag(help: "Print one JSON object per completion (text, token_ids, prompt_token_ids, finish_reason).")
    var json = false

    @Option(help: "Where to write an image or audio result (image and audio models).")
    var output: String?

    @Option(help: "Image width in pixels (image models).")
    var width: Int = 1024

    @Option(help: "Image height in pixels (image models).")
    var height: Int = 1024

    @Option(help: "Denoising steps (image models).")
    var steps: Int = 8

    @Option(help: "Classifier-free guidance scale; guidance runs above 1 (image models).")
    var guidanceScale: Double = 0

    @Option(help: "What guidance steers away from (image models, with --guidance-scale above 1).")
    var negativePrompt: String?

    @Flag(help: "Decode the image tile by tile, bounding the VAE's memory for large sizes (image models).")
    var vaeTiling = false

    @OptionGroup var diffusion: DiffusionOptions

    func run() async throws {
        if try ModelRegistry.resolve(directory: model.modelDir).stages == [.diffusion] {
            try await generateImage()
            return
        }
        if diffusion.cacheBackend != "none" || diffusion.resolvedCacheConfig != nil {
            throw ValidationError("--cache-backend/--cache-config apply to diffusion models; \(model.modelDir) is a text model")
        }
        var options = EngineOptions()
        model.apply(to: &options)
        options.weightDType = model.dtype == "auto" ? nil : model.dtype
        options.maxNumSeqs = max(n, 1)
        let omni = try AsyncOmni(directory: model.modelDir, options: options)
        defer { omni.shutdown() }
        let promptIds: [Int]
        if chat {
            promptIds = try omni.chatPromptTokenIds(messages: [["role": "user", "content": .string(prompt)]])
        } else {
            promptIds = omni.tokenizer.encode(prompt, addSpecialTokens: true)
        }
        let params = try SamplingParams(
            n: n, temperature: temperature, topP: topP, topK: topK, seed: seed, maxTokens: maxTokens,
            ignoreEOS: ignoreEos, defaults: omni.generationDefaults)

        var texts = [String](repeating: "", count: n)
        var tokens = [[Int]](repeating: [], count: n)
        var reasons = [String?](repeating: nil, count: n)
        let streaming = !json && n == 1
        for try await delta in omni.generate(promptTokenIds: promptIds, params: params) {
            texts[delta.index] += delta.text
            tokens[delta.index] += delta.newTokenIds
            if let reason = delta.finishReason { reasons[delta.index] = reason.rawValue }
            if streaming {
                FileHandle.standardOutput.write(Data(delta.text.utf8))
            }
        }
        if streaming {
            print()
            return
        }
        for i in 0..<n {
            if json {
                let object: [String: Any] = [
                    "index": i, "text": texts[i], "token_ids": tokens[i], "prompt_token_ids": promptIds,
                    "finish_reason": reasons[i] as Any,
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("--- completion \(i) (\(reasons[i] ?? "?")) ---")
                print(texts[i])
            }
        }
    }
}
