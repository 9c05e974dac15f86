"""The bundled demo model: a tiny Qwen3 with RANDOM weights and a small byte-level BPE tokenizer
trained here, so a newcomer can watch every endpoint answer without downloading anything.
Its output is gibberish by design; the point is the plumbing.

Writes models/demo-qwen3/ (config.json, model.safetensors in bf16, generation_config.json,
tokenizer.json, tokenizer_config.json with Qwen3's chat template).
Run: .venv-ref/bin/python tools/reference/make_demo_model.py
"""
import json
import os
import shutil
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers, Regex
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
OUT = os.path.join(ROOT, "models", "demo-qwen3")
TEMPLATE = os.path.join(ROOT, "Tests", "Fixtures", "chat_templates", "templates", "Qwen-Qwen3-0.6B.jinja")
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>"]

CORPUS = """The quick brown fox jumps over the lazy dog. Swift is a general-purpose programming language.
An inference engine turns weights and prompts into tokens. Hello, world! How are you today?
Machine learning models read text as tokens; a tokenizer splits words into pieces.
def add(a, b):\n    return a + b\n{"name": "get_weather", "arguments": {"city": "Paris"}}
Numbers 0 1 2 3 4 5 6 7 8 9 10 100 2024. Le renard brun rapide. 你好，世界。 こんにちは。 Привет, мир!
"""


def main():
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([CORPUS] * 20, trainer=trainer)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    with open(TEMPLATE) as f:
        template = f.read()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, chat_template=template, model_max_length=2048)
    fast.save_pretrained(OUT)
    vocab = len(fast)
    torch.manual_seed(7)
    config = Qwen3Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=16, max_position_embeddings=2048, tie_word_embeddings=True,
                         initializer_range=0.1, eos_token_id=fast.convert_tokens_to_ids("<|im_end|>"),
                         bos_token_id=None, pad_token_id=fast.convert_tokens_to_ids("<|endoftext|>"))
    model = Qwen3ForCausalLM(config).to(torch.bfloat16).eval()
    model.save_pretrained(OUT)
    eos = [fast.convert_tokens_to_ids("<|im_end|>"), fast.convert_tokens_to_ids("<|endoftext|>")]
    GenerationConfig(eos_token_id=eos, pad_token_id=eos[1], temperature=0.7, top_p=0.8, top_k=20, do_sample=True).save_pretrained(OUT)
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("# demo-qwen3\n\nA tiny Qwen3ForCausalLM with **random weights** (bf16, ~100k parameters) and a 500-token\n"
                "byte-level BPE tokenizer trained on a few sentences, made by tools/reference/make_demo_model.py.\n"
                "It exists to show the serving stack end to end; its text is meaningless by design.\n")
    print("vocab", vocab, "written to", OUT)


if __name__ == "__main__":
    sys.exit(main())
