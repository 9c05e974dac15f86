import OmniTensor

/// Every dtype name the safetensors format defines. The file layout of all of them can be
/// validated (their bit widths are known); only those with a `DType` can be turned into tensors.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case f4 = "F4"
    case f6e2m3 = "F6_E2M3"
    case f6e3m2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8e5m2 = "F8_E5M2"
    case f8e4m3 = "F8_E4M3"
    case f8e8m0 = "F8_E8M0"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    public init?(name: String) { self.init(rawValue: name) }

    public init(_ dtype: DType) {
        self.init(rawValue: dtype.safetensorsName)!
    }

    public var name: String { rawValue }

    public var bitWidth: Int {
        switch self {
        case .f4: 4
        case .f6e2m3, .f6e3m2: 6
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0: 8
        case .i16, .u16, .f16, .bf16: 16
        case .i32, .u32, .f32: 32
        case .c64, .f64, .i64, .u64: 64
        }
    }

    /// The runtime dtype, or nil when the engine does not compute in this one.
    public var tensorDType: DType? { DType(safetensorsName: rawValue) }

    static var supportedNames: String {
        DType.allCases.map(\.safetensorsName).joined(separator: ", ")
    }
}
