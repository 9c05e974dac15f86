import Foundation
import OmniMedia

/// A line chart a person would rather look at than read a table: title, axes with "nice" ticks
/// and grid, axis labels, a legend, each series as a solid line with point markers, and roofs as
/// dashed lines. Rendered to RGB and written with OmniMedia's PNG encoder.
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// Roofs and other bounds are dashed, measurements solid.
        public var isDashed: Bool
        /// Text drawn above each point, in the order of `points`; nil draws none.
        public var pointLabels: [String]?

        public init(name: String, points: [(x: Double, y: Double)], isDashed: Bool = false, pointLabels: [String]? = nil) {
            self.name = name
            self.points = points
            self.isDashed = isDashed
            self.pointLabels = pointLabels
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var width: Int
    public var height: Int
    public init(title: String, xLabel: String, yLabel: String, series: [Series], width: Int = 960, height: Int = 600) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.width = width
        self.height = height
    }

    /// Where the data goes: the plot rectangle in pixels and the data ranges it spans.
    struct Frame {
        var left: Int, top: Int, right: Int, bottom: Int
        var xTicks: [Double], yTicks: [Double]

        var xRange: ClosedRange<Double> { xTicks.first!...xTicks.last! }
        var yRange: ClosedRange<Double> { yTicks.first!...yTicks.last! }

        /// The pixel position of a data point.
        func pixel(x: Double, y: Double) -> (Double, Double) {
            let fx = (x - xRange.lowerBound) / max(xRange.upperBound - xRange.lowerBound, .leastNonzeroMagnitude)
            let fy = (y - yRange.lowerBound) / max(yRange.upperBound - yRange.lowerBound, .leastNonzeroMagnitude)
            // Points sit inset from the left and right edges so markers and labels stay clear of them.
            let inset = 30.0
            return (Double(left) + inset + fx * (Double(right - left) - 2 * inset), Double(bottom) - fy * Double(bottom - top))
        }
    }

    var frame: Frame {
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        let xLow = xs.min() ?? 0, xHigh = xs.max() ?? 1
        let integral = xs.allSatisfy { $0 == $0.rounded() }
        var xTicks = Self.ticks(low: xLow == xHigh ? xLow - 1 : xLow, high: xLow == xHigh ? xHigh + 1 : xHigh, target: 8)
        if integral { xTicks = Self.integerTicks(xTicks) }
        // Rates start at zero: a chart that cuts the axis exaggerates differences.
        let yTicks = Self.ticks(low: 0, high: max(ys.max() ?? 1, 1e-9) * 1.08, target: 6)
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
        let labelWidth = yTicks.map { PlotFont.width(of: Self.format($0, step: yStep), scale: 2) }.max() ?? 0
        // y-axis label (14 px tall, turned), a gap, the tick labels, a gap, the ticks.
        return Frame(left: 14 + 14 + 14 + labelWidth + 16, top: 64, right: width - 40, bottom: height - 72,
                     xTicks: xTicks, yTicks: yTicks)
    }

    public func render() -> PixelImage {
        var canvas = PlotCanvas(width: width, height: height)
        let f = frame
        // Grid and ticks.
        for y in f.yTicks {
            let py = Int(f.pixel(x: f.xRange.lowerBound, y: y).1.rounded())
            canvas.fill(x: f.left, y: py, width: f.right - f.left, height: 1, color: .grid)
            canvas.fill(x: f.left - 6, y: py, width: 6, height: 1, color: .black)
            canvas.text(Self.format(y, step: f.yTicks.count > 1 ? f.yTicks[1] - f.yTicks[0] : 1), x: f.left - 10, y: py - 7, anchor: .right)
        }
        for x in f.xTicks {
            let px = Int(f.pixel(x: x, y: 0).0.rounded())
            canvas.fill(x: px, y: f.top, width: 1, height: f.bottom - f.top, color: .grid)
            canvas.fill(x: px, y: f.bottom, width: 1, height: 6, color: .black)
            canvas.text(Self.format(x, step: f.xTicks.count > 1 ? f.xTicks[1] - f.xTicks[0] : 1), x: px, y: f.bottom + 12, anchor: .center)
        }
        // Axes, labels, title.
        canvas.fill(x: f.left, y: f.top, width: 2, height: f.bottom - f.top + 1, color: .black)
        canvas.fill(x: f.left, y: f.bottom, width: f.right - f.left + 1, height: 2, color: .black)
        canvas.text(xLabel, x: (f.left + f.right) / 2, y: height - 34, anchor: .center)
        canvas.text(yLabel, x: 14, y: (f.top + f.bottom) / 2, anchor: .center, vertical: true)
        canvas.text(title, x: width / 2, y: 18, scale: 3, anchor: .center)

        for (index, s) in series.enumerated() {
            let color = PlotCanvas.Color.series[index % PlotCanvas.Color.series.count]
            let order = s.points.indices.sorted { s.points[$0].x < s.points[$1].x }
            let points = order.map { f.pixel(x: s.points[$0].x, y: s.points[$0].y) }
            var travelled = 0.0
            for (a, b) in zip(points, points.dropFirst()) {
                canvas.line(from: a, to: b, color: color, thickness: 3, dash: s.isDashed ? (12, 8) : nil, dashOffset: travelled)
                travelled += ((b.0 - a.0) * (b.0 - a.0) + (b.1 - a.1) * (b.1 - a.1)).squareRoot()
            }
            if points.count == 1, s.isDashed {   // a single roof value: a dashed level across the plot
                canvas.line(from: (Double(f.left), points[0].1), to: (Double(f.right), points[0].1), color: color, thickness: 3, dash: (12, 8))
            }
            if !s.isDashed {
                for p in points { canvas.fill(x: Int(p.0.rounded()) - 4, y: Int(p.1.rounded()) - 4, width: 9, height: 9, color: color) }
            }
            if let labels = s.pointLabels, labels.count == s.points.count {
                for (i, p) in zip(order, points) {
                    // Centred over the point, but kept inside the plot's right of the y axis and the image.
                    let half = PlotFont.width(of: labels[i], scale: 2) / 2
                    let x = min(max(Int(p.0.rounded()), f.left + 4 + half), width - 2 - half)
                    canvas.text(labels[i], x: x, y: Int(p.1.rounded()) - 26, color: color, anchor: .center)
                }
            }
            // Legend, top left inside the plot.
            let ly = f.top + 12 + index * 24
            canvas.line(from: (Double(f.left + 16), Double(ly + 7)), to: (Double(f.left + 52), Double(ly + 7)), color: color,
                        thickness: 3, dash: s.isDashed ? (8, 5) : nil)
            canvas.text(s.name, x: f.left + 62, y: ly, color: .black)
        }
        return canvas.image()
    }

    /// Renders the chart and writes it as a PNG file.
    public func writePNG(to url: URL) throws {
        try Data(PNGEncoder.encode(render())).write(to: url)
    }

    /// Tick values covering [low, high] with a step of 1, 2 or 5 times a power of ten, about
    /// `target` of them.
    static func ticks(low: Double, high: Double, target: Int) -> [Double] {
        let span = max(high - low, 1e-12)
        let raw = span / Double(max(target - 1, 1))
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = (low / step).rounded(.down) * step
        let last = (high / step).rounded(.up) * step
        return stride(from: first, through: last + step / 2, by: step).map { $0 }
    }

    /// Ticks on whole numbers only (thread counts): the step is at least 1.
    static func integerTicks(_ ticks: [Double]) -> [Double] {
        guard ticks.count > 1, ticks[1] - ticks[0] < 1 else { return ticks }
        let low = ticks.first!.rounded(.down), high = ticks.last!.rounded(.up)
        return stride(from: low, through: high, by: 1).map { $0 }
    }

    static func format(_ value: Double, step: Double) -> String {
        if step >= 1 || value == 0 { return String(Int(value.rounded())) }
        let decimals = max(0, Int((-log10(step)).rounded(.up)))
        return String(format: "%.\(decimals)f", value)
    }
}
