import Foundation

/// Python's `str` operations, over Unicode scalars as Python indexes strings (a Swift `Character`
/// would merge "\r\n" and combining marks, and lengths and slices would differ from Python's).
enum PythonText {
    typealias Scalars = [Unicode.Scalar]

    static func scalars(_ text: String) -> Scalars { Array(text.unicodeScalars) }

    static func string(_ scalars: some Sequence<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    static func length(_ text: String) -> Int { text.unicodeScalars.count }

    // MARK: Whitespace and line breaks

    /// `str.isspace()` for one character.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F,
            0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// The line boundaries of `str.splitlines()` (except "\r\n", handled as one).
    static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A...0x0D, 0x1C...0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// `str.isprintable()` for one character: everything but categories C* and Z* (space aside).
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator,
            .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    // MARK: strip / split / replace / find

    /// `str.strip(chars)`, `lstrip`, `rstrip`; `chars == nil` strips whitespace.
    static func strip(_ text: String, chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let s = scalars(text)
        let set = chars.map { Set($0.unicodeScalars) }
        let strips: (Unicode.Scalar) -> Bool = { set?.contains($0) ?? isSpace($0) }
        var start = 0
        var end = s.count
        if leading { while start < end, strips(s[start]) { start += 1 } }
        if trailing { while end > start, strips(s[end - 1]) { end -= 1 } }
        return string(s[start..<end])
    }

    /// `str.split(sep, maxsplit)`; `sep == nil` splits on runs of whitespace and drops empty parts.
    static func split(_ text: String, separator: String?, maxSplit: Int = -1) throws -> [String] {
        let s = scalars(text)
        var parts: [String] = []
        var splits = 0
        guard let separator else {
            var index = 0
            while true {
                while index < s.count, isSpace(s[index]) { index += 1 }
                if index == s.count { break }
                if maxSplit >= 0, splits == maxSplit {
                    parts.append(string(s[index...]))
                    break
                }
                let start = index
                while index < s.count, !isSpace(s[index]) { index += 1 }
                parts.append(string(s[start..<index]))
                splits += 1
            }
            return parts
        }
        let sep = scalars(separator)
        guard !sep.isEmpty else { throw JinjaFailure.type("empty separator") }
        var start = 0
        var index = 0
        while index + sep.count <= s.count, maxSplit < 0 || splits < maxSplit {
            if s[index..<(index + sep.count)].elementsEqual(sep) {
                parts.append(string(s[start..<index]))
                index += sep.count
                start = index
                splits += 1
            } else {
                index += 1
            }
        }
        parts.append(string(s[start...]))
        return parts
    }

    /// `str.rsplit(sep, maxsplit)`.
    static func rsplit(_ text: String, separator: String?, maxSplit: Int = -1) throws -> [String] {
        if maxSplit < 0 { return try split(text, separator: separator) }
        let reversed = string(scalars(text).reversed())
        let reversedSeparator = separator.map { string(scalars($0).reversed()) }
        return try split(reversed, separator: reversedSeparator, maxSplit: maxSplit)
            .reversed().map { string(scalars($0).reversed()) }
    }

    /// `str.splitlines(keepends)`.
    static func splitLines(_ text: String, keepEnds: Bool = false) -> [String] {
        let s = scalars(text)
        var lines: [String] = []
        var start = 0
        var index = 0
        while index < s.count {
            if isLineBreak(s[index]) {
                var end = index + 1
                if s[index] == "\r", end < s.count, s[end] == "\n" { end += 1 }
                lines.append(string(s[start..<(keepEnds ? end : index)]))
                start = end
                index = end
            } else {
                index += 1
            }
        }
        if start < s.count { lines.append(string(s[start...])) }
        return lines
    }

    /// `str.replace(old, new, count)`; an empty `old` inserts `new` between all characters.
    static func replace(_ text: String, _ old: String, _ new: String, count: Int = -1) -> String {
        let s = scalars(text)
        let o = scalars(old)
        let n = scalars(new)
        var result: Scalars = []
        var replaced = 0
        if o.isEmpty {
            for scalar in s {
                if count < 0 || replaced < count {
                    result += n
                    replaced += 1
                }
                result.append(scalar)
            }
            if count < 0 || replaced < count { result += n }
            return string(result)
        }
        var index = 0
        while index < s.count {
            if (count < 0 || replaced < count), index + o.count <= s.count,
                s[index..<(index + o.count)].elementsEqual(o)
            {
                result += n
                index += o.count
                replaced += 1
            } else {
                result.append(s[index])
                index += 1
            }
        }
        return string(result)
    }

    /// `str.find(sub)` / `str.rfind(sub)`: the scalar offset, or -1.
    static func find(_ text: String, _ sub: String, fromEnd: Bool = false) -> Int {
        let s = scalars(text)
        let t = scalars(sub)
        guard t.count <= s.count else { return -1 }
        let starts = Array(0...(s.count - t.count))
        for start in fromEnd ? starts.reversed() : starts where s[start..<(start + t.count)].elementsEqual(t) {
            return start
        }
        return -1
    }

    /// `str.count(sub)`: non-overlapping occurrences.
    static func count(_ text: String, _ sub: String) -> Int {
        let s = scalars(text)
        let t = scalars(sub)
        if t.isEmpty { return s.count + 1 }
        var index = 0
        var found = 0
        while index + t.count <= s.count {
            if s[index..<(index + t.count)].elementsEqual(t) {
                found += 1
                index += t.count
            } else {
                index += 1
            }
        }
        return found
    }

    static func hasPrefix(_ text: String, _ prefix: String) -> Bool {
        text.unicodeScalars.starts(with: prefix.unicodeScalars)
    }

    static func hasSuffix(_ text: String, _ suffix: String) -> Bool {
        text.unicodeScalars.reversed().starts(with: suffix.unicodeScalars.reversed())
    }

    static func contains(_ text: String, _ sub: String) -> Bool {
        sub.isEmpty || find(text, sub) >= 0
    }

    // MARK: Case

    static func upper(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars { result += scalar.properties.uppercaseMapping }
        return result
    }

    static func lower(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars { result += scalar.properties.lowercaseMapping }
        return result
    }

    /// `str.title()`: a cased character after an uncased one is title-cased, others lowered.
    static func title(_ text: String) -> String {
        var result = ""
        var previousIsCased = false
        for scalar in text.unicodeScalars {
            result += previousIsCased ? scalar.properties.lowercaseMapping : scalar.properties.titlecaseMapping
            previousIsCased = scalar.properties.isCased
        }
        return result
    }

    /// `str.capitalize()`: the first character title-cased, the rest lowered.
    static func capitalize(_ text: String) -> String {
        var result = ""
        for (index, scalar) in text.unicodeScalars.enumerated() {
            result += index == 0 ? scalar.properties.titlecaseMapping : scalar.properties.lowercaseMapping
        }
        return result
    }

    static func swapCase(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            if properties.isUppercase {
                result += properties.lowercaseMapping
            } else if properties.isLowercase {
                result += properties.uppercaseMapping
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    static func isCased(_ scalar: Unicode.Scalar, upper: Bool) -> Bool {
        upper ? scalar.properties.isUppercase : scalar.properties.isLowercase
    }

    /// `str.isupper()` / `str.islower()`: at least one cased character, none of the other case.
    static func hasOnlyCase(_ text: String, upper: Bool) -> Bool {
        var sawCased = false
        for scalar in text.unicodeScalars {
            if isCased(scalar, upper: !upper) { return false }
            if isCased(scalar, upper: upper) { sawCased = true }
        }
        return sawCased
    }

    /// `str.center(width)`, with Python's placement of the odd padding character.
    static func center(_ text: String, width: Int, fill: String = " ") -> String {
        let length = self.length(text)
        guard width > length else { return text }
        let margin = width - length
        let left = margin / 2 + (margin & width & 1)
        return String(repeating: fill, count: left) + text + String(repeating: fill, count: margin - left)
    }

    // MARK: repr

    /// `repr(str)`: single quotes unless the text has a single quote and no double quote.
    static func repr(_ text: String) -> String {
        let quote: Unicode.Scalar =
            text.unicodeScalars.contains("'") && !text.unicodeScalars.contains("\"") ? "\"" : "'"
        var result = String.UnicodeScalarView()
        result.append(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case quote, "\\":
                result.append("\\")
                result.append(scalar)
            case "\t": result.append(contentsOf: "\\t".unicodeScalars)
            case "\n": result.append(contentsOf: "\\n".unicodeScalars)
            case "\r": result.append(contentsOf: "\\r".unicodeScalars)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    result.append(contentsOf: hexEscape(scalar).unicodeScalars)
                } else if scalar.value < 0x7F || isPrintable(scalar) {
                    result.append(scalar)
                } else {
                    result.append(contentsOf: hexEscape(scalar).unicodeScalars)
                }
            }
        }
        result.append(quote)
        return String(result)
    }

    /// Python's `\xhh`, `\uhhhh` or `\Uhhhhhhhh` for a character.
    static func hexEscape(_ scalar: Unicode.Scalar) -> String {
        let value = scalar.value
        if value <= 0xFF { return "\\x" + hex(value, digits: 2) }
        if value <= 0xFFFF { return "\\u" + hex(value, digits: 4) }
        return "\\U" + hex(value, digits: 8)
    }

    static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    // MARK: Numbers

    /// `repr(float)`: the shortest digits that round-trip, positional for exponents in
    /// [-4, 16), scientific otherwise (`1e-05`, `1e+16`, `2.5`, `100.0`).
    static func floatRepr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        let sign = value < 0 ? "-" : ""
        // Swift's description gives the same shortest round-trip digits as Python's repr.
        let description = "\(value.magnitude)"
        var mantissa = Substring(description)
        var exponent = 0
        if let e = description.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = description[..<e]
            exponent = Int(description[description.index(after: e)...]) ?? 0
        }
        let pieces = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let integerDigits = pieces[0]
        let fractionDigits = pieces.count > 1 ? pieces[1] : ""
        var digits = Array(integerDigits + fractionDigits)
        var point = integerDigits.count + exponent
        while let first = digits.first, first == "0" {
            digits.removeFirst()
            point -= 1
        }
        while let last = digits.last, last == "0" { digits.removeLast() }
        if digits.isEmpty { return sign + "0.0" }
        let decimalExponent = point - 1
        if decimalExponent >= -4 && decimalExponent < 16 {
            if point <= 0 {
                return sign + "0." + String(repeating: "0", count: -point) + String(digits)
            }
            if point >= digits.count {
                return sign + String(digits) + String(repeating: "0", count: point - digits.count) + ".0"
            }
            return sign + String(digits[..<point]) + "." + String(digits[point...])
        }
        var result = sign + String(digits[0])
        if digits.count > 1 { result += "." + String(digits[1...]) }
        let magnitude = String(abs(decimalExponent))
        result += (decimalExponent < 0 ? "e-" : "e+") + (magnitude.count < 2 ? "0" : "") + magnitude
        return result
    }

    /// Python's `int(text)`: optional sign, digits with single underscores, surrounding whitespace.
    static func parseInt(_ text: String, base: Int = 10) -> Int? {
        var body = strip(text, chars: nil)
        var negative = false
        if body.hasPrefix("-") || body.hasPrefix("+") {
            negative = body.hasPrefix("-")
            body.removeFirst()
        }
        var radix = base
        let lowered = body.lowercased()
        for (prefix, prefixBase) in [("0x", 16), ("0o", 8), ("0b", 2)] where lowered.hasPrefix(prefix) {
            if base == prefixBase || base == 0 {
                radix = prefixBase
                body.removeFirst(2)
            }
        }
        if radix == 0 { radix = 10 }
        guard !body.isEmpty, !body.hasPrefix("_"), !body.hasSuffix("_"), !body.contains("__") else { return nil }
        guard let magnitude = Int(body.replacingOccurrences(of: "_", with: ""), radix: radix) else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// Python's `float(text)`, including `inf`, `nan` and underscores between digits.
    static func parseFloat(_ text: String) -> Double? {
        let body = strip(text, chars: nil).lowercased()
        switch body {
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        case "nan", "+nan", "-nan": return .nan
        default: break
        }
        guard !body.isEmpty, !body.contains("__"), !body.hasPrefix("_"), !body.hasSuffix("_"),
            body.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.e_".contains($0)) })
        else { return nil }
        return Double(body.replacingOccurrences(of: "_", with: ""))
    }
}
