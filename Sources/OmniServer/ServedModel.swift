import OmniPipeline

/// The model behind the API: its engine and the id clients call it by.
struct ServedModel: Sendable {
    /// `--served-model-name`, or the model directory as given (vLLM's rule).
    let name: String
    let omni: AsyncOmni

    /// The request's `model`: absent means this one; another name is a 404.
    func check(_ fields: RequestFields) throws(APIError) -> String {
        guard let requested = try fields.string("model") else { return name }
        guard requested == name else { throw .modelNotFound(requested) }
        return name
    }

    /// Token ids a client sent must name tokens of this model.
    func checkTokenIds(_ ids: [Int], field: String) throws(APIError) {
        let limit = vocabularySize
        if let index = ids.firstIndex(where: { $0 < 0 || $0 >= limit }) {
            throw .invalid(field, "\(field)[\(index)] = \(ids[index]) is not a token id of this model (0..<\(limit)).")
        }
    }

    /// Ids the tokenizer can name (the model's embedding table may be larger; ids beyond the
    /// tokenizer have no text).
    var vocabularySize: Int {
        let tokenizer = omni.tokenizer
        return max(tokenizer.vocabularySize, (tokenizer.addedTokens.map(\.id).max() ?? -1) + 1)
    }
}
