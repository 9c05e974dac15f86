"""Tiny random Qwen2 / Qwen3 / Llama checkpoints and their transformers outputs.

Each model directory under Tests/Fixtures/lm/<name>/ is a real HF checkpoint (config.json,
model.safetensors, generation_config.json) plus reference.safetensors with:
  prompt_<i>            int64 [L_i]      prompts
  logits_<i>            f32 [L_i, V]     logits at every prompt position (transformers, f32 math)
  hidden_<i>_<layer>    f32 [L_i, H]     hidden_states[layer] for prompt 0 only (per-layer debugging)
  greedy_<i>            int64 [32]       generate(do_sample=False, max_new_tokens=32) continuation
  margin_<i>            f32 [32]         top-1 minus top-2 logit at each generated step
bf16 checkpoints are evaluated in f32 over the bf16-valued weights (DESIGN.md §8).
Run: .venv-ref/bin/python tools/reference/make_lm_fixtures.py
"""
import json
import os
import shutil
import zlib

import torch
from safetensors.torch import save_file
from transformers import (LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config,
                          Qwen3ForCausalLM, GenerationConfig)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "lm")
VOCAB = 160
NEW_TOKENS = 32

CASES = [
    # name, class, config kwargs, dtype, config style
    ("qwen2-f32-untied-gqa2", Qwen2Config, Qwen2ForCausalLM,
     dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=2, tie_word_embeddings=False), torch.float32, "old"),
    ("qwen2-bf16-tied-mha", Qwen2Config, Qwen2ForCausalLM,
     dict(hidden_size=48, intermediate_size=80, num_hidden_layers=2, num_attention_heads=3,
          num_key_value_heads=3, tie_word_embeddings=True), torch.bfloat16, "new"),
    ("qwen3-f32-headdim-gqa3", Qwen3Config, Qwen3ForCausalLM,
     dict(hidden_size=48, intermediate_size=72, num_hidden_layers=3, num_attention_heads=6,
          num_key_value_heads=2, head_dim=24, tie_word_embeddings=False), torch.float32, "new"),
    ("qwen3-bf16-tied-gqa2", Qwen3Config, Qwen3ForCausalLM,
     dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=2, head_dim=16, tie_word_embeddings=True), torch.bfloat16, "old"),
    ("llama-f32-llama3rope", LlamaConfig, LlamaForCausalLM,
     dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=1, tie_word_embeddings=False,
          rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                           "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 64}), torch.float32, "new"),
]


def to_old_style(path):
    """Rewrites config.json into the pre-transformers-5 form: top-level rope_theta/rope_scaling, torch_dtype."""
    with open(path) as f:
        cfg = json.load(f)
    rope = cfg.pop("rope_parameters", None) or {}
    cfg["rope_theta"] = rope.get("rope_theta", 10000.0)
    if rope.get("rope_type", "default") != "default":
        scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
        cfg["rope_scaling"] = scaling
    else:
        cfg["rope_scaling"] = None
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def main():
    torch.manual_seed(1234)
    prompts = [
        torch.randint(0, VOCAB, (7,)),
        torch.randint(0, VOCAB, (1,)),
        torch.randint(0, VOCAB, (19,)),
    ]
    for name, config_cls, model_cls, kwargs, dtype, style in CASES:
        torch.manual_seed(zlib.crc32(name.encode()))
        config = config_cls(vocab_size=VOCAB, max_position_embeddings=256, rms_norm_eps=1e-6,
                            initializer_range=0.15, bos_token_id=1, eos_token_id=2, **kwargs)
        config.rope_parameters = kwargs.get("rope_parameters", {"rope_type": "default", "rope_theta": 10000.0 + 17.0 * len(name)})
        model = model_cls(config).eval()
        model = model.to(dtype)
        out = os.path.join(ROOT, name)
        shutil.rmtree(out, ignore_errors=True)
        model.save_pretrained(out, safe_serialization=True)
        GenerationConfig(bos_token_id=1, eos_token_id=2, do_sample=False).save_pretrained(out)
        if style == "old":
            to_old_style(os.path.join(out, "config.json"))
        # Reference math in f32 over the stored (possibly bf16-rounded) weights, loaded as a user
        # would (`model.float()` would also round RoPE's inv_freq buffer to bf16).
        ref = model_cls.from_pretrained(out, dtype=torch.float32).eval()
        tensors = {}
        with torch.no_grad():
            for i, p in enumerate(prompts):
                ids = p.unsqueeze(0)
                res = ref(ids, output_hidden_states=True)
                tensors[f"prompt_{i}"] = p.clone()
                tensors[f"logits_{i}"] = res.logits[0].contiguous()
                if i == 0:
                    for layer, h in enumerate(res.hidden_states):
                        tensors[f"hidden_{i}_{layer}"] = h[0].contiguous()
                gen = ref.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=NEW_TOKENS,
                                   min_new_tokens=NEW_TOKENS, output_scores=True, return_dict_in_generate=True,
                                   pad_token_id=0)
                seq = gen.sequences[0, ids.shape[1]:]
                margins = []
                for step_scores in gen.scores:
                    top = torch.topk(step_scores[0].float(), 2).values
                    margins.append(float(top[0] - top[1]))
                tensors[f"greedy_{i}"] = seq.clone()
                tensors[f"margin_{i}"] = torch.tensor(margins, dtype=torch.float32)
        save_file(tensors, os.path.join(out, "reference.safetensors"), metadata={"transformers": __import__("transformers").__version__})
        print(name, "min margin", min(float(tensors[f"margin_{i}"].min()) for i in range(len(prompts))))


if __name__ == "__main__":
    main()
