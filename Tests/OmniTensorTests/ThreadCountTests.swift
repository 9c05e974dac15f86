import Foundation
import OmniTensor
import Testing

/// The fixtures are small, so `parallelFor` runs them on one thread. Here each op gets inputs
/// large enough to be split into several chunks, and must give the same bits on 1 and 3 threads
/// (3: chunks of unequal size). Each output element is computed by one thread in a fixed order,
/// so nothing less than bit-identical is acceptable. (OpenBLAS's thread count is process-wide and
/// set by the newest backend, so GEMM itself is not varied here, only our loops around it.)
@Suite("results do not depend on the thread count")
struct ThreadCountTests {
    let one = CPUBackend(threads: 1)
    let three = CPUBackend(threads: 3)

    @Test func elementwiseAndRowOpsAreBitIdentical() {
        var rng = SeededRandom(seed: 21)
        let a = Tensor(rng.normal(300 * 257), shape: [300, 257])
        let b = Tensor(rng.normal(257), shape: [257])
        let weight = Tensor(rng.normal(257), shape: [257], dtype: .bf16)
        expectSameOnAllThreadCounts("binary add, broadcast row") { $0.binary(.add, a, b) }
        expectSameOnAllThreadCounts("binary mul, transposed operands") { $0.binary(.mul, a.transposed(0, 1), a.transposed(0, 1)) }
        expectSameOnAllThreadCounts("unary geluErf") { $0.unary(.geluErf, a) }
        expectSameOnAllThreadCounts("softmax last dim") { $0.softmax(a, dim: -1) }
        expectSameOnAllThreadCounts("softmax dim 0") { $0.softmax(a, dim: 0) }
        expectSameOnAllThreadCounts("rmsNorm, bf16 weight") { $0.rmsNorm(a, weight: weight, eps: 1e-6) }
        expectSameOnAllThreadCounts("layerNorm") { $0.layerNorm(a, weight: b, bias: b, eps: 1e-5) }
        expectSameOnAllThreadCounts("reduce sum") { $0.reduce(.sum, a, dim: -1, keepDim: false) }
        expectSameOnAllThreadCounts("cast f32 -> bf16") { $0.cast(a, to: .bf16) }

        let image = Tensor(rng.normal(2 * 32 * 12 * 12), shape: [2, 32, 12, 12])
        expectSameOnAllThreadCounts("groupNorm") { $0.groupNorm(image, groups: 8, weight: nil, bias: nil, eps: 1e-5) }
        let kernel = Tensor(rng.normal(16 * 32 * 9), shape: [16, 32, 3, 3])
        expectSameOnAllThreadCounts("conv2d") { $0.conv2d(image, weight: kernel, bias: nil, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1) }
        expectSameOnAllThreadCounts("upsample bilinear") { $0.upsample(image, size: [17, 23], mode: .linear(alignCorners: false)) }
        expectSameOnAllThreadCounts("pool max") { $0.pool(image, kind: .max, kernel: [3, 3], stride: [2, 2], padding: [1, 1]) }

        let x = Tensor(rng.normal(1 * 8 * 40 * 64), shape: [1, 8, 40, 64])
        var angles = [Double]()
        for position in 0..<40 {
            for i in 0..<32 { angles.append(Double(position) / Double(i + 1)) }
        }
        let cos = Tensor(angles.map { Float(Foundation.cos($0)) }, shape: [40, 32])
        let sin = Tensor(angles.map { Float(Foundation.sin($0)) }, shape: [40, 32])
        expectSameOnAllThreadCounts("rope halfSplit") { $0.rope(x, cos: cos, sin: sin, layout: .halfSplit) }
        let kv = Tensor(rng.normal(1 * 2 * 40 * 64), shape: [1, 2, 40, 64])
        expectSameOnAllThreadCounts("attention, GQA 4, causal") { $0.attention(query: x, key: kv, value: kv, mask: nil, causal: .topLeft, scale: nil) }
    }

    @Test func linearPathsAreBitIdentical() {
        var rng = SeededRandom(seed: 22)
        let weight = Tensor(rng.normal(700 * 300), shape: [700, 300], dtype: .bf16)
        let bias = Tensor(rng.normal(700), shape: [700])
        let row = Tensor(rng.normal(300), shape: [1, 300])
        let rows = Tensor(rng.normal(20 * 300), shape: [20, 300])
        expectSameOnAllThreadCounts("linear GEMV, bf16 weight") { $0.linear(row, weight: weight, bias: bias) }
        // Batch 1 runs tiles in groups of three, the one or two left over first: 22 tiles leave
        // one (a first group of four, run as two and two), 32 (the last narrow) leave two.
        let wide = Tensor(rng.normal(1000 * 300), shape: [1000, 300], dtype: .bf16)
        expectSameOnAllThreadCounts("linear GEMV, bf16 weight, 32 tiles") { $0.linear(row, weight: wide, bias: nil) }
        expectSameOnAllThreadCounts("linear GEMM, bf16 weight widened in panels") { $0.linear(rows, weight: weight, bias: bias) }
    }

    /// Weights too large for one widened panel (8 MiB of f32) go through SGEMM panel by panel.
    /// OpenBLAS may pick other kernels (another summation order) for a panel's width than for the
    /// whole weight, so both are held to a double-precision reference: normwise 1e-5, the bound
    /// for f32 dot products of length 2048 on this data.
    @Test func panelledGEMMMatchesWholeWeightGEMM() {
        var rng = SeededRandom(seed: 23)
        let outFeatures = 1100, inFeatures = 2048  // 1024 rows per panel: two panels, the second partial
        let values: [Float] = (0..<(outFeatures * inFeatures)).map { i in
            let hashed = (i &* 2_654_435_761) & 2047
            return Float(hashed - 1024) / 1024
        }
        let weight = Tensor(values, shape: [outFeatures, inFeatures], dtype: .bf16)
        let x = Tensor(rng.normal(6 * inFeatures), shape: [6, inFeatures])
        let panelled = backend.linear(x, weight: weight, bias: nil)
        let whole = backend.linear(x, weight: backend.cast(weight, to: .f32), bias: nil)
        let w = weight.toFloats(), xs = x.toFloats()
        var exact = [Float](repeating: 0, count: 6 * outFeatures)
        for r in 0..<6 {
            for o in 0..<outFeatures {
                var acc = 0.0
                for k in 0..<inFeatures { acc += Double(xs[r * inFeatures + k]) * Double(w[o * inFeatures + k]) }
                exact[r * outFeatures + o] = Float(acc)
            }
        }
        let reference = Tensor(exact, shape: [6, outFeatures])
        expectClose("linear bf16 [1100, 2048], M=6, two panels vs float64", got: panelled, want: reference, .normwise(1e-5))
        expectClose("linear same weight widened whole vs float64", got: whole, want: reference, .normwise(1e-5))
    }

    private func expectSameOnAllThreadCounts(_ label: String, _ op: (CPUBackend) -> Tensor,
                                             sourceLocation: SourceLocation = #_sourceLocation) {
        expectBitExact("\(label): 3 threads vs 1", got: op(three), want: op(one), sourceLocation: sourceLocation)
    }
}
