import Foundation

/// A block of memory holding tensor elements, owned (allocated here) or borrowed (for example a
/// region of a memory-mapped checkpoint, kept alive through `owner`).
public final class Storage: @unchecked Sendable {
    public let device: Device
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    private let owner: AnyObject?
    private let ownership: Ownership
    /// Buffers made once from this storage's contents (a weight's packed layout), by key; guarded
    /// by `derivedLock`. They live as long as the storage does.
    private var derivedBuffers: [DerivedKey: Storage] = [:]
    private static let derivedLock = NSLock()

    private enum Ownership { case heap, pooled(BufferPool, reserved: Int), mapped, borrowed }

    /// Allocates `byteCount` zero-filled bytes (16-byte aligned; kernels use unaligned loads).
    public convenience init(byteCount: Int, device: Device = .cpu) {
        self.init(byteCount: byteCount, pool: nil, device: device)
    }

    /// Zero-filled, from `pool` (64-byte aligned) when it keeps blocks that size.
    init(byteCount: Int, pool: BufferPool?, device: Device = .cpu) {
        self.device = device
        self.byteCount = byteCount
        self.owner = nil
        if let pool, BufferPool.sizeClass(byteCount) <= pool.largestPooled {
            let block = pool.take(byteCount)
            memset(block.pointer, 0, max(byteCount, 1))
            self.pointer = block.pointer
            self.ownership = .pooled(pool, reserved: block.reserved)
        } else {
            pool?.noteUnpooled()
            guard let raw = calloc(max(byteCount, 64), 1) else {
                fatalError("out of memory allocating \(byteCount) bytes")
            }
            self.pointer = raw
            self.ownership = .heap
        }
    }

    /// `byteCount` zero bytes in a fresh anonymous mapping: the kernel zeroes each page when it is
    /// first touched, so a large KV cache costs neither time nor memory until it is used. (calloc
    /// would memset it once the allocator keeps large blocks in its heap, as `CPUBackend` has it do.)
    public init(lazilyZeroedByteCount byteCount: Int, device: Device = .cpu) {
        self.device = device
        self.byteCount = byteCount
        let raw = mmap(nil, max(byteCount, 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let raw, raw != MAP_FAILED else { fatalError("out of memory mapping \(byteCount) bytes") }
        self.pointer = raw
        self.owner = nil
        self.ownership = .mapped
    }

    /// `byteCount` zero bytes in a fresh anonymous mapping aligned to 2 MiB, which the kernel is asked
    /// to back with transparent huge pages (Linux, `MADV_HUGEPAGE`; the hosts' default is "madvise"),
    /// for large buffers read end to end over and over: packed weights. In a C microbenchmark on
    /// Zen 3 (2 threads, 1 GiB, pages of both kinds alternating in one process) a batch-1 GEMV over
    /// 2 MiB pages came 0.4 - 5% closer to a plain read of the same buffer than over 4 KiB pages in
    /// 7 rounds of 7, and ran 3 - 9% faster in 3 of 3 with the next group's prefetch.
    public init(hugePagedByteCount byteCount: Int, device: Device = .cpu) {
        self.device = device
        self.byteCount = byteCount
        let huge = Self.hugePageBytes, page = max(Int(sysconf(Int32(_SC_PAGESIZE))), 1)
        let length = (max(byteCount, 1) + page - 1) / page * page
        let span = length + huge
        let raw = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let raw, raw != MAP_FAILED else { fatalError("out of memory mapping \(byteCount) bytes") }
        // Keep the 2 MiB-aligned `length` bytes inside the span; give back the rest.
        let head = (huge - Int(bitPattern: raw) % huge) % huge
        if head > 0 { munmap(raw, head) }
        if span - head - length > 0 { munmap(raw + head + length, span - head - length) }
        self.pointer = raw + head
        #if os(Linux)
        _ = madvise(pointer, length, MADV_HUGEPAGE)
        #endif
        self.owner = nil
        self.ownership = .mapped
    }

    /// The huge page size `init(hugePagedByteCount:)` aligns to.
    static let hugePageBytes = 2 << 20

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
        self.ownership = .heap
    }

    /// The same from `pool`: a block freed by an earlier step of the same shapes.
    init(uninitializedByteCount byteCount: Int, pool: BufferPool, device: Device = .cpu) {
        self.device = device
        self.byteCount = byteCount
        let block = pool.take(byteCount)
        self.pointer = block.pointer
        self.owner = nil
        self.ownership = .pooled(pool, reserved: block.reserved)
    }

    /// Wraps memory that `owner` keeps alive (an mmap, another storage, ...). Nothing is copied.
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject?, device: Device = .cpu) {
        self.device = device
        self.pointer = pointer
        self.byteCount = byteCount
        self.owner = owner
        self.ownership = .borrowed
    }

    /// Names a buffer derived from a storage: what the deriving code needs to tell its buffers
    /// apart (for a packed weight, where each part lies). Plain integers: a decode step looks up
    /// about a hundred of these, and an `AnyHashable` of an array of structs (boxing, then
    /// comparing element by element through boxes) cost 1% of the engine thread's time.
    public struct DerivedKey: Hashable, Sendable {
        public var words: [Int]
        public init(_ words: [Int]) { self.words = words }
    }

    /// The buffer derived from this storage under `key`, made by `make` on first use. Two threads
    /// asking at once may both make it; one result is kept and returned to both.
    public func derived(_ key: DerivedKey, make: () -> Storage) -> Storage {
        if let found = Self.derivedLock.withLock({ derivedBuffers[key] }) { return found }
        let made = make()
        return Self.derivedLock.withLock {
            if let found = derivedBuffers[key] { return found }
            derivedBuffers[key] = made
            return made
        }
    }

    /// The buffer derived under `key`, if one was made.
    public func existingDerived(_ key: DerivedKey) -> Storage? {
        Self.derivedLock.withLock { derivedBuffers[key] }
    }

    deinit {
        switch ownership {
        case .heap: free(pointer)
        case .pooled(let pool, let reserved): pool.give(pointer, reserved: reserved)
        case .mapped: munmap(pointer, max(byteCount, 1))
        case .borrowed: break
        }
    }
}
