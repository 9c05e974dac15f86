import Foundation

/// A token's log-probability and its rank among all tokens (1 = most likely; tokens with an equal
/// or higher value count before it, as vLLM ranks).
public struct TokenLogprob: Sendable, Equatable {
    public var tokenId: Int
    public var logprob: Float
    public var rank: Int

    public init(tokenId: Int, logprob: Float, rank: Int) {
        self.tokenId = tokenId
        self.logprob = logprob
        self.rank = rank
    }
}

/// Logprobs at one position: the token that is there (sampled, or the prompt's next token) and
/// the N most likely ones, most likely first (ties: lower id first).
public struct TokenLogprobs: Sendable, Equatable {
    public var token: TokenLogprob
    public var top: [TokenLogprob]

    public init(token: TokenLogprob, top: [TokenLogprob]) {
        self.token = token
        self.top = top
    }
}

/// The log-softmax of a raw logits row (vLLM's default "raw_logprobs" mode: before temperature,
/// penalties or masks), computed in double and returned as Float like vLLM's float32 result.
enum Logprobs {
    static func of(_ tokenId: Int, in logits: UnsafeBufferPointer<Float>, top count: Int) -> TokenLogprobs {
        var maximum = -Float.infinity
        for value in logits where value > maximum { maximum = value }
        var sum = 0.0
        for value in logits { sum += Double(exp(value - maximum)) }
        let shift = Double(maximum) + log(sum)
        func logprob(_ value: Float) -> Float { Float(Double(value) - shift) }

        let chosen = logits[tokenId]
        var rank = 0
        for value in logits where value >= chosen { rank += 1 }

        // The `count` largest, kept sorted (value descending, id ascending): a scan with insertion.
        var best: [(id: Int, value: Float)] = []
        if count > 0 {
            best.reserveCapacity(count + 1)
            for (id, value) in logits.enumerated() {
                if best.count == count, let last = best.last, !(value > last.value) { continue }
                var position = best.count
                while position > 0 && value > best[position - 1].value { position -= 1 }
                best.insert((id, value), at: position)
                if best.count > count { best.removeLast() }
            }
        }
        return TokenLogprobs(
            token: TokenLogprob(tokenId: tokenId, logprob: logprob(chosen), rank: rank),
            top: best.enumerated().map { TokenLogprob(tokenId: $1.id, logprob: logprob($1.value), rank: $0 + 1) }
        )
    }

    static func of(_ tokenId: Int, in logits: [Float], top count: Int) -> TokenLogprobs {
        logits.withUnsafeBufferPointer { of(tokenId, in: $0, top: count) }
    }
}
