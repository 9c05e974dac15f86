/// A Jinja2 template parsed once and rendered many times, with the environment transformers
/// uses for chat templates: `trim_blocks`, `lstrip_blocks`, loop controls (`break`,
/// `continue`), an immutable sandbox (no `list.append`, no `dict.update`), a `tojson` that keeps
/// non-ASCII text, and the globals `raise_exception` and `strftime_now`.
public struct JinjaTemplate: Sendable {
    /// Bounds on one render, so that a template from a model directory cannot hang or exhaust
    /// memory; going past one is a `ChatTemplateError.limitExceeded`.
    public struct Limits: Sendable {
        /// Statements executed, loop iterations included.
        public var maxSteps: Int
        /// Macro calls nested in each other (recursion).
        public var maxCallDepth: Int
        /// Bytes of rendered output.
        public var maxOutputBytes: Int
        /// Length of one string (bytes) or list (items) built by the template.
        public var maxValueLength: Int

        public init(maxSteps: Int = 2_000_000, maxCallDepth: Int = 64, maxOutputBytes: Int = 16 << 20,
                    maxValueLength: Int = 16 << 20) {
            self.maxSteps = maxSteps
            self.maxCallDepth = maxCallDepth
            self.maxOutputBytes = maxOutputBytes
            self.maxValueLength = maxValueLength
        }
    }

    public let source: String
    let nodes: [JinjaNode]
    let undefinedAtEntry: JinjaScopeAnalysis.Frames

    /// Parses `source`; a syntax error names its line and column.
    public init(source: String) throws(ChatTemplateError) {
        self.source = source
        self.nodes = try JinjaParser.parse(source)
        self.undefinedAtEntry = JinjaScopeAnalysis.undefinedAtEntry(in: nodes)
    }

    /// Renders with `context` as the template's variables.
    public func render(
        _ context: JinjaObject, limits: Limits = Limits(), clock: RenderClock = RenderClock()
    ) throws(ChatTemplateError) -> String {
        try JinjaInterpreter(limits: limits, clock: clock, undefinedAtEntry: undefinedAtEntry).render(nodes, context: context)
    }
}
