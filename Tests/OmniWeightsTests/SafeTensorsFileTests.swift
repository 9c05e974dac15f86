import Foundation
import OmniTensor
import OmniWeights
import Testing

@Suite struct SafeTensorsFileTests {
    @Test func everyDTypeReadsBitExactlyAsTorchWroteIt() throws {
        let file = try SafeTensorsFile(url: Fixtures.url("dtypes.safetensors"))
        let expected = try Fixtures.json("dtypes.expected.json")
        let tensors = try #require(expected["tensors"]?.object)

        #expect(file.names == tensors.keys.sorted())
        #expect(file.metadata == ["format": "pt"])
        for (name, entry) in tensors {
            let tensor = try file.tensor(name)
            #expect(tensor.dtype.safetensorsName == entry["dtype"]?.string, "\(name)")
            #expect(tensor.shape == entry["shape"]?.array?.compactMap(\.int), "\(name)")
            // Tensor.isContiguous says false for some zero-size shapes; those have no bytes to order.
            #expect(tensor.count == 0 || tensor.isContiguous, "\(name)")
            #expect(elementBits(tensor) == entry["bits"]?.array?.compactMap(\.int), "\(name): values differ")
        }
    }

    @Test func scalarAndZeroSizeTensorsKeepTheirShapes() throws {
        let file = try SafeTensorsFile(url: Fixtures.url("dtypes.safetensors"))
        let scalar = try file.tensor("scalar.f32")
        #expect(scalar.shape == [] && scalar.count == 1 && scalar.toFloats() == [3.5])
        #expect(try file.tensor("scalar.i64").toInts() == [-7])
        #expect(try file.tensor("empty.f32").shape == [0, 3])
        #expect(try file.tensor("empty.bf16").shape == [2, 0, 4])
        #expect(try file.tensor("empty.bf16").toFloats().isEmpty)
        #expect(file.info("empty.f32")?.byteCount == 0)
    }

    @Test func infoDescribesWhereTheBytesLie() throws {
        let file = try SafeTensorsFile(url: Fixtures.url("dtypes.safetensors"))
        let info = try #require(file.info("f32.values"))
        #expect(info.dtype == .f32 && info.storedDType == .f32)
        #expect(info.shape == [2, 3, 5] && info.count == 30 && info.byteCount == 120)
        #expect(info.fileOffsets.count == info.dataOffsets.count)
        #expect(info.fileOffsets.lowerBound > info.dataOffsets.lowerBound)
        #expect(file.info("no.such.tensor") == nil)
        #expect(!file.contains("no.such.tensor") && file.contains("f32.values"))
    }

    @Test func alignedTensorsAreViewsOfOneMappingNotCopies() throws {
        let file = try SafeTensorsFile(url: Fixtures.url("dtypes.safetensors"))
        let a = try file.tensor("f32.values")
        let b = try file.tensor("f32.values")
        let c = try file.tensor("i64.values")
        #expect(a.storage.pointer == b.storage.pointer, "two reads of one tensor should view the same mapped bytes")
        let fileDistance = file.info("f32.values")!.fileOffsets.lowerBound - file.info("i64.values")!.fileOffsets.lowerBound
        #expect(a.storage.pointer - c.storage.pointer == fileDistance, "tensors should sit at their file offsets in one mapping")
    }

    @Test func tensorsOutliveTheFileObject() throws {
        var file: SafeTensorsFile? = try SafeTensorsFile(url: Fixtures.url("dtypes.safetensors"))
        let tensor = try file!.tensor("u8.values")
        file = nil
        #expect(tensor.toInts() == Array(0..<256))
    }

    @Test func misalignedTensorIsCopiedIntoAlignedMemory() throws {
        let directory = try TemporaryDirectory()
        // A 1-byte u8 tensor first puts the f32 tensor at an odd offset; header padded to 8.
        var header = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}"#
        header += String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        var data: [UInt8] = [42]
        for value: Float in [1.5, -2.25] { withUnsafeBytes(of: value.bitPattern.littleEndian) { data += $0 } }
        let url = try directory.write("odd.safetensors", safetensorsBytes(header: header, data: data))

        let file = try SafeTensorsFile(url: url)
        let b = try file.tensor("b")
        #expect(Int(bitPattern: b.rawPointer) % 4 == 0)
        #expect(b.toFloats() == [1.5, -2.25])
        #expect(try file.tensor("a").toInts() == [42])
    }

    @Test func unsupportedDTypeOpensButRefusesToLoadThatTensor() throws {
        let directory = try TemporaryDirectory()
        let header = #"{"double":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"ok":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        let url = try directory.write("f64.safetensors", safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 12)))
        let file = try SafeTensorsFile(url: url)
        #expect(file.info("double")?.storedDType == .f64)
        #expect(file.info("double")?.dtype == nil)
        #expect(try file.tensor("ok").toFloats() == [0])
        let text = try #require(errorText { _ = try file.tensor("double") })
        #expect(text.contains("f64.safetensors") && text.contains("\"double\"") && text.contains("unsupported dtype F64"), "\(text)")
    }

    @Test(arguments: ["I8", "I16", "BOOL", "U16", "F8_E4M3"])
    func otherKnownDTypesAreReportedAsUnsupported(name: String) throws {
        let directory = try TemporaryDirectory()
        let bytes = SafeTensorsDType(name: name)!.bitWidth / 8 * 2
        let header = #"{"t":{"dtype":"\#(name)","shape":[2],"data_offsets":[0,\#(bytes)]}}"#
        let url = try directory.write("x.safetensors", safetensorsBytes(header: header, data: [UInt8](repeating: 1, count: bytes)))
        let file = try SafeTensorsFile(url: url)
        let text = try #require(errorText { _ = try file.tensor("t") })
        #expect(text.contains("unsupported dtype \(name)"), "\(text)")
    }

    @Test func missingTensorErrorNamesFileAndTensor() throws {
        let file = try SafeTensorsFile(url: Fixtures.url("dtypes.safetensors"))
        let text = try #require(errorText { _ = try file.tensor("model.norm.weight") })
        #expect(text.contains("dtypes.safetensors") && text.contains("\"model.norm.weight\""), "\(text)")
    }

    @Test func missingFileIsReportedByPath() throws {
        let text = try #require(errorText { _ = try SafeTensorsFile(url: URL(fileURLWithPath: "/nonexistent/model.safetensors")) })
        #expect(text == "/nonexistent/model.safetensors: file not found")
    }

    @Test func directoryIsNotAFile() throws {
        let directory = try TemporaryDirectory()
        let text = try #require(errorText { _ = try SafeTensorsFile(url: directory.url) })
        #expect(text.contains("not a regular file"), "\(text)")
    }
}
