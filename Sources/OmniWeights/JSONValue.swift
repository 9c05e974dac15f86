import Foundation

/// A JSON document as a value. Integers and floats stay apart (`32` is `.int`, `32.0` is
/// `.double`), so config checks can say "must be an integer"; Python's `NaN` / `Infinity`, which
/// `json.dump` writes for float fields, are accepted.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses UTF-8 JSON text. Duplicate object keys keep the last value (as Python's `json`
    /// does) unless `rejectingDuplicateKeys`.
    public init(parsing data: Data, rejectingDuplicateKeys: Bool = false) throws(JSONParseError) {
        var result = JSONValue.null
        var failure: JSONParseError?
        data.withUnsafeBytes { bytes in
            do throws(JSONParseError) {
                result = try JSONValue(parsing: bytes, rejectingDuplicateKeys: rejectingDuplicateKeys)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        self = result
    }

    /// Parses UTF-8 JSON text from raw bytes (for example a region of a memory-mapped file).
    public init(parsing bytes: UnsafeRawBufferPointer, rejectingDuplicateKeys: Bool = false) throws(JSONParseError) {
        var parser = JSONParser(bytes: bytes, rejectingDuplicateKeys: rejectingDuplicateKeys)
        self = try parser.parseDocument()
    }

    /// Reads and parses a JSON file; errors name the file.
    public init(contentsOf url: URL) throws(WeightsError) {
        let data = try readFile(url)
        do {
            self = try JSONValue(parsing: data)
        } catch {
            throw .invalidJSON(path: url.path, reason: error.description)
        }
    }

    public var isNull: Bool { self == .null }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The integer, also for a float with an exact integer value (`4096.0`).
    public var int: Int? {
        switch self {
        case .int(let value): return value
        case .double(let value):
            guard value.rounded() == value, let exact = Int(exactly: value) else { return nil }
            return exact
        default: return nil
        }
    }

    /// The number as a Double, whether written as an integer or a float.
    public var double: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The member `key` of an object; nil when absent or when this is not an object.
    public subscript(key: String) -> JSONValue? { object?[key] }

    /// The element at `index` of an array; nil when out of range or when this is not an array.
    public subscript(index: Int) -> JSONValue? {
        guard let array, array.indices.contains(index) else { return nil }
        return array[index]
    }

    /// "an integer", "a string", ...: for error messages.
    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Compact JSON text. Keys are sorted so that the output is deterministic.
    public var jsonText: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value):
            if value.isNaN { out += "NaN" } else if value.isInfinite { out += value < 0 ? "-Infinity" : "Infinity" } else { out += "\(value)" }
        case .string(let value): JSONValue.writeQuoted(value, to: &out)
        case .array(let values):
            out += "["
            for (i, value) in values.enumerated() {
                if i > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeQuoted(key, to: &out)
                out += ":"
                members[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    static func writeQuoted(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension JSONValue: CustomStringConvertible {
    public var description: String { jsonText }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// Where and why JSON text failed to parse.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    /// Byte offset of the problem in the text.
    public let offset: Int
    public let line: Int
    public let column: Int

    public var description: String { "\(message) at line \(line), column \(column)" }
}

/// Reads a whole file, with errors that name it.
func readFile(_ url: URL) throws(WeightsError) -> Data {
    guard FileManager.default.fileExists(atPath: url.path) else { throw .fileNotFound(path: url.path) }
    do {
        return try Data(contentsOf: url)
    } catch {
        throw .io(path: url.path, message: "cannot read: \(error.localizedDescription)")
    }
}
