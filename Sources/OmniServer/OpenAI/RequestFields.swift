import OmniEngine
import OmniTokenizer

/// A request's JSON object, read field by field. Every accessor checks the field's type and range
/// and throws a 400 naming the field; `null` reads as absent, as it does for OpenAI and vLLM.
/// Fields nobody reads are ignored (clients send vLLM's extras and their own), as vLLM does.
struct RequestFields {
    let object: JinjaObject
    /// Prefix for nested objects' field names in messages (`stream_options.include_usage`).
    let path: String

    /// Parses a body: valid UTF-8, valid JSON, and a JSON object at the top.
    init(body bytes: [UInt8]) throws(APIError) {
        guard !bytes.isEmpty else { throw .invalid(nil, "The request body is empty; send a JSON object.") }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw .invalid(nil, "The request body is not valid UTF-8.")
        }
        let value: JinjaValue
        do {
            value = try JinjaValue(jsonUTF8: bytes)
        } catch {
            throw .invalid(nil, "The request body is not valid JSON: \(error.description).")
        }
        guard case .object(let object) = value else {
            throw .invalid(nil, "The request body must be a JSON object, got \(value.jsonTypeName).")
        }
        self.init(object: object, path: "")
    }

    init(object: JinjaObject, path: String) {
        self.object = object
        self.path = path
    }

    func name(_ key: String) -> String { path + key }

    /// The raw value, nil when absent or null.
    func value(_ key: String) -> JinjaValue? {
        guard let value = object[key] else { return nil }
        if case .none = value { return nil }
        return value
    }

    func has(_ key: String) -> Bool { value(key) != nil }

    func string(_ key: String) throws(APIError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw typeError(key, "a string", value) }
        return text
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw typeError(key, "a boolean", value) }
        return flag
    }

    /// An integer; a float with an integral value (`5.0`) is taken too, as pydantic takes it.
    func int(_ key: String, in range: ClosedRange<Int>? = nil) throws(APIError) -> Int? {
        guard let value = value(key) else { return nil }
        let number: Int
        switch value {
        case .int(let n): number = n
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: number = Int(d)
        default: throw typeError(key, "an integer", value)
        }
        if let range, !range.contains(number) {
            throw .invalid(name(key), "\(name(key)) must be in [\(range.lowerBound), \(range.upperBound)], got \(number).")
        }
        return number
    }

    func double(_ key: String) throws(APIError) -> Double? {
        guard let value = value(key) else { return nil }
        switch value {
        case .int(let n): return Double(n)
        case .double(let d) where d.isFinite: return d
        case .double: throw .invalid(name(key), "\(name(key)) must be a finite number.")
        default: throw typeError(key, "a number", value)
        }
    }

    func object(_ key: String) throws(APIError) -> RequestFields? {
        guard let value = value(key) else { return nil }
        guard case .object(let object) = value else { throw typeError(key, "an object", value) }
        return RequestFields(object: object, path: name(key) + ".")
    }

    func array(_ key: String) throws(APIError) -> [JinjaValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else { throw typeError(key, "an array", value) }
        return items
    }

    /// A string or an array of strings (`stop`), as an array.
    func strings(_ key: String) throws(APIError) -> [String]? {
        guard let value = value(key) else { return nil }
        switch value {
        case .string(let text): return [text]
        case .array(let items):
            return try items.enumerated().map { (index, item) throws(APIError) -> String in
                guard case .string(let text) = item else { throw typeError("\(key)[\(index)]", "a string", item) }
                return text
            }
        default: throw typeError(key, "a string or an array of strings", value)
        }
    }

    /// An array of integers (`stop_token_ids`, `tokens`).
    func ints(_ key: String) throws(APIError) -> [Int]? {
        guard let items = try array(key) else { return nil }
        return try items.enumerated().map { (index, item) throws(APIError) -> Int in
            guard case .int(let number) = item else { throw typeError("\(key)[\(index)]", "an integer", item) }
            return number
        }
    }

    func typeError(_ key: String, _ expected: String, _ value: JinjaValue) -> APIError {
        .invalid(name(key), "\(name(key)) must be \(expected), got \(value.jsonTypeName).")
    }
}

extension JinjaValue {
    /// The JSON type of a parsed value, for messages.
    var jsonTypeName: String {
        switch self {
        case .none: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        default: "a non-JSON value"
        }
    }

    /// One-line JSON without spaces, as OpenAI's and vLLM's responses are written; non-ASCII
    /// stays as UTF-8.
    var compactJSON: String {
        (try? jsonString(ensureASCII: false, separators: (item: ",", key: ":"))) ?? "null"
    }

    /// A Float for JSON: -inf (a token the model rules out) becomes -9999.0 as in vLLM, since
    /// JSON has no infinities.
    static func logprob(_ value: Float) -> JinjaValue {
        .double(value.isFinite ? Double(value) : -9999.0)
    }

    static func optional(_ text: String?) -> JinjaValue { text.map(JinjaValue.string) ?? .null }
}

extension JinjaObject {
    /// The object of a dictionary literal (keys in the literal's order).
    static func of(_ value: JinjaValue) -> JinjaObject {
        if case .object(let object) = value { return object }
        return JinjaObject()
    }
}

extension JinjaValue {
    /// JSON null. Spelled out because `.none` next to an optional means `Optional.none`, and a
    /// subscript assignment of it would delete the key instead of writing null.
    static var null: JinjaValue { JinjaValue.none }
}

extension RequestFields {
    /// This object's fields as step-cache settings (`cache_config`): numbers and lists of numbers;
    /// anything else is kept as `.other`, which the settings refuse by name.
    var cacheSettings: [String: StepCacheSetting] {
        object.reduce(into: [:]) { settings, entry in
            func number(_ v: JinjaValue) -> Double? {
                switch v {
                case .int(let i): Double(i)
                case .double(let d): d
                default: nil
                }
            }
            switch entry.value {
            case .array(let items):
                let numbers = items.compactMap(number)
                settings[entry.key] = numbers.count == items.count ? .numbers(numbers) : .other
            default:
                settings[entry.key] = number(entry.value).map { .number($0) } ?? .other
            }
        }
    }
}
