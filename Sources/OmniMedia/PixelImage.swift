/// An 8-bit image: rows top to bottom, channels interleaved (HWC), 1 (gray), 2 (gray + alpha),
/// 3 (RGB) or 4 (RGBA) channels.
public struct PixelImage: Sendable, Equatable {
    /// The largest width or height accepted (PNG allows 2^31 - 1; this keeps byte counts in range).
    public static let maximumSide = 1 << 16

    public let width: Int
    public let height: Int
    public let channels: Int
    public var pixels: [UInt8]

    /// - Throws: `MediaError` when a dimension is out of range or `pixels` has the wrong size.
    public init(width: Int, height: Int, channels: Int = 3, pixels: [UInt8]) throws(MediaError) {
        guard (1...Self.maximumSide).contains(width), (1...Self.maximumSide).contains(height), (1...4).contains(channels) else {
            throw .invalidDimensions(width: width, height: height, channels: channels)
        }
        guard pixels.count == width * height * channels else {
            throw .pixelCountMismatch(expected: width * height * channels, got: pixels.count)
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The images of a decoded batch, as diffusers' `VaeImageProcessor.postprocess` makes them:
    /// `values` is an NCHW float32 batch in [-1, 1] (row-major, `shape` = [N, C, H, W]); each value
    /// becomes `round((clamp(x * 0.5 + 0.5, 0, 1)) * 255)` in float32 with ties to even, as torch
    /// and numpy compute `(images * 255).round().astype("uint8")`. With `denormalize` false the
    /// values are taken as already in [0, 1] (a VAE image processor with `do_normalize` false); they
    /// are still clamped, where diffusers would let numpy's cast wrap them. NaN becomes 0.
    /// - Throws: `MediaError.invalidTensorShape` for a shape that is not such a batch.
    public static func postprocessed(nchw values: [Float], shape: [Int], denormalize: Bool = true) throws(MediaError) -> [PixelImage] {
        guard shape.count == 4, shape.allSatisfy({ $0 >= 1 }), (1...4).contains(shape[1]),
              values.count == shape.reduce(1, *) else {
            throw .invalidTensorShape(shape, valueCount: values.count)
        }
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let plane = height * width
        return try (0..<batch).map { (n: Int) throws(MediaError) -> PixelImage in
            var pixels = [UInt8](repeating: 0, count: plane * channels)
            let base = n * channels * plane
            for c in 0..<channels {
                for p in 0..<plane {
                    pixels[p * channels + c] = quantized(values[base + c * plane + p], denormalize: denormalize)
                }
            }
            return try PixelImage(width: width, height: height, channels: channels, pixels: pixels)
        }
    }

    @inline(__always)
    static func quantized(_ x: Float, denormalize: Bool) -> UInt8 {
        var v = denormalize ? x * 0.5 + 0.5 : x
        guard !v.isNaN else { return 0 }
        v = v < 0 ? 0 : (v > 1 ? 1 : v)
        return UInt8((v * 255).rounded(.toNearestOrEven))
    }
}
