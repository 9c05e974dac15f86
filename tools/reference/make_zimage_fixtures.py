"""A tiny random diffusers ZImageTransformer2DModel (Z-Image's DiT) and diffusers' outputs for it.

Tests/Fixtures/zimage/transformer/ is a diffusers `transformer/` component folder (config.json,
diffusion_pytorch_model.safetensors) with bf16 weights, as Z-Image ships them. The timestep
embedder's MLP is 256 -> 1024 -> min(dim, 256) whatever the config (diffusers hard-codes
mid_size=1024), so it is most of the file; storing bf16 halves it (about 0.8 MB in all).

Tests/Fixtures/zimage/transformer_reference.safetensors holds, computed by diffusers in f32 over the
bf16-valued weights (DESIGN.md §8), called as pipeline_z_image.py calls it
(`transformer(list of latents [C, 1, H, W], t, list of caption features)`):
  single_latents_0     f32 [C, 1, H, W]   one item: non-square latents whose tokens need padding,
  single_caption_0     f32 [L, cap_feat_dim]  a caption whose length needs padding to 32,
  single_t             f32 [1]            the timestep in [0, 1] (pipeline: (1000 - t) / 1000),
  single_output_0      f32 [C, 1, H, W]   the model's output;
  block_<module>       f32                per-module outputs of the single case (hooks):
                                          t_embedder, x_embedder, cap_embedder,
                                          noise_refiner.<i>, context_refiner.<i>, layers.<i>, final_layer
  batch_latents_<i>, batch_caption_<i>, batch_t, batch_output_<i>: a batch of 2 with different
                                          latent sizes, caption lengths and timesteps (attention
                                          masks over padded sequences in diffusers).
Run: .venv-ref/bin/python tools/reference/make_zimage_fixtures.py
"""
import json
import os
import shutil
import sys

import torch
import diffusers
from diffusers import ZImageTransformer2DModel

sys.path.insert(0, os.path.dirname(__file__))
from make_op_fixtures import write_safetensors  # noqa: E402  (reproducible safetensors writer)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "zimage")

CONFIG = dict(all_patch_size=[2], all_f_patch_size=[1], in_channels=16, dim=32, n_layers=2, n_refiner_layers=2,
              n_heads=2, n_kv_heads=2, norm_eps=1e-5, qk_norm=True, cap_feat_dim=24, rope_theta=256.0,
              t_scale=1000.0, axes_dims=[4, 6, 6], axes_lens=[128, 16, 16])


def randomize(model, gen):
    """Weights with O(1) activations: linear ~ N(0, 1/fan_in), norm scales around 1, small biases,
    pad tokens ~ N(0, 1) so that replacing padded rows matters."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("pad_token"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 1:
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)


def main():
    torch.set_num_threads(1)
    shutil.rmtree(ROOT, ignore_errors=True)
    out = os.path.join(ROOT, "transformer")
    gen = torch.Generator().manual_seed(20251129)
    model = ZImageTransformer2DModel(**CONFIG).eval()
    randomize(model, gen)
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")

    ref = ZImageTransformer2DModel.from_pretrained(out, torch_dtype=torch.float32).eval()
    c, cap_dim = CONFIG["in_channels"], CONFIG["cap_feat_dim"]
    tensors = {}
    with torch.no_grad():
        # Single item: 6x10 latents = 3x5 = 15 tokens (padded to 32), a 7-token caption (padded to 32).
        x = torch.randn((c, 1, 6, 10), generator=gen)
        cap = torch.randn((7, cap_dim), generator=gen)
        t = torch.tensor([0.37])
        captured = {}
        modules = {"t_embedder": ref.t_embedder, "x_embedder": ref.all_x_embedder["2-1"],
                   "cap_embedder": ref.cap_embedder, "final_layer": ref.all_final_layer["2-1"]}
        for i in range(CONFIG["n_refiner_layers"]):
            modules[f"noise_refiner.{i}"] = ref.noise_refiner[i]
            modules[f"context_refiner.{i}"] = ref.context_refiner[i]
        for i in range(CONFIG["n_layers"]):
            modules[f"layers.{i}"] = ref.layers[i]
        hooks = [m.register_forward_hook(lambda mod, args, res, n=n: captured.__setitem__(n, res.detach().clone()))
                 for n, m in modules.items()]
        y = ref([x], t, [cap], return_dict=False)[0]
        for h in hooks:
            h.remove()
        tensors.update(single_latents_0=x, single_caption_0=cap, single_t=t, single_output_0=y[0])
        for n, v in captured.items():
            tensors[f"block_{n}"] = v.contiguous()

        # Batch of 2: 8x16 latents (32 tokens, no padding) with a 32-token caption (no padding),
        # and 4x6 latents (6 tokens) with a 40-token caption; different timesteps.
        xs = [torch.randn((c, 1, 8, 16), generator=gen), torch.randn((c, 1, 4, 6), generator=gen)]
        caps = [torch.randn((32, cap_dim), generator=gen), torch.randn((40, cap_dim), generator=gen)]
        ts = torch.tensor([0.9, 0.05])
        ys = ref(xs, ts, caps, return_dict=False)[0]
        # Each item alone gives the same (the batch only pads and masks).
        for i in range(2):
            alone = ref([xs[i]], ts[i:i + 1], [caps[i]], return_dict=False)[0][0]
            assert torch.allclose(alone, ys[i], rtol=1e-5, atol=1e-5)
            tensors[f"batch_latents_{i}"] = xs[i]
            tensors[f"batch_caption_{i}"] = caps[i]
            tensors[f"batch_output_{i}"] = ys[i]
        tensors["batch_t"] = ts
    meta = {"diffusers": diffusers.__version__}
    write_safetensors(os.path.join(ROOT, "transformer_reference.safetensors"),
                      {k: v.contiguous() for k, v in tensors.items()}, meta)
    for d in (out, ROOT):
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if os.path.isfile(p):
                print(f"{p}: {os.path.getsize(p) / 1024:.0f} KB")
    print({k: tuple(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main()
