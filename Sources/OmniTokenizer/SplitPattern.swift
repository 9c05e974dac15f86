/// The pattern of a `Split` pre-tokenizer or a `Replace` normalizer/decoder: where it matches in
/// a run of Unicode scalars. The word-splitting regexes of the GPT-2, Llama-3 and Qwen families
/// are recognised from their text and matched by hand-written code (exact and fast); any other
/// regex falls back to Swift `Regex` on Unicode scalars, which may differ from Oniguruma in corner
/// cases, so loading says so in `PreTrainedTokenizer.warnings`.
enum SplitPattern: Sendable {
    case literal([Unicode.Scalar])
    case words(WordSplitter)
    case regex(FallbackRegex)

    /// Builds the pattern of a tokenizer.json `{"String": ...}` / `{"Regex": ...}` object.
    static func from(json: JSONValue?, file: String, field: String, warnings: inout [String]) throws(TokenizerError) -> SplitPattern {
        if let literal = json?["String"]?.string {
            return .literal(Array(literal.unicodeScalars))
        }
        guard let regex = json?["Regex"]?.string else {
            throw TokenizerError.invalidField(file: file, field: field, expected: "{\"String\": ...} or {\"Regex\": ...}")
        }
        if let words = WordSplitter(pattern: regex) { return .words(words) }
        do {
            let compiled = try FallbackRegex(pattern: regex)
            warnings.append("\(file): \(field) regex \"\(regex)\" is not one of the known pre-tokenizer patterns; "
                + "matching it with Swift Regex, which can differ from Oniguruma in corner cases")
            return .regex(compiled)
        } catch {
            throw TokenizerError.invalidPattern(file: file, field: field, pattern: regex, detail: "\(error)")
        }
    }

    /// The non-overlapping matches, left to right, as ranges of indices into `text`.
    func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .literal(let needle):
            return Self.literalMatches(of: needle, in: text)
        case .words(let splitter):
            return splitter.matches(in: text)
        case .regex(let regex):
            return regex.matches(in: text)
        }
    }

    /// HF's `Pattern::find_matches`: the whole text cut into matched and unmatched pieces.
    func pieces(of text: [Unicode.Scalar]) -> [(range: Range<Int>, isMatch: Bool)] {
        if text.isEmpty { return [(0..<0, false)] }
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var previous = 0
        for m in matches(in: text) {
            if previous != m.lowerBound { out.append((previous..<m.lowerBound, false)) }
            out.append((m, true))
            previous = m.upperBound
        }
        if previous != text.count { out.append((previous..<text.count, false)) }
        return out
    }

    private static func literalMatches(of needle: [Unicode.Scalar], in text: [Unicode.Scalar]) -> [Range<Int>] {
        // An empty literal never matches (HF: the whole input is one unmatched piece).
        guard !needle.isEmpty, needle.count <= text.count else { return [] }
        var out: [Range<Int>] = []
        var i = 0
        let first = needle[0]
        while i + needle.count <= text.count {
            if text[i] == first && text[i..<i + needle.count].elementsEqual(needle) {
                out.append(i..<i + needle.count)
                i += needle.count
            } else {
                i += 1
            }
        }
        return out
    }
}

/// The word-splitting regexes we match by hand (anything else goes to Swift `Regex`).
public enum PreTokenizerRegex {
    /// GPT-2's, built into HF's `ByteLevel` pre-tokenizer (`use_regex: true`).
    public static let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// Qwen2 / Qwen2.5 / Qwen3 (and tiktoken's `qwen.tiktoken`).
    public static let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Llama-3 and tiktoken's cl100k; transformers' `TikTokenConverter` default.
    public static let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen3.5 / Qwen3.6: letters runs also take combining marks.
    public static let qwen35 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
}

/// Swift `Regex` over Unicode scalars, for patterns we do not recognise.
struct FallbackRegex: @unchecked Sendable {
    // Regex<AnyRegexOutput> is not declared Sendable; it is immutable once built.
    let regex: Regex<AnyRegexOutput>

    init(pattern: String) throws {
        regex = try Regex(pattern).matchingSemantics(.unicodeScalar)
    }

    func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: text)
        let string = String(view)
        let scalars = string.unicodeScalars
        var out: [Range<Int>] = []
        var cursor = scalars.startIndex
        var cursorOffset = 0
        func offset(of index: String.Index) -> Int {
            cursorOffset += scalars.distance(from: cursor, to: index)
            cursor = index
            return cursorOffset
        }
        for match in string.matches(of: regex) {
            let lower = offset(of: match.range.lowerBound)
            let upper = offset(of: match.range.upperBound)
            out.append(lower..<upper)
        }
        return out
    }
}

/// Hand-written matcher for the word-splitting regexes of byte-level BPE tokenizers:
///
/// - GPT-2 (`ByteLevel` with `use_regex`):
///   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - Qwen2 (`\p{N}`), Llama-3 and tiktoken's cl100k (`\p{N}{1,3}`):
///   `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// - Qwen3.5, which adds `\p{M}` to the letter runs.
///
/// Each alternative is tried in order at each position, with the backtracking outcome worked out
/// by hand (comments below), exactly as Oniguruma's ordered alternation resolves it.
struct WordSplitter: Sendable, Equatable {
    enum Family: Sendable, Equatable { case gpt2, tiktoken }
    var family: Family
    /// `\p{N}{1,k}`; `Int.max` for `\p{N}+`.
    var maxDigits: Int
    /// Qwen3.5: letters runs are `[\p{L}\p{M}]+` and punctuation excludes `\p{M}`.
    var marksAreLetters: Bool

    static let gpt2Pattern = PreTokenizerRegex.gpt2
    static let qwen2Pattern = PreTokenizerRegex.qwen2
    static let llama3Pattern = PreTokenizerRegex.llama3
    static let qwen35Pattern = PreTokenizerRegex.qwen35

    static let gpt2 = WordSplitter(family: .gpt2, maxDigits: .max, marksAreLetters: false)
    static let qwen2 = WordSplitter(family: .tiktoken, maxDigits: 1, marksAreLetters: false)
    static let llama3 = WordSplitter(family: .tiktoken, maxDigits: 3, marksAreLetters: false)
    static let qwen35 = WordSplitter(family: .tiktoken, maxDigits: 1, marksAreLetters: true)

    init(family: Family, maxDigits: Int, marksAreLetters: Bool) {
        self.family = family
        self.maxDigits = maxDigits
        self.marksAreLetters = marksAreLetters
    }

    /// Recognises a known pattern from its text; nil for anything else.
    init?(pattern: String) {
        switch pattern {
        case Self.gpt2Pattern: self = .gpt2
        case Self.qwen2Pattern: self = .qwen2
        case Self.llama3Pattern: self = .llama3
        case Self.qwen35Pattern: self = .qwen35
        default: return nil
        }
    }

    // Per-scalar class bits, computed once per text.
    private static let L: UInt8 = 1, N: UInt8 = 2, M: UInt8 = 4, S: UInt8 = 8, CRLF: UInt8 = 16, SPACE: UInt8 = 32

    func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        let n = text.count
        if n == 0 { return [] }
        var cls = [UInt8](repeating: 0, count: n)
        for i in 0..<n {
            let s = text[i]
            var b: UInt8 = 0
            let k = ScalarClass.classes(s)
            if k.letter { b |= Self.L }
            if k.number { b |= Self.N }
            if k.mark { b |= Self.M }
            if k.whitespace { b |= Self.S }
            if s == "\r" || s == "\n" { b |= Self.CRLF }
            if s == " " { b |= Self.SPACE }
            cls[i] = b
        }
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3)
        text.withUnsafeBufferPointer { t in
            cls.withUnsafeBufferPointer { c in
                var i = 0
                while i < n {
                    let end = family == .gpt2 ? gpt2End(at: i, t, c) : tiktokenEnd(at: i, t, c)
                    if let end {
                        out.append(i..<end)
                        i = end
                    } else {
                        i += 1
                    }
                }
            }
        }
        return out
    }

    @inline(__always) private func run(from i: Int, _ c: UnsafeBufferPointer<UInt8>, while predicate: (UInt8) -> Bool) -> Int {
        var j = i
        while j < c.count && predicate(c[j]) { j += 1 }
        return j
    }

    @inline(__always) private func spaceThenRun(
        at i: Int, _ c: UnsafeBufferPointer<UInt8>, _ isSpace: Bool, _ member: (UInt8) -> Bool
    ) -> Int? {
        if isSpace, i + 1 < c.count, member(c[i + 1]) { return run(from: i + 1, c, while: member) }
        if member(c[i]) { return run(from: i, c, while: member) }
        return nil
    }

    /// Length of a contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) at `i`, or 0.
    @inline(__always) private func contraction(at i: Int, _ t: UnsafeBufferPointer<Unicode.Scalar>, caseInsensitive: Bool) -> Int {
        guard t[i] == "'", i + 1 < t.count else { return 0 }
        func fold(_ s: Unicode.Scalar) -> Unicode.Scalar {
            guard caseInsensitive else { return s }
            if s.value >= 0x41 && s.value <= 0x5A { return Unicode.Scalar(s.value + 0x20)! }
            if s == "\u{017F}" { return "s" }  // LATIN SMALL LETTER LONG S case-folds to "s"
            return s
        }
        let a = fold(t[i + 1])
        switch a {
        case "s", "t", "m", "d": return 2
        case "r", "v":
            return i + 2 < t.count && fold(t[i + 2]) == "e" ? 3 : 0
        case "l":
            return i + 2 < t.count && fold(t[i + 2]) == "l" ? 3 : 0
        default: return 0
        }
    }

    /// `\s+(?!\S)` then `\s+` at a whitespace position `i` whose run ends at `j`.
    @inline(__always) private func whitespaceEnd(at i: Int, runEnd j: Int, count n: Int) -> Int {
        // Greedy \s+ then backtrack one: at j the next scalar is \S (or the end, which succeeds).
        if j == n { return n }
        if j - i >= 2 { return j - 1 }
        return j  // the plain `\s+` alternative
    }

    private func gpt2End(at i: Int, _ t: UnsafeBufferPointer<Unicode.Scalar>, _ c: UnsafeBufferPointer<UInt8>) -> Int? {
        let n = c.count
        let k = contraction(at: i, t, caseInsensitive: false)
        if k > 0 { return i + k }
        let isSpace = c[i] & Self.SPACE != 0
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space then a run.
        if let end = spaceThenRun(at: i, c, isSpace, { $0 & Self.L != 0 }) { return end }
        if let end = spaceThenRun(at: i, c, isSpace, { $0 & Self.N != 0 }) { return end }
        if let end = spaceThenRun(at: i, c, isSpace, { $0 & (Self.S | Self.L | Self.N) == 0 }) { return end }
        if c[i] & Self.S != 0 {
            let j = run(from: i, c) { $0 & Self.S != 0 }
            return whitespaceEnd(at: i, runEnd: j, count: n)
        }
        return nil
    }

    private func tiktokenEnd(at i: Int, _ t: UnsafeBufferPointer<Unicode.Scalar>, _ c: UnsafeBufferPointer<UInt8>) -> Int? {
        let n = c.count
        let k = contraction(at: i, t, caseInsensitive: true)
        if k > 0 { return i + k }
        let letterMask: UInt8 = marksAreLetters ? (Self.L | Self.M) : Self.L
        let isLetter = { (b: UInt8) in b & letterMask != 0 }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`: the optional scalar is taken when a letter follows it;
        // otherwise backtracking drops it and the run must start at i.
        let prefixAllowed = c[i] & (Self.CRLF | Self.L | Self.N) == 0
        if prefixAllowed, i + 1 < n, isLetter(c[i + 1]) { return run(from: i + 1, c, while: isLetter) }
        if isLetter(c[i]) { return run(from: i, c, while: isLetter) }
        // `\p{N}{1,k}`
        if c[i] & Self.N != 0 {
            var j = i + 1
            while j < n, j - i < maxDigits, c[j] & Self.N != 0 { j += 1 }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let punctMask: UInt8 = Self.S | Self.L | Self.N | (marksAreLetters ? Self.M : 0)
        let isPunct = { (b: UInt8) in b & punctMask == 0 }
        var punctStart: Int? = nil
        if c[i] & Self.SPACE != 0, i + 1 < n, isPunct(c[i + 1]) { punctStart = i + 1 }
        else if isPunct(c[i]) { punctStart = i }
        if let start = punctStart {
            let j = run(from: start, c, while: isPunct)
            return run(from: j, c) { $0 & Self.CRLF != 0 }
        }
        guard c[i] & Self.S != 0 else { return nil }
        let j = run(from: i, c) { $0 & Self.S != 0 }
        // `\s*[\r\n]+`: \s* backtracks to the last \r or \n of the run, which [\r\n]+ then takes.
        var m = j - 1
        while m >= i && c[m] & Self.CRLF == 0 { m -= 1 }
        if m >= i { return m + 1 }
        return whitespaceEnd(at: i, runEnd: j, count: n)
    }
}
