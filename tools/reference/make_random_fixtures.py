#!/usr/bin/env python3
"""Golden draws of torch's CPU generator, for Swift's `TorchGenerator` (Tests/Fixtures/random/).

torch turns uniforms into normals with one of two Box-Muller kernels, chosen by the CPU: the AVX2
one (avx_mathfun's Cephes log and sincos, used on every x86-64 CPU with AVX2, AVX-512 ones included)
or the DEFAULT one (the C library's logf/cosf/sinf). This script runs itself once under each,
forced with ATEN_CPU_CAPABILITY, and writes `torch_generator.json`:

    {"torch": version, "kernels": {"avx2": [case, ...], "libm": [case, ...]}}

A case is a fresh `torch.Generator("cpu").manual_seed(seed)` and a list of draws from it, in order
(so the state carried between calls is checked too): `{"op": "randn"|"rand", "shape", "dtype",
"count", "fnv", "bits" | "head"+"tail"}` or `{"op": "manual_seed", "seed"}`. Values are bit patterns
in hex (f32/f64/bf16/f16); `fnv` is FNV-1a 64 over all of them, one word per element; a draw of
more than 40 elements keeps only its first and last 8 patterns besides the hash.

Deterministic: rerunning rewrites identical bytes.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "random" / "torch_generator.json"
CAPABILITIES = {"avx2": ("avx2", "AVX2"), "libm": ("default", "DEFAULT")}


def cases():
    out = []
    sizes = list(range(1, 41)) + [47, 63, 64, 65, 100, 127, 255, 256, 1000, 4097]
    for seed in (0, 42):
        for n in sizes:
            out.append((f"randn_n{n}_seed{seed}", seed, [("randn", [n], "f32")]))
    for seed in (1, 2**32 - 1, 2**32 + 7, 2**63 + 12345, 2**64 - 1):
        out.append((f"seed_{seed}", seed, [("randn", [2, 3], "f32"), ("randn", [1, 4, 8, 8], "f32")]))
    # diffusers' randn_tensor for Z-Image latents at 512x512 and 1024x1024: one draw of the whole shape.
    out.append(("latents_512", 0, [("randn", [1, 16, 64, 64], "f32")]))
    out.append(("latents_1024", 1234, [("randn", [1, 16, 128, 128], "f32")]))
    # State carried between calls, the cached second normal of the small-tensor path included.
    out.append(("successive", 7, [
        ("randn", [3], "f32"), ("randn", [3], "f32"), ("randn", [5], "f32"), ("randn", [16], "f32"),
        ("randn", [1], "f32"), ("rand", [5], "f32"), ("randn", [20], "f32"), ("rand", [3], "f64"),
        ("randn", [7], "f64"), ("randn", [33], "f64"), ("randn", [2], "f32"), ("randn", [2, 17], "f32"),
        ("manual_seed", 7), ("randn", [3], "f32"), ("randn", [1], "f32"),
    ]))
    out.append(("successive_latents", 99, [("randn", [1, 16, 8, 8], "f32"), ("randn", [1, 16, 8, 8], "f32"),
                                           ("randn", [1], "f32"), ("randn", [1, 16, 8, 8], "f32")]))
    for n in (1, 5, 16, 17, 100):
        out.append((f"rand_f32_n{n}", 3, [("rand", [n], "f32")]))
    for n in (1, 7, 33):
        out.append((f"rand_f64_n{n}", 3, [("rand", [n], "f64")]))
    for n in (1, 5, 15, 16, 17, 40, 100):
        out.append((f"randn_f64_n{n}", 5, [("randn", [n], "f64")]))
    for dtype in ("bf16", "f16"):
        for n in (5, 40, 1000):
            out.append((f"randn_{dtype}_n{n}", 11, [("randn", [n], dtype)]))
        # Enough draws that some round up to 1, which torch turns into 0.
        out.append((f"rand_{dtype}_n20000", 11, [("rand", [20000], dtype)]))
    return out


def fnv1a(words):
    h = 0xCBF29CE484222325
    for w in words:
        h = ((h ^ w) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def draw(generator, op, shape, dtype):
    import torch
    torch_dtype = {"f32": torch.float32, "f64": torch.float64, "bf16": torch.bfloat16, "f16": torch.float16}[dtype]
    fn = torch.randn if op == "randn" else torch.rand
    t = fn(shape, generator=generator, dtype=torch_dtype)
    if op == "randn" and dtype == "f32" and len(shape) == 4:
        from diffusers.utils.torch_utils import randn_tensor
        again = torch.Generator("cpu").manual_seed(0)
        assert torch.equal(randn_tensor(tuple(shape), generator=again, dtype=torch_dtype),
                           torch.randn(shape, generator=torch.Generator("cpu").manual_seed(0), dtype=torch_dtype))
    bits_dtype = {"f32": torch.int32, "f64": torch.int64, "bf16": torch.int16, "f16": torch.int16}[dtype]
    width = {"f32": 32, "f64": 64, "bf16": 16, "f16": 16}[dtype]
    words = [w & ((1 << width) - 1) for w in t.reshape(-1).view(bits_dtype).tolist()]
    hexes = [format(w, f"0{width // 4}x") for w in words]
    entry = {"op": op, "shape": shape, "dtype": dtype, "count": len(words), "fnv": format(fnv1a(words), "016x")}
    if len(words) <= 40:
        entry["bits"] = hexes
    else:
        entry["head"], entry["tail"] = hexes[:8], hexes[-8:]
    return entry


def run_here(expected_capability):
    import torch
    torch.set_num_threads(1)
    got = torch.backends.cpu.get_cpu_capability()
    assert got == expected_capability, f"asked torch for {expected_capability}, it runs {got}"
    result = []
    for name, seed, draws in cases():
        generator = torch.Generator("cpu").manual_seed(seed)
        entries = []
        for d in draws:
            if d[0] == "manual_seed":
                generator.manual_seed(d[1])
                entries.append({"op": "manual_seed", "seed": d[1]})
            else:
                entries.append(draw(generator, *d))
        result.append({"name": name, "seed": seed, "draws": entries})
    return result


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--capability":
        json.dump(run_here(sys.argv[2]), sys.stdout)
        return
    import torch
    kernels = {}
    for kernel, (env_value, reported) in CAPABILITIES.items():
        env = dict(os.environ, ATEN_CPU_CAPABILITY=env_value)
        text = subprocess.run([sys.executable, __file__, "--capability", reported], env=env, check=True,
                              capture_output=True, text=True).stdout
        kernels[kernel] = json.loads(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    document = {"torch": torch.__version__.split("+")[0], "kernels": kernels}
    # One case per line: readable diffs, small file.
    lines = ["{", f' "torch": {json.dumps(document["torch"])},', ' "kernels": {']
    for k, (kernel, entries) in enumerate(kernels.items()):
        lines.append(f"  {json.dumps(kernel)}: [")
        for i, entry in enumerate(entries):
            lines.append("   " + json.dumps(entry, separators=(",", ":")) + ("," if i + 1 < len(entries) else ""))
        lines.append("  ]" + ("," if k + 1 < len(kernels) else ""))
    lines += [" }", "}"]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
