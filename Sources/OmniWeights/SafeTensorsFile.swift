import Foundation
import OmniTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A safetensors file, memory-mapped read-only. Opening validates the whole header (see
/// `SafeTensorsHeader`); tensors are then zero-copy views into the mapping, which stays alive as
/// long as any of them does. Pages are read from disk when first touched.
public final class SafeTensorsFile: Sendable {
    public let url: URL
    /// Tensor names, sorted.
    public let names: [String]
    /// The header's `__metadata__` (for example `["format": "pt"]`).
    public let metadata: [String: String]
    /// Size of the file in bytes.
    public var fileSize: Int { mapping.size }

    private let tensors: [String: TensorInfo]
    private let mapping: FileMapping

    /// Maps the file and validates its header.
    /// - Throws: `WeightsError` naming the file (and the tensor, for a bad entry).
    public init(url: URL) throws(WeightsError) {
        self.url = url
        mapping = try FileMapping(path: url.path)
        let header = try SafeTensorsHeader(bytes: mapping.bytes, path: url.path)
        tensors = header.tensors
        metadata = header.metadata
        names = header.tensors.keys.sorted()
    }

    public func contains(_ name: String) -> Bool { tensors[name] != nil }

    /// Where the tensor lies and what it holds; nil when the file has no such tensor.
    public func info(_ name: String) -> TensorInfo? { tensors[name] }

    /// The tensor as stored, contiguous. It views the mapped file without copying, except when
    /// its first byte is not aligned to its element size (then it is copied into fresh memory).
    /// The mapping is read-only: write into a copy (`Backend.contiguous`/`cast`), never into this.
    public func tensor(_ name: String) throws(WeightsError) -> Tensor {
        guard let info = tensors[name] else { throw .missingTensor(source: url.path, tensor: name) }
        guard let dtype = info.dtype else {
            throw .unsupportedDType(path: url.path, tensor: name, dtype: info.storedDType.name)
        }
        let source = mapping.base + info.fileOffsets.lowerBound
        let storage: Storage
        if info.fileOffsets.lowerBound % dtype.size == 0 {
            storage = Storage(borrowing: source, byteCount: info.byteCount, owner: mapping)
        } else {
            storage = Storage(byteCount: info.byteCount)
            storage.pointer.copyMemory(from: source, byteCount: info.byteCount)
        }
        return Tensor(storage: storage, dtype: dtype, shape: info.shape)
    }
}

/// A read-only private mapping of a whole file, unmapped when the last user lets go.
final class FileMapping: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let size: Int

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    init(path: String) throws(WeightsError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw .fileNotFound(path: path) }
            throw .io(path: path, message: "cannot open: \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw .io(path: path, message: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw .io(path: path, message: "not a regular file")
        }
        size = Int(status.st_size)
        // mmap refuses length 0; such a file is reported as too short by the header check.
        guard size > 0 else {
            base = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
            isMapped = false
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              address != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw .io(path: path, message: "cannot mmap \(size) bytes: \(String(cString: strerror(errno)))")
        }
        base = address
        isMapped = true
    }

    private let isMapped: Bool

    deinit {
        if isMapped { munmap(base, size) } else { base.deallocate() }
    }
}
