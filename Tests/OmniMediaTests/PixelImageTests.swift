import OmniMedia
import Testing

/// `PixelImage.postprocessed` against diffusers' `VaeImageProcessor.postprocess(output_type="pil")`
/// (Tests/Fixtures/media/postprocess.json): every byte equal, ties to even included.
@Suite("PixelImage postprocessing")
struct PixelImageTests {
    @Test("equals diffusers' postprocess", arguments: ["random_2x3x5x7", "ties_1x3x4x4", "boundaries_1x1x2x8",
                                                       "unnormalized_1x3x3x3", "gray_3x1x2x3"])
    func equalsDiffusers(_ name: String) throws {
        let entry = try #require(try MediaFixture.load().postprocess.first { $0.name == name })
        let values = entry.input.map { Float(bitPattern: UInt32($0, radix: 16)!) }
        let images = try PixelImage.postprocessed(nchw: values, shape: entry.shape, denormalize: entry.denormalize)
        #expect(images.count == entry.shape[0])
        #expect(images.allSatisfy { $0.width == entry.shape[3] && $0.height == entry.shape[2] && $0.channels == entry.shape[1] })
        let got = images.flatMap(\.pixels), want = MediaFixture.bytes(hex: entry.output)
        let mismatches = zip(got, want).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(got.count == want.count && mismatches.isEmpty,
                "\(name): \(mismatches.count) bytes differ, first at \(mismatches.first.map { "\($0.offset): \($0.element.0) vs \($0.element.1)" } ?? "-")")
    }

    @Test func nanBecomesZeroAndLayoutIsHWC() throws {
        // One 1x2 RGB image: channel planes in, interleaved pixels out.
        let images = try PixelImage.postprocessed(nchw: [-1, 1, .nan, 0, 1, -1], shape: [1, 3, 1, 2])
        #expect(images[0].pixels == [0, 0, 255, 255, 128, 0])
    }

    @Test func badShapesAreErrors() {
        #expect(throws: MediaError.self) { try PixelImage.postprocessed(nchw: [0, 0, 0], shape: [1, 3, 1]) }
        #expect(throws: MediaError.self) { try PixelImage.postprocessed(nchw: [Float](repeating: 0, count: 5), shape: [1, 5, 1, 1]) }
        #expect(throws: MediaError.self) { try PixelImage.postprocessed(nchw: [0, 0], shape: [1, 3, 1, 1]) }
    }
}
