import OmniTensor
import Testing

/// Fused ops give bit-for-bit what their unfused spelling gives (the op fixtures test those
/// against torch): `siluMul` on the halves of a stacked gate/up output (row-strided views), on
/// contiguous tensors, and on a column-strided view that has to be copied first.
@Suite struct FusedOpTests {
    @Test func siluMulEqualsMulOfSilu() {
        let cpu = CPUBackend(threads: 2)
        var rng = SeededRandom(seed: 5)
        for (rows, width) in [(1, 7), (3, 4864), (65, 130)] {
            let stacked = Tensor(rng.normal(rows * 2 * width, scale: 4), shape: [rows, 2 * width])
            let halves = stacked.chunked(2, dim: 1)
            let fused = cpu.siluMul(halves[0], halves[1]).toFloats()
            let plain = cpu.mul(cpu.silu(halves[0]), halves[1]).toFloats()
            #expect(fused.map(\.bitPattern) == plain.map(\.bitPattern), "\(rows)x\(width): fused differs")
            let a = Tensor(rng.normal(rows * width), shape: [rows, width]), b = Tensor(rng.normal(rows * width), shape: [rows, width])
            #expect(cpu.siluMul(a, b).toFloats().map(\.bitPattern) == cpu.mul(cpu.silu(a), b).toFloats().map(\.bitPattern))
            let t = a.permuted([1, 0]), u = b.permuted([1, 0])
            #expect(cpu.siluMul(t, u).toFloats().map(\.bitPattern) == cpu.mul(cpu.silu(t), u).toFloats().map(\.bitPattern))
        }
    }
}
