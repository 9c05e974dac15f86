import OmniMedia

/// An RGB raster to draw charts on: filled rectangles, thick solid or dashed lines and 5x7 bitmap
/// text, horizontal or turned a quarter left (for a y-axis label). Drawing outside clips.
struct PlotCanvas {
    struct Color: Equatable {
        var r: UInt8, g: UInt8, b: UInt8
        static let white = Color(r: 255, g: 255, b: 255)
        static let black = Color(r: 0, g: 0, b: 0)
        static let grid = Color(r: 225, g: 225, b: 225)
        static let gray = Color(r: 110, g: 110, b: 110)
        /// Distinct line colours (matplotlib's first four), then repeated.
        static let series = [Color(r: 31, g: 119, b: 180), Color(r: 255, g: 127, b: 14),
                             Color(r: 44, g: 160, b: 44), Color(r: 214, g: 39, b: 40)]
    }

    enum Anchor { case left, center, right }

    let width: Int
    let height: Int
    private(set) var pixels: [UInt8]

    init(width: Int, height: Int, background: Color = .white) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, color: background)
    }

    func color(x: Int, y: Int) -> Color {
        let i = (y * width + x) * 3
        return Color(r: pixels[i], g: pixels[i + 1], b: pixels[i + 2])
    }

    mutating func set(x: Int, y: Int, _ color: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = color.r
        pixels[i + 1] = color.g
        pixels[i + 2] = color.b
    }

    mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: Color) {
        let top = min(max(0, y), height), left = min(max(0, x), width)
        let rows = top..<max(top, min(height, y + h)), columns = left..<max(left, min(width, x + w))
        for row in rows {
            for column in columns { set(x: column, y: row, color) }
        }
    }

    /// A line `thickness` pixels wide; with `dash` (on, off) it is drawn in dashes of that many
    /// pixels along its length, the pattern continuing from `dashOffset`.
    mutating func line(from a: (Double, Double), to b: (Double, Double), color: Color, thickness: Int = 1,
                       dash: (on: Double, off: Double)? = nil, dashOffset: Double = 0) {
        let dx = b.0 - a.0, dy = b.1 - a.1
        let length = (dx * dx + dy * dy).squareRoot()
        let steps = max(1, Int(length.rounded(.up)) * 2)
        let half = (thickness - 1) / 2
        for s in 0...steps {
            let t = Double(s) / Double(steps)
            if let dash {
                let along = (dashOffset + t * length).truncatingRemainder(dividingBy: dash.on + dash.off)
                if along >= dash.on { continue }
            }
            let x = Int((a.0 + t * dx).rounded()), y = Int((a.1 + t * dy).rounded())
            fill(x: x - half, y: y - half, width: thickness, height: thickness, color: color)
        }
    }

    /// Draws `text` with its top edge at `y` (its left edge at `x` when `vertical`, reading
    /// bottom to top, anchored on its vertical extent).
    mutating func text(_ text: String, x: Int, y: Int, scale: Int = 2, color: Color = .black, anchor: Anchor = .left,
                       vertical: Bool = false) {
        let extent = PlotFont.width(of: text, scale: scale)
        let start = switch anchor {
        case .left: 0
        case .center: -extent / 2
        case .right: -extent
        }
        for (index, character) in text.enumerated() {
            let rows = PlotFont.rows(character)
            for (row, bits) in rows.enumerated() {
                for column in 0..<PlotFont.glyphWidth where bits & (0x10 >> UInt8(column)) != 0 {
                    let u = start + (index * PlotFont.advance + column) * scale   // along the text
                    let v = row * scale                                           // across it
                    if vertical {
                        fill(x: x + v, y: y - u - scale, width: scale, height: scale, color: color)
                    } else {
                        fill(x: x + u, y: y + v, width: scale, height: scale, color: color)
                    }
                }
            }
        }
    }

    /// The canvas as an RGB image for OmniMedia's PNG encoder.
    func image() -> PixelImage {
        // The dimensions are a chart's (far below PixelImage's limits) and the pixel count matches.
        try! PixelImage(width: width, height: height, channels: 3, pixels: pixels)
    }
}
