import OmniTensor

/// Where one tensor lies in a safetensors file, as its header says (after validation).
public struct TensorInfo: Sendable, Hashable {
    public let name: String
    /// The dtype as stored in the file.
    public let storedDType: SafeTensorsDType
    public let shape: [Int]
    /// `data_offsets` from the header: bytes relative to the start of the data section.
    public let dataOffsets: Range<Int>
    /// The same bytes as offsets from the start of the file.
    public let fileOffsets: Range<Int>

    /// The runtime dtype, or nil when the stored dtype is one the engine does not support.
    public var dtype: DType? { storedDType.tensorDType }
    public var byteCount: Int { dataOffsets.count }
    public var count: Int { shape.reduce(1, *) }
}

/// The parsed and validated header of a safetensors file: an 8-byte little-endian length, then
/// that many bytes of JSON (`{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}`),
/// then the data section. Validation follows the reference implementation (`safetensors` crate),
/// except that gaps between tensors are allowed: nothing is lost by reading such a file.
struct SafeTensorsHeader {
    /// The reference implementation refuses larger headers; so do we, before parsing.
    static let maximumLength = 100_000_000

    let length: Int
    let metadata: [String: String]
    let tensors: [String: TensorInfo]

    var dataStart: Int { 8 + length }

    /// Validates the header found in the first bytes of a file of `fileSize` bytes.
    init(bytes: UnsafeRawBufferPointer, path: String) throws(WeightsError) {
        let fileSize = bytes.count
        guard fileSize >= 8 else {
            throw .invalidHeader(path: path, reason: "the file is \(fileSize) bytes, too short to hold the 8-byte header length (truncated?)")
        }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(SafeTensorsHeader.maximumLength) else {
            throw .invalidHeader(path: path, reason: "header length \(declared) is over the \(SafeTensorsHeader.maximumLength)-byte limit (not a safetensors file, or corrupt)")
        }
        guard declared <= UInt64(fileSize - 8) else {
            throw .invalidHeader(path: path, reason: "header length \(declared) runs past the end of the file (\(fileSize) bytes; truncated?)")
        }
        guard declared > 0 else { throw .invalidHeader(path: path, reason: "header length is 0") }
        length = Int(declared)

        let json: JSONValue
        do {
            json = try JSONValue(parsing: UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + length)]), rejectingDuplicateKeys: true)
        } catch {
            throw .invalidHeader(path: path, reason: "the header is not valid JSON: \(error)")
        }
        guard let entries = json.object else {
            throw .invalidHeader(path: path, reason: "the header is \(json.kindDescription), not a JSON object")
        }

        var metadata = [String: String]()
        var tensors = [String: TensorInfo]()
        let dataSize = fileSize - 8 - length
        for (name, entry) in entries {
            if name == "__metadata__" {
                metadata = try SafeTensorsHeader.parseMetadata(entry, path: path)
            } else {
                tensors[name] = try SafeTensorsHeader.parseEntry(entry, name: name, dataStart: 8 + length, dataSize: dataSize, path: path)
            }
        }
        try SafeTensorsHeader.checkNoOverlap(tensors.values, path: path)
        self.metadata = metadata
        self.tensors = tensors
    }

    private static func parseMetadata(_ entry: JSONValue, path: String) throws(WeightsError) -> [String: String] {
        if entry.isNull { return [:] }
        guard let members = entry.object else {
            throw .invalidHeader(path: path, reason: "__metadata__ is \(entry.kindDescription), expected an object of strings")
        }
        var metadata = [String: String]()
        for (key, value) in members {
            guard let string = value.string else {
                throw .invalidHeader(path: path, reason: "__metadata__ value of \"\(key)\" is \(value.kindDescription), expected a string")
            }
            metadata[key] = string
        }
        return metadata
    }

    private static func parseEntry(_ entry: JSONValue, name: String, dataStart: Int, dataSize: Int, path: String) throws(WeightsError) -> TensorInfo {
        func fail(_ reason: String) -> WeightsError { .invalidTensor(path: path, tensor: name, reason: reason) }

        guard entry.object != nil else {
            throw fail("header entry is \(entry.kindDescription), expected an object with dtype, shape and data_offsets")
        }
        guard let dtypeValue = entry["dtype"] else { throw fail("missing \"dtype\"") }
        guard let dtypeName = dtypeValue.string else { throw fail("\"dtype\" is \(dtypeValue.kindDescription), expected a string") }
        guard let dtype = SafeTensorsDType(name: dtypeName) else {
            throw fail("unknown dtype \"\(dtypeName)\" (the safetensors dtypes are \(SafeTensorsDType.allCases.map(\.name).joined(separator: ", ")))")
        }

        guard let shapeValue = entry["shape"] else { throw fail("missing \"shape\"") }
        guard let dims = shapeValue.array else { throw fail("\"shape\" is \(shapeValue.kindDescription), expected an array of integers") }
        var shape = [Int]()
        for dim in dims {
            guard case .int(let size) = dim, size >= 0 else { throw fail("shape \(shapeValue) must hold non-negative integers") }
            shape.append(size)
        }

        guard let offsetsValue = entry["data_offsets"] else { throw fail("missing \"data_offsets\"") }
        guard let pair = offsetsValue.array, pair.count == 2,
              case .int(let begin) = pair[0], case .int(let end) = pair[1], begin >= 0, end >= 0 else {
            throw fail("data_offsets \(offsetsValue) must be two non-negative integers [begin, end]")
        }
        let offsets = "data_offsets [\(begin), \(end)]"
        guard begin <= end else { throw fail("\(offsets) end before they begin") }
        guard end <= dataSize else {
            throw fail("\(offsets) run past the end of the data section (\(dataSize) bytes; truncated file?)")
        }

        var bits = dtype.bitWidth
        for size in shape {
            let (product, overflow) = bits.multipliedReportingOverflow(by: size)
            guard !overflow else { throw fail("shape \(shape) is too large") }
            bits = product
        }
        guard bits % 8 == 0 else { throw fail("shape \(shape) of \(dtypeName) does not fill a whole number of bytes") }
        let needed = bits / 8
        guard end - begin == needed else {
            throw fail("\(offsets) hold \(end - begin) bytes but shape \(shape) of \(dtypeName) needs \(needed)")
        }
        return TensorInfo(name: name, storedDType: dtype, shape: shape, dataOffsets: begin..<end,
                          fileOffsets: (dataStart + begin)..<(dataStart + end))
    }

    private static func checkNoOverlap(_ infos: some Collection<TensorInfo>, path: String) throws(WeightsError) {
        let ordered = infos.filter { !$0.dataOffsets.isEmpty }.sorted {
            ($0.dataOffsets.lowerBound, $0.name) < ($1.dataOffsets.lowerBound, $1.name)
        }
        var furthest: TensorInfo?
        for info in ordered {
            if let previous = furthest, info.dataOffsets.lowerBound < previous.dataOffsets.upperBound {
                throw .invalidTensor(path: path, tensor: info.name, reason:
                    "data_offsets [\(info.dataOffsets.lowerBound), \(info.dataOffsets.upperBound)] overlap tensor \"\(previous.name)\" "
                    + "at [\(previous.dataOffsets.lowerBound), \(previous.dataOffsets.upperBound)]")
            }
            if info.dataOffsets.upperBound > (furthest?.dataOffsets.upperBound ?? 0) { furthest = info }
        }
    }
}
