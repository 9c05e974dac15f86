/// Turns generated token ids into text as they arrive.
public protocol StreamingDetokenizer: Sendable {
    /// Adds one id and returns the text that is now final (often empty: a character split over
    /// several byte-level tokens waits for its last byte).
    mutating func append(_ id: Int) -> String
    /// Ends the sequence and returns what was held back (incomplete UTF-8 becomes U+FFFD, as in
    /// the full decode).
    mutating func finish() -> String
}

/// The incremental detokenizer of `PreTrainedTokenizer`. It runs the decoder steps of
/// tokenizer.json as streams, so the concatenation of everything `append` and `finish` return
/// is exactly `decode(ids)`; it never returns part of a UTF-8 sequence, and ids that are not in
/// the vocabulary add nothing.
public struct IncrementalDetokenizer: StreamingDetokenizer {
    private let vocabulary: DecodingVocabulary
    private let skipSpecialTokens: Bool
    private var stages: [DecodeStage]
    private var cleanup: CleanupStream?
    private var tokensSeen = 0

    init(vocabulary: DecodingVocabulary, skipSpecialTokens: Bool) {
        self.vocabulary = vocabulary
        self.skipSpecialTokens = skipSpecialTokens
        self.stages = vocabulary.steps.map(DecodeStage.init)
        self.cleanup = vocabulary.cleansUpSpaces ? CleanupStream() : nil
    }

    public mutating func append(_ id: Int) -> String {
        guard let token = vocabulary.text(of: id, skipSpecialTokens: skipSpecialTokens) else { return "" }
        var pieces: [DecodePiece]
        if stages.isEmpty {
            // No decoder: HF joins the tokens with spaces.
            pieces = [.chunk((tokensSeen > 0 ? [" "] : []) + token)]
        } else {
            pieces = [.token(token)]
        }
        tokensSeen += 1
        for i in stages.indices {
            var next: [DecodePiece] = []
            for p in pieces { stages[i].push(p, into: &next) }
            pieces = next
            if pieces.isEmpty { return "" }
        }
        return emit(pieces, final: false)
    }

    public mutating func finish() -> String {
        var pieces: [DecodePiece] = []
        for i in stages.indices {
            var next: [DecodePiece] = []
            for p in pieces { stages[i].push(p, into: &next) }
            stages[i].finish(into: &next)
            pieces = next
        }
        return emit(pieces, final: true)
    }

    private mutating func emit(_ pieces: [DecodePiece], final: Bool) -> String {
        var scalars: [Unicode.Scalar] = []
        for p in pieces {
            switch p { case .token(let t), .chunk(let t): scalars += t }
        }
        if cleanup != nil {
            scalars = cleanup!.feed(scalars, final: final)
        }
        return Normalizer.string(scalars)
    }
}

/// What decoding needs from the tokenizer, shared by every detokenizer it makes.
final class DecodingVocabulary: Sendable {
    let model: BPEModel
    let added: AddedVocabulary
    let steps: [DecodeStep]
    let cleansUpSpaces: Bool

    init(model: BPEModel, added: AddedVocabulary, steps: [DecodeStep], cleansUpSpaces: Bool) {
        self.model = model
        self.added = added
        self.steps = steps
        self.cleansUpSpaces = cleansUpSpaces
    }

    /// HF `decode`'s token lookup: added tokens first, then the model; nil for unknown ids and,
    /// when skipping, for special tokens.
    func text(of id: Int, skipSpecialTokens: Bool) -> [Unicode.Scalar]? {
        guard let text = added.text(of: id) ?? model.token(of: id) else { return nil }
        if skipSpecialTokens && added.isSpecial(text) { return nil }
        return Array(text.unicodeScalars)
    }
}

/// transformers' `clean_up_tokenization` (`" ."` -> `"."`, `" n't"` -> `"n't"`, ...) on a stream.
/// The text is cut only where no replacement can straddle the cut, in any of the ten passes:
/// after a character other than space, `'` or `n` that is followed by a space, between two
/// non-space characters that do not occur side by side in any pattern, or at the end after a
/// character that no pattern continues.
struct CleanupStream: Sendable {
    private var held: [Unicode.Scalar] = []

    static func cleanUp(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var s = text
        for (from, to) in replacements { s = Normalizer.replace(.literal(from), with: to, in: s) }
        return s
    }

    private static let replacements: [([Unicode.Scalar], [Unicode.Scalar])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
        (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.unicodeScalars), Array($0.1.unicodeScalars)) }

    private static let adjacentPairs: Set<String> = ["n'", "'t", "'v", "ve", "'r", "re", "'m", "'s"]

    mutating func feed(_ scalars: [Unicode.Scalar], final: Bool) -> [Unicode.Scalar] {
        held += scalars
        if final {
            defer { held = [] }
            return Self.cleanUp(held)
        }
        // Everything can go when no pattern can continue from the last character.
        var cut = held.count
        if let last = held.last, !Self.safeEnd(last) {
            cut -= 1
            while cut >= 1 && !Self.isSafeCut(held[cut - 1], held[cut]) { cut -= 1 }
        }
        guard cut >= 1 else { return [] }
        let out = Self.cleanUp(Array(held[..<cut]))
        held.removeFirst(cut)
        return out
    }

    /// No pattern has this character followed by another: a space starts every pattern, and
    /// `n`, `'`, `v`, `r` come first in `n'`, `'t`, `ve`, `re`.
    private static func safeEnd(_ a: Unicode.Scalar) -> Bool {
        a != " " && a != "'" && a != "n" && a != "v" && a != "r"
    }

    private static func isSafeCut(_ a: Unicode.Scalar, _ b: Unicode.Scalar) -> Bool {
        if a == " " { return false }
        if b == " " { return a != "'" && a != "n" }
        return !adjacentPairs.contains(Normalizer.string([a, b]))
    }
}
