/// How Python prints values: `str()` for `{{ x }}` and `~`, `repr()` for items inside a printed
/// list or dict (`['a', 1, None, True]`).
extension JinjaValue {
    /// Python's `str(value)`; an undefined value prints as nothing.
    public var pythonString: String {
        switch self {
        case .string(let value), .markup(let value): return value
        case .undefined: return ""
        default: return pythonRepr
        }
    }

    /// Python's `repr(value)`.
    public var pythonRepr: String {
        var output = ""
        writeRepr(into: &output, depth: 0)
        return output
    }

    fileprivate func writeRepr(into output: inout String, depth: Int) {
        // A namespace can hold itself; Python prints such cycles as `...`. JSON input is at most
        // 512 levels deep, so real data never reaches this.
        guard depth < 600 else {
            output += "..."
            return
        }
        switch self {
        case .none: output += "None"
        case .bool(let value): output += value ? "True" : "False"
        case .int(let value): output += String(value)
        case .double(let value): output += PythonText.floatRepr(value)
        case .string(let value): output += PythonText.repr(value)
        case .markup(let value): output += "Markup(" + PythonText.repr(value) + ")"
        case .generator: output += "<generator object>"
        case .undefined: output += "Undefined"
        case .array(let items):
            output += "["
            for (index, item) in items.enumerated() {
                if index > 0 { output += ", " }
                item.writeRepr(into: &output, depth: depth + 1)
            }
            output += "]"
        case .object(let object):
            Self.writeDictRepr(object, into: &output, depth: depth)
        case .namespace(let namespace):
            output += "<Namespace "
            Self.writeDictRepr(namespace.attributes, into: &output, depth: depth)
            output += ">"
        case .callable(let callable):
            output += callable.isMacro ? "<Macro '\(callable.name)'>" : "<built-in function \(callable.name)>"
        }
    }

    private static func writeDictRepr(_ object: JinjaObject, into output: inout String, depth: Int) {
        output += "{"
        for (index, (key, value)) in object.enumerated() {
            if index > 0 { output += ", " }
            JinjaObject.keyValue(key).writeRepr(into: &output, depth: depth + 1)
            output += ": "
            value.writeRepr(into: &output, depth: depth + 1)
        }
        output += "}"
    }
}
