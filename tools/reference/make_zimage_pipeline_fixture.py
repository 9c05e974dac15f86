"""A tiny random diffusers ZImagePipeline and its outputs: latents after every step, decoded image.

Tests/Fixtures/zimage-pipeline/ is a diffusers pipeline directory as ZImagePipeline.save_pretrained
writes it (model_index.json, transformer/, vae/, text_encoder/, tokenizer/, scheduler/):
  transformer/   ZImageTransformer2DModel with make_zimage_fixtures.py's tiny config (bf16 weights),
                 cap_feat_dim = the text encoder's hidden size;
  vae/           AutoencoderKL with make_vae_fixtures.py's z-image-like config (three levels, 16 latent
                 channels, scaling and shift factors), decoder weights only (f32);
  text_encoder/  a tiny random Qwen3Model (as Z-Image ships it: the base model, no lm_head), bf16;
  tokenizer/     models/demo-qwen3's tokenizer (500 tokens, Qwen3 chat template);
  scheduler/     FlowMatchEulerDiscreteScheduler with dynamic shifting, so mu = calculate_shift(...) matters.

reference.safetensors, from the pipeline loaded back in f32 over the stored (bf16-valued) weights
(DESIGN.md §8), per case k of cases.json (prompt, negative_prompt, width, height, steps,
guidance_scale, cfg_truncation, cfg_normalization, seed, max_sequence_length):
  case_<k>_latents_<i>   f32 [1, 16, h, w]  latents after step i (callback_on_step_end)
  case_<k>_embeds        f32 [L, hidden]    the prompt's text-encoder features (padding dropped)
  case_<k>_image         u8  [H, W, 3]      the decoded image as output_type="pil" gives it
Run: .venv-ref/bin/python tools/reference/make_zimage_pipeline_fixture.py
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, Qwen3Config, Qwen3Model

sys.path.insert(0, os.path.dirname(__file__))
from make_op_fixtures import write_safetensors  # noqa: E402
from make_zimage_fixtures import CONFIG as DIT_CONFIG, randomize as randomize_dit  # noqa: E402
from make_vae_fixtures import CASES as VAE_CASES, randomize as randomize_vae  # noqa: E402

HERE = os.path.dirname(__file__)
ROOT = os.path.join(HERE, "..", "..", "Tests", "Fixtures", "zimage-pipeline")
TOKENIZER = os.path.join(HERE, "..", "..", "models", "demo-qwen3")

TEXT_CONFIG = dict(vocab_size=500, hidden_size=24, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2,
                   num_key_value_heads=1, head_dim=16, rms_norm_eps=1e-6, max_position_embeddings=512,
                   rope_theta=10000.0, tie_word_embeddings=True, pad_token_id=0)

CASES = [
    dict(prompt="a red cat on a mat", negative_prompt=None, width=40, height=24, steps=3, guidance_scale=0.0,
         cfg_truncation=1.0, cfg_normalization=0.0, seed=42, max_sequence_length=64),
    dict(prompt="a small house by the sea", negative_prompt="blurry, dark", width=24, height=32, steps=3,
         guidance_scale=4.0, cfg_truncation=1.0, cfg_normalization=0.0, seed=7, max_sequence_length=64),
    # CFG with the empty negative prompt, renormalized, and off at the second step: its normalized time
    # 1 - shifted sigma(0.5) = 0.37 is past the truncation.
    dict(prompt="hello world", negative_prompt=None, width=32, height=16, steps=2, guidance_scale=3.0,
         cfg_truncation=0.3, cfg_normalization=1.0, seed=1234, max_sequence_length=64),
    # Six steps, a wide image, and a max_sequence_length that cuts the templated prompt short.
    dict(prompt="a lighthouse at dusk, oil painting", negative_prompt="noise", width=48, height=16, steps=6,
         guidance_scale=2.0, cfg_truncation=1.0, cfg_normalization=0.0, seed=99, max_sequence_length=12),
]


def vae_case():
    return next(c for c in VAE_CASES if c["name"] == "f32-zimage-3level")


def build(out, gen):
    dit = ZImageTransformer2DModel(**{**DIT_CONFIG, "cap_feat_dim": TEXT_CONFIG["hidden_size"]}).eval()
    randomize_dit(dit, gen)
    dit = dit.to(torch.bfloat16)

    n = len(vae_case()["config"]["block_out_channels"])
    vae = AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n,
                        **vae_case()["config"]).eval()
    randomize_vae(vae, gen)

    text = Qwen3Model(Qwen3Config(**TEXT_CONFIG)).eval()
    with torch.no_grad():
        for name, p in text.named_parameters():
            if p.dim() == 1:
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
    text = text.to(torch.bfloat16)

    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True,
                                                base_image_seq_len=4, max_image_seq_len=64, base_shift=0.5,
                                                max_shift=1.15)
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
    pipe = ZImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text, tokenizer=tokenizer, transformer=dit)
    pipe.save_pretrained(out, safe_serialization=True)

    # The VAE folder keeps only what decoding reads (the pipeline never encodes).
    path = os.path.join(out, "vae", "diffusion_pytorch_model.safetensors")
    tensors = {k: v for k, v in load_file(path).items() if k.startswith("decoder.")}
    save_file(tensors, path, metadata={"format": "pt"})
    for folder in ["transformer", "vae", "text_encoder", "scheduler"]:
        for name in os.listdir(os.path.join(out, folder)):
            if name.endswith(".json"):
                p = os.path.join(out, folder, name)
                with open(p) as f:
                    cfg = json.load(f)
                with open(p, "w") as f:
                    json.dump(cfg, f, indent=2, sort_keys=True)
                    f.write("\n")


def main():
    torch.set_num_threads(1)
    shutil.rmtree(ROOT, ignore_errors=True)
    gen = torch.Generator().manual_seed(20251130)
    build(ROOT, gen)

    pipe = ZImagePipeline.from_pretrained(ROOT, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    tensors = {}
    for k, case in enumerate(CASES):
        steps = []

        def on_step(p, i, t, kwargs):
            steps.append(kwargs["latents"].detach().clone())
            return {}

        with torch.no_grad():
            embeds, _ = pipe.encode_prompt(case["prompt"], do_classifier_free_guidance=False,
                                           max_sequence_length=case["max_sequence_length"])
            image = pipe(prompt=case["prompt"], negative_prompt=case["negative_prompt"], width=case["width"],
                         height=case["height"], num_inference_steps=case["steps"],
                         guidance_scale=case["guidance_scale"], cfg_truncation=case["cfg_truncation"],
                         cfg_normalization=case["cfg_normalization"],
                         generator=torch.Generator("cpu").manual_seed(case["seed"]),
                         max_sequence_length=case["max_sequence_length"], output_type="pil",
                         callback_on_step_end=on_step).images[0]
        assert len(steps) == case["steps"]
        for i, lat in enumerate(steps):
            tensors[f"case_{k}_latents_{i}"] = lat.float().contiguous()
        tensors[f"case_{k}_embeds"] = embeds[0].float().contiguous()
        pixels = torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8))
        assert list(pixels.shape) == [case["height"], case["width"], 3], pixels.shape
        tensors[f"case_{k}_image"] = pixels.contiguous()
        print(f"case {k}: latents {list(steps[-1].shape)}, embeds {list(embeds[0].shape)}, "
              f"image mean {pixels.float().mean():.2f} std {pixels.float().std():.2f}")

    write_safetensors(os.path.join(ROOT, "reference.safetensors"), tensors, {"generator": "make_zimage_pipeline_fixture.py"})
    with open(os.path.join(ROOT, "cases.json"), "w") as f:
        json.dump(CASES, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
