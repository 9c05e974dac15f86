/// The Python methods templates call on values: `str` (`split`, `strip`, `startswith`, ...),
/// `dict` (`get`, `items`, `keys`, `values`) and the non-mutating `list` ones. Mutating methods
/// (`list.append`, `dict.update`) are refused, as transformers' immutable sandbox refuses them.
enum JinjaMethods {
    private static let unsafeNames: [String: Set<String>] = [
        "list": ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"],
        "dict": ["clear", "pop", "popitem", "setdefault", "update"],
    ]

    static func isUnsafe(_ value: JinjaValue, _ name: String) -> Bool {
        unsafeNames[value.typeName]?.contains(name) ?? false
    }

    /// The bound method `value.name`, if the value's Python type has a safe method of that name.
    static func bound(_ value: JinjaValue, _ name: String) -> JinjaValue? {
        let body: JinjaCallable.Body?
        switch value {
        case .string(let text): body = stringMethod(text, name)
        case .markup(let text): body = markupMethod(text, name)
        case .object(let object): body = dictMethod(object, name)
        case .array(let items): body = listMethod(items, name)
        default: body = nil
        }
        return body.map { .callable(JinjaCallable(name: name, body: $0)) }
    }

    // MARK: dict

    private static func dictMethod(_ object: JinjaObject, _ name: String) -> JinjaCallable.Body? {
        switch name {
        case "get":
            return { _, arguments in
                let bound = try arguments.bind("get", ["key", "default"])
                guard let key = bound[0] else { throw JinjaFailure.type("get expected at least 1 argument, got 0") }
                if let value = object[try JinjaObject.key(for: key)] { return value }
                return bound[1] ?? JinjaValue.none
            }
        case "items":
            return { _, arguments in
                _ = try arguments.bind("items", [])
                return .array(object.map { .array([JinjaObject.keyValue($0.key), $0.value]) })
            }
        case "keys":
            return { _, arguments in
                _ = try arguments.bind("keys", [])
                return .array(object.keys.map(JinjaObject.keyValue))
            }
        case "values":
            return { _, arguments in
                _ = try arguments.bind("values", [])
                return .array(object.values)
            }
        case "copy":
            return { _, _ in .object(object) }
        default:
            return nil
        }
    }

    // MARK: list

    private static func listMethod(_ items: [JinjaValue], _ name: String) -> JinjaCallable.Body? {
        switch name {
        case "index":
            return { _, arguments in
                let bound = try arguments.bind("index", ["value"])
                guard let needle = bound[0], let index = items.firstIndex(of: needle) else {
                    throw JinjaFailure.type("value is not in list")
                }
                return .int(index)
            }
        case "count":
            return { _, arguments in
                let bound = try arguments.bind("count", ["value"])
                return .int(items.filter { $0 == (bound[0] ?? JinjaValue.none) }.count)
            }
        case "copy":
            return { _, _ in .array(items) }
        default:
            return nil
        }
    }

    // MARK: Markup

    /// markupsafe's `Markup` methods: string arguments are escaped and text results stay markup.
    private static func markupMethod(_ text: String, _ name: String) -> JinjaCallable.Body? {
        guard let plain = stringMethod(text, name) else { return nil }
        let wrapped: Set<String> = [
            "capitalize", "title", "lower", "upper", "replace", "ljust", "rjust", "lstrip", "rstrip", "center", "strip",
            "swapcase", "zfill", "partition", "rpartition", "split", "rsplit", "splitlines", "join", "format",
        ]
        guard wrapped.contains(name) else { return plain }
        func escaped(_ value: JinjaValue) -> JinjaValue {
            if case .string(let text) = value { return .markup(JinjaFilters.escapeHTML(text)) }
            return value
        }
        func markup(_ value: JinjaValue) -> JinjaValue {
            switch value {
            case .string(let text): return .markup(text)
            case .array(let items): return .array(items.map(markup))
            default: return value
            }
        }
        return { interpreter, arguments in
            var escapedArguments = JinjaArguments(
                arguments.positional.map(escaped), keyword: arguments.keyword.map { ($0.0, escaped($0.1)) })
            if name == "join", let items = escapedArguments.positional.first {
                escapedArguments.positional[0] = .array(try JinjaOperators.iterate(items).map(escaped))
            }
            if ["split", "rsplit", "splitlines"].contains(name) { escapedArguments = arguments }
            return markup(try plain(interpreter, escapedArguments))
        }
    }

    // MARK: str

    private static func text(_ value: JinjaValue?, _ method: String) throws -> String {
        guard let text = value?.stringValue else {
            throw JinjaFailure.type("must be str, not \(value?.typeName ?? "NoneType")")
        }
        return text
    }

    /// `None` or a string: the optional `chars` / `sep` arguments of strip and split.
    private static func optionalText(_ value: JinjaValue?, _ method: String) throws -> String? {
        guard let value else { return nil }
        if case .none = value { return nil }
        return try text(value, method)
    }

    private static func integer(_ value: JinjaValue?, default defaultValue: Int, _ method: String) throws -> Int {
        guard let value else { return defaultValue }
        guard let integer = value.integerValue else {
            throw JinjaFailure.type("'\(value.typeName)' object cannot be interpreted as an integer")
        }
        return integer
    }

    private static func stringMethod(_ string: String, _ name: String) -> JinjaCallable.Body? {
        switch name {
        case "startswith", "endswith":
            return { _, arguments in
                let bound = try arguments.bind(name, ["prefix", "start", "end"])
                let scalars = Array(string.unicodeScalars)
                let indices = try JinjaOperators.sliceIndices(
                    count: scalars.count, start: bound[1]?.integerValue, stop: bound[2]?.integerValue, step: 1)
                let window = PythonText.string(indices.map { scalars[$0] })
                let candidates: [JinjaValue]
                if case .array(let items) = bound[0] { candidates = items } else { candidates = [bound[0] ?? JinjaValue.none] }
                for candidate in candidates {
                    let affix = try text(candidate, name)
                    if name == "startswith" ? PythonText.hasPrefix(window, affix) : PythonText.hasSuffix(window, affix) {
                        return .bool(true)
                    }
                }
                return .bool(false)
            }
        case "split", "rsplit":
            return { _, arguments in
                let bound = try arguments.bind(name, ["sep", "maxsplit"])
                let separator = try optionalText(bound[0], name)
                let maxSplit = try integer(bound[1], default: -1, name)
                let parts =
                    name == "split"
                    ? try PythonText.split(string, separator: separator, maxSplit: maxSplit)
                    : try PythonText.rsplit(string, separator: separator, maxSplit: maxSplit)
                return .array(parts.map { .string($0) })
            }
        case "splitlines":
            return { _, arguments in
                let bound = try arguments.bind(name, ["keepends"])
                return .array(PythonText.splitLines(string, keepEnds: bound[0]?.isTruthy ?? false).map { .string($0) })
            }
        case "strip", "lstrip", "rstrip":
            return { _, arguments in
                let bound = try arguments.bind(name, ["chars"])
                let chars = try optionalText(bound[0], name)
                return .string(PythonText.strip(string, chars: chars, leading: name != "rstrip", trailing: name != "lstrip"))
            }
        case "replace":
            return { interpreter, arguments in
                let bound = try arguments.bind(name, ["old", "new", "count"])
                let result = PythonText.replace(
                    string, try text(bound[0], name), try text(bound[1], name), count: try integer(bound[2], default: -1, name))
                try interpreter.checkSize(result.utf8.count)
                return .string(result)
            }
        case "upper", "lower", "title", "capitalize", "swapcase", "casefold":
            return { _, arguments in
                _ = try arguments.bind(name, [])
                switch name {
                case "upper": return .string(PythonText.upper(string))
                case "lower", "casefold": return .string(PythonText.lower(string))
                case "title": return .string(PythonText.title(string))
                case "capitalize": return .string(PythonText.capitalize(string))
                default: return .string(PythonText.swapCase(string))
                }
            }
        case "find", "rfind", "index", "rindex":
            return { _, arguments in
                let bound = try arguments.bind(name, ["sub"])
                let offset = PythonText.find(string, try text(bound[0], name), fromEnd: name.hasPrefix("r"))
                if offset < 0 && name.hasSuffix("index") { throw JinjaFailure.type("substring not found") }
                return .int(offset)
            }
        case "count":
            return { _, arguments in
                let bound = try arguments.bind(name, ["sub"])
                return .int(PythonText.count(string, try text(bound[0], name)))
            }
        case "join":
            return { interpreter, arguments in
                let bound = try arguments.bind(name, ["iterable"])
                let items = try JinjaOperators.iterate(bound[0] ?? JinjaValue.none)
                let parts = try items.enumerated().map { index, item in
                    guard let part = item.stringValue else {
                        throw JinjaFailure.type("sequence item \(index): expected str instance, \(item.typeName) found")
                    }
                    return part
                }
                let result = parts.joined(separator: string)
                try interpreter.checkSize(result.utf8.count)
                return .string(result)
            }
        case "format":
            return { _, arguments in .string(try PythonFormat.format(string, arguments)) }
        case "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "isupper", "islower":
            return { _, arguments in
                _ = try arguments.bind(name, [])
                return .bool(classify(string, name))
            }
        case "removeprefix", "removesuffix":
            return { _, arguments in
                let bound = try arguments.bind(name, ["affix"])
                let affix = try text(bound[0], name)
                let scalars = Array(string.unicodeScalars)
                let count = affix.unicodeScalars.count
                if name == "removeprefix", PythonText.hasPrefix(string, affix) {
                    return .string(PythonText.string(scalars[count...]))
                }
                if name == "removesuffix", count > 0, PythonText.hasSuffix(string, affix) {
                    return .string(PythonText.string(scalars[..<(scalars.count - count)]))
                }
                return .string(string)
            }
        case "center", "ljust", "rjust", "zfill":
            return { interpreter, arguments in
                let bound = try arguments.bind(name, ["width", "fillchar"])
                let width = try integer(bound[0], default: 0, name)
                try interpreter.checkSize(width)
                let fill = try optionalText(bound[1], name) ?? (name == "zfill" ? "0" : " ")
                let padding = max(0, width - PythonText.length(string))
                switch name {
                case "center": return .string(PythonText.center(string, width: width, fill: fill))
                case "ljust": return .string(string + String(repeating: fill, count: padding))
                case "zfill":
                    if let first = string.unicodeScalars.first, first == "-" || first == "+" {
                        return .string(String(first) + String(repeating: "0", count: padding) + String(string.unicodeScalars.dropFirst()))
                    }
                    return .string(String(repeating: "0", count: padding) + string)
                default: return .string(String(repeating: fill, count: padding) + string)
                }
            }
        case "partition", "rpartition":
            return { _, arguments in
                let bound = try arguments.bind(name, ["sep"])
                let separator = try text(bound[0], name)
                let offset = PythonText.find(string, separator, fromEnd: name == "rpartition")
                let scalars = Array(string.unicodeScalars)
                guard offset >= 0 else {
                    return name == "partition" ? .array([.string(string), "", ""]) : .array(["", "", .string(string)])
                }
                let after = offset + separator.unicodeScalars.count
                return .array([
                    .string(PythonText.string(scalars[..<offset])), .string(separator),
                    .string(PythonText.string(scalars[after...])),
                ])
            }
        default:
            return nil
        }
    }

    private static func classify(_ string: String, _ name: String) -> Bool {
        switch name {
        case "isupper": return PythonText.hasOnlyCase(string, upper: true)
        case "islower": return PythonText.hasOnlyCase(string, upper: false)
        default: break
        }
        guard !string.isEmpty else { return false }
        return string.unicodeScalars.allSatisfy { scalar in
            let properties = scalar.properties
            let isDigit = properties.numericType == .decimal || properties.numericType == .digit
            switch name {
            case "isdigit": return isDigit
            case "isdecimal": return properties.numericType == .decimal
            case "isnumeric": return properties.numericType != nil
            case "isalpha": return properties.generalCategory.isLetter
            case "isalnum": return properties.generalCategory.isLetter || properties.numericType != nil
            default: return PythonText.isSpace(scalar)
            }
        }
    }
}

extension Unicode.GeneralCategory {
    var isLetter: Bool {
        switch self {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
}
