/// The filters over sequences: attribute getters (`map(attribute=...)`, `selectattr`, `sort`),
/// Python's stable sort, `dictsort`, `map`, `select` and `reject`.
extension JinjaFilters {
    /// jinja2's `make_attrgetter`: "a.b.0" looks up `a`, then `b`, then item 0.
    static func lookup(_ item: JinjaValue, _ attribute: JinjaValue) throws -> JinjaValue {
        if let index = attribute.integerValue { return try JinjaOperators.item(of: item, .int(index)) }
        var current = item
        for part in attribute.pythonString.split(separator: ".", omittingEmptySubsequences: false) {
            let key: JinjaValue = Int(part).map { .int($0) } ?? .string(String(part))
            current = try JinjaOperators.item(of: current, key)
        }
        return current
    }

    static func sortKey(_ item: JinjaValue, attribute: JinjaValue?, caseSensitive: Bool) throws -> JinjaValue {
        func fold(_ value: JinjaValue) -> JinjaValue {
            if !caseSensitive, let text = value.stringValue { return .string(PythonText.lower(text)) }
            return value
        }
        guard let attribute, !isNone(attribute) else { return fold(item) }
        let names = attribute.pythonString.split(separator: ",").map { JinjaValue.string(String($0)) }
        if names.count > 1 { return .array(try names.map { fold(try lookup(item, $0)) }) }
        return fold(try lookup(item, attribute))
    }

    /// Python's `sorted`: stable, also when reversed.
    static func sorted(_ items: [JinjaValue], reverse: Bool, key: (JinjaValue) throws -> JinjaValue) throws -> [JinjaValue] {
        let keyed = try items.enumerated().map { (offset: $0.offset, key: try key($0.element), item: $0.element) }
        return try keyed.sorted { a, b in
            let order = try JinjaOperators.order(a.key, b.key)
            if order != 0 { return reverse ? order > 0 : order < 0 }
            return a.offset < b.offset
        }.map(\.item)
    }

    static func dictsort(_ value: JinjaValue, _ bound: [JinjaValue?]) throws -> JinjaValue {
        guard case .object(let object) = value else { throw JinjaFailure.type("You can only sort by either \"key\" or \"value\"") }
        let by = bound[1]?.pythonString ?? "key"
        guard by == "key" || by == "value" else { throw JinjaFailure.type("You can only sort by either \"key\" or \"value\"") }
        let pairs = object.map { JinjaValue.array([JinjaObject.keyValue($0.key), $0.value]) }
        return .array(try sorted(pairs, reverse: bound[2]?.isTruthy ?? false) { pair in
            guard case .array(let parts) = pair else { return pair }
            let part = parts[by == "key" ? 0 : 1]
            if !(bound[0]?.isTruthy ?? false), let text = part.stringValue { return .string(PythonText.lower(text)) }
            return part
        })
    }

    static func map(_ value: JinjaValue, _ arguments: JinjaArguments, _ interpreter: JinjaInterpreter) throws -> [JinjaValue] {
        guard value.isTruthy else { return [] }
        let items = try JinjaOperators.iterate(value)
        let positional = arguments.positional
        if positional.isEmpty, let attribute = arguments.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let defaultValue = arguments.keyword.first(where: { $0.0 == "default" })?.1
            if let unexpected = arguments.keyword.first(where: { $0.0 != "attribute" && $0.0 != "default" }) {
                throw JinjaFailure.type("Unexpected keyword argument '\(unexpected.0)'")
            }
            return try items.map { item in
                let result = try lookup(item, attribute)
                if let defaultValue, !isNone(defaultValue), result.isUndefined { return defaultValue }
                return result
            }
        }
        guard let filterName = positional.first?.stringValue else { throw JinjaFailure.type("map requires a filter argument") }
        let rest = JinjaArguments(Array(positional.dropFirst()), keyword: arguments.keyword)
        return try items.map { item in
            try apply(filterName, to: item, rest, interpreter)
        }
    }

    static func select(
        _ value: JinjaValue, _ arguments: JinjaArguments, _ interpreter: JinjaInterpreter, keep: Bool, attribute: Bool
    ) throws -> [JinjaValue] {
        guard value.isTruthy else { return [] }
        let items = try JinjaOperators.iterate(value)
        var positional = arguments.positional
        var attributeName: JinjaValue?
        if attribute {
            guard !positional.isEmpty else { throw JinjaFailure.type("Missing parameter for attribute name") }
            attributeName = positional.removeFirst()
        }
        let testName = positional.first.map { $0.pythonString }
        let testArguments = JinjaArguments(Array(positional.dropFirst()), keyword: arguments.keyword)
        return try items.filter { item in
            let subject = try attributeName.map { try lookup(item, $0) } ?? item
            let passed = try testName.map { try JinjaTests.apply($0, to: subject, testArguments, interpreter) } ?? subject.isTruthy
            return passed == keep
        }
    }
}
