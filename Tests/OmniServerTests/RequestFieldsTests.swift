import NIOCore
import Testing
@testable import OmniServer

@Suite struct RequestFieldsTests {
    private func fields(_ json: String) throws -> RequestFields { try RequestFields(body: Array(json.utf8)) }

    private func error(_ body: () throws -> Void) -> APIError? {
        do { try body() } catch let error as APIError { return error } catch { return nil }
        return nil
    }

    @Test func malformedBodiesAre400WithoutParam() {
        for body in ["", "{", "[1, 2]", "\"text\"", "{\"a\": 1,}", "{'a': 1}"] {
            let failure = error { _ = try fields(body) }
            #expect(failure?.status == .badRequest, "\(body)")
            #expect(failure?.param == nil)
        }
        let invalidUTF8 = error { _ = try RequestFields(body: [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]) }
        #expect(invalidUTF8?.message.contains("UTF-8") == true)
    }

    @Test func wrongTypesNameTheField() throws {
        let body = try fields(#"{"max_tokens": "5", "stream": 1, "temperature": "hot", "stop": [1], "stream_options": {"include_usage": "yes"}}"#)
        #expect(error { _ = try body.int("max_tokens") }?.param == "max_tokens")
        #expect(error { _ = try body.bool("stream") }?.param == "stream")
        #expect(error { _ = try body.double("temperature") }?.param == "temperature")
        #expect(error { _ = try body.strings("stop") }?.param == "stop[0]")
        let options = try #require(try body.object("stream_options"))
        #expect(error { _ = try options.bool("include_usage") }?.param == "stream_options.include_usage")
    }

    @Test func nullReadsAsAbsentAndIntegralFloatsAsIntegers() throws {
        let body = try fields(#"{"seed": null, "n": 2.0, "top_k": 2.5, "stop": "x"}"#)
        #expect(try body.int("seed") == nil)
        #expect(try body.int("n") == 2)
        #expect(error { _ = try body.int("top_k") }?.param == "top_k")
        #expect(try body.strings("stop") == ["x"])
    }

    @Test func errorsRenderInOpenAIShape() {
        let json = APIError.invalid("n", "n must be at least 1, got 0.").json.compactJSON
        #expect(json == #"{"error":{"message":"n must be at least 1, got 0.","type":"invalid_request_error","param":"n","code":null}}"#)
    }

    @Test func serverSentEventsAreFramedAsOpenAISendsThem() {
        #expect(String(buffer: ServerSentEvents.event(["a": 1])) == "data: {\"a\":1}\n\n")
        #expect(String(buffer: ServerSentEvents.done) == "data: [DONE]\n\n")
        #expect(String(buffer: ServerSentEvents.ping) == ": ping\n\n")
    }
}
