import Foundation

/// A model's `generation_config.json`: the sampling defaults its authors chose. Every field is
/// optional; the engine's own defaults apply to what is absent.
public struct GenerationConfig: Sendable {
    public let bosTokenId: Int?
    /// `eos_token_id`: one id or a list in the file.
    public let eosTokenIds: [Int]?
    public let padTokenId: Int?
    public let doSample: Bool?
    public let temperature: Double?
    public let topP: Double?
    public let topK: Int?
    public let minP: Double?
    public let repetitionPenalty: Double?
    public let maxNewTokens: Int?
    public let maxLength: Int?
    public let raw: ConfigObject

    /// Reads a generation_config.json.
    public init(contentsOf url: URL) throws(WeightsError) {
        try self.init(ConfigObject(contentsOf: url))
    }

    /// Reads `generation_config.json` in a model directory; nil when the model has none.
    public init?(directory: URL) throws(WeightsError) {
        let url = directory.appendingPathComponent("generation_config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        try self.init(contentsOf: url)
    }

    public init(_ config: ConfigObject) throws(WeightsError) {
        raw = config
        bosTokenId = try config.int("bos_token_id")
        eosTokenIds = try config.intOrInts("eos_token_id")
        padTokenId = try config.int("pad_token_id")
        doSample = try config.bool("do_sample")
        temperature = try config.double("temperature")
        topP = try config.double("top_p")
        topK = try config.int("top_k")
        minP = try config.double("min_p")
        repetitionPenalty = try config.double("repetition_penalty")
        maxNewTokens = try config.int("max_new_tokens")
        maxLength = try config.int("max_length")
        if let temperature, temperature < 0 { throw config.invalid("temperature", "must not be negative", .double(temperature)) }
        if let topP, !(topP > 0 && topP <= 1) { throw config.invalid("top_p", "must be in (0, 1]", .double(topP)) }
        if let repetitionPenalty, !(repetitionPenalty > 0) {
            throw config.invalid("repetition_penalty", "must be positive", .double(repetitionPenalty))
        }
    }
}
