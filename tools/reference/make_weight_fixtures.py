#!/usr/bin/env python3
"""Writes the OmniWeights test fixtures into Tests/Fixtures/weights/ with the reference libraries
(safetensors, torch, transformers, diffusers). Run from the repository root:

    .venv-ref/bin/python tools/reference/make_weight_fixtures.py

What it writes (all small, committed):
- dtypes.safetensors + dtypes.expected.json: one tensor per supported dtype, awkward shapes
  (scalar, zero-size, 4-D of ones) and awkward values (NaN, inf, -0, subnormals, integer limits),
  with every element's bit pattern, so Swift checks values bit-exactly.
- qwen2_sharded/: a tiny random bf16 Qwen2ForCausalLM saved by `save_pretrained(max_shard_size=...)`
  (real index format, config.json, generation_config.json) + qwen2_sharded.expected.json (shape,
  dtype and FNV-1a-64 of each tensor's bytes).
- configs/*.json + configs/expected.json: config.json files in the new style (`rope_parameters`,
  written by the installed transformers 5.x) and hand-written ones in the old style (top-level
  `rope_theta` + `rope_scaling`, as transformers 4.x wrote them), with what transformers itself
  reads from each (the normalised rope parameters, head_dim, ...).
- generation_config.json (written by transformers' GenerationConfig).
- flux_tiny/: a tiny diffusers FluxPipeline saved by `save_pretrained` (model_index.json with null
  text encoders/tokenizers, a sharded bf16 transformer, a single-file vae, a scheduler config) +
  flux_tiny.expected.json.
"""

import copy
import json
import math
import shutil
import struct
import sys
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "weights"


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def bits_of(t: torch.Tensor) -> list[int]:
    """Every element's bit pattern (floats) or value (integers), in logical order."""
    t = t.contiguous().reshape(-1)
    view = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}.get(t.dtype)
    if view is None:
        return [int(v) for v in t.tolist()]
    mask = (1 << (8 * t.element_size())) - 1
    return [int(v) & mask for v in t.view(view).tolist()]


def tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.contiguous().reshape(-1)
    if t.numel() == 0:
        return b""
    return t.view(torch.uint8).numpy().tobytes()


def safetensors_name(dtype: torch.dtype) -> str:
    return {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8"}[dtype]


# ----------------------------------------------------------------------------------------------
# 1. every dtype, awkward shapes and values

def make_dtypes():
    g = torch.Generator().manual_seed(1234)
    f32 = torch.randn(2, 3, 5, generator=g)
    f32.view(-1)[:8] = torch.tensor([math.nan, math.inf, -math.inf, -0.0, 1e-40, 3.4028234663852886e38,
                                     1.1754943508222875e-38, -1.5])
    f16 = torch.randn(7, generator=g).to(torch.float16)
    f16[:5] = torch.tensor([math.nan, -math.inf, -0.0, 6e-8, 65504.0], dtype=torch.float16)
    bf16 = torch.randn(4, 3, generator=g).to(torch.bfloat16)
    bf16.view(-1)[:5] = torch.tensor([math.nan, math.inf, -0.0, 1e38, 1e-39]).to(torch.bfloat16)
    tensors = {
        "f32.values": f32,
        "f16.values": f16,
        "bf16.values": bf16,
        "i32.values": torch.tensor([-2**31, 2**31 - 1, -1, 0, 1], dtype=torch.int32),
        "i64.values": torch.tensor([[-2**63, 2**63 - 1], [-1, 2**53 + 1]], dtype=torch.int64),
        "u8.values": torch.arange(256, dtype=torch.int64).to(torch.uint8),
        "scalar.f32": torch.tensor(3.5),
        "scalar.i64": torch.tensor(-7, dtype=torch.int64),
        "empty.f32": torch.zeros(0, 3),
        "empty.bf16": torch.zeros(2, 0, 4, dtype=torch.bfloat16),
        "ones.f16": torch.ones(1, 1, 1, 1, dtype=torch.float16),
        "odd.u8": torch.tensor([7, 8, 9], dtype=torch.uint8),
        'name "with" quotes\\slash/ünïcode 中': torch.tensor([1, 2], dtype=torch.int32),
    }
    save_file(tensors, OUT / "dtypes.safetensors", metadata={"format": "pt"})
    expected = {name: {"dtype": safetensors_name(t.dtype), "shape": list(t.shape), "bits": bits_of(t)}
                for name, t in tensors.items()}
    write_json(OUT / "dtypes.expected.json", {"metadata": {"format": "pt"}, "tensors": expected})


# ----------------------------------------------------------------------------------------------
# 2. a sharded transformers checkpoint

def make_qwen2_sharded():
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=64, max_position_embeddings=128,
                         bos_token_id=1, eos_token_id=[2, 3], tie_word_embeddings=False, dtype="bfloat16")
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    directory = OUT / "qwen2_sharded"
    shutil.rmtree(directory, ignore_errors=True)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=[2, 3], pad_token_id=0, do_sample=True,
                                               temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05,
                                               max_new_tokens=32)
    model.save_pretrained(directory, max_shard_size="8KB")
    shards = sorted(p.name for p in directory.glob("*.safetensors"))
    assert len(shards) >= 2, f"expected several shards, got {shards}"
    expected = {name: {"dtype": safetensors_name(t.dtype), "shape": list(t.shape), "fnv1a64": fnv1a64(tensor_bytes(t))}
                for name, t in model.state_dict().items()}
    write_json(OUT / "qwen2_sharded.expected.json", {"shards": shards, "tensors": expected})


# ----------------------------------------------------------------------------------------------
# 3. configs, new style (written here by transformers 5.x) and old style (hand-written, in the
#    shape transformers 4.x wrote for the real checkpoints named)

OLD_STYLE = {
    # Qwen/Qwen2.5-0.5B-Instruct
    "qwen2_5_v4.json": {
        "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
        "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
        "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21,
        "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16", "transformers_version": "4.43.1", "use_cache": True,
        "use_sliding_window": False, "vocab_size": 151936,
    },
    # Qwen/Qwen3-0.6B: head_dim 128 != hidden_size / heads (64)
    "qwen3_v4.json": {
        "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
        "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
        "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
        "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
        "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
        "use_sliding_window": False, "vocab_size": 151936,
    },
    # meta-llama/Llama-3.1-8B-Instruct
    "llama3_1_v4.json": {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
        "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
        "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama", "num_attention_heads": 32,
        "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.42.3", "use_cache": True, "vocab_size": 128256,
    },
    # Qwen/Qwen2.5-7B-Instruct with the YaRN block its model card tells users to add
    "qwen2_5_yarn_v4.json": {
        "architectures": ["Qwen2ForCausalLM"], "bos_token_id": 151643, "eos_token_id": 151645,
        "hidden_act": "silu", "hidden_size": 3584, "intermediate_size": 18944, "max_position_embeddings": 32768,
        "model_type": "qwen2", "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
        "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"},
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 152064,
    },
    # Qwen/Qwen2-VL-2B-Instruct (flat, old `type: mrope`)
    "qwen2_vl_v4.json": {
        "architectures": ["Qwen2VLForConditionalGeneration"], "attention_dropout": 0.0, "bos_token_id": 151643,
        "eos_token_id": 151645, "vision_start_token_id": 151652, "hidden_act": "silu", "hidden_size": 1536,
        "intermediate_size": 8960, "max_position_embeddings": 32768, "max_window_layers": 28,
        "model_type": "qwen2_vl", "num_attention_heads": 12, "num_hidden_layers": 28, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16", "transformers_version": "4.41.2", "use_cache": True,
        "use_sliding_window": False, "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4,
                                                       "num_heads": 16, "in_chans": 3, "hidden_size": 1536,
                                                       "patch_size": 14, "spatial_merge_size": 2,
                                                       "spatial_patch_size": 14, "temporal_patch_size": 2},
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "vocab_size": 151936,
    },
    # Qwen/Qwen2.5-Omni-7B, thinker text part only (the real file also holds audio/vision/talker/token2wav)
    "qwen2_5_omni_v4.json": {
        "architectures": ["Qwen2_5OmniModel"], "enable_audio_output": True, "model_type": "qwen2_5_omni",
        "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
        "thinker_config": {
            "model_type": "qwen2_5_omni_thinker", "audio_token_index": 151646, "image_token_index": 151655,
            "text_config": {
                "model_type": "qwen2_5_omni_text", "hidden_act": "silu", "hidden_size": 3584,
                "init_std": 0.02, "intermediate_size": 18944, "max_position_embeddings": 32768,
                "max_window_layers": 28, "num_attention_heads": 28, "num_hidden_layers": 28,
                "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
                "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
                "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": False,
                "torch_dtype": "bfloat16", "use_cache": True, "use_sliding_window": False, "vocab_size": 152064,
            },
        },
    },
}


def new_style_configs():
    from transformers import Gemma3TextConfig, LlamaConfig, Qwen2VLConfig, Qwen3Config

    small = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=256)
    return {
        "qwen3_yarn_v5.json": Qwen3Config(**small, num_key_value_heads=2, head_dim=32, max_position_embeddings=4096,
                                          rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e6,
                                                           "original_max_position_embeddings": 1024},
                                          eos_token_id=7, dtype="float16"),
        "llama3_v5.json": LlamaConfig(**small, num_key_value_heads=4, max_position_embeddings=8192,
                                      rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                       "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                       "original_max_position_embeddings": 1024},
                                      bos_token_id=1, eos_token_id=[2, 3], tie_word_embeddings=True),
        "gemma3_text_v5.json": Gemma3TextConfig(**small, num_key_value_heads=1, head_dim=16, sliding_window=64,
                                                layer_types=["sliding_attention", "full_attention"]),
        "qwen2_vl_v5.json": Qwen2VLConfig(text_config=dict(**small, num_key_value_heads=2,
                                                           rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                                                            "mrope_section": [2, 3, 3]})),
    }


def text_config_of(config, key_path):
    for key in key_path:
        config = getattr(config, key)
    return config


def transformers_reading(config, key_path, transformers_key_path):
    """What transformers makes of a config: the fields Swift reads (at `key_path`), after
    transformers' own normalisation (of the object at `transformers_key_path`)."""
    c = text_config_of(config, transformers_key_path)
    heads = c.num_attention_heads
    rope = copy.deepcopy(c.rope_parameters)
    return {
        "key_path": key_path,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": getattr(c, "num_key_value_heads", None) or heads,
        "head_dim": getattr(c, "head_dim", None) or c.hidden_size // heads,
        "vocab_size": c.vocab_size,
        "max_position_embeddings": c.max_position_embeddings,
        "rms_norm_eps": c.rms_norm_eps,
        "rope_parameters": rope,
        "layer_types": getattr(c, "layer_types", None),
    }


def make_configs():
    from transformers import AutoConfig

    directory = OUT / "configs"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    expected = {}
    for name, config in new_style_configs().items():
        text = config.to_json_string(use_diff=True)
        assert "rope_parameters" in text and "rope_scaling" not in text, f"{name}: transformers did not write the new style"
        (directory / name).write_text(text)
    for name, raw in OLD_STYLE.items():
        write_json(directory / name, raw)
    for path in sorted(directory.glob("*.json")):
        raw = json.loads(path.read_text())
        key_path = {"qwen2_5_omni": ["thinker_config", "text_config"]}.get(raw["model_type"], [])
        if "text_config" in raw:
            key_path = ["text_config"]
        # transformers 5 moves a flat (old) Qwen2-VL config's text fields into text_config.
        transformers_key_path = ["text_config"] if raw["model_type"] == "qwen2_vl" else key_path
        config = AutoConfig.for_model(**raw)
        expected[path.name] = transformers_reading(config, key_path, transformers_key_path)
    write_json(directory / "expected.json", expected)


# ----------------------------------------------------------------------------------------------
# 4. a diffusers pipeline directory

def make_flux_pipeline():
    # Flux rather than Z-Image: Z-Image's transformer has a fixed 256x1024 timestep MLP (600 KB even
    # at the smallest width), while the directory layout and model_index.json are the same.
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,
                                         attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
                                         pooled_projection_dim=16, axes_dims_rope=(2, 2, 4)).to(torch.bfloat16)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",),
                        up_block_types=("UpDecoderBlock2D",), block_out_channels=(8,), layers_per_block=1,
                        latent_channels=4, norm_num_groups=4, sample_size=16).to(torch.bfloat16)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    pipe = FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=None, tokenizer=None, text_encoder_2=None,
                        tokenizer_2=None, transformer=transformer)
    directory = OUT / "flux_tiny"
    shutil.rmtree(directory, ignore_errors=True)
    pipe.save_pretrained(directory, max_shard_size="30KB")
    transformer_files = sorted(p.name for p in (directory / "transformer").glob("*.safetensors"))
    vae_files = sorted(p.name for p in (directory / "vae").glob("*.safetensors"))
    assert len(transformer_files) >= 2, f"expected a sharded transformer, got {transformer_files}"
    assert vae_files == ["diffusion_pytorch_model.safetensors"], f"expected a single-file vae, got {vae_files}"
    expected = {
        component: {name: {"dtype": safetensors_name(t.dtype), "shape": list(t.shape), "fnv1a64": fnv1a64(tensor_bytes(t))}
                    for name, t in model.state_dict().items()}
        for component, model in [("transformer", transformer), ("vae", vae)]
    }
    write_json(OUT / "flux_tiny.expected.json", expected)


def write_json(path: Path, value):
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False, allow_nan=True) + "\n")


def main():
    import diffusers
    import safetensors

    OUT.mkdir(parents=True, exist_ok=True)
    print(f"transformers {transformers.__version__}, diffusers {diffusers.__version__}, "
          f"safetensors {safetensors.__version__}, torch {torch.__version__}", file=sys.stderr)
    if int(transformers.__version__.split(".")[0]) < 5:
        sys.exit("needs transformers >= 5 to write new-style (rope_parameters) configs; old-style ones are hand-written here")
    make_dtypes()
    make_qwen2_sharded()
    make_configs()
    make_flux_pipeline()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
