/// tokenizer.json `decoder`, as a list of steps that each work on a stream, so that decoding a
/// whole sequence and decoding it token by token run the same code and give the same text.
///
/// HF decoders map a list of token strings to a list of strings that are finally joined. Between
/// our steps the list travels as `DecodePiece`s: whole tokens until a step fuses them (ByteLevel,
/// Fuse), then chunks of the one fused string.
enum DecodeStep: Sendable {
    case byteLevel
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case replace(SplitPattern, with: [Unicode.Scalar])
    /// Metaspace's decoder; `dropsFirst` when `prepend_scheme` is not `never`.
    case metaspace(replacement: Unicode.Scalar, dropsFirst: Bool)

    static let supportedTypes = ["ByteLevel", "ByteFallback", "Fuse", "Strip", "Replace", "Metaspace", "Sequence"]

    /// The steps of a decoder, with `Sequence`s flattened.
    static func steps(json: JSONValue, file: String, field: String, warnings: inout [String]) throws(TokenizerError) -> [DecodeStep] {
        guard let type = json["type"]?.string else {
            throw TokenizerError.invalidField(file: file, field: "\(field).type", expected: "a string")
        }
        switch type {
        case "ByteLevel": return [.byteLevel]
        case "ByteFallback": return [.byteFallback]
        case "Fuse": return [.fuse]
        case "Strip":
            guard let content = json["content"]?.string?.unicodeScalars.first else {
                throw TokenizerError.invalidField(file: file, field: "\(field).content", expected: "a one-character string")
            }
            return [.strip(content: content, start: json["start"]?.int ?? 0, stop: json["stop"]?.int ?? 0)]
        case "Replace":
            let pattern = try SplitPattern.from(json: json["pattern"], file: file, field: "\(field).pattern", warnings: &warnings)
            guard let content = json["content"]?.string else {
                throw TokenizerError.invalidField(file: file, field: "\(field).content", expected: "a string")
            }
            return [.replace(pattern, with: Array(content.unicodeScalars))]
        case "Metaspace":
            let replacement = json["replacement"]?.string?.unicodeScalars.first ?? "\u{2581}"
            var scheme = json["prepend_scheme"]?.string ?? "always"
            if json["add_prefix_space"]?.bool == false { scheme = "never" }
            return [.metaspace(replacement: replacement, dropsFirst: scheme != "never")]
        case "Sequence":
            guard let items = json["decoders"]?.array else {
                throw TokenizerError.invalidField(file: file, field: "\(field).decoders", expected: "an array")
            }
            var out: [DecodeStep] = []
            for (i, item) in items.enumerated() {
                out += try steps(json: item, file: file, field: "\(field).decoders[\(i)]", warnings: &warnings)
            }
            return out
        default:
            throw TokenizerError.unsupported(file: file, field: "\(field).type", value: type, supported: supportedTypes)
        }
    }
}

enum DecodePiece {
    /// One token of the list.
    case token([Unicode.Scalar])
    /// The next part of the single string the list has been fused into.
    case chunk([Unicode.Scalar])
}

/// One decoder step with its streaming state.
struct DecodeStage: Sendable {
    let step: DecodeStep
    private var utf8 = UTF8Repair()
    private var byteRun: [UInt8] = []
    private var tokenIndex = 0
    private var strippedAtStart = 0
    private var startDone = false
    private var heldTail: [Unicode.Scalar] = []
    private var replaceBuffer: [Unicode.Scalar] = []

    init(_ step: DecodeStep) { self.step = step }

    mutating func push(_ piece: DecodePiece, into out: inout [DecodePiece]) {
        switch step {
        case .byteLevel:
            // Each token's scalars map back to bytes; a token with a scalar outside the byte
            // alphabet (an added token such as "<|im_start|>" is inside it, "a b" is not)
            // contributes its UTF-8 as is. All bytes are joined and decoded lossily.
            let scalars: [Unicode.Scalar]
            switch piece { case .token(let t), .chunk(let t): scalars = t }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(scalars.count)
            var mapped = true
            for s in scalars {
                guard let b = ByteLevel.byte(for: s) else { mapped = false; break }
                bytes.append(b)
            }
            if !mapped { bytes = scalars.utf8Bytes }
            let text = utf8.feed(bytes)
            if !text.isEmpty { out.append(.chunk(text)) }
        case .byteFallback:
            guard case .token(let t) = piece else { flushByteRun(into: &out); out.append(piece); return }
            if let b = Self.fallbackByte(t) {
                byteRun.append(b)
            } else {
                flushByteRun(into: &out)
                out.append(piece)
            }
        case .fuse:
            switch piece { case .token(let t), .chunk(let t): out.append(.chunk(t)) }
        case .strip(let content, let start, let stop):
            switch piece {
            case .token(let t):
                out.append(.token(Self.strip(t, content: content, start: start, stop: stop)))
            case .chunk(let t):
                var text = t[...]
                while !startDone, let first = text.first {
                    if strippedAtStart < start && first == content {
                        strippedAtStart += 1
                        text = text.dropFirst()
                    } else {
                        startDone = true
                    }
                }
                guard stop > 0 else { if !text.isEmpty { out.append(.chunk(Array(text))) }; return }
                // Hold back the trailing run of `content` (up to `stop` of it) until more comes.
                let combined = heldTail + text
                var cut = combined.count
                while cut > 0 && combined.count - cut < stop && combined[cut - 1] == content { cut -= 1 }
                if cut > 0 { out.append(.chunk(Array(combined[..<cut]))) }
                heldTail = Array(combined[cut...])
            }
        case .replace(let pattern, let content):
            switch piece {
            case .token(let t):
                out.append(.token(Normalizer.replace(pattern, with: content, in: t)))
            case .chunk(let t):
                replaceBuffer += t
                guard case .literal(let needle) = pattern else { return }  // regex: wait for the end
                let matches = pattern.matches(in: replaceBuffer)
                let lastEnd = matches.last?.upperBound ?? 0
                let keepFrom = max(lastEnd, replaceBuffer.count - (needle.count - 1))
                let done = Array(replaceBuffer[..<keepFrom])
                let text = Normalizer.replace(pattern, with: content, in: done)
                if !text.isEmpty { out.append(.chunk(text)) }
                replaceBuffer.removeFirst(keepFrom)
            }
        case .metaspace(let replacement, let dropsFirst):
            switch piece {
            case .token(let t):
                let first = tokenIndex == 0
                tokenIndex += 1
                out.append(.token(Self.metaspace(t, replacement, drop: first && dropsFirst)))
            case .chunk(let t):
                out.append(.chunk(Self.metaspace(t, replacement, drop: dropsFirst)))
            }
        }
    }

    mutating func finish(into out: inout [DecodePiece]) {
        switch step {
        case .byteLevel:
            let text = utf8.finish()
            if !text.isEmpty { out.append(.chunk(text)) }
        case .byteFallback:
            flushByteRun(into: &out)
        case .strip:
            heldTail = []  // the held trailing run is exactly what `stop` strips
        case .replace(let pattern, let content):
            if !replaceBuffer.isEmpty {
                out.append(.chunk(Normalizer.replace(pattern, with: content, in: replaceBuffer)))
                replaceBuffer = []
            }
        case .fuse, .metaspace:
            break
        }
    }

    /// HF ByteFallback: a run of `<0xHH>` tokens becomes its UTF-8 text, or one U+FFFD per byte
    /// when the run is not valid UTF-8.
    private mutating func flushByteRun(into out: inout [DecodePiece]) {
        guard !byteRun.isEmpty else { return }
        if let s = String(validating: byteRun, as: UTF8.self) {
            out.append(.token(Array(s.unicodeScalars)))
        } else {
            for _ in byteRun { out.append(.token(["\u{FFFD}"])) }
        }
        byteRun = []
    }

    private static func fallbackByte(_ t: [Unicode.Scalar]) -> UInt8? {
        guard t.count == 6, t[0] == "<", t[1] == "0", t[2] == "x", t[5] == ">" else { return nil }
        return UInt8(Normalizer.string(t[3...4]), radix: 16)
    }

    private static func strip(_ t: [Unicode.Scalar], content: Unicode.Scalar, start: Int, stop: Int) -> [Unicode.Scalar] {
        var startCut = 0
        for i in 0..<min(start, t.count) {
            if t[i] == content { startCut = i + 1 } else { break }
        }
        var stopCut = t.count
        var i = 0
        while i < stop && t.count - i - 1 >= 0 {
            let index = t.count - i - 1
            if t[index] == content { stopCut = index; i += 1 } else { break }
        }
        return startCut < stopCut ? Array(t[startCut..<stopCut]) : []
    }

    private static func metaspace(_ t: [Unicode.Scalar], _ replacement: Unicode.Scalar, drop: Bool) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(t.count)
        for s in t {
            if s == replacement {
                if !drop { out.append(" ") }
            } else {
                out.append(s)
            }
        }
        return out
    }
}

/// Incremental lossy UTF-8 decoding with the "maximal subpart" rule of Rust's
/// `String::from_utf8_lossy` (one U+FFFD per maximal prefix of a valid sequence): bytes that may
/// still become a character wait for the next feed.
struct UTF8Repair: Sendable {
    private var pending: [UInt8] = []

    mutating func feed(_ bytes: [UInt8]) -> [Unicode.Scalar] {
        pending += bytes
        return decode(final: false)
    }

    mutating func finish() -> [Unicode.Scalar] {
        decode(final: true)
    }

    private mutating func decode(final: Bool) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        let b = pending
        var i = 0
        outer: while i < b.count {
            let lead = b[i]
            if lead < 0x80 { out.append(Unicode.Scalar(lead)); i += 1; continue }
            let need: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; high = 0x9F
            case 0xF0: need = 3; low = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; high = 0x8F
            default:
                out.append("\u{FFFD}"); i += 1; continue
            }
            var value = UInt32(lead) & (need == 1 ? 0x1F : need == 2 ? 0x0F : 0x07)
            for k in 1...need {
                guard i + k < b.count else {
                    if final { out.append("\u{FFFD}"); i = b.count; break outer }
                    break outer  // wait for more bytes
                }
                let c = b[i + k]
                let (lo, hi) = k == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
                guard c >= lo && c <= hi else {
                    out.append("\u{FFFD}")
                    i += k
                    continue outer
                }
                value = value << 6 | UInt32(c & 0x3F)
            }
            out.append(Unicode.Scalar(value)!)
            i += need + 1
        }
        pending.removeFirst(i)
        return out
    }
}
