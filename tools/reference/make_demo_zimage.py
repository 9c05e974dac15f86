"""The bundled demo image model: a tiny diffusers ZImagePipeline with RANDOM weights, so that
`scripts/serve-demo.sh` can show /v1/images/generations answering without downloading anything.
Its images are colourful noise by design; the point is the plumbing (engine, batching, caches, PNG).

Writes models/demo-zimage/ as ZImagePipeline.save_pretrained lays it out (model_index.json,
transformer/, vae/, text_encoder/, tokenizer/, scheduler/), with the recipe of
make_zimage_pipeline_fixture.py (Qwen3 text encoder with the demo tokenizer, 3-level VAE decoder)
but a DiT with four joint layers and rotary ranges wide enough for images up to 512x512.
Run: .venv-ref/bin/python tools/reference/make_demo_zimage.py
"""
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_zimage_pipeline_fixture as pipeline_fixture  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "models", "demo-zimage")

# 8 pixels per token (VAE x4, patch 2): 64 positions per side reach 512 pixels.
DIT = dict(pipeline_fixture.DIT_CONFIG, dim=64, n_layers=4, n_refiner_layers=1, n_heads=2, n_kv_heads=2,
           axes_dims=[8, 12, 12], axes_lens=[256, 64, 64])


def main():
    torch.set_num_threads(1)
    shutil.rmtree(OUT, ignore_errors=True)
    pipeline_fixture.DIT_CONFIG = DIT   # build() reads the module's DiT config
    pipeline_fixture.build(OUT, torch.Generator().manual_seed(20261129))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
