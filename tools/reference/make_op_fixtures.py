#!/usr/bin/env python3
"""Golden fixtures for the CPU tensor runtime, one safetensors file per op family.

Every case stores its inputs (contiguous, in their own dtype) and torch's outputs:

- `<case>/<input>`: an input before views; `views[input]` (below) turns it into what the op gets.
- `<case>/out`: torch in float32 on the inputs upcast to float32 (our CPU contract, DESIGN.md §8);
  a case whose parameters say `"reference": "float64"` is ill-conditioned enough that torch's own
  f32 error would dominate, so its reference is computed in float64 and rounded to float32.
- `<case>/out_native` (bf16/f16 cases only): torch's native bf16/f16 op (or the HF module's
  arithmetic in that dtype), which our f32 result rounded to that dtype is compared against.

`__metadata__` maps `cases` to the JSON list of case names, and each case name to the JSON of its
parameters: `op`, `inputs`, `views` and the op's own arguments, spelled as in `Backend`. A view is
one of `["permute", order]`, `["transpose", a, b]`, `["slice", dim, start, end, step]`,
`["select", dim, index]`, `["expand", shape]`, `["unsqueeze", dim]`, `["reshape", shape]`,
applied in order, here and in the Swift tests (Tests/OmniTensorTests/Support/OpFixture.swift).

Deterministic: each family draws from its own generator seeded by the family name, torch runs on
one thread, so rerunning rewrites identical files.
"""
import json
import math
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "Tests" / "Fixtures" / "ops"

BF16, F16, F32 = torch.bfloat16, torch.float16, torch.float32
INF, NAN = float("inf"), float("nan")


def apply_views(t, views):
    for view in views:
        kind, args = view[0], view[1:]
        if kind == "permute":
            t = t.permute(*args[0])
        elif kind == "transpose":
            t = t.transpose(args[0], args[1])
        elif kind == "slice":
            dim, start, end, step = args
            index = [slice(None)] * t.dim()
            index[dim % t.dim()] = slice(start, end, step)
            t = t[tuple(index)]
        elif kind == "select":
            t = t.select(args[0], args[1])
        elif kind == "expand":
            t = t.expand(*args[0])
        elif kind == "unsqueeze":
            t = t.unsqueeze(args[0])
        elif kind == "reshape":
            t = t.view(*args[0])
        else:
            raise ValueError(f"unknown view {view}")
    return t


class Family:
    """The cases of one fixture file."""

    def __init__(self, name):
        self.name = name
        self.gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        self.tensors = {}
        self.meta = {}
        self.cases = []

    def randn(self, *shape, scale=1.0, dtype=F32):
        return (torch.randn(*shape, generator=self.gen) * scale).to(dtype)

    def uniform(self, lo, hi, *shape, dtype=F32):
        return (torch.rand(*shape, generator=self.gen) * (hi - lo) + lo).to(dtype)

    def randint(self, lo, hi, *shape, dtype=torch.int64):
        return torch.randint(lo, hi, shape, generator=self.gen).to(dtype)

    def rounded(self, *shape, dtype=BF16, scale=1.0):
        """f32 values exactly representable in `dtype` (activations for a native comparison)."""
        return self.randn(*shape, scale=scale).to(dtype).float()

    def add(self, name, op, inputs, outputs, views=None, **params):
        assert name not in self.meta, f"duplicate case {name}"
        inputs = {k: v for k, v in inputs.items() if v is not None}
        for key, t in {**inputs, **outputs}.items():
            self.tensors[f"{name}/{key}"] = t.detach().contiguous().clone()
        params = {"op": op, "inputs": list(inputs), "views": views or {}, **params}
        self.meta[name] = json.dumps(params, sort_keys=True)
        self.cases.append(name)

    def save(self):
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta, cases=json.dumps(self.cases))
        path = OUT_DIR / f"{self.name}.safetensors"
        write_safetensors(path, self.tensors, meta)
        print(f"{path.relative_to(ROOT)}: {len(self.cases)} cases, {path.stat().st_size / 1024:.1f} KiB")


SAFETENSORS_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
    torch.uint8: "U8",
}


def write_safetensors(path, tensors, metadata):
    """Writes a safetensors file byte-for-byte reproducibly (`safetensors.torch.save_file` orders
    `__metadata__` by a hash map, so every run would differ). Tensors are laid out widest dtype
    first, then by name, so each starts aligned to its element size."""
    names = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header, blobs, offset = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for name in names:
        t = tensors[name].contiguous()
        blob = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(len(text).to_bytes(8, "little"))
        out.write(text)
        for blob in blobs:
            out.write(blob)
    with safe_open(str(path), "pt") as check:  # the reference reader must agree
        for name in names:
            got = check.get_tensor(name)
            assert got.dtype == tensors[name].dtype and got.shape == tensors[name].shape, name
            assert torch.equal(got.reshape(-1).view(torch.uint8),
                               tensors[name].contiguous().reshape(-1).view(torch.uint8)), name


def viewed(inputs, views):
    return {k: (apply_views(t, (views or {}).get(k, [])) if t is not None else None) for k, t in inputs.items()}


def up(t):
    return None if t is None else (t.float() if t.is_floating_point() else t)


# ---------------------------------------------------------------------------------------------
# matmul, linear


def matmul_family():
    f = Family("matmul")

    def mm(name, a, b, views=None, native=False):
        v = viewed({"a": a, "b": b}, views)
        outs = {"out": torch.matmul(up(v["a"]), up(v["b"]))}
        if native:
            outs["out_native"] = torch.matmul(v["a"], v["b"])
        f.add(name, "matmul", {"a": a, "b": b}, outs, views)

    mm("matmul_2d_odd", f.randn(7, 13), f.randn(13, 5))
    mm("matmul_2d_k64", f.randn(33, 64), f.randn(64, 17))
    mm("matmul_1x1", f.randn(1, 1), f.randn(1, 1))
    mm("matmul_m1", f.randn(1, 40), f.randn(40, 29))
    mm("matmul_n1", f.randn(6, 40), f.randn(40, 1))
    mm("matmul_batched", f.randn(3, 5, 8), f.randn(3, 8, 4))
    mm("matmul_broadcast_batch", f.randn(2, 1, 5, 6), f.randn(3, 6, 4))
    mm("matmul_broadcast_b_2d", f.randn(2, 3, 5, 6), f.randn(6, 7))
    mm("matmul_broadcast_a_2d", f.randn(5, 6), f.randn(2, 6, 3))
    mm("matmul_b_transposed", f.randn(5, 12), f.randn(9, 12), {"b": [["transpose", 0, 1]]})
    mm("matmul_a_transposed", f.randn(12, 5), f.randn(12, 9), {"a": [["transpose", 0, 1]]})
    mm("matmul_both_transposed_batched", f.randn(2, 12, 5), f.randn(2, 9, 12),
       {"a": [["transpose", -1, -2]], "b": [["transpose", -1, -2]]})
    mm("matmul_a_sliced_step2", f.randn(6, 22), f.randn(11, 9), {"a": [["slice", 1, 0, 22, 2]]})
    mm("matmul_b_row_sliced", f.randn(5, 7), f.randn(7, 20), {"b": [["slice", 1, 3, 14, 1]]})
    mm("matmul_permuted_batch", f.randn(5, 3, 8), f.randn(3, 8, 4), {"a": [["permute", [1, 0, 2]]]})
    mm("matmul_expanded_b", f.randn(3, 5, 8), f.randn(8, 4), {"b": [["unsqueeze", 0], ["expand", [3, 8, 4]]]})
    mm("matmul_large_magnitude", f.randn(9, 31, scale=1e3), f.randn(31, 7, scale=1e3))
    mm("matmul_tiny_magnitude", f.randn(9, 31, scale=1e-15), f.randn(31, 7, scale=1e-15))
    mm("matmul_bf16", f.randn(9, 40, dtype=BF16), f.randn(40, 11, dtype=BF16), native=True)
    mm("matmul_bf16_batched_bt", f.randn(2, 7, 24, dtype=BF16), f.randn(2, 10, 24, dtype=BF16),
       {"b": [["transpose", -1, -2]]}, native=True)
    mm("matmul_f16", f.randn(9, 40, dtype=F16), f.randn(40, 11, dtype=F16), native=True)

    def lin(name, x, w, b=None, views=None, native=False):
        v = viewed({"x": x, "weight": w, "bias": b}, views)
        outs = {"out": F.linear(up(v["x"]), up(v["weight"]), up(v["bias"]))}
        if native:
            dt = w.dtype
            outs["out_native"] = F.linear(v["x"].to(dt), v["weight"], None if b is None else v["bias"].to(dt))
        f.add(name, "linear", {"x": x, "weight": w, "bias": b}, outs, views)

    for dt, tag in ((F32, "f32"), (BF16, "bf16"), (F16, "f16")):
        native = dt != F32
        # M = 1 (GEMV path), odd sizes both ways
        lin(f"linear_{tag}_gemv_37x53", f.rounded(1, 53, dtype=dt), f.randn(37, 53, dtype=dt),
            f.randn(37, dtype=dt), native=native)
        lin(f"linear_{tag}_gemv_rank3_53x37", f.rounded(1, 1, 37, dtype=dt), f.randn(53, 37, dtype=dt),
            f.randn(53, dtype=dt), native=native)
        lin(f"linear_{tag}_gemv_nobias", f.rounded(1, 64, dtype=dt), f.randn(48, 64, dtype=dt), native=native)
        # small M between the paths
        lin(f"linear_{tag}_m3", f.rounded(3, 53, dtype=dt), f.randn(37, 53, dtype=dt),
            f.randn(37, dtype=dt), native=native)
        # M >= 16 (GEMM path)
        lin(f"linear_{tag}_gemm_m18", f.rounded(2, 9, 53, dtype=dt), f.randn(37, 53, dtype=dt),
            f.randn(37, dtype=dt), native=native)
        lin(f"linear_{tag}_gemm_m16_nobias", f.rounded(16, 64, dtype=dt), f.randn(48, 64, dtype=dt),
            native=native)
    lin("linear_f32_x_sliced", f.randn(20, 106), f.randn(37, 53), f.randn(37), {"x": [["slice", 1, 0, 106, 2]]})
    lin("linear_f32_x_transposed", f.randn(53, 6), f.randn(37, 53), f.randn(37), {"x": [["transpose", 0, 1]]})
    lin("linear_f32_x_row_view", f.randn(4, 80), f.randn(21, 53), None, {"x": [["slice", 1, 10, 63, 1]]})
    lin("linear_bf16_x_transposed_m17", f.rounded(53, 17), f.randn(37, 53, dtype=BF16), f.randn(37, dtype=BF16),
        {"x": [["transpose", 0, 1]]})
    lin("linear_f32_weight_transposed", f.randn(5, 53), f.randn(53, 37), f.randn(37), {"weight": [["transpose", 0, 1]]})
    lin("linear_bf16_x_bf16", f.randn(3, 64, dtype=BF16), f.randn(40, 64, dtype=BF16), f.randn(40, dtype=BF16),
        native=True)
    lin("linear_bf16_weight_f32_bias", f.randn(2, 37), f.randn(19, 37, dtype=BF16), f.randn(19))
    lin("linear_in1", f.randn(5, 1), f.randn(7, 1), f.randn(7))
    lin("linear_large_magnitude", f.randn(4, 33, scale=1e2), f.randn(9, 33, scale=1e-2), f.randn(9))
    # zero-size: no rows, and an empty reduction (k = 0 gives zeros, or the bias alone)
    mm("matmul_empty_m", f.randn(3, 6), f.randn(6, 4), {"a": [["slice", 0, 0, 0, 1]]})
    mm("matmul_k0", f.randn(3, 6), f.randn(6, 4), {"a": [["slice", 1, 0, 0, 1]], "b": [["slice", 0, 0, 0, 1]]})
    lin("linear_empty_batch", f.randn(4, 9), f.randn(5, 9), f.randn(5), {"x": [["slice", 0, 0, 0, 1]]})
    lin("linear_bf16_x_gemm_f32_weight", f.randn(18, 40, dtype=BF16), f.randn(23, 40), f.randn(23))
    f.save()


# ---------------------------------------------------------------------------------------------
# binary and unary elementwise

BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
    "maximum": torch.maximum, "minimum": torch.minimum, "pow": torch.pow,
}

UNARY = {
    "silu": F.silu,
    "geluErf": F.gelu,
    "geluTanh": lambda x: F.gelu(x, approximate="tanh"),
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "exp": torch.exp, "neg": torch.neg,
    "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "relu": torch.relu, "abs": torch.abs,
    "log": torch.log, "sin": torch.sin, "cos": torch.cos, "square": torch.square,
    "reciprocal": torch.reciprocal,
}


def elementwise_family():
    f = Family("elementwise")

    def operands(op, *shape_a_b):
        sa, sb = shape_a_b
        if op == "pow":
            return f.uniform(0.1, 3.0, *sa), f.uniform(-2.5, 2.5, *sb)
        if op == "div":
            b = f.randn(*sb)
            return f.randn(*sa), torch.sign(b) * (0.25 + b.abs())
        return f.randn(*sa), f.randn(*sb)

    def binary(name, op, a, b, views=None, native=False):
        v = viewed({"a": a, "b": b}, views)
        outs = {"out": BINARY[op](up(v["a"]), up(v["b"]))}
        if native:
            outs["out_native"] = BINARY[op](v["a"], v["b"])
        f.add(name, "binary", {"a": a, "b": b}, outs, views, binary=op)

    for op in BINARY:
        a, b = operands(op, (5, 7), (5, 7))
        binary(f"binary_{op}_same", op, a, b)
        a, b = operands(op, (4, 1, 6), (3, 1))
        binary(f"binary_{op}_broadcast", op, a, b)
        a, b = operands(op, (7, 5), (5, 14))
        binary(f"binary_{op}_noncontiguous", op, a, b, {"a": [["transpose", 0, 1]], "b": [["slice", 1, 0, 14, 2]]})
        a = f.uniform(0.1, 3.0, 3, 11) if op == "pow" else f.randn(3, 11)
        scalar = {"pow": 2.0, "div": 3.0}.get(op, 0.375)
        f.add(f"binary_{op}_scalar", "binaryScalar", {"a": a}, {"out": BINARY[op](a, torch.tensor(scalar, dtype=F32))}, binary=op, scalar=scalar)
        a, _ = operands(op, (2, 3), (1,))
        b = torch.tensor(1.75)
        binary(f"binary_{op}_rank0_b", op, a, b)

    binary("binary_add_a_broadcast", "add", f.randn(1), f.randn(2, 3))
    binary("binary_mul_rank0_both", "mul", torch.tensor(1.5), torch.tensor(-2.25))
    binary("binary_add_rank5_broadcast", "add", f.randn(2, 1, 3, 1, 5), f.randn(3, 4, 1))
    binary("binary_mul_expanded_b", "mul", f.randn(4, 6), f.randn(6), {"b": [["unsqueeze", 0], ["expand", [4, 6]]]})
    binary("binary_sub_b_strided_column", "sub", f.randn(4, 9), f.randn(9, 4), {"b": [["transpose", 0, 1]]})
    binary("binary_add_mixed_f32_bf16", "add", f.randn(4, 9), f.randn(4, 9, dtype=BF16))
    special_a = torch.tensor([-1.0, 0.0, 1.0, -0.0, 2.0, NAN, 3.0, -INF, INF, 5.0])
    special_b = torch.tensor([0.0, 0.0, -0.0, 0.0, NAN, 1.0, INF, 2.0, INF, -INF])
    for op in ("div", "maximum", "minimum", "add", "mul"):
        binary(f"binary_{op}_special", op, special_a, special_b)
    binary("binary_pow_special", "pow", torch.tensor([-2.0, -2.0, 0.0, 0.0, 4.0, 1.0, -8.0, 2.0]),
           torch.tensor([3.0, 0.5, 0.0, -1.0, 0.5, NAN, 2.0, -3.0]))
    binary("binary_mul_overflow", "mul", torch.tensor([1e20, -1e20, 3e38, 1e-20, 1e-30]),
           torch.tensor([1e20, 1e20, 10.0, 1e-20, 1e-15]))
    binary("binary_add_magnitudes", "add", torch.tensor([1e30, 1e-30, 16777216.0, -1e-38, 1e20]),
           torch.tensor([1.0, 1e-38, 1.0, 1e-38, -1e20]))
    for op in ("add", "sub", "mul", "div"):
        a, b = operands(op, (6, 9), (9,))
        binary(f"binary_{op}_bf16", op, a.to(BF16), b.to(BF16), native=True)
    a, b = operands("mul", (6, 9), (6, 9))
    binary("binary_mul_f16", "mul", a.to(F16), b.to(F16), native=True)
    binary("binary_add_empty", "add", f.randn(3, 4), f.randn(4), {"a": [["slice", 0, 0, 0, 1]]})

    def unary(name, op, x, views=None, native=False):
        v = viewed({"x": x}, views)
        # gelu's negative tail is 1 + erf (or 1 + tanh) of a value near -1: torch's f32 result
        # there is off by up to ~2e-7 absolute (x = -4.95: true -1.824e-6, torch -2.066e-6),
        # more than the kernels under test, so gelu is held to a float64 reference.
        reference = "float64" if op.startswith("gelu") else "float32"
        xr = v["x"].double() if reference == "float64" else up(v["x"])
        outs = {"out": UNARY[op](xr).float()}
        if native:
            outs["out_native"] = UNARY[op](v["x"])
        f.add(name, "unary", {"x": x}, outs, views, unary=op, reference=reference)

    extremes = [-100.0, -30.0, -10.0, -1e-3, -1e-20, 0.0, -0.0, 1e-20, 1e-3, 10.0, 30.0, 100.0]
    non_finite = [INF, -INF, NAN]
    for op in UNARY:
        if op in ("sqrt", "rsqrt", "log", "reciprocal"):
            x = torch.exp(f.uniform(-12, 12, 3, 37))
            special = [0.0, -0.0, 1.0, 1e-30, 1e30, 1e-40, -1.0, INF, NAN]
        elif op == "exp":
            x = f.uniform(-20, 20, 3, 37)
            special = [-100.0, -87.0, -20.0, 0.0, -0.0, 1e-20, 88.0, 89.0, 100.0] + non_finite
        elif op in ("sin", "cos"):
            x = f.uniform(-10, 10, 3, 37)
            special = [0.0, -0.0, 1e-20, math.pi, -math.pi / 2, 100.0, -250.0]
        elif op in ("silu", "geluErf", "geluTanh"):
            x = f.randn(3, 37, scale=4.0)
            special = extremes  # torch's ±inf results here are NaN in places; not a contract worth pinning
        else:
            x = f.randn(3, 37, scale=4.0)
            special = extremes + non_finite
        unary(f"unary_{op}", op, x)
        unary(f"unary_{op}_special", op, torch.tensor(special))
    unary("unary_silu_transposed", "silu", f.randn(37, 3, scale=4.0), {"x": [["transpose", 0, 1]]})
    unary("unary_exp_sliced", "exp", f.randn(5, 12), {"x": [["slice", 1, 1, 12, 3]]})
    unary("unary_silu_size1", "silu", f.randn(1, 1, 1))
    for op in ("silu", "geluErf", "geluTanh", "sigmoid", "tanh", "exp"):
        unary(f"unary_{op}_bf16", op, f.randn(4, 33, scale=3.0, dtype=BF16), native=True)
    for op in ("silu", "geluTanh"):
        unary(f"unary_{op}_f16", op, f.randn(4, 33, scale=3.0, dtype=F16), native=True)
    unary("unary_exp_empty", "exp", f.randn(2, 5), {"x": [["slice", 1, 0, 0, 1]]})
    f.save()


# ---------------------------------------------------------------------------------------------
# softmax, norms, reductions


def hf_rms_norm(x, weight, eps):
    """transformers' Qwen3RMSNorm / LlamaRMSNorm.forward, in the input's dtype."""
    dtype = x.dtype
    h = x.to(F32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return h.to(dtype) if weight is None else weight * h.to(dtype)


def reference_args(reference, *tensors, n=None):
    """Inputs upcast for the reference: float32 (torch's f32 result, the default) or float64 (for
    ill-conditioned cases where torch's own f32 rounding error would exceed our tolerance)."""
    dtype = torch.float64 if reference == "float64" else F32
    out = [None if t is None else t.to(dtype) for t in tensors]
    return (out[0], n, *out[1:]) if n is not None else tuple(out)


def normalization_family():
    f = Family("normalization")

    def softmax(name, x, dim, views=None, native=False):
        v = viewed({"x": x}, views)
        outs = {"out": torch.softmax(up(v["x"]), dim)}
        if native:
            outs["out_native"] = torch.softmax(v["x"], dim)
        f.add(name, "softmax", {"x": x}, outs, views, dim=dim)

    softmax("softmax_last", f.randn(4, 37, scale=3.0), -1)
    softmax("softmax_dim0", f.randn(5, 6), 0)
    softmax("softmax_middle", f.randn(2, 9, 5), 1)
    softmax("softmax_large_1e4", f.randn(3, 16, scale=1e4), -1)
    softmax("softmax_large_offset", f.randn(3, 16) + 1e4, -1)
    x = f.randn(4, 10)
    x[0, 3] = x[1, 0] = x[1, 9] = x[3, 2:8] = -INF
    softmax("softmax_neg_inf", x, -1)
    x = f.randn(3, 6)
    x[1] = -INF
    softmax("softmax_all_masked_row", x, -1)
    softmax("softmax_size1", f.randn(3, 1), -1)
    softmax("softmax_transposed", f.randn(7, 4), -1, {"x": [["transpose", 0, 1]]})
    softmax("softmax_bf16", f.randn(4, 37, scale=3.0, dtype=BF16), -1, native=True)
    softmax("softmax_f16", f.randn(4, 37, scale=3.0, dtype=F16), -1, native=True)
    softmax("softmax_bf16_dim0_transposed", f.randn(6, 5, dtype=BF16), 0, {"x": [["transpose", 0, 1]]}, native=True)

    def rms(name, x, w, eps, views=None, native=False):
        v = viewed({"x": x, "weight": w}, views)
        xf = up(v["x"])
        ref = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
        if w is not None:
            ref = ref * up(v["weight"])
        outs = {"out": ref}
        if native:
            outs["out_native"] = hf_rms_norm(v["x"], v["weight"], eps)
        f.add(name, "rmsNorm", {"x": x, "weight": w}, outs, views, eps=eps)

    rms("rmsnorm_f32_weight", f.randn(4, 37), 1 + f.randn(37, scale=0.1), 1e-6)
    rms("rmsnorm_no_weight", f.randn(2, 3, 64), None, 1e-5)
    rms("rmsnorm_bf16_weight", f.randn(5, 48), f.randn(48, dtype=BF16), 1e-6)
    rms("rmsnorm_f16_weight", f.randn(5, 48), f.randn(48, dtype=F16), 1e-6)
    rms("rmsnorm_large", f.randn(3, 40, scale=1e4), f.randn(40), 1e-6)
    rms("rmsnorm_tiny_eps_matters", f.randn(3, 40, scale=1e-4), f.randn(40), 1e-6)
    rms("rmsnorm_transposed", f.randn(37, 6), f.randn(37), 1e-6, {"x": [["transpose", 0, 1]]})
    rms("rmsnorm_head_view", f.randn(2, 5, 3 * 16), f.randn(16), 1e-6,
        {"x": [["reshape", [2, 5, 3, 16]], ["slice", 2, 1, 3, 1]]})
    rms("rmsnorm_width1", f.randn(3, 1), None, 1e-6)
    rms("rmsnorm_bf16_x_bf16_weight", f.randn(6, 40, dtype=BF16), f.randn(40, dtype=BF16), 1e-6, native=True)
    rms("rmsnorm_bf16_x_no_weight", f.randn(6, 40, dtype=BF16), None, 1e-6, native=True)

    def ln(name, x, w, b, eps, views=None, native=False, reference="float32"):
        v = viewed({"x": x, "weight": w, "bias": b}, views)
        n = v["x"].shape[-1]
        outs = {"out": F.layer_norm(*reference_args(reference, v["x"], v["weight"], v["bias"], n=(n,)), eps=eps).float()}
        if native:
            outs["out_native"] = F.layer_norm(v["x"], (n,), v["weight"], v["bias"], eps)
        f.add(name, "layerNorm", {"x": x, "weight": w, "bias": b}, outs, views, eps=eps, reference=reference)

    ln("layernorm_affine", f.randn(5, 37), f.randn(37), f.randn(37), 1e-5)
    ln("layernorm_no_affine", f.randn(2, 3, 64), None, None, 1e-6)
    ln("layernorm_weight_only", f.randn(3, 20), f.randn(20), None, 1e-5)
    ln("layernorm_bias_only", f.randn(3, 20), None, f.randn(20), 1e-5)
    # Ill-conditioned (mean 1e3, spread 1): torch's f32 mean is off by ~2e-5 relative, so the
    # reference is computed in float64 (and rounded to f32).
    ln("layernorm_offset_mean", f.randn(4, 50) + 1e3, f.randn(50), f.randn(50), 1e-5, reference="float64")
    ln("layernorm_large", f.randn(4, 50, scale=1e4), None, None, 1e-6)
    ln("layernorm_transposed", f.randn(37, 5), f.randn(37), f.randn(37), 1e-5, {"x": [["transpose", 0, 1]]})
    ln("layernorm_bf16_weight", f.randn(4, 32), f.randn(32, dtype=BF16), f.randn(32, dtype=BF16), 1e-6)
    ln("layernorm_bf16", f.randn(6, 40, dtype=BF16), f.randn(40, dtype=BF16), f.randn(40, dtype=BF16), 1e-6,
       native=True)

    def gn(name, x, groups, w, b, eps, views=None, native=False, reference="float32"):
        v = viewed({"x": x, "weight": w, "bias": b}, views)
        xr, wr, br = reference_args(reference, v["x"], v["weight"], v["bias"])
        outs = {"out": F.group_norm(xr, groups, wr, br, eps).float()}
        if native:
            outs["out_native"] = F.group_norm(v["x"], groups, v["weight"], v["bias"], eps)
        f.add(name, "groupNorm", {"x": x, "weight": w, "bias": b}, outs, views, groups=groups, eps=eps,
              reference=reference)

    gn("groupnorm_4d", f.randn(2, 8, 5, 3), 4, f.randn(8), f.randn(8), 1e-5)
    gn("groupnorm_3d_no_affine", f.randn(1, 6, 7), 3, None, None, 1e-6)
    gn("groupnorm_one_group", f.randn(2, 5, 4, 4), 1, f.randn(5), f.randn(5), 1e-5)
    gn("groupnorm_instance", f.randn(1, 4, 3, 5), 4, f.randn(4), f.randn(4), 1e-5)
    gn("groupnorm_2d_input", f.randn(3, 6), 2, f.randn(6), f.randn(6), 1e-5)
    gn("groupnorm_permuted_nhwc", f.randn(2, 5, 3, 8), 2, f.randn(8), f.randn(8), 1e-6,
       {"x": [["permute", [0, 3, 1, 2]]]})
    gn("groupnorm_offset_mean", f.randn(1, 6, 4, 4) + 100.0, 3, f.randn(6), f.randn(6), 1e-6, reference="float64")
    gn("groupnorm_bf16_weight", f.randn(1, 8, 3, 3), 4, f.randn(8, dtype=BF16), f.randn(8, dtype=BF16), 1e-6)
    gn("groupnorm_bf16", f.randn(1, 8, 3, 3, dtype=BF16), 4, f.randn(8, dtype=BF16), f.randn(8, dtype=BF16),
       1e-6, native=True)

    def reduce(name, op, x, dim, keep, views=None, native=False):
        v = viewed({"x": x}, views)

        def ref(t):
            if op == "max":
                return torch.amax(t, dim, keepdim=keep)
            return getattr(torch, op)(t, dim, keepdim=keep)

        outs = {"out": ref(up(v["x"]))}
        if native:
            outs["out_native"] = ref(v["x"])
        f.add(name, "reduce", {"x": x}, outs, views, reduce=op, dim=dim, keepDim=keep)

    for op in ("sum", "mean", "max"):
        reduce(f"reduce_{op}_last", op, f.randn(3, 5, 7), -1, False)
        reduce(f"reduce_{op}_dim0_keep", op, f.randn(3, 5, 7), 0, True)
        reduce(f"reduce_{op}_middle", op, f.randn(3, 5, 7), 1, False)
        reduce(f"reduce_{op}_transposed", op, f.randn(6, 4), 1, True, {"x": [["transpose", 0, 1]]})
        reduce(f"reduce_{op}_size1", op, f.randn(4, 1, 3), 1, False)
        reduce(f"reduce_{op}_bf16", op, f.randn(4, 64, dtype=BF16), -1, False, native=True)
    x = f.randn(3, 5)
    x[0, 1] = NAN
    x[1] = -INF
    x[2, 4] = INF
    reduce("reduce_max_non_finite", "max", x, -1, False)
    reduce("reduce_sum_long_row", "sum", f.randn(2, 999) + 3.0, -1, True)
    f.save()


# ---------------------------------------------------------------------------------------------
# rope, embedding


def rope_angles(positions, rotary_dim, theta=10000.0):
    inv_freq = 1.0 / theta ** (torch.arange(0, rotary_dim, 2, dtype=torch.float64) / rotary_dim)
    angles = torch.as_tensor(positions, dtype=torch.float64)[..., None] * inv_freq
    return angles.cos().float(), angles.sin().float()


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope_half_split(x, cos, sin):
    """transformers' apply_rotary_pos_emb (with partial rotary: the first R features rotate)."""
    r = cos.shape[-1] * 2
    cos, sin = torch.cat((cos, cos), -1).to(x.dtype), torch.cat((sin, sin), -1).to(x.dtype)
    rot, rest = x[..., :r], x[..., r:]
    return torch.cat((rot * cos + rotate_half(rot) * sin, rest), -1)


def rope_interleaved(x, cos, sin):
    """The complex form of Flux / Z-Image: pairs (2i, 2i+1) times cos + i sin, computed in f32."""
    r = cos.shape[-1] * 2
    rot, rest = x[..., :r], x[..., r:]
    xc = torch.view_as_complex(rot.float().reshape(*rot.shape[:-1], -1, 2))
    out = torch.view_as_real(xc * torch.complex(cos, sin)).flatten(-2)
    return torch.cat((out.type_as(x), rest), -1)


def positional_family():
    f = Family("positional")

    def rope(name, layout, x, cos, sin, views=None, native=False):
        v = viewed({"x": x, "cos": cos, "sin": sin}, views)
        fn = rope_half_split if layout == "halfSplit" else rope_interleaved
        outs = {"out": fn(up(v["x"]), v["cos"], v["sin"])}
        if native:
            outs["out_native"] = fn(v["x"], v["cos"], v["sin"])
        f.add(name, "rope", {"x": x, "cos": cos, "sin": sin}, outs, views, layout=layout)

    cos, sin = rope_angles(range(5), 16)
    rope("rope_half_full", "halfSplit", f.randn(1, 3, 5, 16), cos, sin)
    cos, sin = rope_angles([[3, 4, 5, 6, 7], [0, 1, 2, 3, 4]], 16)  # per-batch position ids
    rope("rope_half_hf_layout", "halfSplit", f.randn(2, 2, 5, 16), cos[:, None], sin[:, None])
    cos, sin = rope_angles(range(5), 8)
    rope("rope_half_partial_r8_d24", "halfSplit", f.randn(1, 2, 5, 24), cos, sin)
    cos, sin = rope_angles([1234], 64, theta=1e6)
    rope("rope_half_decode_pos1234", "halfSplit", f.randn(1, 4, 1, 64), cos, sin)
    cos, sin = rope_angles(range(6), 16)
    rope("rope_half_permuted_bshd", "halfSplit", f.randn(1, 6, 3, 16), cos, sin, {"x": [["permute", [0, 2, 1, 3]]]})
    cos, sin = rope_angles(range(5), 16)
    rope("rope_half_fused_qkv_slice", "halfSplit", f.randn(1, 2, 5, 40), cos, sin, {"x": [["slice", 3, 8, 24, 1]]})
    cos, sin = rope_angles(range(5), 16)
    rope("rope_interleaved_full", "interleaved", f.randn(1, 5, 3, 16), cos[None, :, None], sin[None, :, None])
    cos, sin = rope_angles(range(5), 16)
    rope("rope_interleaved_partial_r16_d24", "interleaved", f.randn(1, 5, 2, 24), cos[:, None], sin[:, None])
    cos, sin = rope_angles(range(5), 16)
    rope("rope_interleaved_bhsd_cos2d", "interleaved", f.randn(2, 3, 5, 16), cos, sin)
    cos, sin = rope_angles(range(4), 16)
    rope("rope_interleaved_permuted", "interleaved", f.randn(1, 2, 4, 16), cos[:, None], sin[:, None],
         {"x": [["permute", [0, 2, 1, 3]]]})
    cos, sin = rope_angles(range(7), 32)
    rope("rope_half_bf16", "halfSplit", f.randn(1, 2, 7, 32, dtype=BF16), cos, sin, native=True)
    rope("rope_interleaved_bf16", "interleaved", f.randn(1, 7, 2, 32, dtype=BF16), cos[:, None], sin[:, None],
         native=True)

    def emb(name, table, ids, views=None):
        v = viewed({"table": table, "ids": ids}, views)
        f.add(name, "embedding", {"table": table, "ids": ids},
              {"out": F.embedding(v["ids"].long(), up(v["table"]))}, views)

    emb("embedding_f32", f.randn(11, 7), torch.tensor([[0, 10, 3], [3, 3, 5]]))
    emb("embedding_bf16", f.randn(50, 16, dtype=BF16), f.randint(0, 50, 9))
    emb("embedding_f16", f.randn(13, 5, dtype=F16), torch.tensor([[12, 0, 7, 7]]))
    emb("embedding_i32_ids", f.randn(9, 6), torch.tensor([8, 1, 0, 4], dtype=torch.int32))
    emb("embedding_rank0_id", f.randn(9, 6), torch.tensor(5))
    emb("embedding_ids_strided", f.randn(20, 4), f.randint(0, 20, 2, 6), {"ids": [["slice", 1, 0, 6, 2]]})
    f.save()


# ---------------------------------------------------------------------------------------------
# attention


def sdpa_reference(q, k, v, mask, causal, scale):
    sq, sk = q.shape[-2], k.shape[-2]
    attn_mask = None
    if mask is not None:
        attn_mask = mask.bool() if mask.dtype == torch.uint8 else mask.to(q.dtype)
    is_causal = causal == "topLeft" and attn_mask is None
    if causal == "bottomRight" or (causal == "topLeft" and attn_mask is not None):
        keep = torch.ones(sq, sk, dtype=torch.bool).tril(sk - sq if causal == "bottomRight" else 0)
        if attn_mask is None:
            attn_mask = keep
        elif attn_mask.dtype == torch.bool:
            attn_mask = attn_mask & keep
        else:
            attn_mask = attn_mask.masked_fill(~keep, -INF)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale,
                                          enable_gqa=q.shape[1] != k.shape[1])


def attention_family():
    f = Family("attention")

    def attn(name, q, k, v, mask=None, causal=None, scale=None, views=None, native=False):
        t = viewed({"query": q, "key": k, "value": v, "mask": mask}, views)
        outs = {"out": sdpa_reference(up(t["query"]), up(t["key"]), up(t["value"]), up(t["mask"]), causal, scale)}
        if native:
            outs["out_native"] = sdpa_reference(t["query"], t["key"], t["value"], t["mask"], causal, scale)
        f.add(name, "attention", {"query": q, "key": k, "value": v, "mask": mask}, outs, views,
              causal=causal, scale=scale)

    def qkv(b, hq, hkv, sq, sk, d, dv=None, dtype=F32, scale=1.0):
        return (f.randn(b, hq, sq, d, scale=scale, dtype=dtype), f.randn(b, hkv, sk, d, dtype=dtype),
                f.randn(b, hkv, sk, dv or d, dtype=dtype))

    def additive_mask(*shape):
        m = f.randn(*shape)
        m[f.uniform(0, 1, *shape) < 0.3] = -INF
        m[..., 0] = 0.0  # every query keeps at least one key
        return m

    def bool_mask(*shape):
        m = (f.uniform(0, 1, *shape) < 0.6).to(torch.uint8)
        m[..., -1] = 1
        return m

    attn("attention_basic_d24", *qkv(1, 2, 2, 5, 5, 24))
    attn("attention_causal_topleft_square", *qkv(1, 3, 3, 7, 7, 24), causal="topLeft")
    attn("attention_causal_topleft_sq3_sk8", *qkv(1, 2, 2, 3, 8, 24), causal="topLeft")
    attn("attention_causal_bottomright_sq3_sk8", *qkv(1, 2, 2, 3, 8, 24), causal="bottomRight")
    attn("attention_decode_sq1_gqa2_d64", *qkv(1, 4, 2, 1, 9, 64), causal="bottomRight")
    attn("attention_decode_sq1_nomask", *qkv(1, 2, 2, 1, 13, 64))
    attn("attention_additive_mask", *qkv(2, 2, 2, 4, 6, 16), mask=additive_mask(2, 1, 4, 6))
    attn("attention_additive_mask_2d", *qkv(1, 2, 2, 4, 6, 16), mask=additive_mask(4, 6))
    pad = torch.zeros(2, 1, 1, 6)
    pad[0, ..., 4:] = -INF
    attn("attention_padding_mask_row", *qkv(2, 2, 2, 5, 6, 16), mask=pad)
    attn("attention_bool_mask", *qkv(2, 2, 2, 4, 6, 16), mask=bool_mask(2, 1, 4, 6))
    attn("attention_bool_mask_bottomright", *qkv(1, 2, 2, 3, 7, 16), mask=bool_mask(1, 1, 3, 7), causal="bottomRight")
    attn("attention_additive_topleft", *qkv(1, 2, 2, 5, 5, 16), mask=additive_mask(1, 1, 5, 5), causal="topLeft")
    attn("attention_gqa1_causal", *qkv(1, 3, 3, 6, 6, 24), causal="topLeft")
    attn("attention_gqa2", *qkv(1, 4, 2, 6, 6, 24))
    attn("attention_gqa7_causal", *qkv(1, 7, 1, 5, 5, 24), causal="topLeft")
    attn("attention_gqa7_decode", *qkv(1, 7, 1, 1, 10, 64), causal="bottomRight")
    attn("attention_dv16_d24", *qkv(1, 2, 2, 4, 6, 24, dv=16))
    attn("attention_scale_0p3", *qkv(1, 2, 2, 4, 6, 24), scale=0.3)
    attn("attention_permuted_bshd", f.randn(1, 5, 2, 24), f.randn(1, 5, 2, 24), f.randn(1, 5, 2, 24), causal="topLeft",
         views={n: [["permute", [0, 2, 1, 3]]] for n in ("query", "key", "value")})
    attn("attention_large_logits", *qkv(1, 2, 2, 5, 5, 24, scale=30.0))
    attn("attention_b2_d64_causal", *qkv(2, 2, 2, 12, 12, 64), causal="topLeft")
    attn("attention_long_sk70", *qkv(1, 2, 2, 2, 70, 32), causal="bottomRight")
    attn("attention_bf16_causal", *qkv(1, 2, 2, 6, 6, 32, dtype=BF16), causal="topLeft", native=True)
    attn("attention_bf16_gqa_decode", *qkv(1, 4, 2, 1, 9, 64, dtype=BF16), causal="bottomRight", native=True)
    attn("attention_f16", *qkv(1, 2, 2, 5, 5, 32, dtype=F16), native=True)
    attn("attention_causal_topleft_sq5_sk3", *qkv(1, 2, 2, 5, 3, 24), causal="topLeft")
    attn("attention_bf16_additive_mask_bf16", *qkv(1, 2, 2, 4, 6, 32, dtype=BF16),
         mask=additive_mask(1, 1, 4, 6).to(BF16), native=True)
    f.save()


def paged_family():
    """writeKV + pagedAttention: each sequence's keys/values go to the slots its block table
    names; the reference is SDPA per sequence, its new tokens being the last positions
    (bottom-right causal)."""
    f = Family("paged")

    def paged(name, hq, hkv, d, dv, block_size, blocks, sequences, scale):
        inputs, outputs, meta = {}, [], []
        queries = []
        for i, (query_count, context, table) in enumerate(sequences):
            assert len(table) * block_size >= context
            k, v = f.randn(context, hkv, d), f.randn(context, hkv, dv)
            q = f.randn(query_count, hq, d)
            inputs[f"key{i}"], inputs[f"value{i}"] = k, v
            queries.append(q)
            ref = sdpa_reference(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None], None,
                                 "bottomRight", scale)
            outputs.append(ref[0].transpose(0, 1))
            meta.append({"queryCount": query_count, "contextLength": context, "blockTable": table})
        inputs = {"query": torch.cat(queries), **inputs}
        f.add(name, "pagedAttention", inputs, {"out": torch.cat(outputs)}, blockSize=block_size, blocks=blocks,
              sequences=meta, scale=scale)

    paged("paged_decode_two_sequences", 4, 2, 16, 16, 4, 8, [(1, 6, [5, 2]), (1, 9, [0, 7, 3])], 0.25)
    paged("paged_prefill_and_decode", 6, 2, 24, 16, 4, 10, [(5, 5, [9, 1]), (1, 11, [3, 8, 4]), (3, 7, [6, 0])],
          24 ** -0.5)
    paged("paged_chunked_prefill_gqa7", 7, 1, 32, 32, 8, 4, [(4, 13, [2, 0])], 32 ** -0.5)
    f.save()


# ---------------------------------------------------------------------------------------------
# convolution


def convolution_family():
    f = Family("convolution")

    def conv(name, op, x, w, b=None, views=None, native=False, **p):
        v = viewed({"x": x, "weight": w, "bias": b}, views)

        def ref(x, w, b):
            if op == "conv1d" or op == "conv2d":
                fn = F.conv1d if op == "conv1d" else F.conv2d
                return fn(x, w, b, p["stride"], p["padding"], p["dilation"], p["groups"])
            fn = F.conv_transpose1d if op == "convTranspose1d" else F.conv_transpose2d
            return fn(x, w, b, p["stride"], p["padding"], p["outputPadding"], p["groups"], p["dilation"])

        outs = {"out": ref(up(v["x"]), up(v["weight"]), up(v["bias"]))}
        if native:
            dt = w.dtype
            outs["out_native"] = ref(v["x"].to(dt), v["weight"], None if b is None else v["bias"].to(dt))
        f.add(name, op, {"x": x, "weight": w, "bias": b}, outs, views, **p)

    def c1(name, x, w, b=None, stride=1, padding=0, dilation=1, groups=1, **kw):
        conv(name, "conv1d", x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups, **kw)

    def c2(name, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, **kw):
        conv(name, "conv2d", x, w, b, stride=list(stride), padding=list(padding), dilation=list(dilation),
             groups=groups, **kw)

    def t1(name, x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1, **kw):
        conv(name, "convTranspose1d", x, w, b, stride=stride, padding=padding, outputPadding=output_padding,
             dilation=dilation, groups=groups, **kw)

    def t2(name, x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1,
           **kw):
        conv(name, "convTranspose2d", x, w, b, stride=list(stride), padding=list(padding),
             outputPadding=list(output_padding), dilation=list(dilation), groups=groups, **kw)

    c1("conv1d_basic", f.randn(2, 3, 11), f.randn(4, 3, 3), f.randn(4))
    c1("conv1d_stride2_pad1", f.randn(1, 4, 13), f.randn(6, 4, 5), f.randn(6), stride=2, padding=1)
    c1("conv1d_dilation2", f.randn(1, 3, 12), f.randn(5, 3, 3), f.randn(5), padding=2, dilation=2)
    c1("conv1d_groups2", f.randn(1, 6, 10), f.randn(4, 3, 3), f.randn(4), padding=1, groups=2)
    c1("conv1d_depthwise_k7", f.randn(1, 5, 12), f.randn(5, 1, 7), f.randn(5), padding=3, groups=5)
    c1("conv1d_depthwise_mult2", f.randn(2, 3, 9), f.randn(6, 1, 3), None, padding=1, groups=3)
    c1("conv1d_k1_nobias", f.randn(1, 5, 8), f.randn(7, 5, 1))
    c1("conv1d_all_params", f.randn(1, 6, 23), f.randn(4, 3, 4), f.randn(4), stride=3, padding=2, dilation=2, groups=2)
    c1("conv1d_transposed_input", f.randn(1, 10, 4), f.randn(3, 4, 3), f.randn(3), padding=1,
       views={"x": [["transpose", 1, 2]]})
    c1("conv1d_bf16_weight", f.rounded(1, 4, 10), f.randn(6, 4, 3, dtype=BF16), f.randn(6, dtype=BF16), padding=1,
       native=True)
    c2("conv2d_basic", f.randn(1, 3, 7, 9), f.randn(4, 3, 3, 3), f.randn(4), padding=(1, 1))
    c2("conv2d_stride_pad_asym", f.randn(2, 3, 9, 8), f.randn(5, 3, 3, 4), f.randn(5), stride=(2, 1), padding=(1, 2))
    c2("conv2d_dilation", f.randn(1, 2, 9, 9), f.randn(3, 2, 3, 3), f.randn(3), padding=(2, 1), dilation=(2, 1))
    c2("conv2d_groups2", f.randn(2, 6, 6, 5), f.randn(4, 3, 3, 3), f.randn(4), padding=(1, 1), groups=2)
    c2("conv2d_depthwise", f.randn(1, 8, 7, 7), f.randn(8, 1, 3, 3), f.randn(8), padding=(1, 1), groups=8)
    c2("conv2d_1x1", f.randn(1, 8, 5, 6), f.randn(5, 8, 1, 1), f.randn(5))
    c2("conv2d_patchify_k2s2", f.randn(1, 3, 8, 8), f.randn(6, 3, 2, 2), f.randn(6), stride=(2, 2))
    c2("conv2d_nobias_odd", f.randn(1, 3, 5, 6), f.randn(2, 3, 2, 3))
    c2("conv2d_nhwc_permuted", f.randn(1, 6, 5, 3), f.randn(4, 3, 3, 3), f.randn(4), padding=(1, 1),
       views={"x": [["permute", [0, 3, 1, 2]]]})
    c2("conv2d_bf16_weight", f.rounded(1, 4, 6, 6), f.randn(5, 4, 3, 3, dtype=BF16), f.randn(5, dtype=BF16),
       padding=(1, 1), native=True)
    c2("conv2d_f16_weight", f.rounded(1, 4, 6, 6, dtype=F16), f.randn(5, 4, 3, 3, dtype=F16), f.randn(5, dtype=F16),
       padding=(1, 1), native=True)
    t1("convtranspose1d_basic", f.randn(1, 4, 7), f.randn(4, 3, 3), f.randn(3))
    t1("convtranspose1d_s2_p1_op1", f.randn(2, 3, 6), f.randn(3, 5, 4), f.randn(5), stride=2, padding=1,
       output_padding=1)
    t1("convtranspose1d_dilation2", f.randn(1, 3, 6), f.randn(3, 2, 3), f.randn(2), stride=2, padding=1, dilation=2)
    t1("convtranspose1d_groups2", f.randn(1, 4, 5), f.randn(4, 3, 3), f.randn(6), stride=2, groups=2)
    t1("convtranspose1d_vocoder_k16_s8", f.randn(1, 6, 5), f.randn(6, 3, 16), f.randn(3), stride=8, padding=4)
    t1("convtranspose1d_depthwise", f.randn(1, 4, 6), f.randn(4, 1, 3), None, stride=2, groups=4)
    t1("convtranspose1d_bf16_weight", f.rounded(1, 4, 6), f.randn(4, 3, 4, dtype=BF16), f.randn(3, dtype=BF16),
       stride=2, padding=1, native=True)
    t2("convtranspose2d_basic", f.randn(1, 3, 4, 5), f.randn(3, 2, 3, 3), f.randn(2), stride=(2, 2), padding=(1, 1),
       output_padding=(1, 1))
    t2("convtranspose2d_asym", f.randn(1, 2, 3, 4), f.randn(2, 3, 3, 2), f.randn(3), stride=(2, 1), padding=(0, 1),
       output_padding=(1, 0), dilation=(1, 2))
    t2("convtranspose2d_groups2", f.randn(1, 4, 3, 3), f.randn(4, 2, 3, 3), f.randn(4), stride=(2, 2), groups=2)
    t2("convtranspose2d_k2s2", f.randn(2, 3, 4, 4), f.randn(3, 4, 2, 2), f.randn(4), stride=(2, 2))
    t2("convtranspose2d_nobias_s1", f.randn(1, 2, 3, 3), f.randn(2, 2, 2, 2))
    c1("conv1d_padding_exceeds_kernel", f.randn(1, 2, 5), f.randn(3, 2, 3), f.randn(3), padding=4)
    c2("conv2d_bf16_input_f32_weight", f.randn(1, 3, 5, 5, dtype=BF16), f.randn(4, 3, 3, 3), f.randn(4), padding=(1, 1))
    f.save()


# ---------------------------------------------------------------------------------------------
# upsample, pool


def resampling_family():
    f = Family("resampling")

    def upsample(name, x, size, mode, align=None, views=None):
        v = viewed({"x": x}, views)
        xv = v["x"]
        if mode == "nearest":
            out = F.interpolate(xv, size=size, mode="nearest")
        else:
            tmode = "linear" if xv.dim() == 3 else "bilinear"
            out = F.interpolate(xv, size=size, mode=tmode, align_corners=align)
        f.add(name, "upsample", {"x": x}, {"out": out}, views, size=size, mode=mode, alignCorners=align)

    x1 = f.randn(1, 2, 5)
    x2 = f.randn(1, 3, 4, 5)
    for size in ([10], [7], [3], [12]):
        upsample(f"upsample_nearest_1d_{size[0]}", x1, size, "nearest")
    for size in ([8, 10], [7, 9], [3, 4], [4, 11]):
        upsample(f"upsample_nearest_2d_{size[0]}x{size[1]}", x2, size, "nearest")
    for align in (False, True):
        tag = "ac" if align else "noac"
        for size in ([10], [7], [3]):
            upsample(f"upsample_linear_1d_{tag}_{size[0]}", x1, size, "linear", align)
        for size in ([8, 10], [7, 9], [3, 4], [1, 3]):
            upsample(f"upsample_bilinear_{tag}_{size[0]}x{size[1]}", x2, size, "linear", align)
    upsample("upsample_bilinear_nhwc_permuted", f.randn(2, 3, 4, 2), [6, 7], "linear", False,
             {"x": [["permute", [0, 3, 1, 2]]]})
    upsample("upsample_nearest_nhwc_permuted", f.randn(1, 3, 4, 2), [6, 8], "nearest", None,
             {"x": [["permute", [0, 3, 1, 2]]]})

    def pool(name, kind, x, kernel, stride, padding, views=None):
        v = viewed({"x": x}, views)
        xv = v["x"]
        if xv.dim() == 3:
            fn = F.max_pool1d if kind == "max" else F.avg_pool1d
            out = fn(xv, kernel[0], stride[0], padding[0])
        else:
            fn = F.max_pool2d if kind == "max" else F.avg_pool2d
            out = fn(xv, kernel, stride, padding)
        f.add(name, "pool", {"x": x}, {"out": out}, views, kind=kind, kernel=kernel, stride=stride, padding=padding)

    for kind in ("max", "average"):
        pool(f"pool_{kind}_1d_k3_s2_p1", kind, f.randn(1, 3, 10), [3], [2], [1])
        pool(f"pool_{kind}_1d_k2_s2_odd", kind, f.randn(2, 2, 9), [2], [2], [0])
        pool(f"pool_{kind}_1d_k4_s3_p2", kind, f.randn(1, 2, 11), [4], [3], [2])
        pool(f"pool_{kind}_2d_k3_s2_p1", kind, f.randn(1, 2, 7, 8), [3, 3], [2, 2], [1, 1])
        pool(f"pool_{kind}_2d_k2x3_s2x1_p1x1", kind, f.randn(1, 2, 6, 7), [2, 3], [2, 1], [1, 1])
        pool(f"pool_{kind}_2d_k2_s2", kind, f.randn(2, 3, 6, 6), [2, 2], [2, 2], [0, 0])
        pool(f"pool_{kind}_2d_negative_padded", kind, -f.randn(1, 2, 5, 5).abs() - 1.0, [3, 3], [2, 2], [1, 1])
    pool("pool_max_2d_transposed", "max", f.randn(1, 2, 7, 6), [2, 2], [2, 2], [0, 0], {"x": [["transpose", 2, 3]]})
    f.save()


# ---------------------------------------------------------------------------------------------
# cast, contiguous, copy, concat


def bf16_tie_values():
    """f32 values exactly halfway between two bf16 values, and one ulp either side."""
    base = torch.tensor([1.0, 1.0078125, -3.0, 2.0 ** -100, 1.5 * 2.0 ** 100], dtype=F32)
    bits = base.view(torch.int32)
    out = []
    for delta in (0x8000, 0x7FFF, 0x8001, 0x18000):
        out.append((bits + delta).view(F32))
    return torch.cat(out)


def f16_tie_values():
    base = torch.tensor([1.0, 1.0009765625, -3.0, 2.0 ** -14, 2.0 ** -20], dtype=F32)  # incl. f16 subnormal range
    ulp = torch.tensor([2.0 ** -10, 2.0 ** -10, 2.0 ** -9, 2.0 ** -24, 2.0 ** -24])
    return torch.cat([base + ulp / 2, base + ulp * 1.5, base - ulp / 2])


def memory_family():
    f = Family("memory")

    def cast(name, x, to, views=None):
        v = viewed({"x": x}, views)
        target = {"f32": F32, "bf16": BF16, "f16": F16, "i32": torch.int32, "i64": torch.int64}[to]
        f.add(name, "cast", {"x": x}, {"out": v["x"].to(target)}, views, to=to)

    specials = torch.tensor([0.0, -0.0, 1.0, -1.0, INF, -INF, NAN, -NAN, 3.4028235e38, -3.4028235e38,
                             1.1754944e-38, 1e-40, -1e-40, 1.4e-45, 65504.0, 65519.0, 65520.0, 1e5, -7e4,
                             6.1e-5, 6e-8, 3e-8, 2.9802322e-08, 1e-8, 0.1, 1.0 / 3.0], dtype=F32)
    wide = torch.exp(f.uniform(-95, 95, 301)) * torch.sign(f.randn(301))
    for to in ("bf16", "f16"):
        cast(f"cast_f32_{to}_special", specials, to)
        cast(f"cast_f32_{to}_wide_random", wide, to)
        cast(f"cast_f32_{to}_transposed", f.randn(9, 7, scale=100.0), to, {"x": [["transpose", 0, 1]]})
    cast("cast_f32_bf16_ties", bf16_tie_values(), "bf16")
    cast("cast_f32_f16_ties", f16_tie_values(), "f16")
    bf16_bits = torch.cat([torch.arange(0, 65536, 97), torch.tensor([0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x8001, 0x7F7F])])
    cast("cast_bf16_f32_bit_patterns", bf16_bits.to(torch.int32).to(torch.int16).view(BF16), "f32")
    f16_bits = torch.cat([torch.arange(0, 65536, 89), torch.tensor([0x7C00, 0xFC00, 0x7E00, 0x0001, 0x83FF, 0x7BFF])])
    cast("cast_f16_f32_bit_patterns", f16_bits.to(torch.int32).to(torch.int16).view(F16), "f32")
    cast("cast_bf16_f16", f.randn(40, scale=10.0, dtype=BF16), "f16")
    cast("cast_f16_bf16", f.randn(40, scale=10.0, dtype=F16), "bf16")
    cast("cast_f32_i32_truncates", torch.tensor([-2.7, -0.5, 0.0, 0.9, 3.99, 123456.7, -65536.2]), "i32")
    cast("cast_f32_i64_truncates", torch.tensor([-2.7, -0.5, 0.0, 0.9, 3.99, 1e10, -3e9]), "i64")
    cast("cast_i64_f32", torch.tensor([0, 1, -5, 16777217, 2 ** 40 + 1, -(2 ** 31)]), "f32")
    cast("cast_f32_f32_copy", f.randn(3, 4), "f32")

    def contiguous(name, x, views):
        v = viewed({"x": x}, views)
        f.add(name, "contiguous", {"x": x}, {"out": v["x"]}, views)

    contiguous("contiguous_permuted", f.randn(2, 3, 4), {"x": [["permute", [2, 0, 1]]]})
    contiguous("contiguous_sliced_steps", f.randn(7, 10), {"x": [["slice", 1, 1, 9, 3], ["slice", 0, 0, 7, 2]]})
    contiguous("contiguous_expanded", f.randn(3, 1), {"x": [["expand", [3, 5]]]})
    contiguous("contiguous_expanded_new_dims", f.randn(1, 4), {"x": [["expand", [2, 3, 4]]]})
    contiguous("contiguous_selected", f.randn(4, 5, 6), {"x": [["select", 1, 2]]})
    contiguous("contiguous_bf16_transposed", f.randn(5, 9, dtype=BF16), {"x": [["transpose", 0, 1]]})
    contiguous("contiguous_f16_sliced", f.randn(6, 8, dtype=F16), {"x": [["slice", 1, 2, 7, 2]]})
    contiguous("contiguous_i64_permuted", f.randint(-100, 100, 3, 4, 2), {"x": [["permute", [1, 2, 0]]]})
    contiguous("contiguous_transposed_unsqueezed", f.randn(4, 6),
               {"x": [["transpose", 0, 1], ["unsqueeze", 1], ["slice", 0, 1, 6, 2]]})
    contiguous("contiguous_already", f.randn(3, 5), {})
    contiguous("contiguous_offset_row", f.randn(5, 8), {"x": [["slice", 0, 2, 4, 1]]})

    def copy(name, source, destination, views):
        v = viewed({"source": source, "destination": destination.clone()}, views)
        target = v["destination"]
        target.copy_(v["source"].expand_as(target) if v["source"].shape != target.shape else v["source"])
        # `target` is a view of the destination clone: `out` is the whole destination after the copy.
        dest = target
        while dest._base is not None:
            dest = dest._base
        f.add(name, "copy", {"source": source, "destination": destination}, {"out": dest}, views)

    copy("copy_into_strided_slice", f.randn(4, 2), torch.zeros(4, 6), {"destination": [["slice", 1, 1, 5, 2]]})
    copy("copy_broadcast_source", f.randn(1, 2), f.randn(4, 6), {"destination": [["slice", 1, 1, 5, 2]]})
    copy("copy_f32_into_bf16", f.randn(3, 5), torch.zeros(3, 5, dtype=BF16), {})
    copy("copy_transposed_source", f.randn(5, 3), torch.zeros(3, 5), {"source": [["transpose", 0, 1]]})
    copy("copy_into_permuted_destination", f.randn(4, 3), torch.zeros(3, 4), {"destination": [["transpose", 0, 1]]})
    copy("copy_into_kv_cache_rows", f.randn(1, 2, 3, 8), f.randn(1, 2, 10, 8), {"destination": [["slice", 2, 4, 7, 1]]})

    def concat(name, tensors, dim, views=None):
        inputs = {f"t{i}": t for i, t in enumerate(tensors)}
        v = viewed(inputs, views)
        out = torch.cat([up(v[k]) for k in inputs], dim)
        f.add(name, "concat", inputs, {"out": out}, views, dim=dim)

    concat("concat_dim0", [f.randn(2, 3), f.randn(4, 3), f.randn(1, 3)], 0)
    concat("concat_dim1", [f.randn(2, 3, 4), f.randn(2, 1, 4), f.randn(2, 5, 4)], 1)
    concat("concat_last", [f.randn(3, 2), f.randn(3, 7)], -1)
    concat("concat_noncontiguous", [f.randn(5, 3), f.randn(3, 8)], 1,
           {"t0": [["transpose", 0, 1]], "t1": [["slice", 1, 0, 8, 3]]})
    concat("concat_bf16", [f.randn(2, 3, dtype=BF16), f.randn(2, 5, dtype=BF16)], -1)
    concat("concat_with_empty", [f.randn(2, 3, 4), f.randn(2, 3, 4), f.randn(2, 2, 4)], 1,
           {"t1": [["slice", 1, 0, 0, 1]]})
    concat("concat_single", [f.randn(3, 4)], 0)
    f.save()


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    for family in (matmul_family, elementwise_family, normalization_family, positional_family, attention_family,
                   paged_family, convolution_family, resampling_family, memory_family):
        family()
    total = sum(p.stat().st_size for p in OUT_DIR.glob("*.safetensors"))
    print(f"total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
