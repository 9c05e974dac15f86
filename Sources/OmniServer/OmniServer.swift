import OmniPipeline

/// The OpenAI-compatible HTTP server (Hummingbird 2) lives in this module (DESIGN.md §2, §6).
/// Its routes call the Orchestrator in OmniPipeline and never compute themselves.
public enum OmniServerInfo {
    /// Reported by `GET /version` and `omni --version`.
    public static let version = "0.1.0"
}
