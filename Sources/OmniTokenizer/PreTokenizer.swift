/// A piece of the input on its way to the model, as a split of HF's `PreTokenizedString`.
struct TextPiece: Sendable {
    var text: [Unicode.Scalar]
    /// Whether it begins at offset 0 of the original input (Metaspace's `prepend_scheme: first`).
    var startsAtOrigin: Bool
}

/// How a `Split` pre-tokenizer treats what its pattern matched (HF `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    /// HF `NormalizedString::split`: the kept ranges, from the matched/unmatched cut of a text.
    func apply(to pieces: [(range: Range<Int>, isMatch: Bool)]) -> [Range<Int>] {
        switch self {
        case .isolated:
            return pieces.map(\.range)
        case .removed:
            return pieces.filter { !$0.isMatch }.map(\.range)
        case .contiguous:
            var out: [Range<Int>] = []
            var previousMatch = false
            for p in pieces {
                if p.isMatch == previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<p.range.upperBound
                } else {
                    out.append(p.range)
                }
                previousMatch = p.isMatch
            }
            return out
        case .mergedWithPrevious:
            var out: [Range<Int>] = []
            var previousMatch = false
            for p in pieces {
                if p.isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<p.range.upperBound
                } else {
                    out.append(p.range)
                }
                previousMatch = p.isMatch
            }
            return out
        case .mergedWithNext:
            var out: [Range<Int>] = []
            var previousMatch = false
            for p in pieces.reversed() {
                if p.isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = p.range.lowerBound..<last.upperBound
                } else {
                    out.append(p.range)
                }
                previousMatch = p.isMatch
            }
            return out.reversed()
        }
    }
}

/// Metaspace's `prepend_scheme`.
enum PrependScheme: String, Sendable {
    case first, never, always
}

/// tokenizer.json `pre_tokenizer`: cuts normalized text into the words the model sees.
indirect enum PreTokenizer: Sendable {
    case sequence([PreTokenizer])
    case split(SplitPattern, behavior: SplitBehavior, invert: Bool)
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case digits(individual: Bool)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    case whitespace
    case whitespaceSplit
    case punctuation(SplitBehavior)

    static let supportedTypes = ["Sequence", "Split", "ByteLevel", "Digits", "Metaspace", "Whitespace", "WhitespaceSplit", "Punctuation"]

    static func from(json: JSONValue, file: String, field: String, warnings: inout [String]) throws(TokenizerError) -> PreTokenizer {
        guard let type = json["type"]?.string else {
            throw TokenizerError.invalidField(file: file, field: "\(field).type", expected: "a string")
        }
        func behavior(_ key: String, default value: SplitBehavior?) throws(TokenizerError) -> SplitBehavior {
            guard let raw = json[key]?.string else {
                if let value { return value }
                throw TokenizerError.invalidField(file: file, field: "\(field).\(key)", expected: "a string")
            }
            guard let b = SplitBehavior(rawValue: raw) else {
                throw TokenizerError.unsupported(file: file, field: "\(field).\(key)", value: raw,
                                                 supported: ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"])
            }
            return b
        }
        switch type {
        case "Sequence":
            guard let items = json["pretokenizers"]?.array else {
                throw TokenizerError.invalidField(file: file, field: "\(field).pretokenizers", expected: "an array")
            }
            var list: [PreTokenizer] = []
            for (i, item) in items.enumerated() {
                list.append(try from(json: item, file: file, field: "\(field).pretokenizers[\(i)]", warnings: &warnings))
            }
            return .sequence(list)
        case "Split":
            let pattern = try SplitPattern.from(json: json["pattern"], file: file, field: "\(field).pattern", warnings: &warnings)
            return .split(pattern, behavior: try behavior("behavior", default: nil), invert: json["invert"]?.bool ?? false)
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: json["add_prefix_space"]?.bool ?? true, useRegex: json["use_regex"]?.bool ?? true)
        case "Digits":
            return .digits(individual: json["individual_digits"]?.bool ?? false)
        case "Metaspace":
            let replacement = json["replacement"]?.string?.unicodeScalars.first ?? "\u{2581}"
            var scheme = PrependScheme(rawValue: json["prepend_scheme"]?.string ?? "always") ?? .always
            if json["add_prefix_space"]?.bool == false { scheme = .never }
            return .metaspace(replacement: replacement, prependScheme: scheme, split: json["split"]?.bool ?? true)
        case "Whitespace":
            return .whitespace
        case "WhitespaceSplit":
            return .whitespaceSplit
        case "Punctuation":
            return .punctuation(try behavior("behavior", default: .isolated))
        default:
            throw TokenizerError.unsupported(file: file, field: "\(field).type", value: type, supported: supportedTypes)
        }
    }

    func preTokenize(_ pieces: inout [TextPiece]) {
        switch self {
        case .sequence(let list):
            for p in list { p.preTokenize(&pieces) }
        case .split(let pattern, let behavior, let invert):
            Self.split(&pieces) { text in
                var cut = pattern.pieces(of: text)
                if invert { cut = cut.map { ($0.range, !$0.isMatch) } }
                return behavior.apply(to: cut)
            }
        case .byteLevel(let addPrefixSpace, let useRegex):
            if addPrefixSpace || useRegex {
                Self.split(&pieces) { text in
                    // The prefix space was prepended by the caller below; see `splitPrefixed`.
                    useRegex ? SplitBehavior.isolated.apply(to: SplitPattern.words(.gpt2).pieces(of: text)) : [0..<text.count]
                } prepare: { piece in
                    if addPrefixSpace && piece.text.first != " " { piece.text.insert(" ", at: 0) }
                }
            }
            for i in pieces.indices { pieces[i].text = ByteLevel.encode(pieces[i].text) }
        case .digits(let individual):
            Self.split(&pieces) { text in
                let cut = Self.scalarPieces(of: text, where: ScalarClass.isNumber)
                return (individual ? SplitBehavior.isolated : .contiguous).apply(to: cut)
            }
        case .metaspace(let replacement, let scheme, let split):
            Self.split(&pieces) { text in
                split ? SplitBehavior.mergedWithNext.apply(to: Self.scalarPieces(of: text) { $0 == replacement }) : [0..<text.count]
            } prepare: { piece in
                piece.text = piece.text.map { $0 == " " ? replacement : $0 }
                let prepend: Bool
                switch scheme {
                case .always: prepend = piece.text.first != replacement
                case .first: prepend = piece.text.first != replacement && piece.startsAtOrigin
                case .never: prepend = false
                }
                if prepend { piece.text.insert(replacement, at: 0) }
            }
        case .whitespace:
            // `\w+|[^\w\s]+` kept, everything else removed.
            Self.split(&pieces) { text in
                var out: [Range<Int>] = []
                var i = 0
                while i < text.count {
                    let s = text[i]
                    if ScalarClass.isWordCharacter(s) {
                        var j = i + 1
                        while j < text.count && ScalarClass.isWordCharacter(text[j]) { j += 1 }
                        out.append(i..<j); i = j
                    } else if !ScalarClass.isWhitespace(s) {
                        var j = i + 1
                        while j < text.count && !ScalarClass.isWordCharacter(text[j]) && !ScalarClass.isWhitespace(text[j]) { j += 1 }
                        out.append(i..<j); i = j
                    } else {
                        i += 1
                    }
                }
                return out
            }
        case .whitespaceSplit:
            Self.split(&pieces) { text in
                SplitBehavior.removed.apply(to: Self.scalarPieces(of: text, where: ScalarClass.isWhitespace))
            }
        case .punctuation(let behavior):
            Self.split(&pieces) { text in
                behavior.apply(to: Self.scalarPieces(of: text) { s in
                    switch s.properties.generalCategory {
                    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                         .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
                    default: return s.isASCII && (0x21...0x7E).contains(s.value) && !ScalarClass.isWordCharacter(s)
                    }
                })
            }
        }
    }

    /// HF `PreTokenizedString::split`: replaces each piece by its kept sub-ranges, dropping empty ones.
    private static func split(
        _ pieces: inout [TextPiece],
        ranges: ([Unicode.Scalar]) -> [Range<Int>],
        prepare: (inout TextPiece) -> Void = { _ in }
    ) {
        var out: [TextPiece] = []
        out.reserveCapacity(pieces.count)
        for var piece in pieces {
            prepare(&piece)
            for r in ranges(piece.text) where !r.isEmpty {
                out.append(TextPiece(text: Array(piece.text[r]), startsAtOrigin: piece.startsAtOrigin && r.lowerBound == 0))
            }
        }
        pieces = out
    }

    /// HF's `Pattern` for a `char -> bool` predicate: each matching scalar is its own match.
    static func scalarPieces(of text: [Unicode.Scalar], where predicate: (Unicode.Scalar) -> Bool) -> [(range: Range<Int>, isMatch: Bool)] {
        if text.isEmpty { return [(0..<0, false)] }
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var lastOffset = 0
        for (i, s) in text.enumerated() where predicate(s) {
            if lastOffset < i { out.append((lastOffset..<i, false)) }
            out.append((i..<i + 1, true))
            lastOffset = i + 1
        }
        if text.count > lastOffset { out.append((lastOffset..<text.count, false)) }
        return out
    }
}

/// GPT-2's reversible map between bytes and printable scalars, so that byte-level BPE can work
/// on text: printable Latin-1 bytes map to themselves, the other 68 to U+0100 onwards.
enum ByteLevel {
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(256 + n)!
                n += 1
            }
        }
        return table
    }()

    /// Scalar value -> byte, for scalars below U+0144; -1 where the scalar is not in the alphabet.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    static func encode(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count + text.count / 2)
        for s in text {
            if s.value < 0x80 {
                out.append(byteToScalar[Int(s.value)])
            } else {
                UTF8.encode(s) { out.append(byteToScalar[Int($0)]) }
            }
        }
        return out
    }

    /// The byte a scalar of the alphabet stands for.
    @inline(__always) static func byte(for s: Unicode.Scalar) -> UInt8? {
        guard s.value < 0x144 else { return nil }
        let b = scalarToByte[Int(s.value)]
        return b < 0 ? nil : UInt8(b)
    }
}

extension Sequence where Element == Unicode.Scalar {
    /// UTF-8 encoding of the scalars.
    var utf8Bytes: [UInt8] {
        var out: [UInt8] = []
        for s in self { UTF8.encode(s) { out.append($0) } }
        return out
    }
}
