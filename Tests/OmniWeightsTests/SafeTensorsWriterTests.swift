import Foundation
import OmniTensor
import OmniWeights
import Testing

@Suite struct SafeTensorsWriterTests {
    @Test func rewritingTorchsFileGivesTheSameBytes() throws {
        let source = Fixtures.url("dtypes.safetensors")
        let file = try SafeTensorsFile(url: source)
        let directory = try TemporaryDirectory()
        let copy = directory.file("copy.safetensors")
        try SafeTensorsWriter.write(try file.names.reversed().map { ($0, try file.tensor($0)) }, metadata: file.metadata, to: copy)
        let written = try Data(contentsOf: copy)
        let original = try Data(contentsOf: source)
        #expect(written == original, "the writer should match the safetensors library byte for byte")
    }

    @Test func stridedViewsRoundTripInLogicalOrder() throws {
        let base = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        let transposed = base.transposed(0, 2)                     // [4, 3, 2], non-contiguous
        let sliced = base.sliced(dim: 2, 1..<4, step: 2)           // [2, 3, 2]
        let bf16 = Tensor([1, -2, 3.5, 0.1], shape: [2, 2], dtype: .bf16).transposed(0, 1)
        let ints = Tensor(integers: [-5, 7, 1 << 40], shape: [3], dtype: .i64)
        let bytes = Tensor(integers: [1, 2, 3], shape: [3], dtype: .u8)
        let scalar = Tensor([42], shape: [])
        let empty = Tensor(zeros: [0, 5], dtype: .f16)
        let tensors: [(String, Tensor)] = [("transposed", transposed), ("sliced", sliced), ("bf16", bf16), ("ints", ints),
                                           ("bytes", bytes), ("scalar", scalar), ("empty", empty)]

        let directory = try TemporaryDirectory()
        let url = directory.file("round.safetensors")
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt", "note": "round \"trip\"\n"], to: url)
        let file = try SafeTensorsFile(url: url)

        #expect(file.metadata == ["format": "pt", "note": "round \"trip\"\n"])
        #expect(file.names == tensors.map(\.0).sorted())
        for (name, tensor) in tensors {
            let read = try file.tensor(name)
            #expect(read.shape == tensor.shape && read.dtype == tensor.dtype, "\(name)")
            #expect(elementBits(read) == elementBits(tensor), "\(name)")
            #expect(Int(bitPattern: read.rawPointer) % tensor.dtype.size == 0, "\(name) should be aligned (zero-copy)")
        }
    }

    @Test func headerIsPaddedToEightBytesAndMetadataOmittedWhenEmpty() throws {
        let directory = try TemporaryDirectory()
        let url = directory.file("pad.safetensors")
        try SafeTensorsWriter.write([("x", Tensor([1], shape: [1]))], to: url)
        let bytes = try [UInt8](Data(contentsOf: url))
        let length = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect(length % 8 == 0)
        let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
        let json = #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        #expect(header.hasPrefix(json) && header.dropFirst(json.count).allSatisfy { $0 == " " } && length - json.count < 8)
        #expect(bytes.count == 8 + length + 4)
    }

    @Test func duplicateNamesAreRefused() throws {
        let directory = try TemporaryDirectory()
        let url = directory.file("dup.safetensors")
        let text = try #require(errorText {
            try SafeTensorsWriter.write([("w", Tensor([1], shape: [1])), ("w", Tensor([2], shape: [1]))], to: url)
        })
        #expect(text.contains("\"w\"") && text.contains("twice"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test func writingIntoAMissingDirectoryFailsClearly() throws {
        let url = URL(fileURLWithPath: "/nonexistent-dir/out.safetensors")
        let text = try #require(errorText { try SafeTensorsWriter.write([("w", Tensor([1], shape: [1]))], to: url) })
        #expect(text.hasPrefix("/nonexistent-dir/out.safetensors: "), "\(text)")
    }

    @Test func overwritingReplacesTheWholeFile() throws {
        let directory = try TemporaryDirectory()
        let url = directory.file("over.safetensors")
        try SafeTensorsWriter.write([("big", Tensor(zeros: [100]))], to: url)
        try SafeTensorsWriter.write([("small", Tensor([3], shape: [1]))], to: url)
        let file = try SafeTensorsFile(url: url)
        #expect(file.names == ["small"])
        #expect(try file.tensor("small").toFloats() == [3])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.url.path)
        #expect(leftovers == ["over.safetensors"])
    }
}
