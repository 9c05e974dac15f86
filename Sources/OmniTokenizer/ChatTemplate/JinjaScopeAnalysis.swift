/// Which names each scope of a template must start as undefined, as jinja2's compiler
/// (`idtracking`) works it out: a name the scope assigns before reading it, which no enclosing
/// scope of the template mentions, is undefined in that scope until assigned, hiding a context
/// variable of the same name (for example from a macro called before a top-level `set`). A name
/// assigned in only some branches of an `if` is read from outside until assigned.
enum JinjaScopeAnalysis {
    typealias Frames = [ObjectIdentifier: Set<String>]

    /// For each scope body (keyed by its first node), the names that start undefined in it.
    static func undefinedAtEntry(in root: [JinjaNode]) -> Frames {
        var result: Frames = [:]
        analyzeFrame(root, parameters: [], enclosing: [], into: &result)
        return result
    }

    /// A scope nested in the one being analyzed, analyzed after it.
    private struct ChildFrame {
        var body: [JinjaNode]
        var parameters: Set<String>
    }

    /// What one scope knows about its names, in jinja2's analysis order.
    private struct Symbols {
        var loadedFirst: Set<String> = []
        var storedFirst: Set<String> = []
        var stored: Set<String> = []
        var children: [ChildFrame] = []

        func knows(_ name: String) -> Bool { loadedFirst.contains(name) || storedFirst.contains(name) }

        mutating func load(_ name: String) {
            if !knows(name) { loadedFirst.insert(name) }
        }

        mutating func store(_ name: String) {
            if !knows(name) { storedFirst.insert(name) }
            stored.insert(name)
        }
    }

    private static func analyzeFrame(_ body: [JinjaNode], parameters: Set<String>, enclosing: Set<String>, into result: inout Frames) {
        guard let first = body.first else { return }
        var symbols = Symbols()
        for name in parameters { symbols.load(name) }
        for node in body { visit(node, &symbols) }
        let undefined = symbols.storedFirst.subtracting(enclosing)
        if !undefined.isEmpty { result[ObjectIdentifier(first)] = undefined }
        let visible = enclosing.union(symbols.loadedFirst).union(symbols.stored)
        for child in symbols.children {
            analyzeFrame(child.body, parameters: child.parameters, enclosing: visible, into: &result)
        }
    }

    private static func targetNames(_ target: JinjaAssignTarget) -> Set<String> {
        switch target {
        case .name(let name): return [name]
        case .namespaceAttribute: return []
        case .tuple(let targets): return targets.reduce(into: []) { $0.formUnion(targetNames($1)) }
        }
    }

    private static func visit(_ node: JinjaNode, _ symbols: inout Symbols) {
        switch node.kind {
        case .text, .breakLoop, .continueLoop:
            break
        case .output(let expression):
            loads(expression, &symbols)
        case .set(let target, let value):
            loads(value, &symbols)
            stores(target, &symbols)
        case .setBlock(let target, _, let body):
            stores(target, &symbols)
            symbols.children.append(ChildFrame(body: body, parameters: []))
        case .conditional(let branches, let otherwise):
            guard let (test, body) = branches.first else { break }
            visitIf(test, body, elifs: branches.dropFirst(), otherwise: otherwise, &symbols)
        case .forLoop(let loop):
            loads(loop.iterable, &symbols)
            symbols.children.append(ChildFrame(body: loop.body, parameters: targetNames(loop.target).union(["loop"])))
            symbols.children.append(ChildFrame(body: loop.emptyBody, parameters: []))
        case .macro(let definition):
            symbols.store(definition.name)
            let parameters = Set(definition.parameters.map(\.name)).union(["varargs", "kwargs", "caller"])
            symbols.children.append(ChildFrame(body: definition.body, parameters: parameters))
        case .callBlock(let call, let callerParameters, let body):
            loads(call, &symbols)
            let parameters = Set(callerParameters.map(\.name)).union(["varargs", "kwargs"])
            symbols.children.append(ChildFrame(body: body, parameters: parameters))
        case .filterBlock(let filters, let body):
            for filter in filters { loads(filter.arguments, &symbols) }
            symbols.children.append(ChildFrame(body: body, parameters: []))
        case .with(let assignments, let body):
            for (_, value) in assignments { loads(value, &symbols) }
            let parameters = assignments.reduce(into: Set<String>()) { $0.formUnion(targetNames($1.0)) }
            symbols.children.append(ChildFrame(body: body, parameters: parameters))
        case .scoped(let body):
            symbols.children.append(ChildFrame(body: body, parameters: []))
        }
    }

    /// jinja2's `visit_If` + `branch_update`: the body, the `elif` chain (each `elif` an `if`
    /// of its own, without `else`) and the `else` are three branches; a name assigned first in all
    /// three stays assigned-first, one assigned in only some of them is read from outside until
    /// assigned.
    private static func visitIf(
        _ test: JinjaExpression, _ body: [JinjaNode], elifs: ArraySlice<(JinjaExpression, [JinjaNode])>,
        otherwise: [JinjaNode], _ symbols: inout Symbols
    ) {
        loads(test, &symbols)
        let outer = symbols.children
        symbols.children = []
        var bodySymbols = symbols
        for node in body { visit(node, &bodySymbols) }
        var elifSymbols = symbols
        for (elifTest, elifBody) in elifs {
            visitIf(elifTest, elifBody, elifs: [], otherwise: [], &elifSymbols)
        }
        var elseSymbols = symbols
        for node in otherwise { visit(node, &elseSymbols) }
        let branches = [bodySymbols, elifSymbols, elseSymbols]
        var merged = symbols
        merged.children = outer
        for branch in branches {
            merged.loadedFirst.formUnion(branch.loadedFirst)
            merged.stored.formUnion(branch.stored)
            merged.children += branch.children
        }
        for branch in branches {
            for name in branch.storedFirst where !symbols.knows(name) {
                if branches.allSatisfy({ $0.stored.contains(name) }) {
                    merged.storedFirst.insert(name)
                } else {
                    merged.loadedFirst.insert(name)
                }
            }
        }
        merged.loadedFirst.subtract(merged.storedFirst)
        symbols = merged
    }

    private static func stores(_ target: JinjaAssignTarget, _ symbols: inout Symbols) {
        switch target {
        case .name(let name): symbols.store(name)
        case .namespaceAttribute(let name, _): symbols.load(name)
        case .tuple(let targets): for target in targets { stores(target, &symbols) }
        }
    }

    private static func loads(_ arguments: [JinjaCallArgument], _ symbols: inout Symbols) {
        for argument in arguments {
            switch argument {
            case .positional(let value), .keyword(_, let value), .spread(let value), .keywordSpread(let value):
                loads(value, &symbols)
            }
        }
    }

    private static func loads(_ expression: JinjaExpression, _ symbols: inout Symbols) {
        switch expression.kind {
        case .literal: break
        case .name(let name): symbols.load(name)
        case .list(let items), .tuple(let items): for item in items { loads(item, &symbols) }
        case .dict(let pairs):
            for (key, value) in pairs {
                loads(key, &symbols)
                loads(value, &symbols)
            }
        case .attribute(let base, _): loads(base, &symbols)
        case .item(let base, let index):
            loads(base, &symbols)
            loads(index, &symbols)
        case .slice(let base, let start, let stop, let step):
            loads(base, &symbols)
            for part in [start, stop, step] { if let part { loads(part, &symbols) } }
        case .call(let callee, let arguments):
            loads(callee, &symbols)
            loads(arguments, &symbols)
        case .filter(let base, _, let arguments), .test(let base, _, let arguments, _):
            loads(base, &symbols)
            loads(arguments, &symbols)
        case .not(let operand), .negate(let operand), .plus(let operand):
            loads(operand, &symbols)
        case .binary(_, let left, let right), .and(let left, let right), .or(let left, let right):
            loads(left, &symbols)
            loads(right, &symbols)
        case .compare(let first, let operations):
            loads(first, &symbols)
            for (_, operand) in operations { loads(operand, &symbols) }
        case .conditional(let condition, let then, let otherwise):
            loads(then, &symbols)
            loads(condition, &symbols)
            if let otherwise { loads(otherwise, &symbols) }
        }
    }
}
