/// A value a Jinja template reads or computes, with Python's data model: the inputs of a chat
/// template are JSON-like (messages, tools, documents), and the template's own values follow
/// Python's rules for truthiness, equality and `str()` because Jinja runs on Python.
public enum JinjaValue: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    /// A dictionary; keys keep their insertion order, as Python dicts do (`tojson` and
    /// `dict.items()` output depend on it).
    case object(JinjaObject)
    /// A macro, a bound method (`'a'.upper`) or a global function (`range`, `raise_exception`).
    case callable(JinjaCallable)
    /// The mutable object made by `namespace()`; shared by reference.
    case namespace(JinjaNamespace)
    /// A string marked safe (`|safe`, `|escape`), Python's `markupsafe.Markup`: it prints as its
    /// text, but a plain string added to it (`'<b>'|safe + text`) is HTML-escaped first.
    case markup(String)
    /// What `map`, `select`, `reject`, `selectattr`, `rejectattr`, `unique`, `batch`, `items` and
    /// `reverse` return: a Python iterator, consumed by the first loop over it, always truthy, with
    /// no length and no JSON form.
    case generator(JinjaGenerator)
    /// jinja2's default `Undefined`: prints as nothing, is falsy, iterates as empty; reading an
    /// attribute of it, calling it or doing arithmetic with it fails with `hint`.
    case undefined(hint: String)

    /// An undefined variable, with jinja2's message for it.
    static func undefinedName(_ name: String) -> JinjaValue {
        .undefined(hint: "'\(name)' is undefined")
    }

    public var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python truthiness.
    public var isTruthy: Bool {
        switch self {
        case .none, .undefined: return false
        case .bool(let value): return value
        case .int(let value): return value != 0
        case .double(let value): return value != 0
        case .string(let value), .markup(let value): return !value.isEmpty
        case .array(let value): return !value.isEmpty
        case .object(let value): return !value.isEmpty
        case .callable, .namespace, .generator: return true
        }
    }

    /// Python's type name, for error messages that match jinja2's.
    var typeName: String {
        switch self {
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .markup: return "Markup"
        case .generator: return "generator"
        case .array: return "list"
        case .object: return "dict"
        case .callable(let callable): return callable.isMacro ? "Macro" : "function"
        case .namespace: return "Namespace"
        case .undefined: return "Undefined"
        }
    }

    /// The number as a Double when it is a number (bool counts, as in Python).
    var numericValue: Double? {
        switch self {
        case .bool(let value): return value ? 1 : 0
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// The integer when it is an int or a bool (Python's bool is an int).
    var integerValue: Int? {
        switch self {
        case .bool(let value): return value ? 1 : 0
        case .int(let value): return value
        default: return nil
        }
    }

    /// The text of a string (plain or markup).
    public var stringValue: String? {
        switch self {
        case .string(let value), .markup(let value): return value
        default: return nil
        }
    }
}

// MARK: - Literals

extension JinjaValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    /// Keys keep the literal's order.
    public init(dictionaryLiteral elements: (String, JinjaValue)...) {
        var object = JinjaObject()
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }
}

// MARK: - Equality (Python `==`)

extension JinjaValue: Equatable {
    /// Python equality: numbers compare by value across int, float and bool (`1 == 1.0 == True`),
    /// dicts compare regardless of key order, namespaces and callables by identity, and two
    /// undefined values are equal (jinja2's `Undefined.__eq__`).
    public static func == (lhs: JinjaValue, rhs: JinjaValue) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none), (.undefined, .undefined): return true
        case (.string(let a), .string(let b)), (.markup(let a), .markup(let b)), (.string(let a), .markup(let b)),
            (.markup(let a), .string(let b)):
            return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.generator(let a), .generator(let b)): return a === b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for (key, value) in a {
                guard let other = b[key], other == value else { return false }
            }
            return true
        case (.namespace(let a), .namespace(let b)): return a === b
        case (.callable(let a), .callable(let b)): return a === b
        default:
            if let a = lhs.integerValue, let b = rhs.integerValue { return a == b }
            if let a = lhs.numericValue, let b = rhs.numericValue { return a == b }
            return false
        }
    }
}

// MARK: - Ordered dictionary

/// A string-keyed dictionary that remembers insertion order, like a Python dict. Assigning to an
/// existing key keeps its position.
public struct JinjaObject: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init() {}

    public init(_ pairs: [(String, JinjaValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public init(dictionaryLiteral elements: (String, JinjaValue)...) {
        self.init(elements)
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }
    public var values: [JinjaValue] { keys.map { storage[$0]! } }

    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// The key a Python value has in this dictionary. Chat-template inputs are JSON, whose keys are
    /// strings; a template's own dict literal may use other scalars (`{0: 0, 512: 128}`), which
    /// are stored under a reserved encoding (`keyValue` turns it back into the value).
    static func key(for value: JinjaValue) throws -> String {
        switch value {
        case .string(let text): return text
        case .bool(let flag): return encodedKeyPrefix + "int:" + (flag ? "1" : "0")
        case .int(let number): return encodedKeyPrefix + "int:" + String(number)
        case .double(let number):
            if let integer = Int(exactly: number) { return encodedKeyPrefix + "int:" + String(integer) }
            return encodedKeyPrefix + "float:" + PythonText.floatRepr(number)
        case .none: return encodedKeyPrefix + "none"
        default: throw JinjaFailure.type("unhashable type: '\(value.typeName)'")
        }
    }

    /// The Python value of a stored key (the inverse of `key(for:)`).
    static func keyValue(_ key: String) -> JinjaValue {
        guard key.hasPrefix(encodedKeyPrefix) else { return .string(key) }
        let body = key.dropFirst(encodedKeyPrefix.count)
        if body.hasPrefix("int:"), let number = Int(body.dropFirst(4)) { return .int(number) }
        if body.hasPrefix("float:"), let number = Double(body.dropFirst(6)) { return .double(number) }
        if body == "none" { return .none }
        return .string(key)
    }

    /// A noncharacter that JSON text and templates do not produce.
    private static let encodedKeyPrefix = String(Unicode.Scalar(0xFDD0 as UInt32)!)

    public func makeIterator() -> AnyIterator<(key: String, value: JinjaValue)> {
        var index = 0
        return AnyIterator {
            guard index < keys.count else { return nil }
            defer { index += 1 }
            let key = keys[index]
            return (key, storage[key]!)
        }
    }
}

// MARK: - Reference types

/// The object `namespace(...)` returns: the one mutable value of a template, assigned with
/// `{% set ns.attr = value %}` and visible through every reference, across loop scopes.
/// It lives only during one render, on one thread.
public final class JinjaNamespace: @unchecked Sendable {
    var attributes: JinjaObject

    init(_ attributes: JinjaObject) {
        self.attributes = attributes
    }
}

/// The items of a Python iterator; iterating hands out the items not yet consumed.
/// It lives only during one render, on one thread.
public final class JinjaGenerator: @unchecked Sendable {
    private let items: [JinjaValue]
    private var position = 0

    init(_ items: [JinjaValue]) {
        self.items = items
    }

    /// The remaining items; the iterator is exhausted afterwards.
    func drain() -> [JinjaValue] {
        defer { position = items.count }
        return Array(items[position...])
    }

    /// The next item (what Python's `next()` returns), if any.
    func next() -> JinjaValue? {
        guard position < items.count else { return nil }
        defer { position += 1 }
        return items[position]
    }
}

/// Something a template can call. It lives only during one render, on one thread.
public final class JinjaCallable: @unchecked Sendable {
    typealias Body = (JinjaInterpreter, JinjaArguments) throws -> JinjaValue

    let name: String
    let isMacro: Bool
    let body: Body

    init(name: String, isMacro: Bool = false, body: @escaping Body) {
        self.name = name
        self.isMacro = isMacro
        self.body = body
    }
}

/// The arguments of a call: positional ones, then keyword ones in the order written.
struct JinjaArguments {
    var positional: [JinjaValue] = []
    var keyword: [(String, JinjaValue)] = []

    init(_ positional: [JinjaValue] = [], keyword: [(String, JinjaValue)] = []) {
        self.positional = positional
        self.keyword = keyword
    }

    /// Binds the arguments to a Python-style signature: each parameter from its position or its
    /// keyword, else `nil`. Unknown keywords and surplus positions are errors, as in Python.
    func bind(_ function: String, _ parameters: [String]) throws -> [JinjaValue?] {
        guard positional.count <= parameters.count else {
            throw JinjaFailure.type("\(function)() takes at most \(parameters.count) arguments (\(positional.count) given)")
        }
        var bound: [JinjaValue?] = positional + Array(repeating: nil, count: parameters.count - positional.count)
        for (name, value) in keyword {
            guard let index = parameters.firstIndex(of: name) else {
                throw JinjaFailure.type("\(function)() got an unexpected keyword argument '\(name)'")
            }
            guard bound[index] == nil else {
                throw JinjaFailure.type("\(function)() got multiple values for argument '\(name)'")
            }
            bound[index] = value
        }
        return bound
    }
}
