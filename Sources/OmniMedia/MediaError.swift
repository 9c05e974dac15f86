/// Why an image could not be encoded, decoded or converted. The text says what to change.
public enum MediaError: Error, Equatable, CustomStringConvertible {
    /// Width, height or channel count out of range.
    case invalidDimensions(width: Int, height: Int, channels: Int)
    /// The pixel buffer does not hold width x height x channels bytes.
    case pixelCountMismatch(expected: Int, got: Int)
    /// The float tensor is not NCHW with 1, 2, 3 or 4 channels, or its values do not fill the shape.
    case invalidTensorShape([Int], valueCount: Int)
    /// libpng refused the image or the stream; its own message.
    case png(String)

    public var description: String {
        switch self {
        case .invalidDimensions(let width, let height, let channels):
            "image of \(width)x\(height) with \(channels) channels: width and height must be 1...\(PixelImage.maximumSide), channels 1...4"
        case .pixelCountMismatch(let expected, let got):
            "pixel buffer holds \(got) bytes, the image needs \(expected) (width x height x channels, rows top to bottom)"
        case .invalidTensorShape(let shape, let count):
            "expected an NCHW image batch with 1 to 4 channels, got shape \(shape) with \(count) values"
        case .png(let message):
            "libpng: \(message)"
        }
    }
}
