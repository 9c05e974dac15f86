import Foundation

/// A block of memory holding tensor elements, owned (allocated here) or borrowed (for example a
/// region of a memory-mapped checkpoint, kept alive through `owner`).
public final class Storage: @unchecked Sendable {
    public let device: Device
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// Allocates `byteCount` zero-filled bytes (16-byte aligned; kernels use unaligned loads).
    /// Large blocks come from calloc's fresh mappings, so pages are zeroed lazily by the kernel
    /// and a big KV cache costs nothing until it is used.
    public init(byteCount: Int, device: Device = .cpu) {
        self.device = device
        self.byteCount = byteCount
        guard let raw = calloc(max(byteCount, 64), 1) else {
            fatalError("out of memory allocating \(byteCount) bytes")
        }
        self.pointer = raw
        self.owner = nil
        self.ownsMemory = true
    }

    /// Allocates `byteCount` bytes left as they are (64-byte aligned), for results a kernel writes
    /// in full: the zero fill of `init(byteCount:)` would be a pass over the memory for nothing.
    public init(uninitializedByteCount byteCount: Int, device: Device = .cpu) {
        self.device = device
        self.byteCount = byteCount
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(byteCount, 64)) == 0, let raw else {
            fatalError("out of memory allocating \(byteCount) bytes")
        }
        self.pointer = raw
        self.owner = nil
        self.ownsMemory = true
    }

    /// Wraps memory that `owner` keeps alive (an mmap, another storage, ...). Nothing is copied.
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject?, device: Device = .cpu) {
        self.device = device
        self.pointer = pointer
        self.byteCount = byteCount
        self.owner = owner
        self.ownsMemory = false
    }

    deinit {
        if ownsMemory { free(pointer) }
    }
}
