import CKernels
import COpenBLAS

/// Convolutions as GEMMs over im2col / col2im buffers; 1-D forms run as 2-D with height 1.
extension CPUBackend {
    public func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, dilation: Int, groups: Int) -> Tensor {
        precondition(x.rank == 3 && weight.rank == 3, "conv1d expects x [N, C, L] and weight [Cout, Cin/g, K]")
        let y = conv2d(x.unsqueezed(2), weight: weight.unsqueezed(2), bias: bias, stride: (1, stride),
                       padding: (0, padding), dilation: (1, dilation), groups: groups)
        return y.squeezed(2)
    }

    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4, "conv2d expects x [N, C, H, W] and weight [Cout, Cin/g, kH, kW]")
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, cinG, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(cin % groups == 0 && cout % groups == 0 && cinG == cin / groups, "conv2d: x \(x.shape), weight \(weight.shape), groups \(groups)")
        let oh = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
        let ow = (w + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
        precondition(oh > 0 && ow > 0, "conv2d: output would be empty for input \(x.shape)")
        let xs = f32(x), ws = f32(weight)
        let out = empty([n, cout, oh, ow])
        let coutG = cout / groups, kdim = cinG * kh * kw, spatial = oh * ow
        // im2col a band of output rows at a time so its buffer stays within the scratch limit
        // (whole, a 3x3 conv of 256 channels at 1024x1024 would need 9.6 GB).
        let bandRows = max(1, min(oh, convolutionScratchBytes / 4 / max(kdim * ow, 1)))
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: kdim * bandRows * ow)
        defer { cols.deallocate() }
        let xp = xs.floatPointer, wp = ws.floatPointer, op = out.floatPointer
        for b in 0..<n {
            for g in 0..<groups {
                let src = xp + (b * cin + g * cinG) * h * w
                for firstRow in Swift.stride(from: 0, to: oh, by: bandRows) {
                    let rows = min(bandRows, oh - firstRow), band = rows * ow
                    // im2col: row (c, i, j) holds input pixels under kernel tap (i, j) of channel c.
                    pool.parallelFor(kdim, grain: 8) { r in
                        for row in r {
                            let c = row / (kh * kw), i = (row / kw) % kh, j = row % kw
                            let dst = cols + row * band
                            for y in 0..<rows {
                                let iy = (firstRow + y) * stride.0 - padding.0 + i * dilation.0
                                if iy < 0 || iy >= h { for xx in 0..<ow { dst[y * ow + xx] = 0 }; continue }
                                let line = src + (c * h + iy) * w
                                for xx in 0..<ow {
                                    let ix = xx * stride.1 - padding.1 + j * dilation.1
                                    dst[y * ow + xx] = ix >= 0 && ix < w ? line[ix] : 0
                                }
                            }
                        }
                    }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(coutG), Int32(band), Int32(kdim), 1,
                                wp + g * coutG * kdim, Int32(kdim), cols, Int32(band), 0,
                                op + (b * cout + g * coutG) * spatial + firstRow * ow, Int32(spatial))
                }
            }
        }
        addChannelBias(bias, to: out)
        return out
    }

    public func convTranspose1d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, outputPadding: Int, dilation: Int, groups: Int) -> Tensor {
        precondition(x.rank == 3 && weight.rank == 3, "convTranspose1d expects x [N, C, L] and weight [Cin, Cout/g, K]")
        let y = convTranspose2d(x.unsqueezed(2), weight: weight.unsqueezed(2), bias: bias, stride: (1, stride), padding: (0, padding),
                                outputPadding: (0, outputPadding), dilation: (1, dilation), groups: groups)
        return y.squeezed(2)
    }

    public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int), outputPadding: (Int, Int), dilation: (Int, Int), groups: Int) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4, "convTranspose2d expects x [N, C, H, W] and weight [Cin, Cout/g, kH, kW]")
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (wcin, coutG, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(wcin == cin && cin % groups == 0, "convTranspose2d: x \(x.shape), weight \(weight.shape), groups \(groups)")
        let cinG = cin / groups, cout = coutG * groups
        let oh = (h - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kh - 1) + outputPadding.0 + 1
        let ow = (w - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kw - 1) + outputPadding.1 + 1
        precondition(oh > 0 && ow > 0, "convTranspose2d: output would be empty for input \(x.shape)")
        let xs = f32(x), ws = f32(weight)
        let out = empty([n, cout, oh, ow])
        let kdim = coutG * kh * kw, spatial = h * w
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: kdim * spatial)
        defer { cols.deallocate() }
        let xp = xs.floatPointer, wp = ws.floatPointer, op = out.floatPointer
        for b in 0..<n {
            for g in 0..<groups {
                // cols[(co, i, j), p] = sum_ci W[ci, co, i, j] * x[ci, p]
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(kdim), Int32(spatial), Int32(cinG), 1,
                            wp + g * cinG * kdim, Int32(kdim), xp + (b * cin + g * cinG) * spatial, Int32(spatial), 0,
                            cols, Int32(spatial))
                // col2im: scatter-add each tap into the output; parallel over output channels.
                let dstBase = op + (b * cout + g * coutG) * oh * ow
                pool.parallelFor(coutG) { r in
                    for co in r {
                        let dst = dstBase + co * oh * ow
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let src = cols + ((co * kh + i) * kw + j) * spatial
                                for y in 0..<h {
                                    let oy = y * stride.0 - padding.0 + i * dilation.0
                                    if oy < 0 || oy >= oh { continue }
                                    for xx in 0..<w {
                                        let ox = xx * stride.1 - padding.1 + j * dilation.1
                                        if ox >= 0 && ox < ow { dst[oy * ow + ox] += src[y * w + xx] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        addChannelBias(bias, to: out)
        return out
    }

    /// out[n, c, ...] += bias[c]
    private func addChannelBias(_ bias: Tensor?, to out: Tensor) {
        guard let bias else { return }
        let b = f32(bias)
        let channels = out.shape[1], spatial = out.shape.dropFirst(2).reduce(1, *)
        precondition(b.count == channels, "bias \(bias.shape) for \(channels) channels")
        let bp = b.floatPointer, op = out.floatPointer
        pool.parallelFor(out.shape[0] * channels) { r in
            for nc in r { omni_binary_f32(BinaryOp.add.rawValue, op + nc * spatial, bp + nc % channels, 0, op + nc * spatial, spatial) }
        }
    }

    public func upsample(_ x: Tensor, size: [Int], mode: UpsampleMode) -> Tensor {
        precondition((x.rank == 3 && size.count == 1) || (x.rank == 4 && size.count == 2), "upsample: x \(x.shape) to size \(size)")
        let is1D = x.rank == 3
        let src = f32(is1D ? x.unsqueezed(2) : x)
        let (n, c, h, w) = (src.shape[0], src.shape[1], src.shape[2], src.shape[3])
        let (oh, ow) = is1D ? (1, size[0]) : (size[0], size[1])
        let out = empty([n, c, oh, ow])
        let ys = Self.sourceTaps(input: h, output: oh, mode: mode), xs = Self.sourceTaps(input: w, output: ow, mode: mode)
        let sp = src.floatPointer, op = out.floatPointer
        pool.parallelFor(n * c) { r in
            for plane in r {
                let s = sp + plane * h * w, d = op + plane * oh * ow
                for y in 0..<oh {
                    let ty = ys[y]
                    for xx in 0..<ow {
                        let tx = xs[xx]
                        let top = s[ty.i0 * w + tx.i0] * tx.w0 + s[ty.i0 * w + tx.i1] * tx.w1
                        let bottom = s[ty.i1 * w + tx.i0] * tx.w0 + s[ty.i1 * w + tx.i1] * tx.w1
                        d[y * ow + xx] = ty.w0 * top + ty.w1 * bottom
                    }
                }
            }
        }
        return is1D ? out.squeezed(2) : out
    }

    /// Source indices and weights per output position, with torch's coordinate rules
    /// (`nearest`: floor(dst * in/out); linear: half-pixel or align-corners, clamped at 0).
    private static func sourceTaps(input: Int, output: Int, mode: UpsampleMode) -> [(i0: Int, i1: Int, w0: Float, w1: Float)] {
        (0..<output).map { dst in
            switch mode {
            case .nearest:
                let scale = Float(input) / Float(output)
                let i = min(Int((Float(dst) * scale).rounded(.down)), input - 1)
                return (i, i, 1, 0)
            case .linear(let alignCorners):
                var src: Float
                if alignCorners {
                    src = output > 1 ? Float(dst) * (Float(input - 1) / Float(output - 1)) : 0
                } else {
                    src = max((Float(dst) + 0.5) * (Float(input) / Float(output)) - 0.5, 0)
                }
                let i0 = min(Int(src), input - 1)
                let i1 = i0 < input - 1 ? i0 + 1 : i0
                let l1 = min(max(src - Float(i0), 0), 1)
                return (i0, i1, 1 - l1, l1)
            }
        }
    }

    public func pool(_ x: Tensor, kind: PoolKind, kernel: [Int], stride: [Int], padding: [Int]) -> Tensor {
        let is1D = x.rank == 3
        precondition((is1D && kernel.count == 1) || (x.rank == 4 && kernel.count == 2), "pool: x \(x.shape), kernel \(kernel)")
        precondition(stride.count == kernel.count && padding.count == kernel.count, "pool: stride/padding must match kernel rank")
        let src = f32(is1D ? x.unsqueezed(2) : x)
        let (n, c, h, w) = (src.shape[0], src.shape[1], src.shape[2], src.shape[3])
        let (kh, kw) = is1D ? (1, kernel[0]) : (kernel[0], kernel[1])
        let (sh, sw) = is1D ? (1, stride[0]) : (stride[0], stride[1])
        let (ph, pw) = is1D ? (0, padding[0]) : (padding[0], padding[1])
        let oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1
        let out = empty([n, c, oh, ow])
        let sp = src.floatPointer, op = out.floatPointer
        pool.parallelFor(n * c) { r in
            for plane in r {
                let s = sp + plane * h * w, d = op + plane * oh * ow
                for y in 0..<oh {
                    for xx in 0..<ow {
                        let y0 = y * sh - ph, x0 = xx * sw - pw
                        let y1 = min(y0 + kh, h + ph), x1 = min(x0 + kw, w + pw)
                        let divisor = Float((y1 - y0) * (x1 - x0))
                        var acc: Float = kind == .max ? -.infinity : 0
                        for iy in max(y0, 0)..<min(y1, h) {
                            for ix in max(x0, 0)..<min(x1, w) {
                                let v = s[iy * w + ix]
                                if kind == .max { if v > acc || v.isNaN { acc = v } } else { acc += v }
                            }
                        }
                        d[y * ow + xx] = kind == .max ? acc : acc / divisor
                    }
                }
            }
        }
        return is1D ? out.squeezed(2) : out
    }
}
