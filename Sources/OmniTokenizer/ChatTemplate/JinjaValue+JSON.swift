/// JSON in and out, as Python's `json` module does it: object keys keep their order, `1` stays
/// an int and `1.0` a float, and `tojson` writes what `json.dumps` writes.
extension JinjaValue {
    /// Parses JSON text (for example tool-call arguments, which OpenAI clients send as a string and
    /// chat templates expect as an object). Accepts Python's `NaN` and `Infinity`.
    public init(json text: String) throws(JinjaJSONError) {
        try self.init(jsonUTF8: Array(text.utf8))
    }

    /// Parses JSON from UTF-8 bytes (for example a field of a request body, kept in its order).
    public init(jsonUTF8 bytes: [UInt8]) throws(JinjaJSONError) {
        var parser = JSONReader(bytes: bytes)
        self = try parser.readDocument()
    }

    /// `json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...)`.
    /// - Parameters:
    ///   - indent: nil for one line; otherwise the string repeated per nesting level.
    ///   - separators: item and key separators; Python's defaults when nil.
    public func jsonString(
        ensureASCII: Bool = false, indent: String? = nil, separators: (item: String, key: String)? = nil,
        sortKeys: Bool = false
    ) throws(JinjaJSONError) -> String {
        let writer = JSONWriter(
            ensureASCII: ensureASCII, indent: indent,
            itemSeparator: separators?.item ?? (indent == nil ? ", " : ","),
            keySeparator: separators?.key ?? ": ", sortKeys: sortKeys)
        var output = ""
        try writer.write(self, into: &output, level: 0)
        return output
    }
}

/// Why text is not JSON, or a value cannot be written as JSON.
public enum JinjaJSONError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalid(String, offset: Int)
    case notSerializable(String)

    public var description: String {
        switch self {
        case .invalid(let reason, let offset): return "invalid JSON at byte \(offset): \(reason)"
        case .notSerializable(let type): return "Object of type \(type) is not JSON serializable"
        }
    }
}

private struct JSONWriter {
    let ensureASCII: Bool
    let indent: String?
    let itemSeparator: String
    let keySeparator: String
    let sortKeys: Bool

    func write(_ value: JinjaValue, into output: inout String, level: Int) throws(JinjaJSONError) {
        guard level < 512 else { throw .notSerializable("nested too deeply (circular reference?)") }
        switch value {
        case .none: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .int(let number): output += String(number)
        case .double(let number):
            if number.isNaN {
                output += "NaN"
            } else if number.isInfinite {
                output += number < 0 ? "-Infinity" : "Infinity"
            } else {
                output += PythonText.floatRepr(number)
            }
        case .string(let text), .markup(let text): writeString(text, into: &output)
        case .array(let items):
            guard !items.isEmpty else {
                output += "[]"
                return
            }
            output += "["
            for (index, item) in items.enumerated() {
                output += index == 0 ? newline(level + 1) : itemSeparator + newline(level + 1)
                try write(item, into: &output, level: level + 1)
            }
            output += newline(level) + "]"
        case .object(let object):
            guard !object.isEmpty else {
                output += "{}"
                return
            }
            output += "{"
            let keys = sortKeys ? object.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) } : object.keys
            for (index, key) in keys.enumerated() {
                output += index == 0 ? newline(level + 1) : itemSeparator + newline(level + 1)
                writeString(Self.jsonKey(key), into: &output)
                output += keySeparator
                try write(object[key]!, into: &output, level: level + 1)
            }
            output += newline(level) + "}"
        case .callable, .namespace, .undefined, .generator:
            throw .notSerializable(value.typeName)
        }
    }

    /// Python's json writes int, float, bool and None keys as their JSON text.
    private static func jsonKey(_ key: String) -> String {
        switch JinjaObject.keyValue(key) {
        case .string(let text): return text
        case .int(let number): return String(number)
        case .double(let number): return PythonText.floatRepr(number)
        case .none: return "null"
        default: return key
        }
    }

    private func newline(_ level: Int) -> String {
        guard let indent else { return "" }
        return "\n" + String(repeating: indent, count: level)
    }

    private func writeString(_ text: String, into output: inout String) {
        var view = String.UnicodeScalarView()
        view.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": view.append(contentsOf: "\\\"".unicodeScalars)
            case "\\": view.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": view.append(contentsOf: "\\n".unicodeScalars)
            case "\r": view.append(contentsOf: "\\r".unicodeScalars)
            case "\t": view.append(contentsOf: "\\t".unicodeScalars)
            case "\u{08}": view.append(contentsOf: "\\b".unicodeScalars)
            case "\u{0C}": view.append(contentsOf: "\\f".unicodeScalars)
            default:
                if scalar.value < 0x20 {
                    view.append(contentsOf: ("\\u" + PythonText.hex(scalar.value, digits: 4)).unicodeScalars)
                } else if ensureASCII && scalar.value > 0x7E {
                    if scalar.value > 0xFFFF {
                        let offset = scalar.value - 0x10000
                        let high = 0xD800 + (offset >> 10)
                        let low = 0xDC00 + (offset & 0x3FF)
                        view.append(contentsOf: ("\\u" + PythonText.hex(high, digits: 4)).unicodeScalars)
                        view.append(contentsOf: ("\\u" + PythonText.hex(low, digits: 4)).unicodeScalars)
                    } else if scalar.value == 0x7F {
                        view.append(scalar)
                    } else {
                        view.append(contentsOf: ("\\u" + PythonText.hex(scalar.value, digits: 4)).unicodeScalars)
                    }
                } else {
                    view.append(scalar)
                }
            }
        }
        view.append("\"")
        output.unicodeScalars.append(contentsOf: view)
    }
}

/// A recursive-descent JSON reader over UTF-8 bytes, with a nesting limit.
private struct JSONReader {
    let bytes: [UInt8]
    var offset = 0
    static let maxDepth = 512

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func readDocument() throws(JinjaJSONError) -> JinjaValue {
        let value = try readValue(depth: 0)
        skipWhitespace()
        guard offset == bytes.count else { throw fail("extra data after the value") }
        return value
    }

    private func fail(_ reason: String) -> JinjaJSONError {
        .invalid(reason, offset: offset)
    }

    private mutating func skipWhitespace() {
        while offset < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[offset]) { offset += 1 }
    }

    private mutating func consume(_ literal: String) -> Bool {
        let literalBytes = Array(literal.utf8)
        guard offset + literalBytes.count <= bytes.count,
            bytes[offset..<(offset + literalBytes.count)].elementsEqual(literalBytes)
        else { return false }
        offset += literalBytes.count
        return true
    }

    private mutating func readValue(depth: Int) throws(JinjaJSONError) -> JinjaValue {
        guard depth < Self.maxDepth else { throw fail("nested too deeply") }
        skipWhitespace()
        guard offset < bytes.count else { throw fail("unexpected end of text") }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return try readObject(depth: depth)
        case UInt8(ascii: "["): return try readArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try readString())
        default:
            if consume("null") { return .none }
            if consume("true") { return .bool(true) }
            if consume("false") { return .bool(false) }
            if consume("NaN") { return .double(.nan) }
            if consume("Infinity") { return .double(.infinity) }
            if consume("-Infinity") { return .double(-.infinity) }
            return try readNumber()
        }
    }

    private mutating func readObject(depth: Int) throws(JinjaJSONError) -> JinjaValue {
        offset += 1
        var object = JinjaObject()
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
            offset += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else {
                throw fail("expected a string key")
            }
            let key = try readString()
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            offset += 1
            object[key] = try readValue(depth: depth + 1)
            skipWhitespace()
            guard offset < bytes.count else { throw fail("unterminated object") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
            } else if bytes[offset] == UInt8(ascii: "}") {
                offset += 1
                return .object(object)
            } else {
                throw fail("expected ',' or '}'")
            }
        }
    }

    private mutating func readArray(depth: Int) throws(JinjaJSONError) -> JinjaValue {
        offset += 1
        var items: [JinjaValue] = []
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
            offset += 1
            return .array(items)
        }
        while true {
            items.append(try readValue(depth: depth + 1))
            skipWhitespace()
            guard offset < bytes.count else { throw fail("unterminated array") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
            } else if bytes[offset] == UInt8(ascii: "]") {
                offset += 1
                return .array(items)
            } else {
                throw fail("expected ',' or ']'")
            }
        }
    }

    private mutating func readHex4() throws(JinjaJSONError) -> UInt32 {
        guard offset + 4 <= bytes.count,
            let value = UInt32(String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self), radix: 16)
        else { throw fail("invalid \\u escape") }
        offset += 4
        return value
    }

    private mutating func readString() throws(JinjaJSONError) -> String {
        offset += 1
        var raw: [UInt8] = []
        var result = ""
        func flush() {
            result += String(decoding: raw, as: UTF8.self)
            raw.removeAll(keepingCapacity: true)
        }
        while true {
            guard offset < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[offset]
            offset += 1
            switch byte {
            case UInt8(ascii: "\""):
                flush()
                return result
            case UInt8(ascii: "\\"):
                guard offset < bytes.count else { throw fail("unterminated escape") }
                let escape = bytes[offset]
                offset += 1
                switch escape {
                case UInt8(ascii: "\""): raw.append(0x22)
                case UInt8(ascii: "\\"): raw.append(0x5C)
                case UInt8(ascii: "/"): raw.append(0x2F)
                case UInt8(ascii: "b"): raw.append(0x08)
                case UInt8(ascii: "f"): raw.append(0x0C)
                case UInt8(ascii: "n"): raw.append(0x0A)
                case UInt8(ascii: "r"): raw.append(0x0D)
                case UInt8(ascii: "t"): raw.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try readHex4()
                    if (0xD800..<0xDC00).contains(code), offset + 6 <= bytes.count,
                        bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u")
                    {
                        let saved = offset
                        offset += 2
                        let low = try readHex4()
                        if (0xDC00..<0xE000).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            offset = saved
                        }
                    }
                    flush()
                    // A lone surrogate cannot live in a Swift string; it becomes U+FFFD.
                    result.unicodeScalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                default:
                    throw fail("invalid escape")
                }
            default:
                guard byte >= 0x20 else { throw fail("control character in string") }
                raw.append(byte)
            }
        }
    }

    private mutating func readNumber() throws(JinjaJSONError) -> JinjaValue {
        let start = offset
        var isFloat = false
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        let digitsStart = offset
        while offset < bytes.count, (0x30...0x39).contains(bytes[offset]) { offset += 1 }
        guard offset > digitsStart else { throw fail("unexpected character") }
        guard !(bytes[digitsStart] == UInt8(ascii: "0") && offset - digitsStart > 1) else {
            throw fail("leading zero")
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            isFloat = true
            offset += 1
            let fractionStart = offset
            while offset < bytes.count, (0x30...0x39).contains(bytes[offset]) { offset += 1 }
            guard offset > fractionStart else { throw fail("expected digits after '.'") }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            isFloat = true
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
                offset += 1
            }
            let exponentStart = offset
            while offset < bytes.count, (0x30...0x39).contains(bytes[offset]) { offset += 1 }
            guard offset > exponentStart else { throw fail("expected exponent digits") }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if !isFloat, let integer = Int(text) { return .int(integer) }
        guard let number = Double(text) else { throw fail("invalid number") }
        return .double(number)
    }
}
