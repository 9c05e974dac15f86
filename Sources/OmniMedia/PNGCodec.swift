import CLibPNG

/// PNG through libpng's simplified API: 8 bits per channel, deflate from the system's zlib.
public enum PNGEncoder {
    /// A PNG of 8-bit RGB pixels (rows top to bottom, `width * height * 3` bytes).
    /// - Throws: `MediaError` for bad dimensions or a buffer of the wrong size.
    public static func encode(rgb: [UInt8], width: Int, height: Int) throws(MediaError) -> [UInt8] {
        try encode(PixelImage(width: width, height: height, channels: 3, pixels: rgb))
    }

    /// A PNG of `image`, in the color type its channel count gives (gray, gray + alpha, RGB, RGBA).
    /// `fast` trades size for speed (no row filters, zlib level 3 instead of libpng's default 6).
    public static func encode(_ image: PixelImage, fast: Bool = false) throws(MediaError) -> [UInt8] {
        var header = png_image()
        header.version = png_uint_32(PNG_IMAGE_VERSION)
        header.width = png_uint_32(image.width)
        header.height = png_uint_32(image.height)
        header.format = PNGFormat.format(channels: image.channels)
        header.flags = fast ? png_uint_32(PNG_IMAGE_FLAG_FAST) : 0
        let rowStride = Int32(image.width * image.channels)
        // Raw rows plus a filter byte each, deflate's worst-case expansion and the chunk headers;
        // when libpng needs more it says how much, and we write again.
        var capacity = image.pixels.count + image.height + image.pixels.count / 64 + 4096
        for _ in 0..<2 {
            var output = [UInt8](repeating: 0, count: capacity)
            var size = capacity
            let ok = output.withUnsafeMutableBytes { out in
                image.pixels.withUnsafeBytes { pixels in
                    png_image_write_to_memory(&header, out.baseAddress, &size, 0, pixels.baseAddress, rowStride, nil)
                }
            }
            if ok != 0 {
                output.removeLast(output.count - size)
                return output
            }
            guard size > capacity else { throw .png(PNGFormat.message(of: header)) }
            capacity = size
            header.warning_or_error = 0
        }
        throw .png("the encoded size kept growing")
    }
}

/// PNG decoding to 8-bit pixels (any bit depth and color type libpng reads).
public enum PNGDecoder {
    /// The image in `png`, in its own channel layout (gray, gray + alpha, RGB or RGBA; palette
    /// images become RGB or RGBA, 16-bit channels 8-bit).
    /// - Throws: `MediaError.png` with libpng's message for a stream it cannot read.
    public static func decode(_ png: [UInt8]) throws(MediaError) -> PixelImage {
        var header = png_image()
        header.version = png_uint_32(PNG_IMAGE_VERSION)
        let begun = png.withUnsafeBytes { png_image_begin_read_from_memory(&header, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw .png(PNGFormat.message(of: header)) }
        let channels = PNGFormat.channels(of: header.format)
        header.format = PNGFormat.format(channels: channels)  // 8-bit, no colormap
        let width = Int(header.width), height = Int(header.height)
        guard (1...PixelImage.maximumSide).contains(width), (1...PixelImage.maximumSide).contains(height) else {
            png_image_free(&header)
            throw .invalidDimensions(width: width, height: height, channels: channels)
        }
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let finished = pixels.withUnsafeMutableBytes {
            png_image_finish_read(&header, nil, $0.baseAddress, Int32(width * channels), nil)
        }
        guard finished != 0 else { throw .png(PNGFormat.message(of: header)) }
        return try PixelImage(width: width, height: height, channels: channels, pixels: pixels)
    }
}

/// Channel counts and libpng's `PNG_FORMAT_*` codes.
enum PNGFormat {
    static func format(channels: Int) -> png_uint_32 {
        switch channels {
        case 1: png_uint_32(PNG_FORMAT_GRAY)
        case 2: png_uint_32(PNG_FORMAT_GA)
        case 3: png_uint_32(PNG_FORMAT_RGB)
        default: png_uint_32(PNG_FORMAT_RGB) | png_uint_32(PNG_FORMAT_FLAG_ALPHA)  // PNG_FORMAT_RGBA
        }
    }

    static func channels(of format: png_uint_32) -> Int {
        let color = format & png_uint_32(PNG_FORMAT_FLAG_COLOR) != 0
        let alpha = format & png_uint_32(PNG_FORMAT_FLAG_ALPHA) != 0
        return (color ? 3 : 1) + (alpha ? 1 : 0)
    }

    static func message(of header: png_image) -> String {
        withUnsafeBytes(of: header.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return bytes.isEmpty ? "unknown error" : String(decoding: bytes, as: UTF8.self)
        }
    }
}
