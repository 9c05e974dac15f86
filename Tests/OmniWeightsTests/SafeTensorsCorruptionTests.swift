import Foundation
import OmniTensor
import OmniWeights
import Testing

/// A broken file, and what its error message must say.
struct CorruptFile: Sendable, CustomTestStringConvertible {
    let label: String
    let bytes: Data
    /// Substrings the error must contain, besides the file name.
    let mentions: [String]

    var testDescription: String { label }

    init(_ label: String, _ bytes: Data, mentions: [String]) {
        self.label = label
        self.bytes = bytes
        self.mentions = mentions
    }

    static let weight = "model.layers.0.mlp.up_proj.weight"

    static func entry(_ name: String = weight, dtype: String = "BF16", shape: String = "[4,8]", offsets: String = "[0,64]") -> String {
        #""\#(name)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}"#
    }

    static let all: [CorruptFile] = {
        let zeros = [UInt8](repeating: 0, count: 64)
        let good = safetensorsBytes(header: "{\(entry())}", data: zeros)
        return [
            CorruptFile("empty file", Data(), mentions: ["0 bytes", "too short"]),
            CorruptFile("length prefix cut short", Data([16, 0, 0]), mentions: ["3 bytes"]),
            CorruptFile("truncated data", good.prefix(good.count - 10),
                        mentions: [weight, "run past the end of the data section (54 bytes"]),
            CorruptFile("truncated header", good.prefix(20), mentions: ["runs past the end of the file"]),
            CorruptFile("header length beyond file", safetensorsBytes(header: "{}", declaredLength: 1_000),
                        mentions: ["header length 1000 runs past the end of the file"]),
            CorruptFile("absurd header length", safetensorsBytes(header: "{}", declaredLength: UInt64.max),
                        mentions: ["header length 18446744073709551615", "limit"]),
            CorruptFile("zero header length", safetensorsBytes(header: "", declaredLength: 0), mentions: ["header length is 0"]),
            CorruptFile("bad JSON", safetensorsBytes(header: #"{"a": {"dtype": "F32",}"#), mentions: ["not valid JSON", "line 1"]),
            CorruptFile("binary garbage header", safetensorsBytes(header: "\u{1}\u{2}garbage"), mentions: ["not valid JSON"]),
            CorruptFile("header not an object", safetensorsBytes(header: "[1,2]"), mentions: ["an array, not a JSON object"]),
            CorruptFile("entry not an object", safetensorsBytes(header: #"{"\#(weight)":[0,64]}"#), mentions: [weight, "expected an object"]),
            CorruptFile("missing dtype", safetensorsBytes(header: #"{"\#(weight)":{"shape":[1],"data_offsets":[0,2]}}"#, data: [0, 0]),
                        mentions: [weight, "missing \"dtype\""]),
            CorruptFile("missing shape", safetensorsBytes(header: #"{"\#(weight)":{"dtype":"F16","data_offsets":[0,2]}}"#, data: [0, 0]),
                        mentions: [weight, "missing \"shape\""]),
            CorruptFile("missing data_offsets", safetensorsBytes(header: #"{"\#(weight)":{"dtype":"F16","shape":[1]}}"#),
                        mentions: [weight, "missing \"data_offsets\""]),
            CorruptFile("unknown dtype", safetensorsBytes(header: "{\(entry(dtype: "Q4_K"))}", data: zeros),
                        mentions: [weight, "unknown dtype \"Q4_K\""]),
            CorruptFile("negative dimension", safetensorsBytes(header: "{\(entry(shape: "[-4,8]"))}", data: zeros),
                        mentions: [weight, "non-negative integers"]),
            CorruptFile("fractional dimension", safetensorsBytes(header: "{\(entry(shape: "[4.5,8]"))}", data: zeros),
                        mentions: [weight, "non-negative integers"]),
            CorruptFile("overflowing shape", safetensorsBytes(header: "{\(entry(shape: "[4294967296,4294967296,4]"))}", data: zeros),
                        mentions: [weight, "too large"]),
            CorruptFile("offsets out of range", safetensorsBytes(header: "{\(entry(offsets: "[64,128]"))}", data: zeros),
                        mentions: [weight, "data_offsets [64, 128] run past the end of the data section (64 bytes"]),
            CorruptFile("offsets reversed", safetensorsBytes(header: "{\(entry(offsets: "[64,0]"))}", data: zeros),
                        mentions: [weight, "end before they begin"]),
            CorruptFile("offsets not a pair", safetensorsBytes(header: "{\(entry(offsets: "[0]"))}", data: zeros),
                        mentions: [weight, "two non-negative integers"]),
            CorruptFile("wrong byte count", safetensorsBytes(header: "{\(entry(offsets: "[0,100]"))}", data: zeros + zeros),
                        mentions: [weight, "data_offsets [0, 100] hold 100 bytes but shape [4, 8] of BF16 needs 64"]),
            CorruptFile("overlapping tensors", safetensorsBytes(
                header: "{\(entry()),\(entry("other", dtype: "F32", shape: "[4]", offsets: "[48,64]"))}", data: zeros),
                        mentions: ["tensor \"other\"", "overlap tensor \"\(weight)\""]),
            CorruptFile("duplicate tensor name", safetensorsBytes(header: "{\(entry()),\(entry())}", data: zeros),
                        mentions: ["duplicate key \"\(weight)\""]),
            CorruptFile("metadata not strings", safetensorsBytes(header: #"{"__metadata__":{"format":1}}"#),
                        mentions: ["__metadata__", "\"format\"", "expected a string"]),
            CorruptFile("deeply nested header", safetensorsBytes(header: String(repeating: "[", count: 100_000)),
                        mentions: ["nesting deeper than"]),
            CorruptFile("invalid UTF-8 name", safetensorsBytes(headerBytes: Array(#"{""#.utf8) + [0xFF] + Array(#"":1}"#.utf8)),
                        mentions: ["UTF-8"]),
        ]
    }()
}

@Suite struct SafeTensorsCorruptionTests {
    @Test(arguments: CorruptFile.all)
    func corruptFileThrowsAnErrorNamingFileAndTensor(_ corrupt: CorruptFile) throws {
        let directory = try TemporaryDirectory()
        let url = try directory.write("model.safetensors", corrupt.bytes)
        let text = try #require(errorText { _ = try SafeTensorsFile(url: url) }, "\(corrupt.label) was accepted")
        #expect(text.hasPrefix(url.path + ": "), "\(text)")
        for mention in corrupt.mentions {
            #expect(text.contains(mention), "\(corrupt.label): \(text)")
        }
    }

    /// Every prefix of a real file: only the whole file opens, and nothing crashes.
    @Test func everyTruncationOfARealFileIsRejected() throws {
        let original = try Data(contentsOf: Fixtures.url("dtypes.safetensors"))
        let directory = try TemporaryDirectory()
        let url = directory.file("cut.safetensors")
        for length in 0..<original.count {
            try original.prefix(length).write(to: url)
            #expect(throws: WeightsError.self, "prefix of \(length) bytes") { try SafeTensorsFile(url: url) }
        }
    }

    /// Seeded random byte flips in the header: either a clear error, or a file whose every tensor
    /// still lies inside the data (reading them all must not crash).
    @Test func randomHeaderDamageNeverCrashes() throws {
        let original = try [UInt8](Data(contentsOf: Fixtures.url("dtypes.safetensors")))
        let headerEnd = 8 + Int(original.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let directory = try TemporaryDirectory()
        let url = directory.file("damaged.safetensors")
        var generator = SplitMix64(seed: 42)
        let replacements = Array("0123456789[]{}\",:-. eE".utf8) + [0, 0xFF]
        var rejected = 0
        for _ in 0..<400 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let position = Int.random(in: 0..<headerEnd, using: &generator)
                bytes[position] = replacements.randomElement(using: &generator)!
            }
            try Data(bytes).write(to: url)
            do {
                let file = try SafeTensorsFile(url: url)
                for name in file.names {
                    if let tensor = try? file.tensor(name) { _ = tensor.toFloats() }
                }
            } catch {
                rejected += 1
            }
        }
        #expect(rejected > 100, "most random damage should be detected, only \(rejected) of 400 were")
    }
}

/// A small seeded generator, so the damage test is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
