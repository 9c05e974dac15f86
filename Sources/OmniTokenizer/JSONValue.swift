/// A JSON value read by our own parser, because the tokenizer files need two things that
/// Foundation's `JSONSerialization` does not give: object keys exactly as written (Swift `String`
/// equality is canonical equivalence, so `"é"` and `"e\u{301}"` would collapse into one vocabulary
/// entry) and the order of keys (merges and added tokens are positional).
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        // Last one wins, as serde_json and Python's json do for repeated keys.
        return members.last(where: { $0.key == key })?.value
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    var members: [(key: String, value: JSONValue)]? {
        if case .object(let m) = self { return m } else { return nil }
    }
    var isNull: Bool { if case .null = self { return true } else { return false } }
    var int: Int? {
        guard case .number(let d) = self, d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }

    /// Parses UTF-8 JSON text; `file` only names the file in the error.
    static func parse(_ bytes: [UInt8], file: String) throws(TokenizerError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        do throws(JSONParser.Failure) {
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.position == bytes.count else { throw JSONParser.Failure(position: parser.position) }
            return value
        } catch {
            throw TokenizerError.invalidJSON(file: file, detail: "syntax error at byte \(error.position)")
        }
    }
}

private struct JSONParser {
    struct Failure: Error { var position: Int }

    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(Failure) -> JSONValue {
        guard depth < 512, position < bytes.count else { throw Failure(position: position) }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            position += 1
            var members: [(key: String, value: JSONValue)] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Failure(position: position) }
                let key = try parseString()
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                members.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                if try commaOrEnd(UInt8(ascii: "}")) { return .object(members) }
            }
        case UInt8(ascii: "["):
            position += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                if try commaOrEnd(UInt8(ascii: "]")) { return .array(items) }
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return .number(try parseNumber())
        }
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        guard position < bytes.count, bytes[position] == byte else { throw Failure(position: position) }
        position += 1
    }

    private mutating func commaOrEnd(_ end: UInt8) throws(Failure) -> Bool {
        guard position < bytes.count else { throw Failure(position: position) }
        if bytes[position] == UInt8(ascii: ",") { position += 1; return false }
        if bytes[position] == end { position += 1; return true }
        throw Failure(position: position)
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw Failure(position: position) }
        for i in 0..<count where bytes[position + i] != word.utf8Start[i] { throw Failure(position: position) }
        position += count
    }

    private mutating func parseNumber() throws(Failure) -> Double {
        let start = position
        while position < bytes.count, Self.isNumberByte(bytes[position]) { position += 1 }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard !text.isEmpty, let value = Double(text) else { throw Failure(position: start) }
        return value
    }

    private static func isNumberByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+")
            || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
    }

    private mutating func parseString() throws(Failure) -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes.
        while position < bytes.count {
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: bytes[start..<position], as: UTF8.self)
                position += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            position += 1
        }
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: String(decoding: bytes[start..<position], as: UTF8.self).unicodeScalars)
        var pendingHigh: UInt32? = nil
        func flushHigh() {
            if pendingHigh != nil { scalars.append("\u{FFFD}"); pendingHigh = nil }
        }
        while position < bytes.count {
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                flushHigh()
                position += 1
                return String(scalars)
            }
            if b == UInt8(ascii: "\\") {
                guard position + 1 < bytes.count else { throw Failure(position: position) }
                let e = bytes[position + 1]
                position += 2
                var simple: Unicode.Scalar? = nil
                switch e {
                case UInt8(ascii: "\""): simple = "\""
                case UInt8(ascii: "\\"): simple = "\\"
                case UInt8(ascii: "/"): simple = "/"
                case UInt8(ascii: "b"): simple = "\u{08}"
                case UInt8(ascii: "f"): simple = "\u{0C}"
                case UInt8(ascii: "n"): simple = "\n"
                case UInt8(ascii: "r"): simple = "\r"
                case UInt8(ascii: "t"): simple = "\t"
                case UInt8(ascii: "u"):
                    guard position + 4 <= bytes.count,
                          let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
                    else { throw Failure(position: position) }
                    position += 4
                    if (0xD800...0xDBFF).contains(code) {
                        flushHigh()
                        pendingHigh = code
                    } else if (0xDC00...0xDFFF).contains(code) {
                        if let high = pendingHigh {
                            let value = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
                            scalars.append(Unicode.Scalar(value)!)
                            pendingHigh = nil
                        } else {
                            scalars.append("\u{FFFD}")
                        }
                    } else {
                        flushHigh()
                        scalars.append(Unicode.Scalar(code)!)
                    }
                    continue
                default:
                    throw Failure(position: position - 1)
                }
                flushHigh()
                scalars.append(simple!)
                continue
            }
            flushHigh()
            // Copy a run of plain bytes at once.
            let runStart = position
            while position < bytes.count, bytes[position] != UInt8(ascii: "\""), bytes[position] != UInt8(ascii: "\\") {
                position += 1
            }
            scalars.append(contentsOf: String(decoding: bytes[runStart..<position], as: UTF8.self).unicodeScalars)
        }
        throw Failure(position: position)
    }
}
