import Foundation

/// A block of memory holding tensor elements, owned (allocated here) or borrowed (for example a
/// region of a memory-mapped checkpoint, kept alive through `owner`).
public final class Storage: @unchecked Sendable {
    public let device: Device
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// Allocates `byteCount` bytes, 64-byte aligned and zero-filled.
    public init(byteCount: Int, device: Device = .cpu) {
        self.device = device
        self.byteCount = byteCount
        var raw: UnsafeMutableRawPointer?
        let size = max(byteCount, 64)
        guard posix_memalign(&raw, 64, size) == 0, let raw else {
            fatalError("out of memory allocating \(byteCount) bytes")
        }
        memset(raw, 0, size)
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
