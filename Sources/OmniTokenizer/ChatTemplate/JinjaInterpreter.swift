import Foundation

/// Runs a parsed template once: statements write into an output string, expressions evaluate to
/// `JinjaValue`s. Scoping follows jinja2: every `for` iteration, macro or caller call, `with`,
/// block `set`, `filter` and `generation` body gets its own scope (a `set` inside a loop body is
/// gone at the next iteration and after the loop, which is why templates use `namespace()`),
/// while `if` blocks share their parent's scope; names start undefined where jinja2's compiler
/// starts them undefined (`JinjaScopeAnalysis`).
final class JinjaInterpreter {
    let limits: JinjaTemplate.Limits
    /// `strftime_now(format)`: the render's clock.
    let clock: RenderClock
    private var steps = 0
    private var callDepth = 0
    /// Namespaces made during the render, cleared at the end (a namespace holding itself would
    /// never be freed), and the scopes macros captured (macros refer to them unowned, so that a
    /// macro stored in its own scope is no cycle), kept for the render.
    private var namespaces: [JinjaNamespace] = []
    private var capturedScopes: [JinjaScope] = []

    /// Per scope body, the names that start undefined in it (`JinjaScopeAnalysis`).
    private let undefinedAtEntry: JinjaScopeAnalysis.Frames

    init(limits: JinjaTemplate.Limits, clock: RenderClock, undefinedAtEntry: JinjaScopeAnalysis.Frames) {
        self.limits = limits
        self.clock = clock
        self.undefinedAtEntry = undefinedAtEntry
    }

    /// Renders `nodes` with `context` as the template's variables (over the built-in globals).
    func render(_ nodes: [JinjaNode], context: JinjaObject) throws(ChatTemplateError) -> String {
        defer {
            for namespace in namespaces { namespace.attributes = JinjaObject() }
            for scope in capturedScopes { scope.variables.removeAll() }
            namespaces.removeAll()
            capturedScopes.removeAll()
        }
        let globals = JinjaScope(parent: nil)
        for (name, value) in JinjaGlobals.make() { globals.variables[name] = value }
        let contextScope = JinjaScope(parent: globals)
        for (name, value) in context { contextScope.variables[name] = value }
        var output = ""
        do {
            _ = try execute(nodes, in: frame(for: nodes, parent: contextScope), into: &output)
        } catch let error as ChatTemplateError {
            throw error
        } catch let failure as JinjaFailure {
            throw failure.located(at: .init(line: 1, column: 1))
        } catch {
            throw .runtime("\(error)", .init(line: 1, column: 1))
        }
        return output
    }

    func makeNamespace(_ attributes: JinjaObject) -> JinjaValue {
        let namespace = JinjaNamespace(attributes)
        namespaces.append(namespace)
        return .namespace(namespace)
    }

    // MARK: Budgets

    private func step(_ location: JinjaLocation) throws {
        steps += 1
        if steps > limits.maxSteps {
            throw ChatTemplateError.limitExceeded("more than \(limits.maxSteps) evaluation steps", location)
        }
    }

    /// Refuses strings and lists longer than the limit before they are built.
    func checkSize(_ count: Int) throws {
        if count > limits.maxValueLength {
            throw JinjaFailure.limit("a value of \(count) elements is larger than the limit of \(limits.maxValueLength)")
        }
    }

    // MARK: Statements

    enum Flow { case normal, breakLoop, continueLoop }

    func execute(_ nodes: [JinjaNode], in scope: JinjaScope, into output: inout String) throws -> Flow {
        for node in nodes {
            try step(node.location)
            let flow = try executeNode(node, in: scope, into: &output)
            if flow != .normal { return flow }
            if output.utf8.count > limits.maxOutputBytes {
                throw ChatTemplateError.limitExceeded("output longer than \(limits.maxOutputBytes) bytes", node.location)
            }
        }
        return .normal
    }

    private func executeNode(_ node: JinjaNode, in scope: JinjaScope, into output: inout String) throws -> Flow {
        switch node.kind {
        case .text(let text):
            output += text
        case .output(let expression):
            output += try evaluate(expression, in: scope).pythonString
        case .conditional(let branches, let otherwise):
            for (condition, body) in branches where try evaluate(condition, in: scope).isTruthy {
                return try execute(body, in: scope, into: &output)
            }
            return try execute(otherwise, in: scope, into: &output)
        case .forLoop(let loop):
            try executeFor(loop, in: scope, into: &output, at: node.location)
        case .set(let target, let expression):
            try assign(target, try evaluate(expression, in: scope), in: scope, at: node.location)
        case .setBlock(let target, let filters, let body):
            var captured = ""
            _ = try execute(body, in: frame(for: body, parent: scope), into: &captured)
            let value = try applyFilters(filters, to: .string(captured), in: scope)
            try assign(target, value, in: scope, at: node.location)
        case .macro(let definition):
            scope.variables[definition.name] = makeMacro(definition, capturing: scope)
        case .callBlock(let call, let callerParameters, let body):
            guard case .call(let callee, let arguments) = call.kind else { return .normal }
            let caller = makeMacro(
                JinjaMacro(name: "caller", parameters: callerParameters, body: body), capturing: scope)
            let function = try evaluate(callee, in: scope)
            var bound = try evaluateArguments(arguments, in: scope)
            bound.keyword.append(("caller", caller))
            output += try located(call.location) { try self.call(function, bound) }.pythonString
        case .filterBlock(let filters, let body):
            var captured = ""
            _ = try execute(body, in: frame(for: body, parent: scope), into: &captured)
            output += try applyFilters(filters, to: .string(captured), in: scope).pythonString
        case .with(let assignments, let body):
            let inner = JinjaScope(parent: scope)
            for (target, expression) in assignments {
                try assign(target, try evaluate(expression, in: scope), in: inner, at: node.location)
            }
            return try execute(body, in: frame(for: body, parent: scope, reusing: inner), into: &output)
        case .scoped(let body):
            return try execute(body, in: frame(for: body, parent: scope), into: &output)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    private func executeFor(_ loop: JinjaForLoop, in scope: JinjaScope, into output: inout String, at location: JinjaLocation) throws {
        let iterable = try evaluate(loop.iterable, in: scope)
        var items = try located(loop.iterable.location) { try JinjaOperators.iterate(iterable) }
        if let condition = loop.condition {
            items = try items.filter { item in
                try step(condition.location)
                let filterScope = JinjaScope(parent: scope)
                try assign(loop.target, item, in: filterScope, at: location)
                return try evaluate(condition, in: filterScope).isTruthy
            }
        }
        // jinja2 clears its "no iteration" flag at the end of the loop body, so the `else` block
        // also runs when every iteration left early through `break` or `continue`.
        var completedAnIteration = false
        for (index, item) in items.enumerated() {
            try step(location)
            let iteration = JinjaScope(parent: scope)
            try assign(loop.target, item, in: iteration, at: location)
            iteration.variables["loop"] = Self.loopObject(index: index, items: items)
            let flow = try execute(loop.body, in: frame(for: loop.body, parent: scope, reusing: iteration), into: &output)
            if flow == .normal { completedAnIteration = true }
            if flow == .breakLoop { break }
        }
        if !completedAnIteration {
            _ = try execute(loop.emptyBody, in: frame(for: loop.emptyBody, parent: scope), into: &output)
        }
    }

    /// jinja2's `loop` variable for iteration `index` over `items`.
    private static func loopObject(index: Int, items: [JinjaValue]) -> JinjaValue {
        let length = items.count
        var loop = JinjaObject()
        loop["index"] = .int(index + 1)
        loop["index0"] = .int(index)
        loop["revindex"] = .int(length - index)
        loop["revindex0"] = .int(length - index - 1)
        loop["first"] = .bool(index == 0)
        loop["last"] = .bool(index == length - 1)
        loop["length"] = .int(length)
        loop["depth"] = .int(1)
        loop["depth0"] = .int(0)
        loop["previtem"] = index > 0 ? items[index - 1] : .undefined(hint: "there is no previous item")
        loop["nextitem"] = index < length - 1 ? items[index + 1] : .undefined(hint: "there is no next item")
        loop["cycle"] = .callable(
            JinjaCallable(name: "cycle") { _, arguments in
                guard !arguments.positional.isEmpty else { throw JinjaFailure.type("no items for cycling given") }
                return arguments.positional[index % arguments.positional.count]
            })
        return .object(loop)
    }

    private func assign(_ target: JinjaAssignTarget, _ value: JinjaValue, in scope: JinjaScope, at location: JinjaLocation) throws {
        switch target {
        case .name(let name):
            scope.variables[name] = value
        case .namespaceAttribute(let name, let attribute):
            guard case .namespace(let namespace) = scope.lookup(name) ?? .undefinedName(name) else {
                throw ChatTemplateError.runtime("cannot assign attribute on non-namespace object", location)
            }
            guard !attribute.hasPrefix("_") else {
                throw ChatTemplateError.runtime(
                    "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(attribute)'. Please rename the attribute.",
                    location)
            }
            namespace.attributes[attribute] = value
        case .tuple(let targets):
            let items = try located(location) { try JinjaOperators.iterate(value) }
            guard items.count == targets.count else {
                let problem = items.count < targets.count ? "not enough" : "too many"
                throw ChatTemplateError.runtime(
                    "\(problem) values to unpack (expected \(targets.count), got \(items.count))", location)
            }
            for (target, item) in zip(targets, items) { try assign(target, item, in: scope, at: location) }
        }
    }

    /// The scope of a body jinja2 compiles as a frame of its own (`reusing` one that already holds
    /// its parameters), with the names jinja2 starts undefined there.
    private func frame(for body: [JinjaNode], parent: JinjaScope, reusing existing: JinjaScope? = nil) -> JinjaScope {
        let scope = existing ?? JinjaScope(parent: parent)
        guard let first = body.first, let names = undefinedAtEntry[ObjectIdentifier(first)] else { return scope }
        for name in names where scope.variables[name] == nil {
            scope.variables[name] = .undefinedName(name)
        }
        return scope
    }

    // MARK: Macros and calls

    private func makeMacro(_ definition: JinjaMacro, capturing scope: JinjaScope) -> JinjaValue {
        capturedScopes.append(scope)
        return .callable(
            JinjaCallable(name: definition.name, isMacro: true) { [unowned scope] interpreter, arguments in
                try interpreter.invokeMacro(definition, capturedScope: scope, arguments)
            })
    }

    private func invokeMacro(_ definition: JinjaMacro, capturedScope: JinjaScope, _ arguments: JinjaArguments) throws -> JinjaValue {
        callDepth += 1
        defer { callDepth -= 1 }
        guard callDepth <= limits.maxCallDepth else {
            throw JinjaFailure.limit("macro calls nested deeper than \(limits.maxCallDepth)")
        }
        let scope = JinjaScope(parent: capturedScope)
        var remaining = arguments.keyword
        for (index, parameter) in definition.parameters.enumerated() {
            if index < arguments.positional.count {
                scope.variables[parameter.name] = arguments.positional[index]
            } else if let keywordIndex = remaining.firstIndex(where: { $0.0 == parameter.name }) {
                scope.variables[parameter.name] = remaining.remove(at: keywordIndex).1
            } else if let defaultValue = parameter.defaultValue {
                scope.variables[parameter.name] = try evaluate(defaultValue, in: scope)
            } else {
                scope.variables[parameter.name] = .undefined(hint: "parameter '\(parameter.name)' was not provided")
            }
        }
        if let callerIndex = remaining.firstIndex(where: { $0.0 == "caller" }) {
            scope.variables["caller"] = remaining.remove(at: callerIndex).1
        }
        scope.variables["varargs"] = .array(Array(arguments.positional.dropFirst(definition.parameters.count)))
        scope.variables["kwargs"] = .object(JinjaObject(remaining))
        var output = ""
        _ = try execute(definition.body, in: frame(for: definition.body, parent: capturedScope, reusing: scope), into: &output)
        return .string(output)
    }

    func call(_ function: JinjaValue, _ arguments: JinjaArguments) throws -> JinjaValue {
        switch function {
        case .callable(let callable):
            return try callable.body(self, arguments)
        case .undefined(let hint):
            throw JinjaFailure.undefined(hint)
        default:
            throw JinjaFailure.type("'\(function.typeName)' object is not callable")
        }
    }

    private func evaluateArguments(_ arguments: [JinjaCallArgument], in scope: JinjaScope) throws -> JinjaArguments {
        var result = JinjaArguments()
        for argument in arguments {
            switch argument {
            case .positional(let expression):
                result.positional.append(try evaluate(expression, in: scope))
            case .keyword(let name, let expression):
                result.keyword.append((name, try evaluate(expression, in: scope)))
            case .spread(let expression):
                let value = try evaluate(expression, in: scope)
                result.positional += try located(expression.location) { try JinjaOperators.iterate(value) }
            case .keywordSpread(let expression):
                guard case .object(let object) = try evaluate(expression, in: scope) else {
                    throw ChatTemplateError.runtime("argument after ** must be a mapping", expression.location)
                }
                result.keyword += object.map { ($0.key, $0.value) }
            }
        }
        return result
    }

    private func applyFilters(_ filters: [JinjaFilterApplication], to value: JinjaValue, in scope: JinjaScope) throws -> JinjaValue {
        var result = value
        for filter in filters {
            let arguments = try evaluateArguments(filter.arguments, in: scope)
            let input = result
            result = try located(filter.location) { try JinjaFilters.apply(filter.name, to: input, arguments, self) }
        }
        return result
    }

    /// Runs `body`, giving a location-less failure the location of the expression that caused it.
    private func located<T>(_ location: JinjaLocation, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as JinjaFailure {
            throw failure.located(at: location)
        }
    }

    // MARK: Expressions

    func evaluate(_ expression: JinjaExpression, in scope: JinjaScope) throws -> JinjaValue {
        try located(expression.location) { try evaluateUnlocated(expression, in: scope) }
    }

    private func evaluateUnlocated(_ expression: JinjaExpression, in scope: JinjaScope) throws -> JinjaValue {
        switch expression.kind {
        case .literal(let value):
            return value
        case .name(let name):
            return scope.lookup(name) ?? .undefinedName(name)
        case .list(let items), .tuple(let items):
            return .array(try items.map { try evaluate($0, in: scope) })
        case .dict(let pairs):
            var object = JinjaObject()
            for (keyExpression, valueExpression) in pairs {
                let key = try JinjaObject.key(for: try evaluate(keyExpression, in: scope))
                object[key] = try evaluate(valueExpression, in: scope)
            }
            return .object(object)
        case .attribute(let base, let name):
            return try JinjaOperators.attribute(of: try evaluate(base, in: scope), name)
        case .item(let base, let index):
            let container = try evaluate(base, in: scope)
            return try JinjaOperators.item(of: container, try evaluate(index, in: scope))
        case .slice(let base, let start, let stop, let stepExpression):
            let container = try evaluate(base, in: scope)
            let bounds = try [start, stop, stepExpression].map { try $0.map { try evaluate($0, in: scope) } }
            return try JinjaOperators.slice(container, start: bounds[0], stop: bounds[1], step: bounds[2])
        case .call(let callee, let arguments):
            let function = try evaluate(callee, in: scope)
            return try call(function, try evaluateArguments(arguments, in: scope))
        case .filter(let base, let name, let arguments):
            let value = try evaluate(base, in: scope)
            return try JinjaFilters.apply(name, to: value, try evaluateArguments(arguments, in: scope), self)
        case .test(let base, let name, let arguments, let negated):
            let value = try evaluate(base, in: scope)
            let result = try JinjaTests.apply(name, to: value, try evaluateArguments(arguments, in: scope), self)
            return .bool(result != negated)
        case .not(let operand):
            return .bool(!(try evaluate(operand, in: scope).isTruthy))
        case .negate(let operand):
            return try JinjaOperators.negate(try evaluate(operand, in: scope))
        case .plus(let operand):
            let value = try evaluate(operand, in: scope)
            guard value.numericValue != nil else {
                if case .undefined(let hint) = value { throw JinjaFailure.undefined(hint) }
                throw JinjaFailure.type("bad operand type for unary +: '\(value.typeName)'")
            }
            return value
        case .binary(let op, let left, let right):
            let a = try evaluate(left, in: scope)
            let b = try evaluate(right, in: scope)
            return try JinjaOperators.binary(op, a, b, self)
        case .compare(let first, let operations):
            var left = try evaluate(first, in: scope)
            for (op, rightExpression) in operations {
                let right = try evaluate(rightExpression, in: scope)
                guard try JinjaOperators.compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .and(let left, let right):
            let value = try evaluate(left, in: scope)
            return value.isTruthy ? try evaluate(right, in: scope) : value
        case .or(let left, let right):
            let value = try evaluate(left, in: scope)
            return value.isTruthy ? value : try evaluate(right, in: scope)
        case .conditional(let condition, let then, let otherwise):
            if try evaluate(condition, in: scope).isTruthy { return try evaluate(then, in: scope) }
            if let otherwise { return try evaluate(otherwise, in: scope) }
            return .undefined(
                hint: "the inline if-expression on line \(expression.location.line) evaluated to false and no else section was defined.")
        }
    }
}

/// Variables of one scope; lookups fall back to the enclosing scope.
final class JinjaScope {
    var variables: [String: JinjaValue] = [:]
    let parent: JinjaScope?

    init(parent: JinjaScope?) {
        self.parent = parent
    }

    func lookup(_ name: String) -> JinjaValue? {
        var scope: JinjaScope? = self
        while let current = scope {
            if let value = current.variables[name] { return value }
            scope = current.parent
        }
        return nil
    }
}

/// The time `strftime_now` formats: the current local time, or a fixed one for reproducible renders.
public struct RenderClock: Sendable {
    public var date: Date
    public var timeZone: TimeZone

    public init(date: Date = Date(), timeZone: TimeZone = .current) {
        self.date = date
        self.timeZone = timeZone
    }
}
