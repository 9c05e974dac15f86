#!/usr/bin/env python3
"""Image output fixtures for OmniMedia (Tests/Fixtures/media/).

`postprocess.json`: NCHW float32 batches (hex bit patterns) and the uint8 HWC images diffusers'
`VaeImageProcessor.postprocess(..., output_type="pil")` makes of them (hex bytes, images one after
another): random values, values whose `x * 255` lands exactly on .5 (numpy rounds them to even),
the clamp boundaries, one case with `do_normalize=False` (values in [0, 1]), one gray batch. Also small PNGs written by
Pillow (RGB, gray, RGBA, palette) with the pixels Pillow reads back, to check our decoder.

Deterministic: rerunning rewrites identical bytes.
"""
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from diffusers.image_processor import VaeImageProcessor

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "media"


def f32_hex(t):
    return [format(w & 0xFFFFFFFF, "08x") for w in t.reshape(-1).view(torch.int32).tolist()]


def postprocess_case(name, x, do_normalize=True):
    processor = VaeImageProcessor(do_normalize=do_normalize)
    images = processor.postprocess(x, output_type="pil")
    arrays = [np.asarray(image) for image in images]
    as_np = processor.postprocess(x, output_type="np")
    manual = (as_np * 255).round().astype("uint8")
    for a, m in zip(arrays, manual):  # Pillow only wraps numpy's bytes
        assert np.array_equal(a.reshape(m.shape), m)
    data = b"".join(a.tobytes() for a in arrays)
    return {"name": name, "shape": list(x.shape), "denormalize": do_normalize, "input": f32_hex(x), "output": data.hex()}


def ties(count, generator):
    """Inputs x for which (x * 0.5 + 0.5) * 255 is exactly an integer + 0.5 in float32."""
    found = []
    while len(found) < count:
        x = torch.rand(4096, generator=generator) * 2 - 1
        v = (x * 0.5 + 0.5).clamp(0, 1) * 255
        hits = x[(v - v.floor()) == 0.5]
        found += hits.tolist()
    return torch.tensor(found[:count], dtype=torch.float32)


def main():
    g = torch.Generator("cpu").manual_seed(2024)
    cases = [
        postprocess_case("random_2x3x5x7", torch.randn(2, 3, 5, 7, generator=g) * 0.7),
        postprocess_case("ties_1x3x4x4", ties(48, g).reshape(1, 3, 4, 4)),
        postprocess_case("boundaries_1x1x2x8", torch.tensor(
            [-1.0, 1.0, -1.5, 1.5, 0.0, -0.0, np.nextafter(np.float32(-1), np.float32(0)), np.nextafter(np.float32(1), np.float32(0)),
             1 / 255, -1 / 255, 2 / 255 - 1, 1 - 2 / 255, 3e-8, -3e-8, 100.0, -100.0], dtype=torch.float32).reshape(1, 1, 2, 8)),
        # Without do_normalize diffusers does not clamp, and numpy's cast wraps values outside [0, 1]
        # (undefined in C); Swift clamps them, so this case stays inside.
        postprocess_case("unnormalized_1x3x3x3", torch.rand(1, 3, 3, 3, generator=g), do_normalize=False),
        postprocess_case("gray_3x1x2x3", torch.randn(3, 1, 2, 3, generator=g) * 0.5),
    ]
    OUT.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(7)
    pngs = []
    for name, mode, shape in [("pil_rgb_5x7", "RGB", (7, 5, 3)), ("pil_gray_4x4", "L", (4, 4)),
                              ("pil_rgba_3x2", "RGBA", (2, 3, 4)), ("pil_palette_4x3", "P", (3, 4))]:
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        image = Image.fromarray(pixels, mode="L" if mode == "P" else mode)
        if mode == "P":
            image = image.quantize(colors=5)
        path = OUT / f"{name}.png"
        image.save(path, format="PNG")
        reread = Image.open(path)
        expected = np.asarray(reread.convert("RGB") if mode == "P" else reread)
        channels = 1 if expected.ndim == 2 else expected.shape[2]
        pngs.append({"file": path.name, "width": reread.width, "height": reread.height, "channels": channels,
                     "pixels": expected.tobytes().hex()})

    lines = ["{", ' "postprocess": [']
    lines += ["  " + json.dumps(c, separators=(",", ":")) + ("," if i + 1 < len(cases) else "") for i, c in enumerate(cases)]
    lines += [" ],", ' "pngs": [']
    lines += ["  " + json.dumps(p, separators=(",", ":")) + ("," if i + 1 < len(pngs) else "") for i, p in enumerate(pngs)]
    lines += [" ]", "}"]
    (OUT / "postprocess.json").write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}/postprocess.json and {len(pngs)} PNGs")


if __name__ == "__main__":
    main()
