/// Whether a chat template reads message content as a list of parts, found as vLLM finds it
/// (`_detect_content_format`), so the server knows whether to pass OpenAI content parts as they
/// are or to join their text into one string first.
extension ChatTemplate {
    public enum ContentFormat: String, Sendable {
        /// The template prints `message.content`: give it a string.
        case string
        /// The template loops over `message.content` (`{% for part in message['content'] %}`):
        /// give it the list of parts.
        case openAI = "openai"
    }

    /// The template's content format: `openAI` when some loop runs over the `content` of a message
    /// taken from `messages` (directly, through a slice or filter, or through a variable set from
    /// it), `string` otherwise.
    public var contentFormat: ContentFormat {
        var assignments: [(JinjaAssignTarget, JinjaExpression)] = []
        var loops: [JinjaForLoop] = []
        Self.collect(template.nodes, &assignments, &loops)
        var related = ["messages"]
        var queue = ["messages"]
        while !queue.isEmpty {
            let current = queue.removeFirst()
            for (target, value) in assignments where Self.reads(value, current) {
                // vLLM gives up (and says "string") on anything but a plain name here.
                guard case .name(let name) = target else { return .string }
                related.append(name)
                if name != current { queue.append(name) }
            }
        }
        var messageNames: [String] = []
        for loop in loops where related.contains(where: { Self.reads(loop.iterable, $0) }) {
            guard case .name(let name) = loop.target else { return .string }
            messageNames.append(name)
        }
        for loop in loops where messageNames.contains(where: { Self.reads(loop.iterable, $0, key: "content") }) {
            guard case .name = loop.target else { return .string }
            return .openAI
        }
        return .string
    }

    /// Every `{% set x = ... %}` and `{% for %}` of the template, nested ones included.
    private static func collect(_ nodes: [JinjaNode], _ assignments: inout [(JinjaAssignTarget, JinjaExpression)], _ loops: inout [JinjaForLoop]) {
        for node in nodes {
            switch node.kind {
            case .set(let target, let value): assignments.append((target, value))
            case .forLoop(let loop):
                loops.append(loop)
                collect(loop.body, &assignments, &loops)
                collect(loop.emptyBody, &assignments, &loops)
            case .conditional(let branches, let otherwise):
                for (_, body) in branches { collect(body, &assignments, &loops) }
                collect(otherwise, &assignments, &loops)
            case .setBlock(_, _, let body), .callBlock(_, _, let body), .filterBlock(_, let body), .with(_, let body),
                .scoped(let body):
                collect(body, &assignments, &loops)
            case .macro(let definition): collect(definition.body, &assignments, &loops)
            case .text, .output, .breakLoop, .continueLoop: break
            }
        }
    }

    /// vLLM's `_is_var_or_elems_access`: `name`, or `name.key` / `name['key']`, possibly sliced,
    /// filtered or tested.
    private static func reads(_ expression: JinjaExpression, _ name: String, key: String? = nil) -> Bool {
        switch expression.kind {
        case .filter(let base, _, _), .test(let base, _, _, _), .slice(let base, _, _, _):
            return reads(base, name, key: key)
        case .name(let variable):
            return key == nil && variable == name
        case .attribute(let base, let attribute):
            guard let key, case .name(let variable) = base.kind else { return false }
            return variable == name && attribute == key
        case .item(let base, let index):
            guard let key, case .name(let variable) = base.kind, case .literal(.string(let literal)) = index.kind else { return false }
            return variable == name && literal == key
        default:
            return false
        }
    }
}
