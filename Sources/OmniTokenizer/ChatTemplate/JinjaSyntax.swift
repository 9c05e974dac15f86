/// The syntax tree of a template: statements (`JinjaNode`) holding expressions
/// (`JinjaExpression`), each with the place in the template it came from, for error messages.
typealias JinjaLocation = ChatTemplateError.SourceLocation

final class JinjaExpression: Sendable {
    indirect enum Kind {
        case literal(JinjaValue)
        case name(String)
        case list([JinjaExpression])
        /// A tuple; the engine treats it as a list.
        case tuple([JinjaExpression])
        case dict([(JinjaExpression, JinjaExpression)])
        /// `value.name`
        case attribute(JinjaExpression, String)
        /// `value[index]`
        case item(JinjaExpression, JinjaExpression)
        /// `value[start:stop:step]`
        case slice(JinjaExpression, start: JinjaExpression?, stop: JinjaExpression?, step: JinjaExpression?)
        case call(JinjaExpression, [JinjaCallArgument])
        /// `value | name(arguments)`
        case filter(JinjaExpression, name: String, [JinjaCallArgument])
        /// `value is [not] name(arguments)`
        case test(JinjaExpression, name: String, [JinjaCallArgument], negated: Bool)
        case not(JinjaExpression)
        case negate(JinjaExpression)
        case plus(JinjaExpression)
        case binary(JinjaBinaryOperator, JinjaExpression, JinjaExpression)
        /// `a < b < c` (chained as in Python)
        case compare(JinjaExpression, [(JinjaCompareOperator, JinjaExpression)])
        case and(JinjaExpression, JinjaExpression)
        case or(JinjaExpression, JinjaExpression)
        /// `then if condition else otherwise`; a missing `else` gives undefined.
        case conditional(condition: JinjaExpression, then: JinjaExpression, otherwise: JinjaExpression?)
    }

    let kind: Kind
    let location: JinjaLocation

    init(_ kind: Kind, _ location: JinjaLocation) {
        self.kind = kind
        self.location = location
    }
}

enum JinjaBinaryOperator: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%"
    case power = "**", concat = "~"
}

enum JinjaCompareOperator: String {
    case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    case `in` = "in", notIn = "not in"
}

enum JinjaCallArgument {
    case positional(JinjaExpression)
    case keyword(String, JinjaExpression)
    /// `*values`
    case spread(JinjaExpression)
    /// `**mapping`
    case keywordSpread(JinjaExpression)
}

/// What `{% set %}`, `{% for %}` and `{% with %}` assign to.
indirect enum JinjaAssignTarget {
    case name(String)
    /// `{% set ns.attribute = ... %}`
    case namespaceAttribute(String, String)
    case tuple([JinjaAssignTarget])
}

struct JinjaMacro {
    let name: String
    let parameters: [(name: String, defaultValue: JinjaExpression?)]
    let body: [JinjaNode]
}

struct JinjaForLoop {
    let target: JinjaAssignTarget
    let iterable: JinjaExpression
    let condition: JinjaExpression?
    let body: [JinjaNode]
    let emptyBody: [JinjaNode]
}

/// A filter applied by `{% filter %}` or a block `{% set x | filter %}`.
struct JinjaFilterApplication {
    let name: String
    let arguments: [JinjaCallArgument]
    let location: JinjaLocation
}

final class JinjaNode: Sendable {
    enum Kind {
        case text(String)
        case output(JinjaExpression)
        case conditional(branches: [(JinjaExpression, [JinjaNode])], otherwise: [JinjaNode])
        case forLoop(JinjaForLoop)
        case set(JinjaAssignTarget, JinjaExpression)
        case setBlock(JinjaAssignTarget, filters: [JinjaFilterApplication], body: [JinjaNode])
        case macro(JinjaMacro)
        /// `{% call(parameters) macro(...) %}body{% endcall %}`; the body becomes `caller`.
        case callBlock(call: JinjaExpression, callerParameters: [(name: String, defaultValue: JinjaExpression?)], body: [JinjaNode])
        case filterBlock(filters: [JinjaFilterApplication], body: [JinjaNode])
        case with(assignments: [(JinjaAssignTarget, JinjaExpression)], body: [JinjaNode])
        /// `{% generation %}` (transformers' assistant-mask tag, a call block in jinja2) and
        /// `{% block %}`: render in place, in a scope of their own.
        case scoped([JinjaNode])
        case breakLoop
        case continueLoop
    }

    let kind: Kind
    let location: JinjaLocation

    init(_ kind: Kind, _ location: JinjaLocation) {
        self.kind = kind
        self.location = location
    }
}
