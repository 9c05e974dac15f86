import Foundation

/// The filters that convert (`int`, `float`, `round`, `tojson`) or rewrite text (`title`,
/// `indent`, `wordcount`, `truncate`, `escape`).
extension JinjaFilters {
    static func integer(_ value: JinjaValue, default defaultValue: JinjaValue, base: Int) -> JinjaValue {
        switch value.plainString {
        case .int, .bool: return .int(value.integerValue!)
        case .double(let number):
            guard number.isFinite, let integer = Int(exactly: number.rounded(.towardZero)) else { return defaultValue }
            return .int(integer)
        case .string(let text):
            if let integer = PythonText.parseInt(text, base: base) { return .int(integer) }
            if let number = PythonText.parseFloat(text), number.isFinite, let integer = Int(exactly: number.rounded(.towardZero)) {
                return .int(integer)
            }
            return defaultValue
        default:
            return defaultValue
        }
    }

    static func float(_ value: JinjaValue, default defaultValue: JinjaValue) -> JinjaValue {
        switch value.plainString {
        case .int, .bool, .double: return .double(value.numericValue!)
        case .string(let text): return PythonText.parseFloat(text).map { .double($0) } ?? defaultValue
        default: return defaultValue
        }
    }

    static func round(_ value: JinjaValue, _ bound: [JinjaValue?]) throws -> JinjaValue {
        let precision = bound[0]?.integerValue ?? 0
        let method = bound[1]?.pythonString ?? "common"
        guard ["common", "ceil", "floor"].contains(method) else {
            throw JinjaFailure.type("method must be common, ceil or floor")
        }
        if case .undefined(let hint) = value { throw JinjaFailure.undefined(hint) }
        guard let number = value.numericValue else { throw JinjaFailure.type("type \(value.typeName) doesn't define __round__ method") }
        if method == "common" {
            if let integer = value.integerValue, precision >= 0 { return .int(integer) }
            guard number.isFinite else { return .double(number) }
            if precision == 0 { return .double(number.rounded(.toNearestOrEven)) }
            // printf rounds the exact binary value to nearest, as Python's round does.
            let text = String(format: "%.\(max(0, precision))f", number)
            return .double(Double(text) ?? number)
        }
        let scale = Foundation.pow(10.0, Double(precision))
        let scaled = number * scale
        return .double((method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)) / scale)
    }

    static func toJSON(_ value: JinjaValue, _ bound: [JinjaValue?]) throws -> JinjaValue {
        var indent: String?
        if let indentValue = bound[1] {
            switch indentValue {
            case .none: indent = nil
            case .string(let text): indent = text
            default:
                guard let width = indentValue.integerValue else { throw JinjaFailure.type("indent must be an int or a string") }
                indent = String(repeating: " ", count: max(0, width))
            }
        }
        var separators: (item: String, key: String)?
        if let separatorsValue = bound[2], !isNone(separatorsValue) {
            guard case .array(let pair) = separatorsValue, pair.count == 2,
                case .string(let item) = pair[0], case .string(let key) = pair[1]
            else { throw JinjaFailure.type("separators must be a pair of strings") }
            separators = (item, key)
        }
        do {
            return .string(try value.jsonString(
                ensureASCII: bound[0]?.isTruthy ?? false, indent: indent, separators: separators,
                sortKeys: bound[3]?.isTruthy ?? false))
        } catch {
            throw JinjaFailure.type(error.description)
        }
    }

    // MARK: Text

    /// jinja2's `title`: words start after `-`, whitespace, `(`, `{`, `[` or `<`; each word is
    /// its first character upper-cased and the rest lower-cased.
    static func title(_ text: String) -> String {
        var result = ""
        var atWordStart = true
        for scalar in text.unicodeScalars {
            let isSeparator = scalar == "-" || PythonText.isSpace(scalar) || "({[<".unicodeScalars.contains(scalar)
            if isSeparator {
                result.unicodeScalars.append(scalar)
                atWordStart = true
            } else {
                result += atWordStart ? scalar.properties.uppercaseMapping : scalar.properties.lowercaseMapping
                atWordStart = false
            }
        }
        return result
    }

    static func indent(_ text: String, _ bound: [JinjaValue?], _ interpreter: JinjaInterpreter) throws -> String {
        let indentation: String
        if case .string(let custom) = bound[0] ?? .int(4) {
            indentation = custom
        } else {
            let width = bound[0]?.integerValue ?? 4
            try interpreter.checkSize(width)
            indentation = String(repeating: " ", count: max(0, width))
        }
        let lines = PythonText.splitLines(text + "\n")
        var result: String
        if bound[2]?.isTruthy ?? false {
            result = lines.joined(separator: "\n" + indentation)
        } else {
            result = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty {
                result += "\n" + rest.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        if bound[1]?.isTruthy ?? false { result = indentation + result }
        try interpreter.checkSize(result.utf8.count)
        return result
    }

    static func wordCount(_ text: String) -> Int {
        var count = 0
        var inWord = false
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            let isWordCharacter = scalar == "_" || properties.generalCategory.isLetter || properties.numericType != nil
            if isWordCharacter && !inWord { count += 1 }
            inWord = isWordCharacter
        }
        return count
    }

    static func truncate(_ text: String, _ bound: [JinjaValue?]) throws -> String {
        let length = bound[0]?.integerValue ?? 255
        let killWords = bound[1]?.isTruthy ?? false
        let end = bound[2]?.pythonString ?? "..."
        let leeway = bound[3].flatMap { isNone($0) ? nil : $0.integerValue } ?? 5
        let endLength = PythonText.length(end)
        guard length >= endLength else { throw JinjaFailure.type("expected length >= \(endLength), got \(length)") }
        guard leeway >= 0 else { throw JinjaFailure.type("expected leeway >= 0, got \(leeway)") }
        let scalars = Array(text.unicodeScalars)
        if scalars.count <= length + leeway { return text }
        let kept = PythonText.string(scalars[..<max(0, length - endLength)])
        if killWords { return kept + end }
        return (try PythonText.rsplit(kept, separator: " ", maxSplit: 1).first ?? "") + end
    }

    /// markupsafe's escape: `& < > " '`.
    static func escapeHTML(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&#34;"
            case "'": result += "&#39;"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
