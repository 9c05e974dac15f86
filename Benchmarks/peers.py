"""Peer systems measured on this machine, so that `omni bench` results can be given as ratios
(DESIGN.md §9, issue 6). Run with Benchmarks/.venv/bin/python (made by Benchmarks/setup.sh).

  peers.py decode     --model DIR --threads N   HF transformers generate, batch-1 greedy decode tok/s
  peers.py prefill    --model DIR --threads N   HF transformers generate, prefill tok/s of one prompt
  peers.py throughput --model DIR --threads N   nano-vllm's protocol on HF's batched generate, output tok/s
  peers.py dit-step   --model DIR --threads N   diffusers ZImageTransformer2DModel forward, s/step
  peers.py llamacpp   --model DIR --threads N   llama.cpp llama-bench on DIR converted to a bf16 GGUF

--json prints one JSON object per result (a line each); otherwise a table. Every timing is taken
after a warm-up and reported as best-of-k (the value) and median (in details).
"""
import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA_BUILD = os.path.join(HERE, ".build-llamacpp")

# Z-Image-Turbo's DiT (transformer/config.json of Tongyi-MAI/Z-Image-Turbo); --layers replaces n_layers.
ZIMAGE_TURBO = dict(all_patch_size=[2], all_f_patch_size=[1], in_channels=16, dim=3840, n_layers=30,
                    n_refiner_layers=2, n_heads=30, n_kv_heads=30, norm_eps=1e-5, qk_norm=True, cap_feat_dim=2560,
                    rope_theta=256.0, t_scale=1000.0, axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512])


def main():
    args = parse(sys.argv[1:])
    # Thread counts are fixed before torch starts its pools.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    results = COMMANDS[args.command](args)
    for r in results:
        if args.json:
            print(json.dumps(r), flush=True)
    if not args.json:
        print_table(results)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, help):
        c = sub.add_parser(name, help=help)
        c.add_argument("--model", required=True, help="model directory (HF layout)")
        c.add_argument("--threads", type=int, default=os.cpu_count())
        c.add_argument("--json", action="store_true", help="one JSON object per result")
        c.add_argument("--repeats", type=int, default=5, help="timed runs after the warm-up (best and median kept)")
        return c

    c = command("decode", "HF generate, batch 1, greedy, ignore EOS: decode tok/s excluding prefill")
    c.add_argument("--prompt-tokens", type=int, default=16)
    c.add_argument("--new-tokens", type=int, default=128)
    c = command("prefill", "HF generate with max_new_tokens=1 on one prompt: prompt tok/s")
    c.add_argument("--prompt-tokens", type=int, default=512)
    c = command("throughput", "nano-vllm's bench protocol on HF's batched generate: output tok/s")
    c.add_argument("--requests", type=int, default=64)
    c.add_argument("--min-input", type=int, default=100)
    c.add_argument("--max-input", type=int, default=1024)
    c.add_argument("--min-output", type=int, default=100)
    c.add_argument("--max-output", type=int, default=1024)
    c.add_argument("--batch-size", default="8",
                   help="requests per generate call, or a comma-separated list to time each (0: all in one); "
                        "8 was HF's best on the 2-core machine (docs/benchmarks.md)")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(repeats=1)
    c = command("dit-step", "diffusers ZImageTransformer2DModel forward at a size: s/step")
    c.add_argument("--size", type=int, default=512, help="image side in pixels (latents are size/8)")
    c.add_argument("--caption-tokens", type=int, default=128)
    c.add_argument("--layers", type=int, default=2, help="n_layers of the DiT made when --model does not exist")
    c.add_argument("--dtypes", default="bfloat16,float32", help="weight/compute dtypes to time")
    c.set_defaults(repeats=3)
    c = command("llamacpp", "llama.cpp llama-bench on --model converted to GGUF (bf16)")
    c.add_argument("--prompt-tokens", type=int, default=512)
    c.add_argument("--new-tokens", type=int, default=128)
    c.add_argument("--gguf", help="GGUF file (default: converted into Benchmarks/.build-llamacpp/gguf/)")
    return p.parse_args(argv)


def result(system, benchmark, args, value, unit, dtype="bfloat16", **details):
    details["load_average"] = [round(x, 2) for x in os.getloadavg()]  # the machine is shared: say how busy
    return {"system": system, "benchmark": benchmark, "model": os.path.abspath(args.model), "dtype": dtype,
            "threads": args.threads, "value": value, "unit": unit, "details": details}


def stats(times):
    return {"best_s": min(times), "median_s": statistics.median(times), "runs_s": [round(t, 4) for t in times]}


# ---- HF transformers ---------------------------------------------------------------------------

def load_lm(args):
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    return torch, AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16).eval()


def greedy_config(model, new_tokens, sample=False):
    """Greedy (or nano-vllm's temperature 0.6 sampling), EOS ignored: no eos_token_id, so every
    sequence runs to max_new_tokens; no repetition penalty or top-k/top-p from the directory's
    generation_config."""
    from transformers import GenerationConfig
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else model.config.bos_token_id
    extra = dict(do_sample=True, temperature=0.6, top_k=0, top_p=1.0) if sample else dict(do_sample=False)
    return GenerationConfig(max_new_tokens=new_tokens, eos_token_id=None, pad_token_id=pad,
                            bos_token_id=model.config.bos_token_id, use_cache=True, **extra)


def generate(model, ids, mask, config):
    # generate() fills every field left at its global default from model.generation_config (which
    # would bring back sampling, EOS and the repetition penalty), so that is replaced too.
    model.generation_config = config
    return model.generate(input_ids=ids, attention_mask=mask, generation_config=config)


def random_prompt(torch, n, seed=0):
    # Ordinary BPE ids (below Qwen's specials); the values do not change the speed.
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1000, 100000, (1, n), generator=g)


def timed_generate(torch, model, ids, config):
    with torch.inference_mode():
        start = time.perf_counter()
        out = generate(model, ids, torch.ones_like(ids), config)
        elapsed = time.perf_counter() - start
    return elapsed, out


def decode(args):
    torch, model = load_lm(args)
    ids = random_prompt(torch, args.prompt_tokens)
    n = args.new_tokens
    full, first = greedy_config(model, n), greedy_config(model, 1)
    timed_generate(torch, model, ids, full)  # warm-up
    rates, t_full, t_first = [], [], []
    for _ in range(args.repeats):
        t1, _ = timed_generate(torch, model, ids, first)
        tn, out = timed_generate(torch, model, ids, full)
        assert out.shape[1] == ids.shape[1] + n, "generate stopped early"
        t_full.append(tn)
        t_first.append(t1)
        rates.append((n - 1) / (tn - t1))
    return [result("hf-transformers", "decode", args, max(rates), "tok/s",
                   median=statistics.median(rates), runs=[round(r, 2) for r in rates],
                   method=f"(generate {n} new tokens - generate 1 new token) / {n - 1} tokens, "
                          f"each timed run pairs both; {args.prompt_tokens}-token prompt, greedy, EOS ignored",
                   prompt_tokens=args.prompt_tokens, new_tokens=n, generate_full=stats(t_full),
                   generate_first=stats(t_first), **versions("torch", "transformers"))]


def prefill(args):
    torch, model = load_lm(args)
    ids = random_prompt(torch, args.prompt_tokens)
    config = greedy_config(model, 1)
    timed_generate(torch, model, ids, config)  # warm-up
    times = [timed_generate(torch, model, ids, config)[0] for _ in range(args.repeats)]
    n = args.prompt_tokens
    return [result("hf-transformers", "prefill", args, n / min(times), "tok/s", median=n / statistics.median(times),
                   method=f"generate(max_new_tokens=1) on a {n}-token prompt: the prompt forward (logits of the "
                          "last position only) plus one greedy pick", prompt_tokens=n, **stats(times),
                   **versions("torch", "transformers"))]


def throughput(args):
    """nano-vllm's bench.py: `requests` prompts of random ids, random lengths; each request asks for a
    random number of output tokens with ignore_eos; output tok/s = requested output tokens / wall time.
    HF generate takes one max_new_tokens per call, so requests are sorted by output length (least
    waste) and cut into batches of --batch-size; each batch is left-padded and runs to its longest
    request. Tokens a request generates past its own length are not counted. One result per batch
    size in the --batch-size list."""
    torch, model = load_lm(args)
    rng = random.Random(args.seed)
    prompts = [[rng.randint(0, 10000) for _ in range(rng.randint(args.min_input, args.max_input))]
               for _ in range(args.requests)]
    outputs = [rng.randint(args.min_output, args.max_output) for _ in range(args.requests)]
    order = sorted(range(args.requests), key=lambda i: outputs[i])
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else model.config.bos_token_id

    def run_batch(batch):
        width = max(len(prompts[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, width - len(prompts[i]):] = 1
        config = greedy_config(model, max(outputs[i] for i in batch), sample=True)
        with torch.inference_mode():
            out = generate(model, ids, mask, config)
        return out.shape[1] - width

    # Warm-up: one request, 4 tokens.
    with torch.inference_mode():
        warm = torch.tensor([prompts[order[0]]])
        generate(model, warm, torch.ones_like(warm), greedy_config(model, 4))
    useful = sum(outputs)
    results = []
    for size in (int(s) or args.requests for s in args.batch_size.split(",")):
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        times, generated = [], 0
        for _ in range(args.repeats):
            torch.manual_seed(args.seed)
            start = time.perf_counter()
            generated = sum(run_batch(b) * len(b) for b in batches)
            times.append(time.perf_counter() - start)
        results.append(result(
            "hf-transformers", "throughput", args, useful / min(times), "tok/s",
            median=useful / statistics.median(times), requests=args.requests, batch_size=size,
            input_range=[args.min_input, args.max_input], output_range=[args.min_output, args.max_output],
            method="nano-vllm bench.py: random prompt ids in [0, 10000], random prompt and output lengths, "
                   "ignore_eos; output tok/s = requested output tokens / wall time of all requests",
            prompt_tokens=sum(map(len, prompts)), output_tokens=useful, generated_tokens_incl_padding=generated,
            batching=f"requests sorted by output length, {len(batches)} generate call(s) of up to {size} "
                     "requests, left-padded, each call runs to its longest request (static batch, "
                     "no continuous batching); sampling temperature 0.6, EOS ignored",
            **stats(times), **versions("torch", "transformers")))
    return results


# ---- diffusers ---------------------------------------------------------------------------------

def make_dit(path, layers, torch):
    """A Z-Image-Turbo-shaped DiT with random weights (N(0, 1/fan_in), norms ~1) and `layers` main
    layers, written as bf16 in diffusers' layout. Never committed."""
    from diffusers import ZImageTransformer2DModel
    config = dict(ZIMAGE_TURBO, n_layers=layers)
    model = ZImageTransformer2DModel(**config).to(torch.bfloat16)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            else:
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.1)
    model.save_pretrained(path, safe_serialization=True)
    print(f"made {path}: Z-Image-Turbo DiT shape, n_layers={layers}, "
          f"{sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters", file=sys.stderr)


def dit_step(args):
    import torch
    from diffusers import ZImageTransformer2DModel
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    path = args.model
    if not os.path.exists(os.path.join(path, "config.json")):
        make_dit(path, args.layers, torch)
    latent = args.size // 8
    gen = torch.Generator().manual_seed(1)
    results = []
    for name in args.dtypes.split(","):
        dtype = getattr(torch, name)
        model = ZImageTransformer2DModel.from_pretrained(path, torch_dtype=dtype).eval()
        c = model.config
        x = [torch.randn((c.in_channels, 1, latent, latent), generator=gen).to(dtype)]
        cap = [torch.randn((args.caption_tokens, c.cap_feat_dim), generator=gen).to(dtype)]
        t = torch.tensor([0.5], dtype=dtype)

        def step():
            with torch.inference_mode():
                start = time.perf_counter()
                model(x, t, cap, return_dict=False)
                return time.perf_counter() - start

        step()  # warm-up
        times = [step() for _ in range(args.repeats)]
        image_tokens = (latent // c.all_patch_size[0]) ** 2
        results.append(result("diffusers", "dit_step", args, min(times), "s/step", dtype=name,
                              size=args.size, latents=[c.in_channels, latent, latent], image_tokens=image_tokens,
                              caption_tokens=args.caption_tokens, n_layers=c.n_layers,
                              n_refiner_layers=c.n_refiner_layers, dim=c.dim,
                              method="ZImageTransformer2DModel forward (one denoising step, batch 1, CFG off), "
                                     f"weights and activations in {name} (torch CPU kernels)",
                              **stats(times), **versions("torch", "diffusers")))
        del model
    return results


# ---- llama.cpp ---------------------------------------------------------------------------------

def llamacpp(args):
    bench = os.path.join(LLAMA_BUILD, "build", "bin", "llama-bench")
    if not os.path.exists(bench):
        sys.exit(f"{bench} is missing: run Benchmarks/setup.sh first")
    gguf = args.gguf or convert(args.model)
    results = []
    for benchmark, p, n in (("decode", 0, args.new_tokens), ("prefill", args.prompt_tokens, 0)):
        cmd = [bench, "-m", gguf, "-p", str(p), "-n", str(n), "-t", str(args.threads), "-r", str(args.repeats),
               "-o", "json"]
        run = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(run.stdout)[0]
        samples = row["samples_ts"]
        results.append(result("llama.cpp", benchmark, args, max(samples), "tok/s", median=statistics.median(samples),
                              mean=row["avg_ts"], stddev=row["stddev_ts"], runs=[round(s, 2) for s in samples],
                              method=f"llama-bench -p {p} -n {n} -t {args.threads} -r {args.repeats} "
                                     "(one warm-up run first, llama-bench's default)",
                              gguf=gguf, type_k=row.get("type_k"), flash_attn=row.get("flash_attn"),
                              n_batch=row.get("n_batch"), build_commit=row.get("build_commit"),
                              cpu_info=row.get("cpu_info"), backends=row.get("backends")))
    return results


def convert(model_dir):
    """The model directory as a bf16 GGUF, converted once by llama.cpp's convert_hf_to_gguf.py."""
    out_dir = os.path.join(LLAMA_BUILD, "gguf")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, os.path.basename(os.path.normpath(model_dir)) + "-bf16.gguf")
    if not os.path.exists(out):
        script = os.path.join(llama_source(), "convert_hf_to_gguf.py")
        # The script imports the sdist's own gguf-py, which knows every architecture its converters
        # name; PyPI's gguf 0.19.0 (installed for its dependencies) lacks some (MODEL_ARCH.DFLASH).
        subprocess.run([sys.executable, script, model_dir, "--outtype", "bf16", "--outfile", out + ".tmp"], check=True)
        os.replace(out + ".tmp", out)
    return out


def llama_source():
    for name in sorted(os.listdir(LLAMA_BUILD)):
        path = os.path.join(LLAMA_BUILD, name, "vendor", "llama.cpp")
        if name.startswith("llama_cpp_python-") and os.path.isdir(path):
            return path
    sys.exit("llama.cpp source is missing: run Benchmarks/setup.sh first")


# ---- output ------------------------------------------------------------------------------------

def versions(*names):
    import importlib
    return {"versions": {n: importlib.import_module(n).__version__ for n in names}}


def print_table(results):
    print(f"machine: {platform.machine()} {cpu_name()}, {os.cpu_count()} CPUs; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = [("system", "benchmark", "dtype", "threads", "best", "median", "unit")]
    for r in results:
        d = r["details"]
        med = d.get("median", d.get("median_s"))
        rows.append((r["system"], r["benchmark"], r["dtype"], str(r["threads"]), f"{r['value']:.4g}",
                     f"{med:.4g}" if med is not None else "", r["unit"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    for r in results:
        d = r["details"]
        print(f"- {r['system']} {r['benchmark']}: {d.get('method', '')}" +
              (f"; {d['batching']}" if "batching" in d else ""))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


COMMANDS = {"decode": decode, "prefill": prefill, "throughput": throughput, "dit-step": dit_step,
            "llamacpp": llamacpp}

if __name__ == "__main__":
    main()
