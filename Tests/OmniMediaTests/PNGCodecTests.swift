import Foundation
import OmniMedia
import Testing

/// PNG through libpng: our encoder's output decodes to the same pixels, and Pillow's PNGs
/// (Tests/Fixtures/media/, from tools/reference/make_media_fixtures.py) decode to the pixels
/// Pillow reads. Pixels must be equal byte for byte.
@Suite("PNG codec")
struct PNGCodecTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/media")

    /// Deterministic pixels with smooth gradients and noise, so both filters and literals get used.
    func pattern(width: Int, height: Int, channels: Int) -> [UInt8] {
        var state: UInt32 = 12345
        return (0..<(width * height * channels)).map { i in
            state = state &* 1_664_525 &+ 1_013_904_223
            let p = i / channels, c = i % channels
            return UInt8(truncatingIfNeeded: (p % width) * 3 + (p / width) * 5 + c * 40 + Int(state >> 29))
        }
    }

    @Test("round trip", arguments: [(1, 1, 3), (7, 5, 3), (64, 48, 3), (33, 17, 1), (9, 4, 2), (16, 16, 4), (301, 7, 3)])
    func roundTrip(_ size: (Int, Int, Int)) throws {
        let (width, height, channels) = size
        let image = try PixelImage(width: width, height: height, channels: channels,
                                   pixels: pattern(width: width, height: height, channels: channels))
        for fast in [false, true] {
            let png = try PNGEncoder.encode(image, fast: fast)
            #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            #expect(try PNGDecoder.decode(png) == image, "\(width)x\(height)x\(channels) fast: \(fast)")
        }
    }

    @Test func rgbEntryPointWritesAnRGBImage() throws {
        let rgb = pattern(width: 10, height: 6, channels: 3)
        let decoded = try PNGDecoder.decode(PNGEncoder.encode(rgb: rgb, width: 10, height: 6))
        #expect(decoded.width == 10 && decoded.height == 6 && decoded.channels == 3 && decoded.pixels == rgb)
    }

    @Test func flatImageCompresses() throws {
        let png = try PNGEncoder.encode(rgb: [UInt8](repeating: 200, count: 512 * 512 * 3), width: 512, height: 512)
        #expect(png.count < 4096, "a flat 512x512 image took \(png.count) bytes: is deflate on?")
    }

    @Test("decodes Pillow's PNGs", arguments: ["pil_rgb_5x7", "pil_gray_4x4", "pil_rgba_3x2", "pil_palette_4x3"])
    func decodesPillowPNG(_ name: String) throws {
        let fixture = try MediaFixture.load()
        let entry = try #require(fixture.pngs.first { $0.file == "\(name).png" })
        let bytes = try [UInt8](Data(contentsOf: Self.fixtures.appendingPathComponent(entry.file)))
        let image = try PNGDecoder.decode(bytes)
        #expect(image.width == entry.width && image.height == entry.height && image.channels == entry.channels)
        #expect(image.pixels == MediaFixture.bytes(hex: entry.pixels))
    }

    @Test func wrongSizesAndCorruptStreamsAreErrors() throws {
        #expect(throws: MediaError.pixelCountMismatch(expected: 12, got: 11)) {
            try PNGEncoder.encode(rgb: [UInt8](repeating: 0, count: 11), width: 2, height: 2)
        }
        #expect(throws: MediaError.invalidDimensions(width: 0, height: 2, channels: 3)) {
            try PNGEncoder.encode(rgb: [], width: 0, height: 2)
        }
        let png = try PNGEncoder.encode(rgb: pattern(width: 8, height: 8, channels: 3), width: 8, height: 8)
        for broken in [[UInt8](png.prefix(40)), [UInt8](repeating: 7, count: 100), []] {
            #expect(throws: MediaError.self) { try PNGDecoder.decode(broken) }
        }
        var corrupt = png
        corrupt[60] ^= 0xFF  // inside the compressed data: a CRC or zlib error
        #expect(throws: MediaError.self) { try PNGDecoder.decode(corrupt) }
    }
}

/// Tests/Fixtures/media/postprocess.json.
struct MediaFixture: Decodable {
    struct Postprocess: Decodable {
        let name: String
        let shape: [Int]
        let denormalize: Bool
        let input: [String]
        let output: String
    }

    struct PNG: Decodable {
        let file: String
        let width, height, channels: Int
        let pixels: String
    }

    let postprocess: [Postprocess]
    let pngs: [PNG]

    static func load() throws -> MediaFixture {
        try JSONDecoder().decode(MediaFixture.self, from: Data(contentsOf: PNGCodecTests.fixtures.appendingPathComponent("postprocess.json")))
    }

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }
}
