import OmniEngine
import OmniTokenizer

/// Logprobs in OpenAI's two shapes. A token's text is `decode([id])` (vLLM's choice: a token that
/// is part of a multi-byte character reads as U+FFFD, and chat's `bytes` are that text's UTF-8).
struct LogprobsFormat {
    let tokenizer: PreTrainedTokenizer
    /// Alternatives listed per position.
    let top: Int

    func text(of tokenId: Int) -> String { tokenizer.decode([tokenId]) }

    /// One position of the completions shape: the token there and its logprobs (nil for a prompt's
    /// first token, which nothing predicts).
    struct Position {
        var tokenId: Int
        var logprobs: TokenLogprobs?
    }

    /// Completions: `{text_offset, token_logprobs, tokens, top_logprobs}`, offsets counted in
    /// Unicode scalars (Python characters) from `offset`. Returns the offset after the last token.
    func completion(_ positions: [Position], offset: Int) -> (json: JinjaValue, end: Int) {
        var offsets: [JinjaValue] = []
        var values: [JinjaValue] = []
        var tokens: [JinjaValue] = []
        var tops: [JinjaValue] = []
        var position = offset
        for entry in positions {
            let token = text(of: entry.tokenId)
            offsets.append(.int(position))
            position += token.unicodeScalars.count
            tokens.append(.string(token))
            guard let logprobs = entry.logprobs else {
                values.append(.null)
                tops.append(.null)
                continue
            }
            values.append(.logprob(logprobs.token.logprob))
            // vLLM lists the top N and the chosen token; equal texts share one key.
            var alternatives = JinjaObject()
            for alternative in logprobs.top.prefix(top) where alternatives[text(of: alternative.tokenId)] == nil {
                alternatives[text(of: alternative.tokenId)] = .logprob(alternative.logprob)
            }
            if alternatives[token] == nil { alternatives[token] = .logprob(logprobs.token.logprob) }
            tops.append(.object(alternatives))
        }
        let json: JinjaValue = [
            "text_offset": .array(offsets), "token_logprobs": .array(values), "tokens": .array(tokens),
            "top_logprobs": .array(tops),
        ]
        return (json, position)
    }

    /// Chat: `{"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}`.
    func chat(_ entries: [TokenLogprobs]) -> JinjaValue {
        ["content": .array(entries.map { entry in
            var item = self.entry(entry.token)
            item["top_logprobs"] = .array(entry.top.prefix(top).map { .object(self.entry($0)) })
            return .object(item)
        })]
    }

    private func entry(_ logprob: TokenLogprob) -> JinjaObject {
        let token = text(of: logprob.tokenId)
        return JinjaObject([
            ("token", .string(token)), ("logprob", .logprob(logprob.logprob)),
            ("bytes", .array(token.utf8.map { .int(Int($0)) })),
        ])
    }
}
