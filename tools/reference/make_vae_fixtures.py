"""Tiny random diffusers AutoencoderKL checkpoints and diffusers' decoded outputs for them.

Each model directory under Tests/Fixtures/vae/<name>/ is a diffusers `vae/` component folder
(config.json, diffusion_pytorch_model.safetensors) plus reference.safetensors with:
  latents_<i>          f32 [B, C, h, w]   decoder inputs (non-square)
  decoded_<i>          f32 [B, 3, H, W]   vae.decode(latents_<i>) without tiling
  block_<module>       f32                per-module outputs for latents_0 (per-block debugging):
                                          post_quant_conv, conv_in, mid_block.resnets.0,
                                          mid_block.attentions.0, mid_block, up_blocks.<k>,
                                          conv_norm_out (before the SiLU), conv_out
  pipeline_latents     f32                what a Z-Image / Flux pipeline hands the VAE ...
  pipeline_decoded     f32                ... and vae.decode(latents / scaling_factor + shift_factor)
  tiled_latents_<k>    f32                latents larger than the tile, and
  tiled_decoded_<k>    f32                vae.tiled_decode on them (blended overlapping tiles)
The reference metadata holds, per tiled case, the tile options used (`tiled_<k>`: JSON of
tile_sample_min_size, tile_latent_min_size, tile_overlap_factor; absent keys = the defaults that
AutoencoderKL derives from config.json's sample_size).

Weights are random (norm scales and biases too, so affine terms are exercised). To keep the
fixtures small, the f32 models store only the weights decoding reads (decoder.*, post_quant_conv.*);
`bf16-noattn-lpb2` stores the whole model, encoder included, as diffusers saves it, and
`f32-legacy-attn` spells its mid-block attention with the pre-0.14 names (query/key/value/proj_attn)
that diffusers still converts on load. bf16 models are evaluated in f32 over the bf16-valued
weights (DESIGN.md §8), so the reference is what a f32 run over those weights computes.
Run: .venv-ref/bin/python tools/reference/make_vae_fixtures.py
"""
import json
import os
import shutil
import sys
import zlib

import torch
import diffusers
from diffusers import AutoencoderKL
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(__file__))
from make_op_fixtures import write_safetensors  # noqa: E402  (reproducible safetensors writer)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "vae")

CASES = [
    # Two levels, 4 latent channels, post_quant_conv, SD-style scaling without shift, batch 2;
    # attention weights under the legacy names; a tiled case with explicit tile options.
    dict(name="f32-legacy-attn", dtype=torch.float32, keep_encoder=False, legacy_attention=True,
         config=dict(block_out_channels=[8, 16], layers_per_block=1, latent_channels=4, norm_num_groups=4,
                     use_post_quant_conv=True, use_quant_conv=True, scaling_factor=0.18215, shift_factor=None,
                     sample_size=32),
         latents=[(2, 4, 5, 7), (1, 4, 3, 2)],
         pipeline=(1, 4, 4, 6),
         tiled=[((1, 4, 5, 7), dict(tile_sample_min_size=8, tile_latent_min_size=4, tile_overlap_factor=0.5))]),
    # Z-Image / Flux shape: three levels, 16 latent channels, no (post_)quant_conv, their
    # scaling and shift factors; sample_size 16 makes the default tiles 4 latents / 16 pixels.
    dict(name="f32-zimage-3level", dtype=torch.float32, keep_encoder=False, legacy_attention=False,
         config=dict(block_out_channels=[8, 16, 16], layers_per_block=1, latent_channels=16, norm_num_groups=4,
                     use_post_quant_conv=False, use_quant_conv=False, scaling_factor=0.3611, shift_factor=0.1159,
                     sample_size=16),
         latents=[(1, 16, 6, 4)],
         pipeline=(1, 16, 3, 5),
         tiled=[((1, 16, 7, 10), {})]),
    # bf16 weights, no mid-block attention, two resnets per level (+1 in the decoder), groups 8.
    dict(name="bf16-noattn-lpb2", dtype=torch.bfloat16, keep_encoder=True, legacy_attention=False,
         config=dict(block_out_channels=[8, 16], layers_per_block=2, latent_channels=4, norm_num_groups=8,
                     use_post_quant_conv=True, use_quant_conv=True, scaling_factor=0.13025, shift_factor=None,
                     mid_block_add_attention=False, sample_size=32),
         latents=[(1, 4, 4, 3)],
         pipeline=None,
         tiled=[]),
]

LEGACY_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def randomize(model, gen):
    """Weights with O(1) activations: conv/linear ~ N(0, 1/fan_in), norms around 1, small biases."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 1:  # GroupNorm scale
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)


def save_component(model, out, case):
    """save_pretrained, then rewrite the weights file with only what the case keeps."""
    model.save_pretrained(out, safe_serialization=True)
    path = os.path.join(out, "diffusion_pytorch_model.safetensors")
    tensors = load_file(path)
    if not case["keep_encoder"]:
        tensors = {k: v for k, v in tensors.items() if k.startswith("decoder.") or k.startswith("post_quant_conv.")}
    if case["legacy_attention"]:
        renamed = {}
        for k, v in tensors.items():
            for new, old in LEGACY_NAMES.items():
                k = k.replace(f".attentions.0.{new}.", f".attentions.0.{old}.")
            renamed[k] = v
        tensors = renamed
    save_file(tensors, path, metadata={"format": "pt"})
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    torch.set_num_threads(1)
    diffusers.utils.logging.set_verbosity_error()  # missing encoder weights are expected
    shutil.rmtree(ROOT, ignore_errors=True)
    for case in CASES:
        name = case["name"]
        gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        n = len(case["config"]["block_out_channels"])
        model = AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n,
                              **case["config"]).eval()
        randomize(model, gen)
        model = model.to(case["dtype"])
        out = os.path.join(ROOT, name)
        save_component(model, out, case)

        # The reference: loaded back as a user would (missing encoder weights are irrelevant to
        # decoding; diffusers warns and leaves them random), in f32.
        ref = AutoencoderKL.from_pretrained(out, torch_dtype=torch.float32, low_cpu_mem_usage=False).eval()
        tensors, meta = {}, {"diffusers": __import__("diffusers").__version__}
        with torch.no_grad():
            for i, shape in enumerate(case["latents"]):
                z = torch.randn(shape, generator=gen)
                tensors[f"latents_{i}"] = z
                captured = {}
                hooks = []
                if i == 0:
                    modules = dict(ref.decoder.named_modules())
                    names = ["conv_in", "mid_block", "conv_norm_out", "conv_out"]
                    names += [m for m in modules if m in ("mid_block.resnets.0", "mid_block.attentions.0")]
                    names += [f"up_blocks.{k}" for k in range(n)]
                    for m in names:
                        hooks.append(modules[m].register_forward_hook(
                            lambda mod, args, res, m=m: captured.__setitem__(m, res.detach().clone())))
                    if ref.post_quant_conv is not None:
                        hooks.append(ref.post_quant_conv.register_forward_hook(
                            lambda mod, args, res: captured.__setitem__("post_quant_conv", res.detach().clone())))
                tensors[f"decoded_{i}"] = ref.decode(z).sample
                for h in hooks:
                    h.remove()
                for m, t in captured.items():
                    tensors[f"block_{m}"] = t.contiguous()
            if case["pipeline"] is not None:
                z = torch.randn(case["pipeline"], generator=gen)
                tensors["pipeline_latents"] = z
                scaled = z / ref.config.scaling_factor
                if ref.config.shift_factor is not None:
                    scaled = scaled + ref.config.shift_factor
                tensors["pipeline_decoded"] = ref.decode(scaled).sample
            for k, (shape, options) in enumerate(case["tiled"]):
                z = torch.randn(shape, generator=gen)
                tiler = AutoencoderKL.from_pretrained(out, torch_dtype=torch.float32, low_cpu_mem_usage=False).eval()
                tiler.enable_tiling()
                for key, value in options.items():
                    setattr(tiler, key, value)
                assert z.shape[-1] > tiler.tile_latent_min_size or z.shape[-2] > tiler.tile_latent_min_size
                tensors[f"tiled_latents_{k}"] = z
                tensors[f"tiled_decoded_{k}"] = tiler.decode(z).sample
                meta[f"tiled_{k}"] = json.dumps(options, sort_keys=True)
        write_safetensors(os.path.join(out, "reference.safetensors"), {k: v.contiguous() for k, v in tensors.items()}, meta)
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        print(f"{name}: {size / 1024:.0f} KB; outputs", {k: tuple(v.shape) for k, v in tensors.items() if "decoded" in k})


if __name__ == "__main__":
    main()
