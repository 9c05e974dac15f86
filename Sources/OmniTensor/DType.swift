import CKernels

/// Element types a tensor can hold. Floating activations are computed in f32 on CPU; bf16 and
/// f16 are storage types for weights (and results rounded for comparison with torch).
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32, f16, bf16, i32, i64, u8

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .i64: 8
        case .u8: 1
        }
    }

    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// The safetensors / torch spelling: "F32", "BF16", ...
    public var safetensorsName: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .i32: "I32"
        case .i64: "I64"
        case .u8: "U8"
        }
    }

    public init?(safetensorsName name: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsName == name }) else { return nil }
        self = match
    }

    /// Parses a torch / HF config dtype name ("bfloat16", "torch.float16", "float32", ...).
    public init?(torchName name: String) {
        switch name.replacingOccurrences(of: "torch.", with: "").lowercased() {
        case "float32", "float", "fp32": self = .f32
        case "float16", "half", "fp16": self = .f16
        case "bfloat16", "bf16": self = .bf16
        case "int32": self = .i32
        case "int64", "long": self = .i64
        case "uint8": self = .u8
        default: return nil
        }
    }

    public var description: String { rawValue }

    /// The C kernels' weight-dtype code, for floating types.
    var kernelCode: Int32 {
        switch self {
        case .bf16: Int32(OMNI_DT_BF16.rawValue)
        case .f16: Int32(OMNI_DT_F16.rawValue)
        default: Int32(OMNI_DT_F32.rawValue)
        }
    }
}

/// Where a tensor's memory lives.
public enum Device: Sendable, Hashable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let index): "cuda:\(index)"
        }
    }
}

/// IEEE conversions between f32 and the 16-bit float formats, round-to-nearest-even, bit-exact
/// with torch (NaN becomes the canonical quiet NaN for bf16, as c10 does).
public enum HalfConversion {
    public static func bf16Bits(_ value: Float) -> UInt16 {
        var out: UInt16 = 0
        var v = value
        omni_f32_to_bf16(&v, &out, 1)
        return out
    }

    public static func float(bf16Bits bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    public static func f16Bits(_ value: Float) -> UInt16 {
        var out: UInt16 = 0
        var v = value
        omni_f32_to_f16(&v, &out, 1)
        return out
    }

    public static func float(f16Bits bits: UInt16) -> Float {
        var b = bits
        var out: Float = 0
        omni_f16_to_f32(&b, &out, 1)
        return out
    }
}
