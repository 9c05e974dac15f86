import Foundation
import OmniTensor
import OmniWeights
import Testing

/// The backend every fixture test runs on.
let backend = CPUBackend(threads: 2)

/// One case of an op fixture file written by tools/reference/make_op_fixtures.py: its parameters
/// (the JSON in the file's metadata under the case name), its inputs with their views applied,
/// and torch's outputs.
struct OpCase {
    let family: String
    let name: String
    let op: String
    private let file: SafeTensorsFile
    private let params: [String: Any]

    init(family: String, name: String) throws {
        self.family = family
        self.name = name
        file = try OpFixtures.file(family)
        guard let json = file.metadata[name] else { throw FixtureError.missingCase(family: family, name: name) }
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let op = object["op"] as? String else {
            throw FixtureError.badParameter(case: name, key: "op")
        }
        params = object
        self.op = op
    }

    /// Input `key` as the op receives it: the stored tensor with the case's views applied.
    func input(_ key: String) throws -> Tensor { try view(of: try stored(key), as: key) }

    /// `t` with the views the case gives input `key` (the fixture's own tensor, or a writable copy).
    func view(of t: Tensor, as key: String) throws -> Tensor {
        let views = (params["views"] as? [String: Any])?[key] as? [[Any]] ?? []
        return try views.reduce(t) { try apply($1, to: $0) }
    }

    /// A tensor as stored in the file, before views (read-only: it maps the file).
    func stored(_ key: String) throws -> Tensor { try file.tensor("\(name)/\(key)") }

    /// The input, or nil when the case has none under `key` (an absent bias, weight or mask).
    func optionalInput(_ key: String) throws -> Tensor? {
        file.contains("\(name)/\(key)") ? try input(key) : nil
    }

    /// A stored output: `out` (torch in f32) or `out_native` (torch in bf16/f16).
    func expected(_ key: String = "out") throws -> Tensor { try stored(key) }

    func has(_ key: String) -> Bool { file.contains("\(name)/\(key)") }

    // MARK: Parameters

    func string(_ key: String) throws -> String {
        guard let value = params[key] as? String else { throw FixtureError.badParameter(case: name, key: key) }
        return value
    }

    func optionalString(_ key: String) -> String? { params[key] as? String }

    func int(_ key: String) throws -> Int {
        guard let value = number(params[key]) else { throw FixtureError.badParameter(case: name, key: key) }
        return Int(value)
    }

    func ints(_ key: String) throws -> [Int] {
        guard let values = params[key] as? [Any] else { throw FixtureError.badParameter(case: name, key: key) }
        return try values.map {
            guard let v = number($0) else { throw FixtureError.badParameter(case: name, key: key) }
            return Int(v)
        }
    }

    func pair(_ key: String) throws -> (Int, Int) {
        let values = try ints(key)
        guard values.count == 2 else { throw FixtureError.badParameter(case: name, key: key) }
        return (values[0], values[1])
    }

    func double(_ key: String) throws -> Double {
        guard let value = number(params[key]) else { throw FixtureError.badParameter(case: name, key: key) }
        return value
    }

    func optionalDouble(_ key: String) -> Double? { number(params[key]) }

    func bool(_ key: String) throws -> Bool {
        guard let value = params[key] as? Bool else { throw FixtureError.badParameter(case: name, key: key) }
        return value
    }

    func optionalBool(_ key: String) -> Bool? { params[key] as? Bool }

    /// A list of JSON objects (the sequences of a paged-attention case).
    func objects(_ key: String) throws -> [[String: Any]] {
        guard let value = params[key] as? [[String: Any]] else { throw FixtureError.badParameter(case: name, key: key) }
        return value
    }

    func number(_ value: Any?) -> Double? {
        switch value {
        case let v as Int: Double(v)
        case let v as Double: v
        case let v as NSNumber: v.doubleValue
        default: nil
        }
    }

    private func apply(_ view: [Any], to t: Tensor) throws -> Tensor {
        guard let kind = view.first as? String else { throw FixtureError.badView(case: name, view: "\(view)") }
        let args = view.dropFirst().map { $0 }
        func arg(_ i: Int) throws -> Int {
            guard i < args.count, let v = number(args[i]) else { throw FixtureError.badView(case: name, view: "\(view)") }
            return Int(v)
        }
        func list(_ i: Int) throws -> [Int] {
            guard i < args.count, let vs = args[i] as? [Any] else { throw FixtureError.badView(case: name, view: "\(view)") }
            return vs.compactMap { number($0).map(Int.init) }
        }
        switch kind {
        case "permute": return t.permuted(try list(0))
        case "transpose": return t.transposed(try arg(0), try arg(1))
        case "slice": return t.sliced(dim: try arg(0), try arg(1)..<(try arg(2)), step: try arg(3))
        case "select": return t.selecting(dim: try arg(0), index: try arg(1))
        case "expand": return t.expanded(to: try list(0))
        case "unsqueeze": return t.unsqueezed(try arg(0))
        case "reshape": return t.reshaped(try list(0))
        default: throw FixtureError.badView(case: name, view: "\(view)")
        }
    }
}

/// The fixture files, each opened once.
enum OpFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // OmniTensorTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures/ops")

    static let families = ["matmul", "elementwise", "normalization", "positional", "attention",
                           "convolution", "resampling", "memory", "paged"]

    private static let files: [String: Result<SafeTensorsFile, WeightsError>] = Dictionary(
        uniqueKeysWithValues: families.map { family in
            (family, Result { () throws(WeightsError) in
                try SafeTensorsFile(url: directory.appendingPathComponent("\(family).safetensors"))
            })
        })

    static func file(_ family: String) throws -> SafeTensorsFile {
        guard let result = files[family] else { throw FixtureError.unknownFamily(family) }
        return try result.get()
    }

    /// The family's case names, in file order, optionally only those of one op. A file that cannot
    /// be read yields one pseudo-case whose test then fails with the reason.
    static func caseNames(_ family: String, op: String? = nil) -> [String] {
        do {
            let file = try file(family)
            guard let json = file.metadata["cases"],
                  let names = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String] else {
                return ["unreadable case list in \(family).safetensors"]
            }
            guard let op else { return names }
            return try names.filter { try OpCase(family: family, name: $0).op == op }
        } catch {
            return ["cannot load \(family).safetensors: \(error)"]
        }
    }
}

enum FixtureError: Error, CustomStringConvertible {
    case unknownFamily(String)
    case missingCase(family: String, name: String)
    case badParameter(case: String, key: String)
    case badView(case: String, view: String)
    case unknownOp(case: String, op: String)

    var description: String {
        switch self {
        case .unknownFamily(let f): "no fixture family \(f); regenerate with tools/reference/make_op_fixtures.py"
        case .missingCase(let f, let n): "\(f).safetensors has no case \(n); regenerate the fixtures"
        case .badParameter(let c, let k): "\(c): parameter \(k) is missing or has the wrong type"
        case .badView(let c, let v): "\(c): cannot apply view \(v)"
        case .unknownOp(let c, let op): "\(c): the test does not know op \(op)"
        }
    }
}

extension OpCase {
    /// Expects `got` to match torch's f32 result (`out`) within `tolerance` and, when the case has
    /// one, `got` rounded to bf16/f16 to match torch's native result (`out_native`) within
    /// `nativeUlps` ulps at `max(|want|, nativeFloor * max|want|)`.
    func expectMatchesTorch(_ got: Tensor, _ tolerance: Tolerance, nativeUlps: Double = 1, nativeFloor: Double = 1e-3,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        expectClose(name, got: got, want: try expected(), tolerance, sourceLocation: sourceLocation)
        if has("out_native") {
            expectWithinUlps("\(name) vs torch native", got: got, want: try expected("out_native"),
                             maxUlps: nativeUlps, floor: nativeFloor, sourceLocation: sourceLocation)
        }
    }
}
