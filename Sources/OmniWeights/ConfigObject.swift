import Foundation

/// A JSON object from a config file, with typed getters whose errors name the file and the field
/// (`config.json: field "text_config.hidden_size" must be an integer, got "abc"`). Absent and
/// `null` fields read the same: as missing. Model code reads its own fields through `raw` of the
/// parsed configs with these same getters.
public struct ConfigObject: Sendable, Equatable {
    /// The file the object came from, for error messages.
    public let path: String
    /// Where the object sits in the file (`"text_config"`, `"thinker_config.text_config"`); empty at top level.
    public let keyPath: String
    public let members: [String: JSONValue]

    /// The object `json`, which came from `path` at `keyPath`.
    public init(json: JSONValue, path: String, keyPath: String = "") throws(WeightsError) {
        guard let members = json.object else {
            if keyPath.isEmpty { throw .invalidJSON(path: path, reason: "expected a JSON object, got \(json.kindDescription)") }
            throw .invalidField(path: path, field: keyPath, reason: "must be an object, got \(json.kindDescription)")
        }
        self.path = path
        self.keyPath = keyPath
        self.members = members
    }

    /// Reads a JSON file whose top level is an object.
    public init(contentsOf url: URL) throws(WeightsError) {
        try self.init(json: JSONValue(contentsOf: url), path: url.path)
    }

    public var json: JSONValue { .object(members) }

    /// The raw member (nil when absent; `.null` when written as null).
    public subscript(key: String) -> JSONValue? { members[key] }

    /// Whether the field is present and not null.
    public func has(_ key: String) -> Bool { value(key) != nil }

    /// The full name of a field, for messages: `text_config.hidden_size`.
    public func fieldName(_ key: String) -> String { keyPath.isEmpty ? key : "\(keyPath).\(key)" }

    // MARK: optional fields (nil when absent or null; an error when of the wrong type)

    public func object(_ key: String) throws(WeightsError) -> ConfigObject? {
        guard let value = value(key) else { return nil }
        return try ConfigObject(json: value, path: path, keyPath: fieldName(key))
    }

    public func int(_ key: String) throws(WeightsError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let int = value.int else { throw invalid(key, "must be an integer", value) }
        return int
    }

    public func double(_ key: String) throws(WeightsError) -> Double? {
        guard let value = value(key) else { return nil }
        guard let double = value.double else { throw invalid(key, "must be a number", value) }
        return double
    }

    public func bool(_ key: String) throws(WeightsError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let bool = value.bool else { throw invalid(key, "must be true or false", value) }
        return bool
    }

    public func string(_ key: String) throws(WeightsError) -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.string else { throw invalid(key, "must be a string", value) }
        return string
    }

    public func ints(_ key: String) throws(WeightsError) -> [Int]? {
        guard let value = value(key) else { return nil }
        guard let ints = value.array?.compactMap(\.int), ints.count == value.array?.count else {
            throw invalid(key, "must be an array of integers", value)
        }
        return ints
    }

    public func doubles(_ key: String) throws(WeightsError) -> [Double]? {
        guard let value = value(key) else { return nil }
        guard let doubles = value.array?.compactMap(\.double), doubles.count == value.array?.count else {
            throw invalid(key, "must be an array of numbers", value)
        }
        return doubles
    }

    public func strings(_ key: String) throws(WeightsError) -> [String]? {
        guard let value = value(key) else { return nil }
        guard let strings = value.array?.compactMap(\.string), strings.count == value.array?.count else {
            throw invalid(key, "must be an array of strings", value)
        }
        return strings
    }

    /// A field that may be one integer or a list of them (`eos_token_id`).
    public func intOrInts(_ key: String) throws(WeightsError) -> [Int]? {
        guard let value = value(key) else { return nil }
        if let int = value.int { return [int] }
        guard let ints = value.array?.compactMap(\.int), ints.count == value.array?.count else {
            throw invalid(key, "must be an integer or an array of integers", value)
        }
        return ints
    }

    // MARK: required fields

    public func requiredInt(_ key: String) throws(WeightsError) -> Int {
        guard let int = try int(key) else { throw missing(key) }
        return int
    }

    public func requiredDouble(_ key: String) throws(WeightsError) -> Double {
        guard let double = try double(key) else { throw missing(key) }
        return double
    }

    public func requiredString(_ key: String) throws(WeightsError) -> String {
        guard let string = try string(key) else { throw missing(key) }
        return string
    }

    public func requiredObject(_ key: String) throws(WeightsError) -> ConfigObject {
        guard let object = try object(key) else { throw missing(key) }
        return object
    }

    /// A required integer that must be at least `minimum` (a size, a count).
    public func requiredInt(_ key: String, atLeast minimum: Int) throws(WeightsError) -> Int {
        let int = try requiredInt(key)
        guard int >= minimum else { throw invalid(key, "must be at least \(minimum)", members[key]!) }
        return int
    }

    // MARK: errors

    /// The error for a field that is absent or null.
    public func missing(_ key: String) -> WeightsError {
        .missingField(path: path, field: fieldName(key))
    }

    /// The error for a field with an impossible value: `field "x" <requirement>, got <value>`.
    public func invalid(_ key: String, _ requirement: String, _ value: JSONValue) -> WeightsError {
        .invalidField(path: path, field: fieldName(key), reason: "\(requirement), got \(value.jsonText.prefix(200))")
    }

    private func value(_ key: String) -> JSONValue? {
        guard let value = members[key], !value.isNull else { return nil }
        return value
    }
}
