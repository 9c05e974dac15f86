/// jinja2's built-in filters, with transformers' `tojson` (non-ASCII kept, `indent`,
/// `separators`, `sort_keys`). Filters that work on text take `str(value)` first, as jinja2's
/// `soft_str` does, so an undefined value becomes "".
enum JinjaFilters {
    static func apply(_ name: String, to value: JinjaValue, _ arguments: JinjaArguments, _ interpreter: JinjaInterpreter) throws -> JinjaValue {
        func bind(_ parameters: [String]) throws -> [JinjaValue?] {
            try arguments.bind(name, parameters)
        }
        var text: String { value.pythonString }
        switch name {
        case "default", "d":
            let bound = try bind(["default_value", "boolean"])
            if value.isUndefined || ((bound[1]?.isTruthy ?? false) && !value.isTruthy) {
                return bound[0] ?? .string("")
            }
            return value
        case "tojson":
            return try toJSON(value, try bind(["ensure_ascii", "indent", "separators", "sort_keys"]))
        case "length", "count":
            _ = try bind([])
            return .int(try length(of: value))
        case "string":
            _ = try bind([])
            return value.isMarkup ? value : .string(text)
        case "safe":
            _ = try bind([])
            return .markup(text)
        case "trim":
            let bound = try bind(["chars"])
            let chars: String? = bound[0].flatMap { if case .none = $0 { nil } else { $0.pythonString } }
            return value.sameKindOfString(PythonText.strip(text, chars: chars))
        case "upper":
            _ = try bind([])
            return value.sameKindOfString(PythonText.upper(text))
        case "lower":
            _ = try bind([])
            return value.sameKindOfString(PythonText.lower(text))
        case "capitalize":
            _ = try bind([])
            return value.sameKindOfString(PythonText.capitalize(text))
        case "title":
            _ = try bind([])
            return .string(title(text))
        case "replace":
            let bound = try bind(["old", "new", "count"])
            guard let old = bound[0], let new = bound[1] else {
                throw JinjaFailure.type("do_replace() missing required arguments 'old' and 'new'")
            }
            let count = bound[2].flatMap { if case .none = $0 { nil } else { $0.integerValue } } ?? -1
            let result = PythonText.replace(text, old.pythonString, new.pythonString, count: count)
            try interpreter.checkSize(result.utf8.count)
            return .string(result)
        case "join":
            let bound = try bind(["d", "attribute"])
            var items = try JinjaOperators.iterate(value)
            if let attribute = bound[1], !isNone(attribute) { items = try items.map { try lookup($0, attribute) } }
            let result = items.map(\.pythonString).joined(separator: bound[0]?.pythonString ?? "")
            try interpreter.checkSize(result.utf8.count)
            return .string(result)
        case "first":
            _ = try bind([])
            if case .generator(let generator) = value {
                return generator.next() ?? .undefined(hint: "No first item, sequence was empty.")
            }
            return try JinjaOperators.iterate(value).first ?? .undefined(hint: "No first item, sequence was empty.")
        case "last":
            _ = try bind([])
            switch value {
            case .string, .markup, .array, .object, .undefined: break
            default: throw JinjaFailure.type("'\(value.typeName)' object is not reversible")
            }
            return try JinjaOperators.iterate(value).last ?? .undefined(hint: "No last item, sequence was empty.")
        case "list":
            _ = try bind([])
            return .array(try JinjaOperators.iterate(value))
        case "items":
            _ = try bind([])
            switch value {
            case .undefined: return .generator(JinjaGenerator([]))
            case .object(let object): return .generator(JinjaGenerator(object.map { .array([JinjaObject.keyValue($0.key), $0.value]) }))
            default: throw JinjaFailure.type("Can only get item pairs from a mapping.")
            }
        case "dictsort":
            return try dictsort(value, try bind(["case_sensitive", "by", "reverse"]))
        case "int":
            if case .undefined(let hint) = value { throw JinjaFailure.undefined(hint) }
            let bound = try bind(["default", "base"])
            return integer(value, default: bound[0] ?? .int(0), base: bound[1]?.integerValue ?? 10)
        case "float":
            if case .undefined(let hint) = value { throw JinjaFailure.undefined(hint) }
            let bound = try bind(["default"])
            return float(value, default: bound[0] ?? .double(0))
        case "abs":
            _ = try bind([])
            switch value {
            case .bool(let flag): return .int(flag ? 1 : 0)
            case .int(let number): return number == .min ? .double(Double(number).magnitude) : .int(Swift.abs(number))
            case .double(let number): return .double(number.magnitude)
            case .undefined(let hint): throw JinjaFailure.undefined(hint)
            default: throw JinjaFailure.type("bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            return try round(value, try bind(["precision", "method"]))
        case "map":
            return .generator(JinjaGenerator(try map(value, arguments, interpreter)))
        case "select", "reject", "selectattr", "rejectattr":
            return .generator(JinjaGenerator(try select(value, arguments, interpreter, keep: !name.hasPrefix("reject"), attribute: name.hasSuffix("attr"))))
        case "unique":
            let bound = try bind(["case_sensitive", "attribute"])
            var seen: [JinjaValue] = []
            var result: [JinjaValue] = []
            for item in try JinjaOperators.iterate(value) {
                let key = try sortKey(item, attribute: bound[1], caseSensitive: bound[0]?.isTruthy ?? false)
                if !seen.contains(key) {
                    seen.append(key)
                    result.append(item)
                }
            }
            return .generator(JinjaGenerator(result))
        case "sort":
            let bound = try bind(["reverse", "case_sensitive", "attribute"])
            return .array(try sorted(
                try JinjaOperators.iterate(value), reverse: bound[0]?.isTruthy ?? false,
                key: { try sortKey($0, attribute: bound[2], caseSensitive: bound[1]?.isTruthy ?? false) }))
        case "min", "max":
            let bound = try bind(["case_sensitive", "attribute"])
            let items = try JinjaOperators.iterate(value)
            guard var best = items.first else { return .undefined(hint: "No aggregated item, sequence was empty.") }
            let key = { (item: JinjaValue) in try sortKey(item, attribute: bound[1], caseSensitive: bound[0]?.isTruthy ?? false) }
            var bestKey = try key(best)
            for item in items.dropFirst() {
                let itemKey = try key(item)
                let order = try JinjaOperators.order(itemKey, bestKey, name == "min" ? .less : .greater)
                if name == "min" ? order < 0 : order > 0 {
                    best = item
                    bestKey = itemKey
                }
            }
            return best
        case "sum":
            let bound = try bind(["attribute", "start"])
            var total = bound[1] ?? .int(0)
            for item in try JinjaOperators.iterate(value) {
                let term = try bound[0].map { try lookup(item, $0) } ?? item
                total = try JinjaOperators.binary(.add, total, term, interpreter)
            }
            return total
        case "reverse":
            _ = try bind([])
            if value.stringValue != nil { return value.sameKindOfString(PythonText.string(text.unicodeScalars.reversed())) }
            if case .generator = value { return .array(try JinjaOperators.iterate(value).reversed()) }
            guard let items = try? JinjaOperators.iterate(value) else { throw JinjaFailure.type("argument must be iterable") }
            return .generator(JinjaGenerator(items.reversed()))
        case "indent":
            let bound = try bind(["width", "first", "blank"])
            // jinja2 appends "\n" to its input, which only strings accept.
            if case .undefined(let hint) = value { throw JinjaFailure.undefined(hint) }
            if case .array = value { throw JinjaFailure.type("'list' object has no attribute 'splitlines'") }
            guard value.stringValue != nil else {
                throw JinjaFailure.type("unsupported operand type(s) for +=: '\(value.typeName)' and 'str'")
            }
            return value.sameKindOfString(try indent(text, bound, interpreter))
        case "center":
            let bound = try bind(["width"])
            let width = bound[0]?.integerValue ?? 80
            try interpreter.checkSize(width)
            return value.sameKindOfString(PythonText.center(text, width: width))
        case "wordcount":
            _ = try bind([])
            return .int(wordCount(text))
        case "truncate":
            let bound = try bind(["length", "killwords", "end", "leeway"])
            // jinja2 measures and slices the value itself, not its text.
            if value.stringValue == nil {
                let limit = (bound[0]?.integerValue ?? 255) + (bound[3].flatMap { isNone($0) ? nil : $0.integerValue } ?? 5)
                if try length(of: value) <= limit { return value }
                throw JinjaFailure.type("can only truncate text")
            }
            return value.sameKindOfString(try truncate(text, bound))
        case "batch":
            let bound = try bind(["linecount", "fill_with"])
            guard let size = bound[0]?.integerValue, size > 0 else { throw JinjaFailure.type("batch size must be a positive integer") }
            var batches: [JinjaValue] = []
            var current: [JinjaValue] = []
            for item in try JinjaOperators.iterate(value) {
                current.append(item)
                if current.count == size {
                    batches.append(.array(current))
                    current = []
                }
            }
            if !current.isEmpty {
                if let fill = bound[1], !isNone(fill) { current += Array(repeating: fill, count: size - current.count) }
                batches.append(.array(current))
            }
            return .generator(JinjaGenerator(batches))
        case "e", "escape":
            _ = try bind([])
            return value.isMarkup ? value : .markup(escapeHTML(text))
        case "forceescape":
            _ = try bind([])
            return .markup(escapeHTML(text))
        case "attr":
            let bound = try bind(["name"])
            let attribute = bound[0]?.pythonString ?? ""
            if let method = JinjaMethods.bound(value, attribute) { return method }
            if case .namespace(let namespace) = value, let item = namespace.attributes[attribute] { return item }
            return .undefined(hint: "'\(value.typeName) object' has no attribute '\(attribute)'")
        case "format":
            let rest = arguments.positional
            if !rest.isEmpty && !arguments.keyword.isEmpty {
                throw JinjaFailure.type("can't handle positional and keyword arguments at the same time")
            }
            let values: JinjaValue = arguments.keyword.isEmpty ? .array(rest) : .object(JinjaObject(arguments.keyword))
            return value.sameKindOfString(try PythonFormat.percent(text, values))
        case "groupby", "slice", "striptags", "urlencode", "urlize", "wordwrap", "xmlattr", "pprint", "filesizeformat", "random":
            throw JinjaFailure.type("the '\(name)' filter is not supported by this chat template engine")
        default:
            throw JinjaFailure.type("No filter named '\(name)' found.")
        }
    }

    static func isNone(_ value: JinjaValue) -> Bool {
        if case .none = value { return true }
        return false
    }

    /// `len(value)`; jinja2's undefined has length 0.
    static func length(of value: JinjaValue) throws -> Int {
        switch value {
        case .string(let text), .markup(let text): return text.unicodeScalars.count
        case .array(let items): return items.count
        case .object(let object): return object.count
        case .undefined: return 0
        default: throw JinjaFailure.type("object of type '\(value.typeName)' has no len()")
        }
    }
}
