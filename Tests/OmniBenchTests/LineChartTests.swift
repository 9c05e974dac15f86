import Foundation
import OmniMedia
import Testing
@testable import OmniBench

@Suite struct LineChartTests {
    static let chart = LineChart(title: "Batch-1 decode, 2 threads", xLabel: "threads", yLabel: "tokens per second", series: [
        .init(name: "swift-omni", points: [(1, 10), (2, 20), (3, 24)]),
        .init(name: "read roof", points: [(1, 30), (2, 55), (3, 60)], isDashed: true),
    ], width: 640, height: 400)

    @Test func writesADecodablePNGOfTheRequestedSize() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("omni-bench-chart-\(UUID()).png")
        defer { try? FileManager.default.removeItem(at: url) }
        try Self.chart.writePNG(to: url)
        let image = try PNGDecoder.decode([UInt8](try Data(contentsOf: url)))
        #expect(image.width == 640 && image.height == 400 && image.channels == 3)
        #expect(image == Self.chart.render())
    }

    @Test func theSeriesLineIsDrawnWhereItsDataIs() {
        let image = Self.chart.render()
        let frame = Self.chart.frame
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(image.pixels[(y * image.width + x) * 3..<(y * image.width + x) * 3 + 3]) }
        let blue: [UInt8] = [31, 119, 180], orange: [UInt8] = [255, 127, 14], white: [UInt8] = [255, 255, 255]
        // Midway between the first two points of the solid series.
        let (ax, ay) = frame.pixel(x: 1.5, y: 15)
        #expect(pixel(Int(ax.rounded()), Int(ay.rounded())) == blue)
        // The dashed roof: along its first segment some pixels are orange and some are gaps.
        let samples = stride(from: 1.05, to: 1.95, by: 0.01).map { x -> [UInt8] in
            let (px, py) = frame.pixel(x: x, y: 30 + (x - 1) * 25)
            return pixel(Int(px.rounded()), Int(py.rounded()))
        }
        #expect(samples.contains(orange))
        #expect(samples.contains { $0 != orange })
        // Empty plot area far from both lines stays background.
        let (ex, ey) = frame.pixel(x: 2.9, y: 2)
        #expect(pixel(Int(ex.rounded()), Int(ey.rounded())) == white)
        #expect(pixel(image.width - 1, image.height - 1) == white)
    }

    @Test func ticksAreRoundNumbersCoveringTheData() {
        #expect(LineChart.ticks(low: 0, high: 64.8, target: 6) == [0, 20, 40, 60, 80])
        let fractions = LineChart.ticks(low: 0, high: 0.9, target: 6)
        #expect(fractions.count == 6 && zip(fractions, [0, 0.2, 0.4, 0.6, 0.8, 1]).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(LineChart.integerTicks(LineChart.ticks(low: 1, high: 2, target: 8)) == [1, 2])
        #expect(LineChart.format(0.4, step: 0.2) == "0.4")
        #expect(LineChart.format(40, step: 20) == "40")
    }

    @Test func everyGlyphIsSevenRowsOfFiveBits() {
        for character in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.,:/-+%()=_^*?[]<>'!# " {
            let rows = PlotFont.rows(character)
            #expect(rows.count == 7 && rows.allSatisfy { $0 < 32 }, "\(character)")
        }
        #expect(PlotFont.rows("~") == PlotFont.rows("?"))
        #expect(PlotFont.width(of: "ab", scale: 2) == 22)
    }
}
