import Foundation

/// Python's operators on `JinjaValue`s, with jinja2's rules for attribute and item lookup (a
/// missing key is undefined, not an error; a dict's methods win over its keys for `.name`).
enum JinjaOperators {
    // MARK: Iteration

    /// `for x in value`: a list's items, a dict's keys, a string's characters; undefined is empty.
    static func iterate(_ value: JinjaValue) throws -> [JinjaValue] {
        switch value {
        case .array(let items): return items
        case .object(let object): return object.keys.map(JinjaObject.keyValue)
        case .string(let text), .markup(let text): return text.unicodeScalars.map { .string(String($0)) }
        case .generator(let generator): return generator.drain()
        case .undefined: return []
        default: throw JinjaFailure.type("'\(value.typeName)' object is not iterable")
        }
    }

    // MARK: Attribute and item lookup

    /// jinja2's `environment.getattr` inside the immutable sandbox: a Python attribute (a method)
    /// first, then the item; mutating methods and `_private` attributes are unsafe.
    static func attribute(of value: JinjaValue, _ name: String) throws -> JinjaValue {
        if case .undefined(let hint) = value { throw JinjaFailure.undefined(hint) }
        if name.hasPrefix("_"), !(value.isObject) {
            return .undefined(hint: "access to attribute '\(name)' of '\(value.typeName)' object is unsafe.")
        }
        if let method = JinjaMethods.bound(value, name) { return method }
        if JinjaMethods.isUnsafe(value, name) {
            return .undefined(hint: "access to attribute '\(name)' of '\(value.typeName)' object is unsafe.")
        }
        switch value {
        case .object(let object):
            if let item = object[name] { return item }
        case .namespace(let namespace):
            if let item = namespace.attributes[name] { return item }
        default:
            break
        }
        return missing(value, name)
    }

    /// jinja2's `environment.getitem`: the item first, then (for a string key) the attribute.
    static func item(of value: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        if case .undefined(let hint) = value { throw JinjaFailure.undefined(hint) }
        switch (value, key) {
        case (.array(let items), _):
            if let index = key.integerValue {
                let resolved = index < 0 ? index + items.count : index
                if resolved >= 0 && resolved < items.count { return items[resolved] }
                return .undefined(hint: "'list object' has no element \(index)")
            }
        case (.string(let text), _), (.markup(let text), _):
            if let index = key.integerValue {
                let scalars = Array(text.unicodeScalars)
                let resolved = index < 0 ? index + scalars.count : index
                if resolved >= 0 && resolved < scalars.count {
                    return value.sameKindOfString(String(scalars[resolved]))
                }
                return .undefined(hint: "'str object' has no element \(index)")
            }

        case (.object(let object), _):
            if let storageKey = try? JinjaObject.key(for: key), let item = object[storageKey] { return item }
        default:
            break
        }
        if case .string(let name) = key { return try attribute(of: value, name) }
        return .undefined(hint: "'\(value.typeName) object' has no element \(key.pythonRepr)")
    }

    private static func missing(_ value: JinjaValue, _ name: String) -> JinjaValue {
        if case .none = value { return .undefined(hint: "'None' has no attribute '\(name)'") }
        return .undefined(hint: "'\(value.typeName) object' has no attribute '\(name)'")
    }

    /// `value[start:stop:step]` for lists and strings, with Python's index clamping.
    static func slice(_ value: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?) throws -> JinjaValue {
        if case .undefined(let hint) = value { throw JinjaFailure.undefined(hint) }
        // jinja2 compiles slices to plain Python subscripts (not environment.getitem), so a bad
        // slice is Python's TypeError rather than an undefined value.
        switch value {
        case .array, .string, .markup: break
        case .object: throw JinjaFailure.type("unhashable type: 'slice'")
        default: throw JinjaFailure.type("'\(value.typeName)' object is not subscriptable")
        }
        var integers: [Int?] = []
        for bound in [start, stop, step] {
            guard let bound, !JinjaFilters.isNone(bound) else {
                integers.append(nil)
                continue
            }
            guard let integer = bound.integerValue else {
                throw JinjaFailure.type("slice indices must be integers or None or have an __index__ method")
            }
            integers.append(integer)
        }
        let indices: (Int) throws -> [Int] = { count in
            try sliceIndices(count: count, start: integers[0], stop: integers[1], step: integers[2])
        }
        switch value {
        case .array(let items):
            return .array(try indices(items.count).map { items[$0] })
        case .string(let text), .markup(let text):
            let scalars = Array(text.unicodeScalars)
            return value.sameKindOfString(PythonText.string(try indices(scalars.count).map { scalars[$0] }))
        default:
            return value
        }
    }

    static func sliceIndices(count: Int, start: Int?, stop: Int?, step: Int?) throws -> [Int] {
        let step = step ?? 1
        guard step != 0 else { throw JinjaFailure.type("slice step cannot be zero") }
        func clamp(_ index: Int?, default defaultValue: Int) -> Int {
            guard var index else { return defaultValue }
            if index < 0 {
                index += count
                if index < 0 { index = step < 0 ? -1 : 0 }
            } else if index >= count {
                index = step < 0 ? count - 1 : count
            }
            return index
        }
        var current = clamp(start, default: step < 0 ? count - 1 : 0)
        let end = clamp(stop, default: step < 0 ? -1 : count)
        var result: [Int] = []
        while step > 0 ? current < end : current > end {
            result.append(current)
            current += step
        }
        return result
    }

    // MARK: Arithmetic

    static func negate(_ value: JinjaValue) throws -> JinjaValue {
        switch value {
        case .bool(let flag): return .int(flag ? -1 : 0)
        case .int(let number):
            guard number != .min else { throw JinjaFailure.type("integer overflow") }
            return .int(-number)
        case .double(let number): return .double(-number)
        case .undefined(let hint): throw JinjaFailure.undefined(hint)
        default: throw JinjaFailure.type("bad operand type for unary -: '\(value.typeName)'")
        }
    }

    static func binary(_ op: JinjaBinaryOperator, _ a: JinjaValue, _ b: JinjaValue, _ interpreter: JinjaInterpreter) throws -> JinjaValue {
        if op == .concat {
            let text = a.pythonString + b.pythonString
            try interpreter.checkSize(text.utf8.count)
            return .string(text)
        }
        if case .undefined(let hint) = a { throw JinjaFailure.undefined(hint) }
        if case .undefined(let hint) = b, !(op == .modulo && a.stringValue != nil) { throw JinjaFailure.undefined(hint) }
        if a.isMarkup || b.isMarkup { return try markupBinary(op, a, b, interpreter) }
        switch op {
        case .add:
            switch (a, b) {
            case (.string(let x), .string(let y)):
                try interpreter.checkSize(x.utf8.count + y.utf8.count)
                return .string(x + y)
            case (.array(let x), .array(let y)):
                try interpreter.checkSize(x.count + y.count)
                return .array(x + y)
            case (.string, _):
                throw JinjaFailure.type("can only concatenate str (not \"\(b.typeName)\") to str")
            case (.array, _):
                throw JinjaFailure.type("can only concatenate list (not \"\(b.typeName)\") to list")
            default:
                return try arithmetic(op, a, b)
            }
        case .multiply:
            if case .string(let text) = a, let count = b.integerValue { return try repeated(text, count, interpreter) }
            if case .string(let text) = b, let count = a.integerValue { return try repeated(text, count, interpreter) }
            if case .array(let items) = a, let count = b.integerValue { return try repeated(items, count, interpreter) }
            if case .array(let items) = b, let count = a.integerValue { return try repeated(items, count, interpreter) }
            return try arithmetic(op, a, b)
        case .modulo:
            if case .string(let format) = a { return .string(try PythonFormat.percent(format, b)) }
            return try arithmetic(op, a, b)
        default:
            return try arithmetic(op, a, b)
        }
    }

    /// markupsafe's operators: the plain-string side of `+` and the arguments of `%` are escaped,
    /// and the result stays markup.
    private static func markupBinary(_ op: JinjaBinaryOperator, _ a: JinjaValue, _ b: JinjaValue, _ interpreter: JinjaInterpreter) throws -> JinjaValue {
        switch op {
        case .add:
            guard let left = a.stringValue, let right = b.stringValue else { throw unsupported(op, a, b) }
            let escapedLeft = a.isMarkup ? left : JinjaFilters.escapeHTML(left)
            let escapedRight = b.isMarkup ? right : JinjaFilters.escapeHTML(right)
            try interpreter.checkSize(escapedLeft.utf8.count + escapedRight.utf8.count)
            return .markup(escapedLeft + escapedRight)
        case .multiply:
            let product = try binary(op, a.plainString, b.plainString, interpreter)
            guard case .string(let text) = product else { return product }
            return .markup(text)
        case .modulo where a.isMarkup:
            func escaped(_ value: JinjaValue) -> JinjaValue {
                if case .string(let text) = value { return .markup(JinjaFilters.escapeHTML(text)) }
                return value
            }
            let arguments: JinjaValue
            switch b {
            case .array(let items): arguments = .array(items.map(escaped))
            case .object(let object): arguments = .object(JinjaObject(object.map { ($0.key, escaped($0.value)) }))
            default: arguments = escaped(b)
            }
            return .markup(try PythonFormat.percent(a.stringValue ?? "", arguments))
        default:
            return try binary(op, a.plainString, b.plainString, interpreter)
        }
    }

    private static func repeated(_ text: String, _ count: Int, _ interpreter: JinjaInterpreter) throws -> JinjaValue {
        guard count > 0 else { return .string("") }
        try interpreter.checkSize(text.utf8.count.multipliedReportingOverflow(by: count).overflow ? .max : text.utf8.count * count)
        return .string(String(repeating: text, count: count))
    }

    private static func repeated(_ items: [JinjaValue], _ count: Int, _ interpreter: JinjaInterpreter) throws -> JinjaValue {
        guard count > 0 else { return .array([]) }
        try interpreter.checkSize(items.count.multipliedReportingOverflow(by: count).overflow ? .max : items.count * count)
        return .array(Array([[JinjaValue]](repeating: items, count: count).joined()))
    }

    /// Python's TypeError for an operator its operands do not support, in Python's words.
    private static func unsupported(_ op: JinjaBinaryOperator, _ a: JinjaValue, _ b: JinjaValue) -> JinjaFailure {
        let isSequence = { (value: JinjaValue) -> Bool in
            switch value {
            case .string, .markup, .array: return true
            default: return false
            }
        }
        if op == .multiply, isSequence(a) || isSequence(b) {
            let other = isSequence(a) ? b : a
            return .type("can't multiply sequence by non-int of type '\(other.typeName)'")
        }
        let symbol = op == .power ? "** or pow()" : op.rawValue
        return .type("unsupported operand type(s) for \(symbol): '\(a.typeName)' and '\(b.typeName)'")
    }

    /// Numeric operators: int with int stays int (except `/`), anything with a float is a float.
    private static func arithmetic(_ op: JinjaBinaryOperator, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        if let x = a.integerValue, let y = b.integerValue {
            return try integerArithmetic(op, x, y)
        }
        guard let x = a.numericValue, let y = b.numericValue else { throw unsupported(op, a, b) }
        switch op {
        case .add: return .double(x + y)
        case .subtract: return .double(x - y)
        case .multiply: return .double(x * y)
        case .divide:
            guard y != 0 else { throw JinjaFailure.type("float division by zero") }
            return .double(x / y)
        case .floorDivide:
            guard y != 0 else { throw JinjaFailure.type("float floor division by zero") }
            return .double(((x - pythonFloatModulo(x, y)) / y).rounded())
        case .modulo:
            guard y != 0 else { throw JinjaFailure.type("float modulo") }
            return .double(pythonFloatModulo(x, y))
        case .power:
            if x == 0 && y < 0 { throw JinjaFailure.type("0.0 cannot be raised to a negative power") }
            if x < 0 && y.rounded() != y { throw JinjaFailure.type("a negative number raised to a fractional power is complex") }
            let result = Foundation.pow(x, y)
            if result.isInfinite && x.isFinite && y.isFinite { throw JinjaFailure.type("(34, 'Numerical result out of range')") }
            return .double(result)
        case .concat:
            throw unsupported(op, a, b)
        }
    }

    private static func pythonFloatModulo(_ x: Double, _ y: Double) -> Double {
        var result = fmod(x, y)
        if result != 0 && (result < 0) != (y < 0) { result += y }
        if result == 0 { result = Double(signOf: y, magnitudeOf: 0) }
        return result
    }

    private static func integerArithmetic(_ op: JinjaBinaryOperator, _ x: Int, _ y: Int) throws -> JinjaValue {
        func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
            guard !result.overflow else { throw JinjaFailure.type("integer overflow") }
            return .int(result.partialValue)
        }
        switch op {
        case .add: return try checked(x.addingReportingOverflow(y))
        case .subtract: return try checked(x.subtractingReportingOverflow(y))
        case .multiply: return try checked(x.multipliedReportingOverflow(by: y))
        case .divide:
            guard y != 0 else { throw JinjaFailure.type("division by zero") }
            return .double(Double(x) / Double(y))
        case .floorDivide:
            guard y != 0 else { throw JinjaFailure.type("integer division or modulo by zero") }
            var quotient = x / y
            if (x % y != 0) && ((x < 0) != (y < 0)) { quotient -= 1 }
            return .int(quotient)
        case .modulo:
            guard y != 0 else { throw JinjaFailure.type("integer division or modulo by zero") }
            var remainder = x % y
            if remainder != 0 && ((remainder < 0) != (y < 0)) { remainder += y }
            return .int(remainder)
        case .power:
            if y < 0 {
                guard x != 0 else { throw JinjaFailure.type("0.0 cannot be raised to a negative power") }
                return .double(Foundation.pow(Double(x), Double(y)))
            }
            var result = 1
            var base = x
            var exponent = y
            while exponent > 0 {
                if exponent & 1 == 1 {
                    let product = result.multipliedReportingOverflow(by: base)
                    guard !product.overflow else { throw JinjaFailure.type("integer overflow") }
                    result = product.partialValue
                }
                exponent >>= 1
                if exponent > 0 {
                    let square = base.multipliedReportingOverflow(by: base)
                    guard !square.overflow else { throw JinjaFailure.type("integer overflow") }
                    base = square.partialValue
                }
            }
            return .int(result)
        case .concat:
            throw JinjaFailure.type("unsupported operand")
        }
    }

    // MARK: Comparison

    static func compare(_ op: JinjaCompareOperator, _ a: JinjaValue, _ b: JinjaValue) throws -> Bool {
        switch op {
        case .equal: return a == b
        case .notEqual: return a != b
        case .in: return try contains(b, a)
        case .notIn: return try !contains(b, a)
        case .less: return try order(a, b, op) < 0
        case .lessOrEqual: return try order(a, b, op) <= 0
        case .greater: return try order(a, b, op) > 0
        case .greaterOrEqual: return try order(a, b, op) >= 0
        }
    }

    /// Python ordering: numbers by value, strings by code point, lists item by item.
    static func order(_ a: JinjaValue, _ b: JinjaValue, _ op: JinjaCompareOperator = .less) throws -> Int {
        if case .undefined(let hint) = a { throw JinjaFailure.undefined(hint) }
        if case .undefined(let hint) = b { throw JinjaFailure.undefined(hint) }
        switch (a.plainString, b.plainString) {
        case (.string(let x), .string(let y)):
            if x.unicodeScalars.elementsEqual(y.unicodeScalars) { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
        case (.array(let x), .array(let y)):
            for (left, right) in zip(x, y) where left != right {
                return try order(left, right, op)
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            if let x = a.integerValue, let y = b.integerValue { return x == y ? 0 : (x < y ? -1 : 1) }
            if let x = a.numericValue, let y = b.numericValue {
                if x == y { return 0 }
                if x < y { return -1 }
                if x > y { return 1 }
                // NaN: every comparison is false.
                return op == .less || op == .lessOrEqual ? 1 : -1
            }
            throw JinjaFailure.type("'\(op.rawValue)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    /// Python's `needle in container`.
    static func contains(_ container: JinjaValue, _ needle: JinjaValue) throws -> Bool {
        switch container {
        case .string(let text), .markup(let text):
            guard let sub = needle.stringValue else {
                throw JinjaFailure.type("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return PythonText.contains(text, sub)
        case .array(let items):
            return items.contains(needle)
        case .object(let object):
            switch needle {
            // Python hashes these by identity: never a key of a template's dict.
            case .undefined, .callable, .namespace, .generator: return false
            default: return object[try JinjaObject.key(for: needle)] != nil
            }
        case .generator(let generator):
            return generator.drain().contains(needle)
        case .undefined:
            return false
        default:
            throw JinjaFailure.type("argument of type '\(container.typeName)' is not iterable")
        }
    }
}

extension JinjaValue {
    var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    var isMarkup: Bool {
        if case .markup = self { return true }
        return false
    }

    /// Markup as a plain string; other values unchanged.
    var plainString: JinjaValue {
        if case .markup(let text) = self { return .string(text) }
        return self
    }

    /// `text` as markup when this value is markup, else as a plain string (markupsafe's methods
    /// and slices return markup).
    func sameKindOfString(_ text: String) -> JinjaValue {
        isMarkup ? .markup(text) : .string(text)
    }
}
