/// tokenizer.json `post_processor`, for a single sequence: the special tokens put around the
/// encoded text when `addSpecialTokens` is on (a BOS for Llama-3, nothing for Qwen).
indirect enum PostProcessor: Sendable {
    /// `TemplateProcessing`'s `single` list: ids to insert, and `nil` where the sequence goes.
    case insert([[Int]?])
    /// ByteLevel (offsets only) and anything else that adds no token.
    case none
    case sequence([PostProcessor])

    static let supportedTypes = ["TemplateProcessing", "ByteLevel", "BertProcessing", "RobertaProcessing", "Sequence"]

    static func from(json: JSONValue, file: String, field: String) throws(TokenizerError) -> PostProcessor {
        guard let type = json["type"]?.string else {
            throw TokenizerError.invalidField(file: file, field: "\(field).type", expected: "a string")
        }
        switch type {
        case "ByteLevel":
            return .none
        case "TemplateProcessing":
            guard let single = json["single"]?.array else {
                throw TokenizerError.invalidField(file: file, field: "\(field).single", expected: "an array")
            }
            let specials = json["special_tokens"]
            var pieces: [[Int]?] = []
            for (i, item) in single.enumerated() {
                if item["Sequence"] != nil {
                    pieces.append(nil)
                } else if let name = item["SpecialToken"]?["id"]?.string {
                    guard let ids = specials?[name]?["ids"]?.array?.compactMap(\.int) else {
                        throw TokenizerError.invalidField(file: file, field: "\(field).special_tokens[\"\(name)\"].ids", expected: "an array of ids")
                    }
                    pieces.append(ids)
                } else {
                    throw TokenizerError.invalidField(file: file, field: "\(field).single[\(i)]", expected: "{\"Sequence\"} or {\"SpecialToken\"}")
                }
            }
            return .insert(pieces)
        case "BertProcessing", "RobertaProcessing":
            guard let cls = json["cls"]?.array, cls.count == 2, let clsID = cls[1].int,
                  let sep = json["sep"]?.array, sep.count == 2, let sepID = sep[1].int
            else {
                throw TokenizerError.invalidField(file: file, field: "\(field).cls/sep", expected: "[token, id] pairs")
            }
            return .insert([[clsID], nil, [sepID]])
        case "Sequence":
            guard let items = json["processors"]?.array else {
                throw TokenizerError.invalidField(file: file, field: "\(field).processors", expected: "an array")
            }
            var list: [PostProcessor] = []
            for (i, item) in items.enumerated() {
                list.append(try from(json: item, file: file, field: "\(field).processors[\(i)]"))
            }
            return .sequence(list)
        default:
            throw TokenizerError.unsupported(file: file, field: "\(field).type", value: type, supported: supportedTypes)
        }
    }

    /// transformers' `update_post_processor`: `bos? $A eos?`.
    static func bosEos(bos: Int?, eos: Int?) -> PostProcessor {
        var pieces: [[Int]?] = []
        if let bos { pieces.append([bos]) }
        pieces.append(nil)
        if let eos { pieces.append([eos]) }
        return .insert(pieces)
    }

    func process(_ ids: [Int]) -> [Int] {
        switch self {
        case .none:
            return ids
        case .insert(let pieces):
            var out: [Int] = []
            out.reserveCapacity(ids.count + pieces.count)
            for p in pieces {
                if let p { out.append(contentsOf: p) } else { out.append(contentsOf: ids) }
            }
            return out
        case .sequence(let list):
            return list.reduce(ids) { $1.process($0) }
        }
    }
}
