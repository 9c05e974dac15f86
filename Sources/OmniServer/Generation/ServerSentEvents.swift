import HTTPTypes
import Hummingbird
import OmniTokenizer

/// Server-sent events as OpenAI frames them: `data: <json>` events, `data: [DONE]` at the end,
/// and `: ping` comments that keep idle connections (long prefills) from timing out.
enum ServerSentEvents {
    static let headers: HTTPFields = [
        .contentType: "text/event-stream; charset=utf-8",
        .cacheControl: "no-cache",
        HTTPField.Name("X-Accel-Buffering")!: "no",
    ]

    static func event(_ json: JinjaValue) -> ByteBuffer { ByteBuffer(string: "data: \(json.compactJSON)\n\n") }
    static func events(_ items: [JinjaValue]) -> ByteBuffer {
        ByteBuffer(string: items.map { "data: \($0.compactJSON)\n\n" }.joined())
    }
    static let done = ByteBuffer(string: "data: [DONE]\n\n")
    static let ping = ByteBuffer(string: ": ping\n\n")
}
