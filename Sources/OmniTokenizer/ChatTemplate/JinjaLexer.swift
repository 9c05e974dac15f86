/// Splits template text into tokens the way jinja2's lexer does with transformers' settings:
/// `trim_blocks` (a block or comment tag eats one newline after it), `lstrip_blocks` (spaces and
/// tabs before a block or comment tag on its own line are dropped), `-` and `+` whitespace
/// control on every tag, `{% raw %}`, and Python-style string literals.
struct JinjaLexer {
    enum Kind: Equatable {
        case data(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case end
    }

    struct Token {
        let kind: Kind
        let location: ChatTemplateError.SourceLocation
    }

    private let source: [Unicode.Scalar]
    private let lineStarts: [Int]
    private var position = 0
    private var lineStarting = true
    private var tokens: [Token] = []

    /// Tokenizes a whole template. jinja2 first turns "\r\n" and "\r" into "\n" and drops one
    /// trailing newline (`keep_trailing_newline=False`); so does this.
    static func tokenize(_ text: String) throws(ChatTemplateError) -> [Token] {
        var lexer = JinjaLexer(normalizing: text)
        try lexer.run()
        return lexer.tokens
    }

    private init(normalizing text: String) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.unicodeScalars.count)
        var previousWasCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\r" {
                scalars.append("\n")
                previousWasCR = true
                continue
            }
            if scalar == "\n" && previousWasCR {
                previousWasCR = false
                continue
            }
            previousWasCR = false
            scalars.append(scalar)
        }
        if scalars.last == "\n" { scalars.removeLast() }
        source = scalars
        var starts = [0]
        for (index, scalar) in scalars.enumerated() where scalar == "\n" { starts.append(index + 1) }
        lineStarts = starts
    }

    // MARK: Positions

    func location(_ offset: Int) -> ChatTemplateError.SourceLocation {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return .init(line: low + 1, column: offset - lineStarts[low] + 1)
    }

    private func syntaxError(_ message: String, at offset: Int) -> ChatTemplateError {
        .syntax(message, location(offset))
    }

    private func scalar(at offset: Int) -> Unicode.Scalar? {
        offset < source.count ? source[offset] : nil
    }

    private func matches(_ text: String, at offset: Int) -> Bool {
        var index = offset
        for scalar in text.unicodeScalars {
            guard index < source.count, source[index] == scalar else { return false }
            index += 1
        }
        return true
    }

    private func skipSpaces(from offset: Int) -> Int {
        var index = offset
        while index < source.count, PythonText.isSpace(source[index]) { index += 1 }
        return index
    }

    private mutating func emit(_ kind: Kind, at offset: Int) {
        tokens.append(Token(kind: kind, location: location(offset)))
    }

    // MARK: Root state

    private enum TagKind { case variable, block, comment }

    private mutating func run() throws(ChatTemplateError) {
        while position < source.count {
            guard let opener = nextTagStart(from: position) else {
                emit(.data(PythonText.string(source[position...])), at: position)
                break
            }
            let kind: TagKind = source[opener + 1] == "{" ? .variable : source[opener + 1] == "%" ? .block : .comment
            let sign = scalar(at: opener + 2).flatMap { $0 == "-" || $0 == "+" ? $0 : nil }
            let text = applyWhitespaceControl(
                Array(source[position..<opener]), sign: sign, lstrip: kind != .variable)
            if !text.isEmpty { emit(.data(PythonText.string(text)), at: position) }
            lineStarting = false
            let bodyStart = opener + 2 + (sign == nil ? 0 : 1)
            if kind == .block, let rawEnd = rawBlockOpenerEnd(from: bodyStart) {
                try readRaw(from: rawEnd, tagStart: opener)
                continue
            }
            switch kind {
            case .comment:
                try readComment(from: bodyStart, tagStart: opener)
            case .block:
                emit(.blockBegin, at: opener)
                position = bodyStart
                try readTagBody(block: true, tagStart: opener)
            case .variable:
                emit(.variableBegin, at: opener)
                position = bodyStart
                try readTagBody(block: false, tagStart: opener)
            }
        }
        emit(.end, at: source.count)
    }

    private func nextTagStart(from offset: Int) -> Int? {
        var index = offset
        while index + 1 < source.count {
            if source[index] == "{" {
                let next = source[index + 1]
                if next == "{" || next == "%" || next == "#" { return index }
            }
            index += 1
        }
        return nil
    }

    /// jinja2's rule for the text before a tag: `-` strips all whitespace; otherwise, for block and
    /// comment tags without `+`, spaces after the last newline (or from the start of a line)
    /// are dropped when nothing else is between them and the tag.
    private func applyWhitespaceControl(_ text: [Unicode.Scalar], sign: Unicode.Scalar?, lstrip: Bool) -> [Unicode.Scalar] {
        if sign == "-" {
            var end = text.count
            while end > 0, PythonText.isSpace(text[end - 1]) { end -= 1 }
            return Array(text[..<end])
        }
        guard sign != "+", lstrip else { return text }
        let lineStart = (text.lastIndex(of: "\n") ?? -1) + 1
        guard lineStart > 0 || lineStarting else { return text }
        let tail = text[lineStart...]
        guard !tail.isEmpty, tail.allSatisfy(PythonText.isSpace) else { return text }
        return Array(text[..<lineStart])
    }

    /// Where `{% raw %}` ends, if the block tag starting at `offset` (after `{%` and its sign) is one.
    private func rawBlockOpenerEnd(from offset: Int) -> Int? {
        var index = skipSpaces(from: offset)
        guard matches("raw", at: index) else { return nil }
        index = skipSpaces(from: index + 3)
        if matches("-%}", at: index) { return skipSpaces(from: index + 3) }
        if matches("%}", at: index) { return index + 2 }
        return nil
    }

    private mutating func readRaw(from bodyStart: Int, tagStart: Int) throws(ChatTemplateError) {
        var index = bodyStart
        while index + 1 < source.count {
            if source[index] == "{" && source[index + 1] == "%" {
                let sign = scalar(at: index + 2).flatMap { $0 == "-" || $0 == "+" ? $0 : nil }
                var cursor = skipSpaces(from: index + 2 + (sign == nil ? 0 : 1))
                if matches("endraw", at: cursor) {
                    cursor = skipSpaces(from: cursor + 6)
                    if let end = tagEnd(at: cursor, closer: "%}", trimsNewline: true) {
                        let text = applyWhitespaceControl(Array(source[bodyStart..<index]), sign: sign, lstrip: true)
                        if !text.isEmpty { emit(.data(PythonText.string(text)), at: bodyStart) }
                        position = end
                        lineStarting = source[end - 1] == "\n"
                        return
                    }
                }
            }
            index += 1
        }
        throw syntaxError("Missing end of raw directive", at: tagStart)
    }

    private mutating func readComment(from bodyStart: Int, tagStart: Int) throws(ChatTemplateError) {
        var index = bodyStart
        while index < source.count {
            if let end = tagEnd(at: index, closer: "#}", trimsNewline: true) {
                position = end
                lineStarting = end > 0 && source[end - 1] == "\n"
                return
            }
            index += 1
        }
        throw syntaxError("Missing end of comment tag", at: tagStart)
    }

    /// Matches a tag end at `offset`: `+closer`, `-closer` plus all whitespace after it, or
    /// `closer` plus one newline when `trimsNewline` (trim_blocks). Returns the offset after it.
    private func tagEnd(at offset: Int, closer: String, trimsNewline: Bool) -> Int? {
        let length = closer.unicodeScalars.count
        if matches("+" + closer, at: offset) { return offset + 1 + length }
        if matches("-" + closer, at: offset) { return skipSpaces(from: offset + 1 + length) }
        if matches(closer, at: offset) {
            let end = offset + length
            return trimsNewline && scalar(at: end) == "\n" ? end + 1 : end
        }
        return nil
    }

    // MARK: Inside {{ }} and {% %}

    private mutating func readTagBody(block: Bool, tagStart: Int) throws(ChatTemplateError) {
        var brackets: [Unicode.Scalar] = []
        while true {
            guard position < source.count else {
                throw syntaxError(block ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'", at: tagStart)
            }
            if brackets.isEmpty {
                let end: Int? =
                    block
                    ? tagEnd(at: position, closer: "%}", trimsNewline: true)
                    : (matches("-}}", at: position) ? skipSpaces(from: position + 3) : matches("}}", at: position) ? position + 2 : nil)
                if let end {
                    emit(block ? .blockEnd : .variableEnd, at: position)
                    position = end
                    lineStarting = source[end - 1] == "\n"
                    return
                }
            }
            let start = position
            let current = source[position]
            if PythonText.isSpace(current) {
                position = skipSpaces(from: position)
            } else if let (kind, end) = try number(at: position) {
                emit(kind, at: start)
                position = end
            } else if current.properties.isXIDStart || current == "_" {
                var end = position + 1
                while end < source.count, source[end].properties.isXIDContinue { end += 1 }
                emit(.name(PythonText.string(source[position..<end])), at: start)
                position = end
            } else if current == "'" || current == "\"" {
                try readString(quote: current)
            } else if let op = operatorToken(at: position) {
                switch op {
                case "(", "[", "{": brackets.append(op == "(" ? ")" : op == "[" ? "]" : "}")
                case ")", "]", "}":
                    guard let expected = brackets.popLast() else { throw syntaxError("unexpected '\(op)'", at: start) }
                    guard expected.description == op else {
                        throw syntaxError("unexpected '\(op)', expected '\(expected)'", at: start)
                    }
                default: break
                }
                emit(.op(op), at: start)
                position += op.unicodeScalars.count
            } else {
                throw syntaxError("unexpected char \(PythonText.repr(String(current))) at \(position)", at: start)
            }
            lineStarting = source[position - 1] == "\n"
        }
    }

    private static let operators = [
        "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
        ">", "<", "=", ".", ":", "|", ",", ";",
    ]

    private func operatorToken(at offset: Int) -> String? {
        Self.operators.first { matches($0, at: offset) }
    }

    private func isDigit(_ offset: Int) -> Bool {
        guard let scalar = scalar(at: offset) else { return false }
        return ("0"..."9").contains(scalar)
    }

    /// Digits with single underscores between them (`1_000`); returns the end offset.
    private func digitRun(from offset: Int, isDigit: (Unicode.Scalar) -> Bool) -> Int? {
        guard let first = scalar(at: offset), isDigit(first) else { return nil }
        var end = offset + 1
        while let next = scalar(at: end) {
            if isDigit(next) {
                end += 1
            } else if next == "_", let after = scalar(at: end + 1), isDigit(after) {
                end += 2
            } else {
                break
            }
        }
        return end
    }

    /// jinja2's float and integer literals (floats first: `1.5`, `1e3`, `2.5E-3`; integers in
    /// decimal, `0x`, `0o`, `0b`).
    private func number(at offset: Int) throws(ChatTemplateError) -> (Kind, Int)? {
        let decimal: (Unicode.Scalar) -> Bool = { ("0"..."9").contains($0) }
        guard isDigit(offset) else { return nil }
        if offset == 0 || source[offset - 1] != ".", let integerEnd = digitRun(from: offset, isDigit: decimal) {
            var end = integerEnd
            var isFloat = false
            if scalar(at: end) == ".", let fractionEnd = digitRun(from: end + 1, isDigit: decimal) {
                end = fractionEnd
                isFloat = true
            }
            if let e = scalar(at: end), e == "e" || e == "E" {
                var exponentStart = end + 1
                if let sign = scalar(at: exponentStart), sign == "+" || sign == "-" { exponentStart += 1 }
                if let exponentEnd = digitRun(from: exponentStart, isDigit: decimal) {
                    end = exponentEnd
                    isFloat = true
                }
            }
            if isFloat {
                let text = PythonText.string(source[offset..<end]).replacingOccurrences(of: "_", with: "")
                guard let value = Double(text) else { throw syntaxError("invalid float literal", at: offset) }
                return (.float(value), end)
            }
        }
        let prefixes: [(String, Int, (Unicode.Scalar) -> Bool)] = [
            ("0b", 2, { $0 == "0" || $0 == "1" }), ("0o", 8, { ("0"..."7").contains($0) }),
            ("0x", 16, { $0.properties.isASCIIHexDigit }),
        ]
        for (prefix, radix, isRadixDigit) in prefixes where matches(prefix, at: offset) || matches(prefix.uppercased(), at: offset) {
            var start = offset + 2
            if scalar(at: start) == "_" { start += 1 }
            if let end = digitRun(from: start, isDigit: isRadixDigit) {
                let digits = PythonText.string(source[(offset + 2)..<end]).replacingOccurrences(of: "_", with: "")
                guard let value = Int(digits, radix: radix) else { throw syntaxError("integer literal too large", at: offset) }
                return (.integer(value), end)
            }
        }
        if source[offset] == "0" {
            var end = offset + 1
            while scalar(at: end) == "0" || (scalar(at: end) == "_" && scalar(at: end + 1) == "0") {
                end += scalar(at: end) == "_" ? 2 : 1
            }
            return (.integer(0), end)
        }
        guard let end = digitRun(from: offset, isDigit: decimal) else { return nil }
        let digits = PythonText.string(source[offset..<end]).replacingOccurrences(of: "_", with: "")
        guard let value = Int(digits) else { throw syntaxError("integer literal too large", at: offset) }
        return (.integer(value), end)
    }

    /// A quoted literal, decoded as jinja2 does: newlines normalized, then Python's
    /// `unicode-escape` over the backslash-escaped text.
    private mutating func readString(quote: Unicode.Scalar) throws(ChatTemplateError) {
        let start = position
        var index = position + 1
        while index < source.count, source[index] != quote {
            if source[index] == "\\" { index += 1 }
            index += 1
        }
        guard index < source.count else { throw syntaxError("unexpected char \(PythonText.repr(String(quote))) at \(start)", at: start) }
        let body = Array(source[(start + 1)..<index])
        guard let decoded = Self.decodeEscapes(body) else {
            throw syntaxError("invalid escape sequence in string literal", at: start)
        }
        emit(.string(decoded), at: start)
        position = index + 1
    }

    /// Python's `text.encode("ascii", "backslashreplace").decode("unicode-escape")`.
    static func decodeEscapes(_ body: [Unicode.Scalar]) -> String? {
        var ascii: [Unicode.Scalar] = []
        for scalar in body {
            if scalar.value < 0x80 {
                ascii.append(scalar)
            } else {
                ascii += PythonText.hexEscape(scalar).unicodeScalars
            }
        }
        var result = String.UnicodeScalarView()
        var index = 0
        func hexValue(_ count: Int) -> UInt32? {
            guard index + count <= ascii.count else { return nil }
            let text = PythonText.string(ascii[index..<(index + count)])
            guard text.allSatisfy(\.isHexDigit), let value = UInt32(text, radix: 16) else { return nil }
            index += count
            return value
        }
        while index < ascii.count {
            let scalar = ascii[index]
            index += 1
            guard scalar == "\\" else {
                result.append(scalar)
                continue
            }
            guard index < ascii.count else { return nil }
            let escape = ascii[index]
            index += 1
            switch escape {
            case "\n": break
            case "\\": result.append("\\")
            case "'": result.append("'")
            case "\"": result.append("\"")
            case "a": result.append("\u{07}")
            case "b": result.append("\u{08}")
            case "f": result.append("\u{0C}")
            case "n": result.append("\n")
            case "r": result.append("\r")
            case "t": result.append("\t")
            case "v": result.append("\u{0B}")
            case "0"..."7":
                var value = escape.value - 0x30
                var digits = 1
                while digits < 3, index < ascii.count, ("0"..."7").contains(ascii[index]) {
                    value = value * 8 + ascii[index].value - 0x30
                    index += 1
                    digits += 1
                }
                guard let decoded = Unicode.Scalar(value) else { return nil }
                result.append(decoded)
            case "x", "u", "U":
                guard let value = hexValue(escape == "x" ? 2 : escape == "u" ? 4 : 8),
                    let decoded = Unicode.Scalar(value)
                else { return nil }
                result.append(decoded)
            default:
                // Python keeps unknown escapes such as "\d" as written.
                result.append("\\")
                result.append(escape)
            }
        }
        return String(result)
    }
}
