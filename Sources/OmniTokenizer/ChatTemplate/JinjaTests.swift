/// jinja2's built-in tests (`x is defined`, `x is string`, `x is sameas false`, ...), with
/// Python's type model: a bool is a number but not an integer test match; an undefined value is
/// iterable; a dict is a sequence.
enum JinjaTests {
    static func apply(_ name: String, to value: JinjaValue, _ arguments: JinjaArguments, _ interpreter: JinjaInterpreter) throws -> Bool {
        func argument() throws -> JinjaValue {
            let bound = try arguments.bind(name, ["other"])
            guard let other = bound[0] else { throw JinjaFailure.type("test '\(name)' needs an argument") }
            return other
        }
        func noArguments() throws {
            _ = try arguments.bind(name, [])
        }
        switch name {
        case "defined":
            try noArguments()
            return !value.isUndefined
        case "undefined":
            try noArguments()
            return value.isUndefined
        case "none":
            try noArguments()
            if case .none = value { return true }
            return false
        case "boolean":
            try noArguments()
            if case .bool = value { return true }
            return false
        case "true", "false":
            try noArguments()
            if case .bool(let flag) = value { return flag == (name == "true") }
            return false
        case "integer":
            try noArguments()
            if case .int = value { return true }
            return false
        case "float":
            try noArguments()
            if case .double = value { return true }
            return false
        case "number":
            try noArguments()
            return value.numericValue != nil
        case "string":
            try noArguments()
            return value.stringValue != nil
        case "mapping":
            try noArguments()
            return value.isObject
        case "iterable":
            try noArguments()
            switch value {
            case .string, .markup, .array, .object, .undefined, .generator: return true
            default: return false
            }
        case "sequence":
            try noArguments()
            switch value {
            case .string, .markup, .array, .object, .undefined: return true
            default: return false
            }
        case "callable":
            try noArguments()
            switch value {
            // jinja2's Undefined defines __call__ (which fails), so Python calls it callable.
            case .callable, .undefined: return true
            default: return false
            }
        case "sameas":
            return isSame(value, try argument())
        case "escaped":
            try noArguments()
            return value.isMarkup
        case "lower", "upper":
            try noArguments()
            return PythonText.hasOnlyCase(value.pythonString, upper: name == "upper")
        case "eq", "equalto", "==":
            return value == (try argument())
        case "ne", "!=":
            return value != (try argument())
        case "lt", "lessthan", "<":
            return try JinjaOperators.compare(.less, value, try argument())
        case "le", "<=":
            return try JinjaOperators.compare(.lessOrEqual, value, try argument())
        case "gt", "greaterthan", ">":
            return try JinjaOperators.compare(.greater, value, try argument())
        case "ge", ">=":
            return try JinjaOperators.compare(.greaterOrEqual, value, try argument())
        case "in":
            return try JinjaOperators.contains(try argument(), value)
        case "divisibleby":
            let divisor = try argument()
            let remainder = try JinjaOperators.binary(.modulo, value, divisor, interpreter)
            return remainder == .int(0)
        case "even", "odd":
            try noArguments()
            let remainder = try JinjaOperators.binary(.modulo, value, .int(2), interpreter)
            return remainder == .int(name == "even" ? 0 : 1)
        case "filter", "test":
            _ = try argument()
            return true
        case "startingwith":
            return PythonText.hasPrefix(value.pythonString, try argument().pythonString)
        default:
            throw JinjaFailure.type("No test named '\(name)' found.")
        }
    }

    /// Python's `is`: singletons (None, True, False) and references compare by identity; equal
    /// small scalars are treated as the same object, as CPython caches them.
    private static func isSame(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y && (-5...256).contains(x)
        case (.string(let x), .string(let y)): return x == y && x.unicodeScalars.count <= 1
        case (.namespace(let x), .namespace(let y)): return x === y
        case (.callable(let x), .callable(let y)): return x === y
        case (.undefined, .undefined): return false
        default: return false
        }
    }
}
