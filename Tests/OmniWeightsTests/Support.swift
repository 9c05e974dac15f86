import Foundation
import OmniTensor
import OmniWeights

/// Fixtures written by tools/reference/make_weight_fixtures.py.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/weights", isDirectory: true)

    static func url(_ relativePath: String) -> URL { root.appendingPathComponent(relativePath) }

    static func json(_ relativePath: String) throws -> JSONValue { try JSONValue(contentsOf: url(relativePath)) }
}

/// A fresh directory under the system temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("omni-weights-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    @discardableResult
    func write(_ name: String, _ data: Data) throws -> URL {
        let target = file(name)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: target)
        return target
    }

    @discardableResult
    func write(_ name: String, text: String) throws -> URL { try write(name, Data(text.utf8)) }
}

/// Bytes of a safetensors file: length prefix (the true one unless `declaredLength`), header, data.
func safetensorsBytes(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    safetensorsBytes(headerBytes: Array(header.utf8), data: data, declaredLength: declaredLength)
}

func safetensorsBytes(headerBytes header: [UInt8], data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    var out = Data()
    var length = (declaredLength ?? UInt64(header.count)).littleEndian
    withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
    out.append(contentsOf: header)
    out.append(contentsOf: data)
    return out
}

/// Each element's bit pattern (floats, as unsigned) or value (integers), in logical order: the
/// form the fixture script stores.
func elementBits(_ tensor: Tensor) -> [Int] {
    let base = tensor.storage.pointer
    var out = [Int]()
    tensor.forEachOffset { i in
        switch tensor.dtype {
        case .f32: out.append(Int(base.load(fromByteOffset: i * 4, as: UInt32.self)))
        case .f16, .bf16: out.append(Int(base.load(fromByteOffset: i * 2, as: UInt16.self)))
        case .i32: out.append(Int(base.load(fromByteOffset: i * 4, as: Int32.self)))
        case .i64: out.append(Int(base.load(fromByteOffset: i * 8, as: Int64.self)))
        case .u8: out.append(Int(base.load(fromByteOffset: i, as: UInt8.self)))
        }
    }
    return out
}

/// FNV-1a 64 of a contiguous tensor's bytes, as 16 hex digits (the fixture script's hash).
func fnv1a64(_ tensor: Tensor) -> String {
    precondition(tensor.isContiguous)
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    let bytes = UnsafeRawBufferPointer(start: tensor.rawPointer, count: tensor.count * tensor.dtype.size)
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// The error `body` throws, as text; nil when it throws nothing.
func errorText(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}
