import OmniTensor
import Testing

/// View semantics: shapes, strides, offsets and the elements a view reads, checked against
/// row-major index arithmetic written out here. No backend involved.
@Suite("tensor views")
struct TensorViewTests {
    /// `[0, 1, 2, ...]` in the given shape, so an element's value is its row-major index.
    func iota(_ shape: [Int]) -> Tensor {
        Tensor((0..<shape.reduce(1, *)).map(Float.init), shape: shape)
    }

    @Test func contiguousStridesAreRowMajor() {
        #expect(Tensor.contiguousStrides(for: [2, 3, 4]) == [12, 4, 1])
        #expect(Tensor.contiguousStrides(for: []) == [])
        #expect(Tensor.contiguousStrides(for: [3, 0, 2]) == [2, 2, 1])
    }

    @Test func sizeOneDimensionsDoNotBreakContiguity() {
        let t = Tensor(storage: Storage(byteCount: 64), dtype: .f32, shape: [1, 4, 1], strides: [99, 1, 7])
        #expect(t.isContiguous)
        #expect(!iota([3, 4]).transposed(0, 1).isContiguous)
        #expect(iota([3, 4]).sliced(dim: 0, 1..<3).isContiguous)
        #expect(!iota([3, 4]).sliced(dim: 1, 1..<3).isContiguous)
    }

    @Test func reshapeOfContiguousSharesStorage() {
        let t = iota([2, 3, 4])
        let r = t.reshaped([4, -1])
        #expect(r.shape == [4, 6])
        #expect(r.strides == [6, 1])
        #expect(r.storage === t.storage)
        #expect(r.toFloats() == t.toFloats())
    }

    @Test func reshapeOfNonContiguousSplitsAndMergesWhereAViewExists() {
        // [6, 4] transposed: strides [1, 6]. Splitting dim 1 (stride 6) is a view.
        let t = iota([4, 6]).transposed(0, 1)
        #expect(t.canView(as: [6, 2, 2]))
        let split = t.reshaped([6, 2, 2])
        #expect(split.strides == [1, 12, 6])
        #expect(split.toFloats() == t.toFloats())
        // Merging the two transposed dimensions is not.
        #expect(!t.canView(as: [24]))
        #expect(!t.canView(as: [3, 8]))
        // A sliced batch of rows: [2, 3, 4] -> dims 1 and 2 still merge.
        let s = iota([5, 3, 4]).sliced(dim: 0, 1..<5, step: 2)
        #expect(s.canView(as: [2, 12]))
        #expect(s.reshaped([2, 12]).strides == [24, 1])
        #expect(s.reshaped([2, 12]).toFloats() == s.toFloats())
        #expect(!s.canView(as: [24]))
        // Size-1 dimensions can be added anywhere.
        #expect(t.canView(as: [6, 1, 4, 1]))
        #expect(t.reshaped([6, 1, 4, 1]).toFloats() == t.toFloats())
    }

    @Test func permuteAndTransposeReadTheRightElements() {
        let t = iota([2, 3, 4])
        let p = t.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        #expect(p.strides == [1, 12, 4])
        var expected = [Float]()
        for k in 0..<4 { for i in 0..<2 { for j in 0..<3 { expected.append(Float(i * 12 + j * 4 + k)) } } }
        #expect(p.toFloats() == expected)
        #expect(t.transposed(-1, 0).shape == [4, 3, 2])
        #expect(t.permuted([-1, 0, 1]).shape == [4, 2, 3])
    }

    @Test func sliceWithStepAndSelect() {
        let t = iota([7, 10])
        let s = t.sliced(dim: 1, 1..<9, step: 3)  // columns 1, 4, 7
        #expect(s.shape == [7, 3])
        #expect(s.strides == [10, 3])
        #expect(s.offset == 1)
        #expect(Array(s.toFloats().prefix(6)) == [1, 4, 7, 11, 14, 17])
        let row = t.selecting(dim: 0, index: 5)
        #expect(row.shape == [10])
        #expect(row.offset == 50)
        let column = t.selecting(dim: 1, index: 2)
        let columnValues: [Float] = (0..<7).map { Float($0 * 10 + 2) }
        #expect(column.toFloats() == columnValues)
        #expect(t.sliced(dim: 0, 3..<3).count == 0)
    }

    @Test func expandedDimensionsHaveStrideZero() {
        let t = iota([3, 1])
        let e = t.expanded(to: [2, 3, 5])
        #expect(e.shape == [2, 3, 5])
        #expect(e.strides == [0, 1, 0])
        #expect(!e.isContiguous)
        let expandedValues: [Float] = (0..<2).flatMap { _ in (0..<3).flatMap { i in [Float](repeating: Float(i), count: 5) } }
        #expect(e.toFloats() == expandedValues)
        // Expanding a view keeps its strides for the kept dimensions.
        let col = iota([4, 3]).sliced(dim: 1, 2..<3).expanded(to: [4, 6])
        #expect(col.strides == [3, 0])
        #expect(col.toFloats()[6...11] == ArraySlice(Array(repeating: Float(5), count: 6)))
    }

    @Test func splitAndChunkAreViewsWithTheGivenSizes() {
        let t = iota([4, 6])
        let parts = t.split(sizes: [2, 3, 1], dim: 1)
        #expect(parts.map(\.shape) == [[4, 2], [4, 3], [4, 1]])
        #expect(parts.map(\.offset) == [0, 2, 5])
        #expect(parts.allSatisfy { $0.storage === t.storage && $0.strides == [6, 1] })
        #expect(parts[1].toFloats() == [2, 3, 4, 8, 9, 10, 14, 15, 16, 20, 21, 22])
        let chunks = t.chunked(2, dim: 0)
        #expect(chunks.map(\.shape) == [[2, 6], [2, 6]])
        #expect(chunks[1].offset == 12)
        #expect(chunks[1].isContiguous)
    }

    @Test func unsqueezeAndSqueezeRoundTrip() {
        let t = iota([3, 4]).transposed(0, 1)
        let u = t.unsqueezed(1)
        #expect(u.shape == [4, 1, 3])
        #expect(u.toFloats() == t.toFloats())
        #expect(u.squeezed(1).strides == t.strides)
        #expect(t.unsqueezed(-1).shape == [4, 3, 1])
        #expect(t.unsqueezed(0).shape == [1, 4, 3])
    }

    @Test func broadcastShapeFollowsNumpyRules() {
        #expect(Tensor.broadcastShape([4, 1, 6], [3, 1]) == [4, 3, 6])
        #expect(Tensor.broadcastShape([], [2, 3]) == [2, 3])
        #expect(Tensor.broadcastShape([1], [2, 3]) == [2, 3])
        #expect(Tensor.broadcastShape([2, 3], [3, 2]) == nil)
        #expect(Tensor.broadcastShape([0, 1], [1, 5]) == [0, 5])
    }

    @Test func elementOffsetsWalkRowMajor() {
        let t = iota([3, 4]).sliced(dim: 1, 1..<4, step: 2).transposed(0, 1)  // [2, 3]
        #expect(t.elementOffsets() == [1, 5, 9, 3, 7, 11])
        let scalar = Tensor([2.5], shape: [])
        #expect(scalar.toFloats() == [2.5])
        #expect(scalar.elementOffsets() == [0])
    }
}
