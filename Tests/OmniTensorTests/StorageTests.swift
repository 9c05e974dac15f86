import Foundation
import OmniTensor
import Testing

@Suite("Storage")
struct StorageTests {
    /// `init(hugePagedByteCount:)` (packed weights): 2 MiB aligned, every byte zero and writable, and
    /// its whole mapping given back with it: 64 in a row leave the address space as it was (within
    /// 16 MiB; each holds 2 MiB more than it keeps while it is made).
    @Test(arguments: [1, 4097, (3 << 20) + 5])
    func hugePagedStorageIsAlignedZeroedWritableAndUnmapped(byteCount: Int) throws {
        let before = try Self.virtualBytes()
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
        let grown = try Self.virtualBytes() - before
        #expect(grown < 16 << 20, "64 storages of \(byteCount) bytes left \(grown) bytes mapped")
    }

    /// The process's virtual size (Linux: /proc/self/statm, in pages).
    static func virtualBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        return (Int(statm.split(separator: " ")[0]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
