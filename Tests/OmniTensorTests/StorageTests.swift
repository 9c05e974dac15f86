import OmniTensor
import Testing

@Suite("Storage")
struct StorageTests {
    /// `init(hugePagedByteCount:)` (packed weights): 2 MiB aligned, every byte zero and writable,
    /// made and freed many times over.
    @Test(arguments: [1, 4097, (3 << 20) + 5])
    func hugePagedStorageIsAlignedZeroedAndWritable(byteCount: Int) {
        for round in 0..<64 {
            let storage = Storage(hugePagedByteCount: byteCount)
            #expect(Int(bitPattern: storage.pointer) % (2 << 20) == 0, "\(byteCount) bytes at \(storage.pointer)")
            #expect(storage.byteCount == byteCount)
            let bytes = storage.pointer.assumingMemoryBound(to: UInt8.self)
            if round == 0 {
                #expect((0..<byteCount).allSatisfy { bytes[$0] == 0 }, "\(byteCount) bytes: not all zero")
            }
            bytes[0] = 1
            bytes[byteCount - 1] = 2
            #expect((byteCount == 1 || bytes[0] == 1) && bytes[byteCount - 1] == 2)
        }
    }
}
