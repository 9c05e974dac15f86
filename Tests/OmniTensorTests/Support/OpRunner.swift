import OmniTensor

/// Runs a fixture case's op on `backend`, with the arguments the fixture names.
enum OpRunner {
    static func run(_ c: OpCase) throws -> Tensor {
        switch c.op {
        case "matmul":
            return backend.matmul(try c.input("a"), try c.input("b"))
        case "linear":
            return backend.linear(try c.input("x"), weight: try c.input("weight"), bias: try c.optionalInput("bias"))
        case "binary":
            return backend.binary(try binaryOp(c), try c.input("a"), try c.input("b"))
        case "binaryScalar":
            return backend.binary(try binaryOp(c), try c.input("a"), scalar: Float(try c.double("scalar")))
        case "unary":
            guard let op = unaryOps[try c.string("unary")] else { throw FixtureError.badParameter(case: c.name, key: "unary") }
            return backend.unary(op, try c.input("x"))
        case "softmax":
            return backend.softmax(try c.input("x"), dim: try c.int("dim"))
        case "rmsNorm":
            return backend.rmsNorm(try c.input("x"), weight: try c.optionalInput("weight"), eps: Float(try c.double("eps")))
        case "layerNorm":
            return backend.layerNorm(try c.input("x"), weight: try c.optionalInput("weight"), bias: try c.optionalInput("bias"),
                                     eps: Float(try c.double("eps")))
        case "groupNorm":
            return backend.groupNorm(try c.input("x"), groups: try c.int("groups"), weight: try c.optionalInput("weight"),
                                     bias: try c.optionalInput("bias"), eps: Float(try c.double("eps")))
        case "reduce":
            let ops: [String: ReduceOp] = ["sum": .sum, "mean": .mean, "max": .max]
            guard let op = ops[try c.string("reduce")] else { throw FixtureError.badParameter(case: c.name, key: "reduce") }
            return backend.reduce(op, try c.input("x"), dim: try c.int("dim"), keepDim: try c.bool("keepDim"))
        case "rope":
            let layout: RopeLayout = try c.string("layout") == "interleaved" ? .interleaved : .halfSplit
            return backend.rope(try c.input("x"), cos: try c.input("cos"), sin: try c.input("sin"), layout: layout)
        case "embedding":
            return backend.embedding(try c.input("table"), ids: try c.input("ids"))
        case "concat":
            let count = (0...).prefix(while: { c.has("t\($0)") }).count
            return backend.concat(try (0..<count).map { try c.input("t\($0)") }, dim: try c.int("dim"))
        case "attention":
            let causal: CausalMask? = switch c.optionalString("causal") {
            case "topLeft": .topLeft
            case "bottomRight": .bottomRight
            default: nil
            }
            return backend.attention(query: try c.input("query"), key: try c.input("key"), value: try c.input("value"),
                                     mask: try c.optionalInput("mask"), causal: causal,
                                     scale: c.optionalDouble("scale").map(Float.init))
        case "pagedAttention":
            return try pagedAttention(c)
        case "conv1d":
            return backend.conv1d(try c.input("x"), weight: try c.input("weight"), bias: try c.optionalInput("bias"),
                                  stride: try c.int("stride"), padding: try c.int("padding"),
                                  dilation: try c.int("dilation"), groups: try c.int("groups"))
        case "conv2d":
            return backend.conv2d(try c.input("x"), weight: try c.input("weight"), bias: try c.optionalInput("bias"),
                                  stride: try c.pair("stride"), padding: try c.pair("padding"),
                                  dilation: try c.pair("dilation"), groups: try c.int("groups"))
        case "convTranspose1d":
            return backend.convTranspose1d(try c.input("x"), weight: try c.input("weight"), bias: try c.optionalInput("bias"),
                                           stride: try c.int("stride"), padding: try c.int("padding"),
                                           outputPadding: try c.int("outputPadding"), dilation: try c.int("dilation"),
                                           groups: try c.int("groups"))
        case "convTranspose2d":
            return backend.convTranspose2d(try c.input("x"), weight: try c.input("weight"), bias: try c.optionalInput("bias"),
                                           stride: try c.pair("stride"), padding: try c.pair("padding"),
                                           outputPadding: try c.pair("outputPadding"), dilation: try c.pair("dilation"),
                                           groups: try c.int("groups"))
        case "upsample":
            let mode: UpsampleMode = try c.string("mode") == "nearest"
                ? .nearest : .linear(alignCorners: try c.bool("alignCorners"))
            return backend.upsample(try c.input("x"), size: try c.ints("size"), mode: mode)
        case "pool":
            let kind: PoolKind = try c.string("kind") == "max" ? .max : .average
            return backend.pool(try c.input("x"), kind: kind, kernel: try c.ints("kernel"), stride: try c.ints("stride"),
                                padding: try c.ints("padding"))
        case "cast":
            guard let dtype = DType(rawValue: try c.string("to")) else { throw FixtureError.badParameter(case: c.name, key: "to") }
            return backend.cast(try c.input("x"), to: dtype)
        case "contiguous":
            return backend.contiguous(try c.input("x"))
        case "copy":
            // The stored destination is read-only (mapped); copy into a fresh one and return all of it.
            let stored = try c.stored("destination")
            let destination = stored.dtype.isFloatingPoint ? Tensor(stored.toFloats(), shape: stored.shape, dtype: stored.dtype)
                : Tensor(integers: stored.toInts(), shape: stored.shape, dtype: stored.dtype)
            let view = try c.view(of: destination, as: "destination")
            backend.copy(try c.input("source"), into: view)
            return destination
        default:
            throw FixtureError.unknownOp(case: c.name, op: c.op)
        }
    }

    /// Writes each sequence's keys and values into a fresh paged cache through its block table,
    /// then runs paged attention over all sequences' new tokens at once.
    private static func pagedAttention(_ c: OpCase) throws -> Tensor {
        let blockSize = try c.int("blockSize")
        let key0 = try c.input("key0"), value0 = try c.input("value0")
        let cache = PagedKVCache(blocks: try c.int("blocks"), blockSize: blockSize, kvHeads: key0.shape[1],
                                 headDim: key0.shape[2], valueDim: value0.shape[2])
        var sequences = [AttentionBatch.Sequence]()
        var start = 0
        for (i, sequence) in try c.objects("sequences").enumerated() {
            guard let queryCount = c.number(sequence["queryCount"]).map(Int.init),
                  let context = c.number(sequence["contextLength"]).map(Int.init),
                  let table = (sequence["blockTable"] as? [Any])?.compactMap({ c.number($0).map { Int32($0) } }) else {
                throw FixtureError.badParameter(case: c.name, key: "sequences")
            }
            let slots = (0..<context).map { table[$0 / blockSize] * Int32(blockSize) + Int32($0 % blockSize) }
            backend.writeKV(key: try c.input("key\(i)"), value: try c.input("value\(i)"), into: cache, slots: slots)
            sequences.append(.init(queryStart: start, queryCount: queryCount, contextLength: context, blockTable: table))
            start += queryCount
        }
        return backend.pagedAttention(query: try c.input("query"), cache: cache, batch: AttentionBatch(sequences: sequences),
                                      scale: Float(try c.double("scale")))
    }

    private static func binaryOp(_ c: OpCase) throws -> BinaryOp {
        guard let op = binaryOps[try c.string("binary")] else { throw FixtureError.badParameter(case: c.name, key: "binary") }
        return op
    }

    static let binaryOps: [String: BinaryOp] = [
        "add": .add, "sub": .sub, "mul": .mul, "div": .div, "maximum": .maximum, "minimum": .minimum, "pow": .pow,
    ]

    static let unaryOps: [String: UnaryOp] = [
        "silu": .silu, "geluErf": .geluErf, "geluTanh": .geluTanh, "sigmoid": .sigmoid, "tanh": .tanh, "exp": .exp,
        "neg": .neg, "sqrt": .sqrt, "rsqrt": .rsqrt, "relu": .relu, "abs": .abs, "log": .log, "sin": .sin, "cos": .cos,
        "square": .square, "reciprocal": .reciprocal,
    ]
}
