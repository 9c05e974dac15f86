/// Builds the syntax tree from tokens with jinja2's grammar and operator precedence (lowest
/// first): `x if c else y`, `or`, `and`, `not`, comparisons and `in`, `+ -`, `~`, `* / // %`,
/// `**` (left-associative, as in jinja2), unary `- +`, then postfix `.attr`, `[index]`, `(call)`,
/// `| filter` and `is test`.
struct JinjaParser {
    let tokens: [JinjaLexer.Token]
    var index = 0
    var depth = 0
    var loopDepth = 0
    /// Deeper nesting than this (brackets, blocks) is refused rather than risking the stack.
    static let maxDepth = 96

    static func parse(_ source: String) throws(ChatTemplateError) -> [JinjaNode] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (nodes, stop) = try parser.parseBody(until: [])
        if let stop {
            throw ChatTemplateError.syntax("Encountered unknown tag '\(stop.name)'.", stop.location)
        }
        return nodes
    }

    private init(tokens: [JinjaLexer.Token]) {
        self.tokens = tokens
    }

    // MARK: Token helpers

    var current: JinjaLexer.Token { tokens[index] }
    var location: JinjaLocation { current.location }

    mutating func advance() -> JinjaLexer.Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    func fail(_ message: String) -> ChatTemplateError {
        .syntax(message, location)
    }

    func describe(_ kind: JinjaLexer.Kind) -> String {
        switch kind {
        case .data: return "template data"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let name): return "'\(name)'"
        case .string: return "string"
        case .integer, .float: return "number"
        case .op(let op): return "'\(op)'"
        case .end: return "end of template"
        }
    }

    func isOp(_ op: String) -> Bool {
        if case .op(let value) = current.kind, value == op { return true }
        return false
    }

    func isName(_ name: String) -> Bool {
        if case .name(let value) = current.kind, value == name { return true }
        return false
    }

    mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        _ = advance()
        return true
    }

    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        _ = advance()
        return true
    }

    mutating func expectOp(_ op: String) throws(ChatTemplateError) {
        guard skipOp(op) else { throw fail("expected '\(op)', got \(describe(current.kind))") }
    }

    mutating func expectName() throws(ChatTemplateError) -> String {
        guard case .name(let name) = current.kind else { throw fail("expected a name, got \(describe(current.kind))") }
        _ = advance()
        return name
    }

    mutating func expectBlockEnd() throws(ChatTemplateError) {
        guard case .blockEnd = current.kind else { throw fail("expected end of statement block, got \(describe(current.kind))") }
        _ = advance()
    }

    mutating func nested<T>(_ body: (inout JinjaParser) throws(ChatTemplateError) -> T) throws(ChatTemplateError) -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else {
            throw ChatTemplateError.limitExceeded("template nesting deeper than \(Self.maxDepth) levels", location)
        }
        return try body(&self)
    }

    // MARK: Statements

    /// Parses nodes until a block tag named in `endTags` (returned with its location, its
    /// `{% name` consumed) or the end of the template.
    mutating func parseBody(until endTags: Set<String>) throws(ChatTemplateError)
        -> ([JinjaNode], stop: (name: String, location: JinjaLocation)?)
    {
        var nodes: [JinjaNode] = []
        while true {
            let token = current
            switch token.kind {
            case .end:
                return (nodes, nil)
            case .data(let text):
                _ = advance()
                nodes.append(JinjaNode(.text(text), token.location))
            case .variableBegin:
                _ = advance()
                let expression = try parseTuple()
                guard case .variableEnd = current.kind else { throw fail("expected end of print statement, got \(describe(current.kind))") }
                _ = advance()
                nodes.append(JinjaNode(.output(expression), token.location))
            case .blockBegin:
                _ = advance()
                guard case .name(let tag) = current.kind else { throw fail("tag name expected") }
                if endTags.contains(tag) {
                    _ = advance()
                    return (nodes, (tag, token.location))
                }
                nodes.append(try nested { (parser) throws(ChatTemplateError) in try parser.parseStatement(tag, at: token.location) })
            default:
                throw fail("unexpected \(describe(token.kind))")
            }
        }
    }

    /// Parses a body that must end with one of `endTags`; returns the nodes and the tag that ended it.
    mutating func parseBlock(_ tag: String, until endTags: Set<String>) throws(ChatTemplateError) -> ([JinjaNode], String) {
        let start = location
        let (nodes, stop) = try parseBody(until: endTags)
        guard let stop else {
            let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
            throw ChatTemplateError.syntax(
                "Unexpected end of template. Jinja was looking for the following tags: \(expected). The innermost block that needs to be closed is '\(tag)'.",
                start)
        }
        return (nodes, stop.name)
    }

    mutating func parseStatement(_ tag: String, at start: JinjaLocation) throws(ChatTemplateError) -> JinjaNode {
        _ = advance()
        switch tag {
        case "if": return try parseIf(at: start)
        case "for": return try parseFor(at: start)
        case "set": return try parseSet(at: start)
        case "macro": return try parseMacro(at: start)
        case "call": return try parseCallBlock(at: start)
        case "filter": return try parseFilterBlock(at: start)
        case "with": return try parseWith(at: start)
        case "break", "continue":
            guard loopDepth > 0 else { throw ChatTemplateError.syntax("'\(tag)' outside of a loop", start) }
            try expectBlockEnd()
            return JinjaNode(tag == "break" ? .breakLoop : .continueLoop, start)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseBlock(tag, until: ["endgeneration"])
            try expectBlockEnd()
            return JinjaNode(.scoped(body), start)
        case "block":
            _ = try expectName()
            _ = skipName("scoped")
            _ = skipName("required")
            try expectBlockEnd()
            let (body, _) = try parseBlock(tag, until: ["endblock"])
            if case .name = current.kind { _ = advance() }
            try expectBlockEnd()
            return JinjaNode(.scoped(body), start)
        case "include", "import", "from", "extends":
            throw ChatTemplateError.syntax("'\(tag)' needs other template files, which chat templates cannot load", start)
        default:
            throw ChatTemplateError.syntax("Encountered unknown tag '\(tag)'.", start)
        }
    }

    mutating func parseIf(at start: JinjaLocation) throws(ChatTemplateError) -> JinjaNode {
        var branches: [(JinjaExpression, [JinjaNode])] = []
        var condition = try parseTuple(withConditional: false)
        while true {
            try expectBlockEnd()
            let (body, stop) = try parseBlock("if", until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch stop {
            case "elif":
                condition = try parseTuple(withConditional: false)
            case "else":
                try expectBlockEnd()
                let (otherwise, _) = try parseBlock("if", until: ["endif"])
                try expectBlockEnd()
                return JinjaNode(.conditional(branches: branches, otherwise: otherwise), start)
            default:
                try expectBlockEnd()
                return JinjaNode(.conditional(branches: branches, otherwise: []), start)
            }
        }
    }

    mutating func parseFor(at start: JinjaLocation) throws(ChatTemplateError) -> JinjaNode {
        let target = try parseAssignTarget(allowNamespace: false, endNames: ["in"])
        guard skipName("in") else { throw fail("expected 'in'") }
        let iterable = try parseTuple(withConditional: false, endNames: ["recursive"])
        var condition: JinjaExpression?
        if skipName("if") { condition = try parseExpression() }
        if isName("recursive") { throw fail("recursive loops are not supported") }
        try expectBlockEnd()
        loopDepth += 1
        let (body, stop) = try parseBlock("for", until: ["endfor", "else"])
        loopDepth -= 1
        var emptyBody: [JinjaNode] = []
        try expectBlockEnd()
        if stop == "else" {
            (emptyBody, _) = try parseBlock("for", until: ["endfor"])
            try expectBlockEnd()
        }
        let loop = JinjaForLoop(target: target, iterable: iterable, condition: condition, body: body, emptyBody: emptyBody)
        return JinjaNode(.forLoop(loop), start)
    }

    mutating func parseSet(at start: JinjaLocation) throws(ChatTemplateError) -> JinjaNode {
        let target = try parseAssignTarget(allowNamespace: true)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return JinjaNode(.set(target, value), start)
        }
        let filters = try parseFilterChain(requireFirst: false)
        try expectBlockEnd()
        let (body, _) = try parseBlock("set", until: ["endset"])
        try expectBlockEnd()
        return JinjaNode(.setBlock(target, filters: filters, body: body), start)
    }

    mutating func parseMacro(at start: JinjaLocation) throws(ChatTemplateError) -> JinjaNode {
        let name = try expectName()
        let parameters = try parseParameters()
        try expectBlockEnd()
        let savedLoopDepth = loopDepth
        loopDepth = 0
        let (body, _) = try parseBlock("macro", until: ["endmacro"])
        loopDepth = savedLoopDepth
        if case .name = current.kind { _ = advance() }
        try expectBlockEnd()
        return JinjaNode(.macro(JinjaMacro(name: name, parameters: parameters, body: body)), start)
    }

    mutating func parseParameters() throws(ChatTemplateError) -> [(name: String, defaultValue: JinjaExpression?)] {
        try expectOp("(")
        var parameters: [(name: String, defaultValue: JinjaExpression?)] = []
        while !skipOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if skipOp(")") { break }
            let name = try expectName()
            let defaultValue = skipOp("=") ? try parseExpression() : nil
            parameters.append((name, defaultValue))
        }
        return parameters
    }

    mutating func parseCallBlock(at start: JinjaLocation) throws(ChatTemplateError) -> JinjaNode {
        let callerParameters = isOp("(") ? try parseParameters() : []
        let call = try parseExpression()
        guard case .call = call.kind else { throw ChatTemplateError.syntax("expected call", call.location) }
        try expectBlockEnd()
        let (body, _) = try parseBlock("call", until: ["endcall"])
        try expectBlockEnd()
        return JinjaNode(.callBlock(call: call, callerParameters: callerParameters, body: body), start)
    }

    mutating func parseFilterBlock(at start: JinjaLocation) throws(ChatTemplateError) -> JinjaNode {
        let filters = try parseFilterChain(requireFirst: true)
        try expectBlockEnd()
        let (body, _) = try parseBlock("filter", until: ["endfilter"])
        try expectBlockEnd()
        return JinjaNode(.filterBlock(filters: filters, body: body), start)
    }

    mutating func parseWith(at start: JinjaLocation) throws(ChatTemplateError) -> JinjaNode {
        var assignments: [(JinjaAssignTarget, JinjaExpression)] = []
        while true {
            if case .blockEnd = current.kind { break }
            if !assignments.isEmpty { try expectOp(",") }
            let target = try parseAssignTarget(allowNamespace: false)
            try expectOp("=")
            assignments.append((target, try parseExpression()))
        }
        try expectBlockEnd()
        let (body, _) = try parseBlock("with", until: ["endwith"])
        try expectBlockEnd()
        return JinjaNode(.with(assignments: assignments, body: body), start)
    }

    /// `name(args) | name(args) ...` for `{% filter %}` and block `{% set %}`.
    mutating func parseFilterChain(requireFirst: Bool) throws(ChatTemplateError) -> [JinjaFilterApplication] {
        var filters: [JinjaFilterApplication] = []
        var first = requireFirst
        while first || skipOp("|") {
            first = false
            let start = location
            let name = try parseDottedName()
            let arguments = isOp("(") ? try parseCallArguments() : []
            filters.append(JinjaFilterApplication(name: name, arguments: arguments, location: start))
        }
        return filters
    }

    mutating func parseDottedName() throws(ChatTemplateError) -> String {
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        return name
    }

    mutating func parseAssignTarget(allowNamespace: Bool, endNames: Set<String> = []) throws(ChatTemplateError) -> JinjaAssignTarget {
        func single(_ parser: inout JinjaParser) throws(ChatTemplateError) -> JinjaAssignTarget {
            if parser.skipOp("(") {
                let inner = try parser.parseAssignTarget(allowNamespace: false, endNames: endNames)
                try parser.expectOp(")")
                return inner
            }
            let name = try parser.expectName()
            if allowNamespace, parser.skipOp(".") {
                return .namespaceAttribute(name, try parser.expectName())
            }
            return .name(name)
        }
        var targets = [try single(&self)]
        var sawComma = false
        while skipOp(",") {
            sawComma = true
            if case .name(let name) = current.kind, endNames.contains(name) { break }
            if isOp("=") || isOp(")") { break }
            if case .blockEnd = current.kind { break }
            targets.append(try single(&self))
        }
        return sawComma ? .tuple(targets) : targets[0]
    }
}
