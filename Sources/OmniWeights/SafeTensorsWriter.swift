import Foundation
import OmniTensor

/// Writes safetensors files byte for byte as the reference library does: tensors ordered by dtype,
/// widest first, then by name (so every tensor starts aligned to its element size); the JSON
/// header padded with spaces to a multiple of 8 bytes; `__metadata__` omitted when empty.
public enum SafeTensorsWriter {
    /// Writes `tensors` (any strides: each is stored contiguous, in logical order, in its own
    /// dtype) to `url`, replacing the file atomically.
    /// - Throws: `WeightsError` for a duplicate name, a non-CPU tensor or an I/O failure.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to url: URL) throws(WeightsError) {
        let path = url.path
        var seen = Set<String>()
        for (name, tensor) in tensors {
            guard seen.insert(name).inserted else { throw .unwritable(path: path, tensor: name, reason: "the name appears twice") }
            guard name != "__metadata__" else { throw .unwritable(path: path, tensor: name, reason: "the name is reserved") }
            guard tensor.device == .cpu else {
                throw .unwritable(path: path, tensor: name, reason: "it lives on \(tensor.device); copy it to the CPU first")
            }
        }
        let ordered = tensors.sorted { a, b in
            (writeRank(b.1.dtype), a.0) < (writeRank(a.1.dtype), b.0)
        }

        // Same text as the reference serializer: metadata first, then entries in data order.
        var json = "{"
        if !metadata.isEmpty {
            json += "\"__metadata__\":"
            json += JSONValue.object(metadata.mapValues { .string($0) }).jsonText
        }
        var offset = 0
        var needsComma = !metadata.isEmpty
        for (name, tensor) in ordered {
            let byteCount = tensor.count * tensor.dtype.size
            if needsComma { json += "," }
            needsComma = true
            JSONValue.writeQuoted(name, to: &json)
            json += ":{\"dtype\":\"\(tensor.dtype.safetensorsName)\",\"shape\":\(JSONValue.array(tensor.shape.map { .int($0) }).jsonText),"
            json += "\"data_offsets\":[\(offset),\(offset + byteCount)]}"
            offset += byteCount
        }
        json += "}"
        var header = Array(json.utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.globallyUniqueString).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw .io(path: path, message: "cannot create \(temporary.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            var length = UInt64(header.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: header)
            for (_, tensor) in ordered {
                try handle.write(contentsOf: contiguousBytes(of: tensor))
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw .io(path: path, message: "cannot write: \(error.localizedDescription)")
        }
        guard rename(temporary.path, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw .io(path: path, message: "cannot move the written file into place: \(reason)")
        }
    }

    /// The reference library's order: by its dtype enum, which ranks wider types later.
    private static func writeRank(_ dtype: DType) -> Int {
        SafeTensorsDType.allCases.firstIndex(of: SafeTensorsDType(dtype))!
    }

    /// The tensor's elements in logical order, without copying when it is already contiguous.
    private static func contiguousBytes(of tensor: Tensor) -> Data {
        let size = tensor.dtype.size
        let byteCount = tensor.count * size
        if tensor.isContiguous {
            return Data(bytesNoCopy: tensor.rawPointer, count: byteCount, deallocator: .none)
        }
        var data = Data(count: byteCount)
        data.withUnsafeMutableBytes { out in
            var position = 0
            tensor.forEachOffset { element in
                out.baseAddress!.advanced(by: position).copyMemory(from: tensor.storage.pointer + element * size, byteCount: size)
                position += size
            }
        }
        return data
    }
}
