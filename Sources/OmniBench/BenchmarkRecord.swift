import Foundation
import OmniTensor
#if canImport(Glibc)
import Glibc
#endif

/// One benchmark figure in the shape every peer script shares (Benchmarks/peers.py writes the same
/// fields), so a ratio between two systems is a join on `benchmark`, `model`, `dtype`, `threads`.
public struct BenchmarkRecord: Codable, Sendable, Equatable {
    /// Always "swift-omni" here; the peers write "hf-transformers", "llama.cpp", ...
    public var system: String = "swift-omni"
    /// "decode", "prefill", "throughput", "serve" or "dit_step".
    public var benchmark: String
    public var model: String
    public var dtype: String
    public var threads: Int
    public var value: Double
    public var unit: String
    /// The figure as a share of this machine's roof measured in the same run, when one applies.
    public var roofFraction: Double?
    public var details: [String: DetailValue]

    /// `details` gains "load_average" (1, 5, 15 minutes, now), as the peers' records have it: the
    /// machine is shared, so every figure says how busy it was; and "matmul_precision", what GEMMs
    /// over bf16 weights computed in (`OMNI_MATMUL_PRECISION`).
    public init(benchmark: String, model: String, dtype: String, threads: Int, value: Double, unit: String,
                roofFraction: Double? = nil, details: [String: DetailValue] = [:]) {
        self.benchmark = benchmark
        self.model = model
        self.dtype = dtype
        self.threads = threads
        self.value = value
        self.unit = unit
        self.roofFraction = roofFraction
        self.details = details
        if self.details["load_average"] == nil, let load = Self.loadAverage() { self.details["load_average"] = .numbers(load) }
        if self.details["matmul_precision"] == nil {
            self.details["matmul_precision"] = .string(CPUBackend.MatmulPrecision.fromEnvironment.rawValue)
        }
    }

    /// The host's load average over 1, 5 and 15 minutes, rounded to 0.01; nil where unknown.
    public static func loadAverage() -> [Double]? {
        var load = [Double](repeating: 0, count: 3)
        guard getloadavg(&load, 3) == 3 else { return nil }
        return load.map { ($0 * 100).rounded() / 100 }
    }

    /// A model directory as the peers name it (Python's `os.path.abspath`), so records join on it.
    public static func absolutePath(_ directory: String) -> String {
        URL(fileURLWithPath: directory).standardizedFileURL.path
    }

    enum CodingKeys: String, CodingKey {
        case system, benchmark, model, dtype, threads, value, unit, details
        case roofFraction = "roof_fraction"
    }

    /// One line of JSON with sorted keys (what `--json` prints, one record per line).
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain numbers, strings and dictionaries of them cannot fail.
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// A value in a record's `details`: a number, an integer, a string or a list of numbers.
public enum DetailValue: Codable, Sendable, Equatable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral {
    case number(Double)
    case integer(Int)
    case string(String)
    case numbers([Double])

    public init(floatLiteral value: Double) { self = .number(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(stringLiteral value: String) { self = .string(value) }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let v = try? container.decode(Int.self) { self = .integer(v) }
        else if let v = try? container.decode(Double.self) { self = .number(v) }
        else if let v = try? container.decode(String.self) { self = .string(v) }
        else { self = .numbers(try container.decode([Double].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let v): try container.encode(v.isFinite ? v : 0)
        case .integer(let v): try container.encode(v)
        case .string(let v): try container.encode(v)
        case .numbers(let v): try container.encode(v.map { $0.isFinite ? $0 : 0 })
        }
    }
}
