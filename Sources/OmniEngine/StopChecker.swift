/// Why a sequence finished (OpenAI's `finish_reason`, plus vLLM's "abort").
public enum FinishReason: String, Sendable, Equatable {
    /// EOS, a stop token id or a stop string.
    case stop
    /// max_tokens, or the context (max_model_len) is full.
    case length
    /// The caller aborted it.
    case abort
}

/// What stopped a `.stop` sequence (vLLM's `stop_reason`: nil for EOS, else the token or string).
public enum StopReason: Sendable, Equatable {
    case eos
    case tokenId(Int)
    case string(String)
}

/// Decides when a sequence stops, by token (EOS, stop_token_ids, max_tokens, max_model_len) and
/// by text (stop strings, found across token boundaries in the detokenized text).
///
/// Text arrives as deltas from the sequence's incremental detokenizer; the checker returns the part
/// that may be shown now. Stop strings are matched on Unicode scalars (Python's code points, as
/// vLLM matches), and while the sequence runs the last (longest stop string - 1) scalars are held
/// back, so a stop string split over several tokens is never partly emitted. When one is found,
/// it and everything after it are dropped (kept up to its end with include_stop_str_in_output).
/// When several end in the same delta, the one starting first wins (vLLM takes the first in the
/// request's list, which can emit text containing another stop string).
public struct StopChecker: Sendable {
    public let stopStrings: [String]
    public let includeStopString: Bool
    private let stops: [[Unicode.Scalar]]
    private let holdBack: Int
    private var text: [Unicode.Scalar] = []
    private var numEmitted = 0

    public init(stopStrings: [String], includeStopString: Bool) {
        self.stopStrings = stopStrings
        self.includeStopString = includeStopString
        stops = stopStrings.map { Array($0.unicodeScalars) }
        let longest = stops.map(\.count).max() ?? 0
        holdBack = includeStopString || longest == 0 ? 0 : longest - 1
    }

    /// The text so far (truncated at a stop string once one is found), emitted or held back.
    public var outputText: String { Self.string(text[...]) }

    /// Adds a delta of detokenized text. `searchable` is false for text of the first min_tokens
    /// tokens, where vLLM does not look for stop strings (a stop string may still start there and
    /// end in later text). Returns the text that can be emitted now and the stop string found.
    public mutating func append(_ delta: String, searchable: Bool = true) -> (text: String, stopString: String?) {
        let oldCount = text.count
        text.append(contentsOf: delta.unicodeScalars)
        var found: String?
        if searchable && text.count > oldCount {
            var best: (start: Int, which: Int)?
            for (which, stop) in stops.enumerated() {
                // Only matches that end inside the new text; earlier text was already searched.
                var start = max(0, oldCount - stop.count + 1)
                while start + stop.count <= text.count {
                    if text[start..<(start + stop.count)].elementsEqual(stop) {
                        if best == nil || start < best!.start { best = (start, which) }
                        break
                    }
                    start += 1
                }
            }
            if let best {
                let end = includeStopString ? best.start + stops[best.which].count : best.start
                text.removeSubrange(end...)
                found = stopStrings[best.which]
            }
        }
        let limit = found == nil ? max(numEmitted, text.count - holdBack) : text.count
        return (emit(upTo: limit), found)
    }

    /// Releases the held-back text: call when the sequence finished for another reason.
    public mutating func flush() -> String {
        emit(upTo: text.count)
    }

    private mutating func emit(upTo limit: Int) -> String {
        guard limit > numEmitted else { return "" }
        let piece = Self.string(text[numEmitted..<limit])
        numEmitted = limit
        return piece
    }

    private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// Whether the token just appended finishes the sequence, in vLLM's order: nothing stops
    /// before min_tokens (except a full context); then EOS, then stop_token_ids, then max_tokens
    /// or max_model_len.
    static func finish(
        lastToken: Int,
        numOutputTokens: Int,
        numTokens: Int,
        minTokens: Int,
        maxTokens: Int,
        maxModelLen: Int,
        eosTokenId: Int?,
        stopTokenIds: Set<Int>
    ) -> (reason: FinishReason, stopReason: StopReason?)? {
        if numOutputTokens < minTokens && numTokens < maxModelLen { return nil }
        if lastToken == eosTokenId { return (.stop, .eos) }
        if stopTokenIds.contains(lastToken) { return (.stop, .tokenId(lastToken)) }
        if numTokens >= maxModelLen || numOutputTokens >= maxTokens { return (.length, nil) }
        return nil
    }
}
