/// The expression half of the parser: jinja2's precedence climbing, from conditional
/// expressions down to literals, postfix lookups, calls, filters and tests.
extension JinjaParser {
    /// An expression or a bare tuple (`a, b`), as jinja2's `parse_tuple`.
    mutating func parseTuple(
        withConditional: Bool = true, endNames: Set<String> = [], explicitParentheses: Bool = false
    ) throws(ChatTemplateError) -> JinjaExpression {
        let start = location
        var items: [JinjaExpression] = []
        var sawComma = false
        while true {
            if !items.isEmpty {
                guard skipOp(",") else { break }
                sawComma = true
            }
            if isTupleEnd(endNames) { break }
            items.append(withConditional ? try parseExpression() : try parseOr())
        }
        guard sawComma || items.count != 1 else { return items[0] }
        guard !items.isEmpty || explicitParentheses else { throw fail("expected an expression, got \(describe(current.kind))") }
        return JinjaExpression(.tuple(items), start)
    }

    func isTupleEnd(_ endNames: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .end, .op(")"): return true
        case .name(let name): return endNames.contains(name)
        default: return false
        }
    }

    mutating func parseExpression() throws(ChatTemplateError) -> JinjaExpression {
        try nested { (parser) throws(ChatTemplateError) in
            var expression = try parser.parseOr()
            while parser.isName("if") {
                let start = parser.location
                _ = parser.advance()
                let condition = try parser.parseOr()
                let otherwise = parser.skipName("else") ? try parser.parseExpression() : nil
                expression = JinjaExpression(.conditional(condition: condition, then: expression, otherwise: otherwise), start)
            }
            return expression
        }
    }

    mutating func parseOr() throws(ChatTemplateError) -> JinjaExpression {
        var left = try parseAnd()
        while isName("or") {
            let start = location
            _ = advance()
            left = JinjaExpression(.or(left, try parseAnd()), start)
        }
        return left
    }

    mutating func parseAnd() throws(ChatTemplateError) -> JinjaExpression {
        var left = try parseNot()
        while isName("and") {
            let start = location
            _ = advance()
            left = JinjaExpression(.and(left, try parseNot()), start)
        }
        return left
    }

    mutating func parseNot() throws(ChatTemplateError) -> JinjaExpression {
        if isName("not") {
            let start = location
            _ = advance()
            return try nested { (parser) throws(ChatTemplateError) in JinjaExpression(.not(try parser.parseNot()), start) }
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws(ChatTemplateError) -> JinjaExpression {
        let start = location
        let first = try parseMath1()
        var operations: [(JinjaCompareOperator, JinjaExpression)] = []
        while true {
            if case .op(let op) = current.kind, let compare = JinjaCompareOperator(rawValue: op), compare != .in, compare != .notIn {
                _ = advance()
                operations.append((compare, try parseMath1()))
            } else if skipName("in") {
                operations.append((.in, try parseMath1()))
            } else if isName("not"), index + 1 < tokens.count, case .name("in") = tokens[index + 1].kind {
                _ = advance()
                _ = advance()
                operations.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? first : JinjaExpression(.compare(first, operations), start)
    }

    mutating func parseMath1() throws(ChatTemplateError) -> JinjaExpression {
        var left = try parseConcat()
        while isOp("+") || isOp("-") {
            let start = location
            guard case .op(let op) = advance().kind else { break }
            left = JinjaExpression(.binary(JinjaBinaryOperator(rawValue: op)!, left, try parseConcat()), start)
        }
        return left
    }

    mutating func parseConcat() throws(ChatTemplateError) -> JinjaExpression {
        var left = try parseMath2()
        while isOp("~") {
            let start = location
            _ = advance()
            left = JinjaExpression(.binary(.concat, left, try parseMath2()), start)
        }
        return left
    }

    mutating func parseMath2() throws(ChatTemplateError) -> JinjaExpression {
        var left = try parsePower()
        while isOp("*") || isOp("/") || isOp("//") || isOp("%") {
            let start = location
            guard case .op(let op) = advance().kind else { break }
            left = JinjaExpression(.binary(JinjaBinaryOperator(rawValue: op)!, left, try parsePower()), start)
        }
        return left
    }

    mutating func parsePower() throws(ChatTemplateError) -> JinjaExpression {
        var left = try parseUnary(withFilter: true)
        while isOp("**") {
            let start = location
            _ = advance()
            left = JinjaExpression(.binary(.power, left, try parseUnary(withFilter: true)), start)
        }
        return left
    }

    mutating func parseUnary(withFilter: Bool) throws(ChatTemplateError) -> JinjaExpression {
        let start = location
        var expression: JinjaExpression
        if skipOp("-") {
            expression = JinjaExpression(.negate(try nested { (parser) throws(ChatTemplateError) in try parser.parseUnary(withFilter: false) }), start)
        } else if skipOp("+") {
            expression = JinjaExpression(.plus(try nested { (parser) throws(ChatTemplateError) in try parser.parseUnary(withFilter: false) }), start)
        } else {
            expression = try parsePrimary()
        }
        expression = try parsePostfix(expression)
        if withFilter { expression = try parseFilterExpression(expression) }
        return expression
    }

    mutating func parsePrimary() throws(ChatTemplateError) -> JinjaExpression {
        let token = current
        switch token.kind {
        case .name(let name):
            _ = advance()
            switch name {
            case "true", "True": return JinjaExpression(.literal(.bool(true)), token.location)
            case "false", "False": return JinjaExpression(.literal(.bool(false)), token.location)
            case "none", "None": return JinjaExpression(.literal(.none), token.location)
            default: return JinjaExpression(.name(name), token.location)
            }
        case .string(var text):
            _ = advance()
            while case .string(let next) = current.kind {
                text += next
                _ = advance()
            }
            return JinjaExpression(.literal(.string(text)), token.location)
        case .integer(let value):
            _ = advance()
            return JinjaExpression(.literal(.int(value)), token.location)
        case .float(let value):
            _ = advance()
            return JinjaExpression(.literal(.double(value)), token.location)
        case .op("("):
            _ = advance()
            let inner = try nested { (parser) throws(ChatTemplateError) in try parser.parseTuple(explicitParentheses: true) }
            try expectOp(")")
            return inner
        case .op("["):
            _ = advance()
            var items: [JinjaExpression] = []
            while !skipOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if skipOp("]") { break }
                items.append(try parseExpression())
            }
            return JinjaExpression(.list(items), token.location)
        case .op("{"):
            _ = advance()
            var pairs: [(JinjaExpression, JinjaExpression)] = []
            while !skipOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if skipOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            return JinjaExpression(.dict(pairs), token.location)
        default:
            throw fail("unexpected \(describe(token.kind))")
        }
    }

    mutating func parsePostfix(_ base: JinjaExpression) throws(ChatTemplateError) -> JinjaExpression {
        var expression = base
        while true {
            let start = location
            if skipOp(".") {
                switch advance().kind {
                case .name(let name): expression = JinjaExpression(.attribute(expression, name), start)
                case .integer(let value): expression = JinjaExpression(.item(expression, JinjaExpression(.literal(.int(value)), start)), start)
                default: throw ChatTemplateError.syntax("expected name or number", start)
                }
            } else if skipOp("[") {
                expression = try nested { (parser) throws(ChatTemplateError) in try parser.parseSubscript(expression, at: start) }
            } else if isOp("(") {
                let arguments = try parseCallArguments()
                expression = JinjaExpression(.call(expression, arguments), expression.location)
            } else {
                return expression
            }
        }
    }

    mutating func parseSubscript(_ base: JinjaExpression, at start: JinjaLocation) throws(ChatTemplateError) -> JinjaExpression {
        var parts: [JinjaExpression?] = []
        var isSlice = false
        if !isOp(":") { parts.append(try parseExpression()) } else { parts.append(nil) }
        while skipOp(":") {
            isSlice = true
            if isOp(":") || isOp("]") { parts.append(nil) } else { parts.append(try parseExpression()) }
        }
        try expectOp("]")
        guard isSlice else { return JinjaExpression(.item(base, parts[0]!), start) }
        guard parts.count <= 3 else { throw ChatTemplateError.syntax("invalid slice", start) }
        return JinjaExpression(
            .slice(base, start: parts[0], stop: parts.count > 1 ? parts[1] : nil, step: parts.count > 2 ? parts[2] : nil), start)
    }

    mutating func parseFilterExpression(_ base: JinjaExpression) throws(ChatTemplateError) -> JinjaExpression {
        var expression = base
        while true {
            let start = location
            if skipOp("|") {
                let name = try parseDottedName()
                let arguments = isOp("(") ? try parseCallArguments() : []
                expression = JinjaExpression(.filter(expression, name: name, arguments), start)
            } else if skipName("is") {
                let negated = skipName("not")
                let name = try parseDottedName()
                var arguments: [JinjaCallArgument] = []
                if isOp("(") {
                    arguments = try parseCallArguments()
                } else if takesBareTestArgument() {
                    if isName("is") { throw fail("You cannot chain multiple tests with is") }
                    arguments = [.positional(try parsePostfix(try parsePrimary()))]
                }
                expression = JinjaExpression(.test(expression, name: name, arguments, negated: negated), start)
            } else if isOp("(") {
                expression = JinjaExpression(.call(expression, try parseCallArguments()), expression.location)
            } else {
                return expression
            }
        }
    }

    /// jinja2 reads one argument without parentheses after a test name (`x is sameas false`,
    /// `x is divisibleby 3`) unless the next word ends the expression.
    func takesBareTestArgument() -> Bool {
        switch current.kind {
        case .name(let name): return !["else", "or", "and"].contains(name)
        case .string, .integer, .float: return true
        case .op(let op): return op == "(" || op == "[" || op == "{"
        default: return false
        }
    }

    mutating func parseCallArguments() throws(ChatTemplateError) -> [JinjaCallArgument] {
        try expectOp("(")
        return try nested { (parser) throws(ChatTemplateError) in
            var arguments: [JinjaCallArgument] = []
            while !parser.skipOp(")") {
                if !arguments.isEmpty { try parser.expectOp(",") }
                if parser.skipOp(")") { break }
                if parser.skipOp("**") {
                    arguments.append(.keywordSpread(try parser.parseExpression()))
                } else if parser.skipOp("*") {
                    arguments.append(.spread(try parser.parseExpression()))
                } else if case .name(let name) = parser.current.kind, parser.index + 1 < parser.tokens.count,
                    case .op("=") = parser.tokens[parser.index + 1].kind
                {
                    _ = parser.advance()
                    _ = parser.advance()
                    arguments.append(.keyword(name, try parser.parseExpression()))
                } else {
                    arguments.append(.positional(try parser.parseExpression()))
                }
            }
            return arguments
        }
    }
}
