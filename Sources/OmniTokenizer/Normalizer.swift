import Foundation

/// tokenizer.json `normalizer`: rewrites text before added tokens marked `normalized` are looked
/// for and before pre-tokenization. HF tracks offsets through it; we only need the text.
indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case stripAccents
    case strip(left: Bool, right: Bool)
    case prepend([Unicode.Scalar])
    case replace(SplitPattern, with: [Unicode.Scalar])
    case sequence([Normalizer])

    static let supportedTypes = ["NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "Strip", "Prepend", "Replace", "Sequence"]

    static func from(json: JSONValue, file: String, field: String, warnings: inout [String]) throws(TokenizerError) -> Normalizer {
        guard let type = json["type"]?.string else {
            throw TokenizerError.invalidField(file: file, field: "\(field).type", expected: "a string")
        }
        switch type {
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "Strip":
            return .strip(left: json["strip_left"]?.bool ?? true, right: json["strip_right"]?.bool ?? true)
        case "Prepend":
            guard let text = json["prepend"]?.string else {
                throw TokenizerError.invalidField(file: file, field: "\(field).prepend", expected: "a string")
            }
            return .prepend(Array(text.unicodeScalars))
        case "Replace":
            let pattern = try SplitPattern.from(json: json["pattern"], file: file, field: "\(field).pattern", warnings: &warnings)
            guard let content = json["content"]?.string else {
                throw TokenizerError.invalidField(file: file, field: "\(field).content", expected: "a string")
            }
            return .replace(pattern, with: Array(content.unicodeScalars))
        case "Sequence":
            guard let items = json["normalizers"]?.array else {
                throw TokenizerError.invalidField(file: file, field: "\(field).normalizers", expected: "an array")
            }
            var list: [Normalizer] = []
            for (i, item) in items.enumerated() {
                list.append(try from(json: item, file: file, field: "\(field).normalizers[\(i)]", warnings: &warnings))
            }
            return .sequence(list)
        default:
            throw TokenizerError.unsupported(file: file, field: "\(field).type", value: type, supported: supportedTypes)
        }
    }

    func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .nfc:
            // Below U+0300 every scalar is NFC-stable and none composes with its neighbour.
            if text.allSatisfy({ $0.value < 0x300 }) { return text }
            return Array(String(decoding: Self.string(text)._nfcCodeUnits, as: UTF8.self).unicodeScalars)
        case .nfd:
            return Array(Self.string(text).decomposedStringWithCanonicalMapping.unicodeScalars)
        case .nfkc:
            return Array(Self.string(text).precomposedStringWithCompatibilityMapping.unicodeScalars)
        case .nfkd:
            return Array(Self.string(text).decomposedStringWithCompatibilityMapping.unicodeScalars)
        case .lowercase:
            return Array(Self.string(text).lowercased().unicodeScalars)
        case .stripAccents:
            return text.filter { !ScalarClass.isMark($0) }
        case .strip(let left, let right):
            var lower = 0, upper = text.count
            if left { while lower < upper && ScalarClass.isWhitespace(text[lower]) { lower += 1 } }
            if right { while upper > lower && ScalarClass.isWhitespace(text[upper - 1]) { upper -= 1 } }
            return Array(text[lower..<upper])
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content):
            return Self.replace(pattern, with: content, in: text)
        case .sequence(let list):
            var out = text
            for n in list { out = n.normalize(out) }
            return out
        }
    }

    static func replace(_ pattern: SplitPattern, with content: [Unicode.Scalar], in text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let matches = pattern.matches(in: text)
        if matches.isEmpty { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var last = 0
        for m in matches {
            out.append(contentsOf: text[last..<m.lowerBound])
            out.append(contentsOf: content)
            last = m.upperBound
        }
        out.append(contentsOf: text[last...])
        return out
    }

    static func string(_ scalars: some Sequence<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
