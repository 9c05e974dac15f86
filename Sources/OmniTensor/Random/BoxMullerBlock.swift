#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// torch's Box-Muller transforms (ATen/native/cpu/DistributionTemplates.h `NormalFill16`,
/// ATen/core/DistributionsHelper.h `normal_distribution`), rounding for rounding.
///
/// Each `*`, `+`, `-` below is one IEEE operation and each `addingProduct` one fused multiply-add
/// exactly where torch's machine code has one, so the results are torch's to the bit.
enum BoxMullerBlock {
    /// 16 uniforms in place become 16 standard normals, over the pairs (i, i+8):
    /// r = sqrt(-2 log(1 - x[i])), x[i] = r cos(2 pi x[i+8]), x[i+8] = r sin(2 pi x[i+8]).
    static func transform(_ data: UnsafeMutablePointer<Float>, _ kind: TorchGenerator.BoxMuller) {
        switch kind {
        case .avx2:
            let twoPi = Float(2 * Double.pi)
            for j in 0..<8 {
                let radius = (-2 * cephesLog(1 - data[j])).squareRoot()
                let (sine, cosine) = cephesSinCos(twoPi * data[j + 8])
                // torch ends with fma(n, std = 1, mean = 0): exact, except that -0 becomes +0.
                data[j] = radius * cosine + 0
                data[j + 8] = radius * sine + 0
            }
        case .libm:
            for j in 0..<8 {
                let radius = (-2 * logf(1 - data[j])).squareRoot()
                // `2.0f * c10::pi<double> * u2` is a double product, stored as float.
                let theta = Float(2 * Double.pi * Double(data[j + 8]))
                data[j] = radius * cosf(theta) + 0
                data[j + 8] = radius * sinf(theta) + 0
            }
        }
    }

    /// The f64 block: torch has only the portable kernel for double.
    static func transform(_ data: UnsafeMutablePointer<Double>) {
        for j in 0..<8 {
            let radius = (-2 * log(1 - data[j])).squareRoot()
            let theta = 2 * Double.pi * data[j + 8]
            data[j] = radius * cos(theta) + 0
            data[j + 8] = radius * sin(theta) + 0
        }
    }

    /// `normal_distribution<double>`'s pair from two f64 uniforms: (returned, cached).
    static func pair(_ u1: Double, _ u2: Double) -> (Double, Double) {
        let radius = (-2 * log1p(-u2)).squareRoot()
        let theta = 2 * Double.pi * u1
        // `transformation::normal(x, 0, 1)` is x * 1 + 0 on both values.
        return (radius * cos(theta) + 0, radius * sin(theta) + 0)
    }

    /// avx_mathfun's `log256_ps` (Cephes logf) on one lane.
    static func cephesLog(_ input: Float) -> Float {
        let invalid: UInt32 = input <= 0 ? 0xFFFF_FFFF : 0  // NaN for x <= 0
        var x = max(input, Float(bitPattern: 0x0080_0000))  // the smallest normal float
        let exponent = Int32(bitPattern: (x.bitPattern >> 23) &- 0x7F)
        x = Float(bitPattern: (x.bitPattern & ~0x7F80_0000) | Float(0.5).bitPattern)  // mantissa in [0.5, 1)
        var e = Float(exponent) + 1
        let isBelowSqrtHalf = x < Float(0.707106781186547524)
        let extra: Float = isBelowSqrtHalf ? x : 0
        x = x - 1
        e = e - (isBelowSqrtHalf ? 1 : 0)
        x = x + extra
        let z = x * x
        var y: Float = 7.0376836292E-2
        y = Float(-1.1514610310E-1).addingProduct(y, x)
        y = Float(1.1676998740E-1).addingProduct(y, x)
        y = Float(-1.2420140846E-1).addingProduct(y, x)
        y = Float(1.4249322787E-1).addingProduct(y, x)
        y = Float(-1.6668057665E-1).addingProduct(y, x)
        y = Float(2.0000714765E-1).addingProduct(y, x)
        y = Float(-2.4999993993E-1).addingProduct(y, x)
        y = Float(3.3333331174E-1).addingProduct(y, x)
        y = y * x
        y = (e * -2.12194440e-4).addingProduct(y, z)
        y = y.addingProduct(-z, 0.5)
        x = x + y
        x = x.addingProduct(e, 0.693359375)
        return Float(bitPattern: x.bitPattern | invalid)
    }

    /// avx_mathfun's `sincos256_ps` (Cephes sinf/cosf) on one lane.
    static func cephesSinCos(_ input: Float) -> (sin: Float, cos: Float) {
        var sinSign = input.bitPattern & 0x8000_0000
        var x = Float(bitPattern: input.bitPattern & 0x7FFF_FFFF)
        // The octant j, rounded up to even (`cvttps` truncates; |x| < 2^31 / 1.27 here).
        var j = Int32(x * Float(1.27323954473516))
        j = (j &+ 1) & ~1
        let y = Float(j)
        let usesSinePolynomial = (j & 2) == 0  // for the sine; the cosine takes the other one
        sinSign ^= UInt32(bitPattern: j & 4) << 29
        let cosSign = UInt32(bitPattern: ~(j &- 2) & 4) << 29
        // x - j pi/4 in three parts (Cody-Waite), each one fused.
        x = x.addingProduct(y, -0.78515625)
        x = x.addingProduct(y, -2.4187564849853515625e-4)
        x = x.addingProduct(y, -3.77489497744594108e-8)
        let z = x * x
        var cosine: Float = 2.443315711809948E-005
        cosine = Float(-1.388731625493765E-003).addingProduct(cosine, z)
        cosine = Float(4.166664568298827E-002).addingProduct(cosine, z)
        cosine = cosine * z
        cosine = (-(z * 0.5)).addingProduct(cosine, z)
        cosine = cosine + 1
        var sine: Float = -1.9515295891E-4
        sine = Float(8.3321608736E-3).addingProduct(sine, z)
        sine = Float(-1.6666654611E-1).addingProduct(sine, z)
        sine = sine * z
        sine = x.addingProduct(sine, x)
        // The select is done with masks, a subtraction and an addition: +0 where a lane is off.
        let sinePart: Float = usesSinePolynomial ? sine : 0
        let cosinePart: Float = usesSinePolynomial ? 0 : cosine
        let sinValue = sinePart + cosinePart
        let cosValue = (cosine - cosinePart) + (sine - sinePart)
        return (Float(bitPattern: sinValue.bitPattern ^ sinSign), Float(bitPattern: cosValue.bitPattern ^ cosSign))
    }
}
