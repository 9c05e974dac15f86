import Foundation

/// Python's string formatting as templates use it: `'{} and {name}'.format(...)`,
/// `'%s: %d' % (a, b)` and the `format` filter. Covers conversions `s r d i f e g x o c %`,
/// fill, alignment, sign, zero padding, width and precision.
enum PythonFormat {
    /// `str.format(*args, **kwargs)`.
    static func format(_ template: String, _ arguments: JinjaArguments) throws -> String {
        let scalars = Array(template.unicodeScalars)
        var result = ""
        var index = 0
        var automatic = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "}" {
                guard index + 1 < scalars.count, scalars[index + 1] == "}" else {
                    throw JinjaFailure.type("Single '}' encountered in format string")
                }
                result += "}"
                index += 2
                continue
            }
            guard scalar == "{" else {
                result.unicodeScalars.append(scalar)
                index += 1
                continue
            }
            if index + 1 < scalars.count, scalars[index + 1] == "{" {
                result += "{"
                index += 2
                continue
            }
            guard let close = scalars[index...].firstIndex(of: "}") else {
                throw JinjaFailure.type("Single '{' encountered in format string")
            }
            let field = PythonText.string(scalars[(index + 1)..<close])
            index = close + 1
            var name = field
            var spec = ""
            var conversion: Character?
            if let colon = name.firstIndex(of: ":") {
                spec = String(name[name.index(after: colon)...])
                name = String(name[..<colon])
            }
            if let bang = name.firstIndex(of: "!") {
                conversion = name[name.index(after: bang)...].first
                name = String(name[..<bang])
            }
            let value: JinjaValue
            if name.isEmpty {
                guard automatic < arguments.positional.count else {
                    throw JinjaFailure.type("Replacement index \(automatic) out of range for positional args tuple")
                }
                value = arguments.positional[automatic]
                automatic += 1
            } else if let position = Int(name) {
                guard position < arguments.positional.count else {
                    throw JinjaFailure.type("Replacement index \(position) out of range for positional args tuple")
                }
                value = arguments.positional[position]
            } else if let keyword = arguments.keyword.last(where: { $0.0 == name }) {
                value = keyword.1
            } else {
                throw JinjaFailure.type("'\(name)'")
            }
            let converted: JinjaValue =
                conversion == "r" ? .string(value.pythonRepr) : conversion == "s" ? .string(value.pythonString) : value
            result += try applySpec(spec, to: converted)
        }
        return result
    }

    /// `format % values`: a tuple (list) fills the conversions in order, a dict fills `%(name)s`.
    static func percent(_ template: String, _ values: JinjaValue) throws -> String {
        let scalars = Array(template.unicodeScalars)
        var positional: [JinjaValue]
        if case .array(let items) = values { positional = items } else { positional = [values] }
        var result = ""
        var index = 0
        var used = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            guard scalar == "%" else {
                result.unicodeScalars.append(scalar)
                continue
            }
            var value: JinjaValue?
            if index < scalars.count, scalars[index] == "(" {
                guard let close = scalars[index...].firstIndex(of: ")") else {
                    throw JinjaFailure.type("incomplete format key")
                }
                let key = PythonText.string(scalars[(index + 1)..<close])
                guard case .object(let mapping) = values, let found = mapping[key] else { throw JinjaFailure.type("'\(key)'") }
                value = found
                index = close + 1
            }
            var flags = ""
            while index < scalars.count, "-+ #0".unicodeScalars.contains(scalars[index]) {
                flags.unicodeScalars.append(scalars[index])
                index += 1
            }
            var width = ""
            while index < scalars.count, ("0"..."9").contains(scalars[index]) {
                width.unicodeScalars.append(scalars[index])
                index += 1
            }
            var precision: String?
            if index < scalars.count, scalars[index] == "." {
                index += 1
                var digits = ""
                while index < scalars.count, ("0"..."9").contains(scalars[index]) {
                    digits.unicodeScalars.append(scalars[index])
                    index += 1
                }
                precision = digits
            }
            guard index < scalars.count else { throw JinjaFailure.type("incomplete format") }
            let type = Character(scalars[index])
            index += 1
            if type == "%" {
                result += "%"
                continue
            }
            if value == nil {
                guard used < positional.count else { throw JinjaFailure.type("not enough arguments for format string") }
                value = positional[used]
                used += 1
            }
            let isText = type == "s" || type == "r"
            var spec = flags.contains("-") ? "<" : (isText ? ">" : "")
            if !isText {
                if flags.contains("+") { spec += "+" } else if flags.contains(" ") { spec += " " }
                if flags.contains("0") && !flags.contains("-") { spec += "0" }
            }
            spec += width
            if let precision { spec += "." + (precision.isEmpty ? "0" : precision) }
            let typed: JinjaValue = type == "r" ? .string(value!.pythonRepr) : value!
            switch type {
            case "s", "r": result += try applySpec(spec, to: .string(typed.pythonString))
            case "i", "u": result += try applySpec(spec + "d", to: try integerArgument(typed))
            case "d", "x", "X", "o", "c": result += try applySpec(spec + String(type), to: try integerArgument(typed))
            case "f", "F", "e", "E", "g", "G": result += try applySpec(spec + String(type), to: typed)
            default: throw JinjaFailure.type("unsupported format character '\(type)'")
            }
        }
        // Python complains about unused arguments only for a tuple or a plain scalar; anything with
        // __getitem__ (a dict, jinja2's Undefined) counts as a mapping.
        let isMappingLike: Bool = { switch values { case .object, .undefined: return true; default: return false } }()
        if !isMappingLike, used < positional.count {
            throw JinjaFailure.type("not all arguments converted during string formatting")
        }
        return result
    }

    private static func integerArgument(_ value: JinjaValue) throws -> JinjaValue {
        if let integer = value.integerValue { return .int(integer) }
        if case .double(let number) = value, number.isFinite { return .int(Int(number)) }
        throw JinjaFailure.type("%d format: a real number is required, not \(value.typeName)")
    }

    /// Python's format-spec mini-language: `[[fill]align][sign][0][width][,][.precision][type]`.
    static func applySpec(_ spec: String, to value: JinjaValue) throws -> String {
        guard !spec.isEmpty else { return value.pythonString }
        var characters = Array(spec)
        var fill: Character = " "
        var align: Character?
        if characters.count >= 2, "<>^=".contains(characters[1]) {
            fill = characters[0]
            align = characters[1]
            characters.removeFirst(2)
        } else if let first = characters.first, "<>^=".contains(first) {
            align = first
            characters.removeFirst()
        }
        var sign: Character = "-"
        if let first = characters.first, "+- ".contains(first) {
            sign = first
            characters.removeFirst()
        }
        if characters.first == "0" {
            if align == nil {
                fill = "0"
                align = "="
            }
            characters.removeFirst()
        }
        var width = 0
        while let first = characters.first, first.isASCII, first.isNumber {
            width = width * 10 + Int(String(first))!
            characters.removeFirst()
        }
        var grouping = false
        if characters.first == "," {
            grouping = true
            characters.removeFirst()
        }
        var precision: Int?
        if characters.first == "." {
            characters.removeFirst()
            var digits = 0
            while let first = characters.first, first.isASCII, first.isNumber {
                digits = digits * 10 + Int(String(first))!
                characters.removeFirst()
            }
            precision = digits
        }
        guard characters.count <= 1 else { throw JinjaFailure.type("Invalid format specifier '\(spec)'") }
        let type = characters.first
        var body: String
        var negative = false
        switch (type, value) {
        case (nil, .string(let text)), ("s", .string(let text)):
            body = precision.map { String(text.unicodeScalars.prefix($0).map(Character.init)) } ?? text
            return pad(body, width: width, fill: fill, align: align ?? "<")
        case ("c", _):
            guard let code = value.integerValue, let scalar = Unicode.Scalar(UInt32(clamping: code)) else {
                throw JinjaFailure.type("%c requires an int")
            }
            return pad(String(scalar), width: width, fill: fill, align: align ?? "<")
        case (nil, _) where value.integerValue != nil && precision == nil, ("d", _), ("x", _), ("X", _), ("o", _), ("b", _):
            guard let integer = value.integerValue else {
                throw JinjaFailure.type("Unknown format code '\(type ?? "d")' for object of type '\(value.typeName)'")
            }
            negative = integer < 0
            let radix = type == "x" || type == "X" ? 16 : type == "o" ? 8 : type == "b" ? 2 : 10
            body = String(integer.magnitude, radix: radix, uppercase: type == "X")
            if grouping { body = group(body) }
        case (_, _) where value.numericValue != nil:
            let number = value.numericValue!
            negative = number < 0 || (number == 0 && number.sign == .minus)
            let magnitude = Swift.abs(number)
            switch type {
            case "f", "F", "%":
                let scaled = type == "%" ? magnitude * 100 : magnitude
                body = String(format: "%.\(precision ?? 6)f", scaled) + (type == "%" ? "%" : "")
            case "e", "E":
                body = String(format: "%.\(precision ?? 6)\(type!)", magnitude)
            case "g", "G":
                body = String(format: "%.\(precision ?? 6)\(type!)", magnitude)
            case nil:
                body = precision.map { String(format: "%.\($0)g", magnitude) } ?? PythonText.floatRepr(magnitude)
            default:
                throw JinjaFailure.type("Unknown format code '\(type!)' for object of type '\(value.typeName)'")
            }
            if grouping, let dot = body.firstIndex(of: ".") {
                body = group(String(body[..<dot])) + body[dot...]
            }
        default:
            throw JinjaFailure.type("Unknown format code '\(type.map(String.init) ?? "")' for object of type '\(value.typeName)'")
        }
        let signText = negative ? "-" : sign == "+" ? "+" : sign == " " ? " " : ""
        if align == "=" {
            return signText + pad(body, width: width - signText.count, fill: fill, align: ">")
        }
        return pad(signText + body, width: width, fill: fill, align: align ?? ">")
    }

    private static func group(_ digits: String) -> String {
        var result = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0 && index % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return String(result.reversed())
    }

    private static func pad(_ text: String, width: Int, fill: Character, align: Character) -> String {
        let length = PythonText.length(text)
        guard width > length else { return text }
        let padding = width - length
        switch align {
        case "<": return text + String(repeating: fill, count: padding)
        case "^":
            let left = padding / 2
            return String(repeating: fill, count: left) + text + String(repeating: fill, count: padding - left)
        default: return String(repeating: fill, count: padding) + text
        }
    }
}
