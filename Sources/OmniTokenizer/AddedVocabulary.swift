/// A token matched in the raw text before the model runs (HF `AddedToken`).
public struct AddedToken: Sendable, Equatable {
    public var id: Int
    public var content: String
    /// Skipped by `decode(_:skipSpecialTokens: true)`.
    public var isSpecial: Bool
    /// Swallows the whitespace on its left.
    public var lstrip: Bool
    /// Swallows the whitespace on its right.
    public var rstrip: Bool
    /// Matched in the normalized text (else in the raw text).
    public var normalized: Bool
    /// Matched only when not inside a word.
    public var singleWord: Bool

    public init(id: Int, content: String, isSpecial: Bool, lstrip: Bool = false, rstrip: Bool = false,
                normalized: Bool? = nil, singleWord: Bool = false) {
        self.id = id
        self.content = content
        self.isSpecial = isSpecial
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized ?? !isSpecial
        self.singleWord = singleWord
    }

    public static func == (a: AddedToken, b: AddedToken) -> Bool {
        a.id == b.id && TokenKey(a.content) == TokenKey(b.content) && a.isSpecial == b.isSpecial
            && a.lstrip == b.lstrip && a.rstrip == b.rstrip && a.normalized == b.normalized && a.singleWord == b.singleWord
    }

    /// An entry of tokenizer.json `added_tokens` or tokenizer_config.json `added_tokens_decoder`.
    static func from(json: JSONValue, id: Int, file: String, field: String) throws(TokenizerError) -> AddedToken {
        guard let content = json["content"]?.string else {
            throw TokenizerError.invalidField(file: file, field: "\(field).content", expected: "a string")
        }
        let special = json["special"]?.bool ?? false
        return AddedToken(
            id: id, content: content, isSpecial: special, lstrip: json["lstrip"]?.bool ?? false,
            rstrip: json["rstrip"]?.bool ?? false, normalized: json["normalized"]?.bool ?? !special,
            singleWord: json["single_word"]?.bool ?? false)
    }
}

/// HF's `AddedVocabulary`: the added tokens and the leftmost-longest matching that cuts them out
/// of the text (non-normalized ones in the raw text, normalized ones after the normalizer).
struct AddedVocabulary: Sendable {
    private(set) var tokens: [AddedToken] = []
    private var indexByID: [Int: Int] = [:]
    private var idByContent: [TokenKey: Int] = [:]
    /// Content of special tokens (HF `special_tokens_set`).
    private var specialContents: Set<TokenKey> = []
    /// Normalized content, where the normalizer changes it (HF `normalized_cache`).
    private var normalizedContent: [Int: String] = [:]
    private var rawTrie = ScalarTrie()
    private var normalizedTrie = ScalarTrie()
    /// HF `encode_special_tokens` (transformers' `split_special_tokens`): special tokens are not matched.
    var encodeSpecialTokens = false

    var isEmpty: Bool { tokens.isEmpty }

    func token(of id: Int) -> AddedToken? { indexByID[id].map { tokens[$0] } }
    func id(of content: String) -> Int? { idByContent[TokenKey(content)] }

    /// HF `simple_id_to_token`: the normalized content for normalized tokens.
    func text(of id: Int) -> String? {
        guard let token = token(of: id) else { return nil }
        return normalizedContent[id] ?? token.content
    }

    func isSpecial(_ text: String) -> Bool { specialContents.contains(TokenKey(text)) }

    /// HF `add_tokens`: a token with known content keeps its id and takes the new flags.
    mutating func add(_ newTokens: [AddedToken], normalizer: Normalizer?) {
        for token in newTokens { insert(token, normalizer: normalizer) }
        rebuildTries()
    }

    private mutating func insert(_ token: AddedToken, normalizer: Normalizer?) {
        if token.content.isEmpty { return }
        if let i = indexByID[token.id] {
            idByContent[TokenKey(tokens[i].content)] = nil
            tokens[i] = token
        } else {
            indexByID[token.id] = tokens.count
            tokens.append(token)
        }
        idByContent[TokenKey(token.content)] = token.id
        if token.isSpecial { specialContents.insert(TokenKey(token.content)) }
        normalizedContent[token.id] = nil
        if token.normalized, let normalizer {
            let normed = Normalizer.string(normalizer.normalize(Array(token.content.unicodeScalars)))
            if TokenKey(normed) != TokenKey(token.content) { normalizedContent[token.id] = normed }
        }
    }

    private mutating func rebuildTries() {
        rawTrie = ScalarTrie()
        normalizedTrie = ScalarTrie()
        for t in tokens {
            if t.normalized {
                normalizedTrie.insert(Array((normalizedContent[t.id] ?? t.content).unicodeScalars), value: t.id)
            } else {
                rawTrie.insert(Array(t.content.unicodeScalars), value: t.id)
            }
        }
    }

    /// HF `extract_and_normalize`: cuts raw-matched tokens out of the text, normalizes the rest,
    /// then cuts normalized-matched tokens out of that.
    func extractAndNormalize(_ text: [Unicode.Scalar], normalizer: Normalizer?) -> [Segment] {
        var out: [Segment] = []
        for segment in split(text, trie: rawTrie, startsAtOrigin: true) {
            guard case .text(let raw, let atOrigin) = segment else { out.append(segment); continue }
            let normalized = normalizer?.normalize(raw) ?? raw
            out.append(contentsOf: split(normalized, trie: normalizedTrie, startsAtOrigin: atOrigin))
        }
        return out
    }

    enum Segment {
        case text([Unicode.Scalar], startsAtOrigin: Bool)
        case token(Int)
    }

    /// HF `find_matches` + `split_with_indices`; empty text pieces are dropped, as
    /// `PreTokenizedString::split` drops empty splits.
    private func split(_ text: [Unicode.Scalar], trie: ScalarTrie, startsAtOrigin: Bool) -> [Segment] {
        if text.isEmpty { return [] }
        if trie.isEmpty { return [.text(text, startsAtOrigin: startsAtOrigin)] }
        var out: [Segment] = []
        var startOffset = 0
        func addText(_ r: Range<Int>) {
            if !r.isEmpty { out.append(.text(Array(text[r]), startsAtOrigin: startsAtOrigin && r.lowerBound == 0)) }
        }
        for (matchStart, matchEnd, id) in trie.leftmostLongestMatches(in: text) {
            var start = matchStart, stop = matchEnd
            let token = tokens[indexByID[id]!]
            if encodeSpecialTokens && specialContents.contains(TokenKey(token.content)) { continue }
            if token.singleWord {
                let startSpace = start == 0 || !ScalarClass.isWordCharacter(text[start - 1])
                let stopSpace = stop == text.count || !ScalarClass.isWordCharacter(text[stop])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var newStart = start
                while newStart > 0 && ScalarClass.isWhitespace(text[newStart - 1]) { newStart -= 1 }
                start = max(newStart, startOffset)
            }
            if token.rstrip {
                while stop < text.count && ScalarClass.isWhitespace(text[stop]) { stop += 1 }
            }
            if startOffset < start { addText(startOffset..<start) }
            out.append(.token(id))
            startOffset = stop
        }
        if startOffset < text.count { addText(startOffset..<text.count) }
        return out
    }
}

/// A trie over Unicode scalars for leftmost-longest matching of added tokens (what HF gets from
/// daachorse's `MatchKind::LeftmostLongest`).
struct ScalarTrie: Sendable {
    private var children: [[UInt32: Int32]] = [[:]]
    private var values: [Int?] = [nil]

    var isEmpty: Bool { children[0].isEmpty }

    mutating func insert(_ key: [Unicode.Scalar], value: Int) {
        var node = 0
        for s in key {
            if let next = children[node][s.value] {
                node = Int(next)
            } else {
                children.append([:])
                values.append(nil)
                children[node][s.value] = Int32(children.count - 1)
                node = children.count - 1
            }
        }
        // The first token inserted with a given content keeps the match (same content, same id
        // in practice).
        if values[node] == nil { values[node] = value }
    }

    /// Non-overlapping matches: the leftmost start, the longest token there.
    func leftmostLongestMatches(in text: [Unicode.Scalar]) -> [(Int, Int, Int)] {
        var out: [(Int, Int, Int)] = []
        let root = children[0]
        var i = 0
        while i < text.count {
            guard let first = root[text[i].value] else { i += 1; continue }
            var node = Int(first)
            var best: (end: Int, value: Int)? = values[node].map { (i + 1, $0) }
            var j = i + 1
            while j < text.count, let next = children[node][text[j].value] {
                node = Int(next)
                j += 1
                if let v = values[node] { best = (j, v) }
            }
            if let best {
                out.append((i, best.end, best.value))
                i = best.end
            } else {
                i += 1
            }
        }
        return out
    }
}
