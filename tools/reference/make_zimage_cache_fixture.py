"""Z-Image with diffusion cache acceleration (first-block cache, TeaCache, DBCache) and without it.

Tests/Fixtures/zimage-cache/ is a tiny random diffusers ZImagePipeline directory made exactly like
make_zimage_pipeline_fixture.py's (its build() is reused), except that the DiT has N_LAYERS = 8 main
("joint") layers, so that skipping the layers after the first one matters, and a timestep embedding
that is smooth in t (randomize_dit below says why). Every run below is the
pipeline loaded in f32 over the stored weights, guidance_scale 0 (one transformer call per step, no
CFG), 20 steps, and a fresh pipeline per run (no cache state carries over).

Runs (RUNS, the `run` names below):
  none                 plain diffusers.
  fbc_<threshold>      diffusers' own first-block cache (diffusers.hooks.apply_first_block_cache) at
                       0.05 (diffusers' default; like cache-dit's default 0.08 it skips nothing here),
                       0.24 (vLLM-Omni's default residual_diff_threshold) and 0.3 (over 40% of the layer
                       evaluations skipped in both cases). diffusers 0.42.1 cannot run it on Z-Image as
                       shipped; the two shims in first_block_cache() say why.
  teacache_<thresh>    TeaCache as vLLM-Omni implements it for ZImageTransformer2DModel (not in
                       diffusers; re-implemented here in TeaCache below) at rel_l1_thresh 0.2 (its
                       default) and 0.6 (case 0's last step is then a cached one: vLLM-Omni forces
                       only the first step), with vLLM-Omni's calibrated Z-Image coefficients.
  dbcache_<threshold>  cache-dit's DBCache with vLLM-Omni's defaults (Fn=1, Bn=0, 4 warm-up steps,
                       max_continuous_cached_steps 3, no cap on cached steps) at residual_diff_threshold
                       0.24 (its default) and 0.4 (where the consecutive-cache limit forces computes),
                       re-implemented here in DBCache below (cache-dit is not installed).

Which blocks are cached: diffusers' apply_first_block_cache walks ZImageTransformer2DModel's
named_children and keeps the nn.ModuleLists whose name is in _ALL_TRANSFORMER_BLOCK_IDENTIFIERS
("blocks", "transformer_blocks", "single_transformer_blocks", "layers", ...). noise_refiner and
context_refiner are not in that list, so they run every step; the cached blocks are layers.0 (the
head, always computed) .. layers.7 (the tail). cache-dit's Z-Image adapter and vLLM-Omni's TeaCache
use the same `layers`. All of them work on the unified sequence [image tokens; caption tokens],
each part padded to a multiple of 32 with the model's pad tokens, exactly the tensor the main layers
see (a batch of one has no further padding).

reference.safetensors, per case k of cases.json and run r:
  case_<k>_<r>_latents_<i>  f32 [1, 16, h, w]  latents after step i (callback_on_step_end): the case's
                                               stored_latent_steps (case 0 all, case 1 the last), only
                                               the last for a cached run that skipped nothing (it is
                                               then `none` bit for bit, which the script checks)
  case_<k>_<r>_computed     u8  [steps]        1 where the step ran the layers after the head
                                               (TeaCache: all layers), 0 where it reused the cache;
                                               all ones for `none`
  case_<k>_<r>_diff         f32 [steps]        the value compared with the threshold at that step,
                                               NaN where none was: FBC / DBCache the relative L1
                                               distance of the head residual to the one stored at
                                               the last computed step; TeaCache the accumulated
                                               rescaled distance (before its reset to 0)
  case_<k>_<r>_image        u8  [H, W, 3]      the decoded image as output_type="pil" gives it
cases.json: {"n_layers", "cases": [{prompt, width, height, steps, guidance_scale, seed,
max_sequence_length, stored_latent_steps}], "runs": [{name, method, and the method's knobs}],
"measured": [{case, run, stored_latent_steps, steps_computed, skipped_layer_fraction, psnr_db}]}: per
case and run, the latent steps stored, and what the script prints: steps that ran the layers after
the head, the fraction of the steps x N_LAYERS layer evaluations skipped, the image's PSNR against
`none` (null when equal).
Run: .venv-ref/bin/python tools/reference/make_zimage_cache_fixture.py
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
from diffusers import ZImagePipeline
from diffusers.hooks import FirstBlockCacheConfig, apply_first_block_cache
from diffusers.hooks._helpers import TransformerBlockRegistry
from diffusers.hooks.hooks import CacheContext, _set_cache_context
from diffusers.models.transformers.transformer_z_image import ZImageTransformerBlock

sys.path.insert(0, os.path.dirname(__file__))
import make_zimage_pipeline_fixture as pipeline_fixture  # noqa: E402
import make_zimage_fixtures  # noqa: E402
from make_op_fixtures import write_safetensors  # noqa: E402

HERE = os.path.dirname(__file__)
ROOT = os.path.join(HERE, "..", "..", "Tests", "Fixtures", "zimage-cache")

N_LAYERS = 8
STEPS = 20

CASES = [
    # 3x3 image tokens and the caption's, each padded to 32 tokens with the pad tokens; every step kept.
    dict(prompt="a red cat on a mat", width=24, height=24, steps=STEPS, guidance_scale=0.0, seed=42,
         max_sequence_length=64, stored_latent_steps=list(range(STEPS))),
    # Non-square (6x2 image tokens); only the final latents are kept.
    dict(prompt="a lighthouse at dusk", width=48, height=16, steps=STEPS, guidance_scale=0.0, seed=7,
         max_sequence_length=64, stored_latent_steps=[STEPS - 1]),
]

# vLLM-Omni's TeaCache polynomial for ZImageTransformer2DModel (np.poly1d order, highest power first),
# calibrated on Z-Image; earlier vLLM-Omni releases reused Qwen-Image's [-450, 280, -45, 3.2, -0.02].
ZIMAGE_TEACACHE_COEFFICIENTS = [-7.54613422e01, -9.23596156e01, 5.75318402e01, -3.76790311e00, 2.27176809e-01]

RUNS = [
    dict(name="none", method="none"),
    dict(name="fbc_0.05", method="first_block_cache", threshold=0.05),
    dict(name="fbc_0.24", method="first_block_cache", threshold=0.24),
    dict(name="fbc_0.3", method="first_block_cache", threshold=0.3),
    dict(name="teacache_0.2", method="teacache", rel_l1_thresh=0.2, coefficients=ZIMAGE_TEACACHE_COEFFICIENTS),
    dict(name="teacache_0.6", method="teacache", rel_l1_thresh=0.6, coefficients=ZIMAGE_TEACACHE_COEFFICIENTS),
    # vLLM-Omni's cache-dit defaults, then a threshold at which max_continuous_cached_steps forces computes.
    *[dict(name=f"dbcache_{threshold}", method="dbcache", Fn_compute_blocks=1, Bn_compute_blocks=0,
           residual_diff_threshold=threshold, max_warmup_steps=4, max_cached_steps=-1, max_continuous_cached_steps=3)
      for threshold in (0.24, 0.4)],
]


class StepLog:
    """Per transformer call: whether the layers after the head ran, and the compared value."""

    def __init__(self):
        self.computed, self.diff = [], []

    def add(self, computed, diff):
        self.computed.append(bool(computed))
        self.diff.append(float("nan") if diff is None else float(diff))


def first_block_cache(pipe, threshold, log):
    """diffusers' apply_first_block_cache on the transformer, plus the two shims Z-Image needs in
    diffusers 0.42.1, and a probe on the head hook's decision."""
    # Shim 1: the FBC hooks ask the block registry for the argument named "hidden_states", but
    # ZImageTransformerBlock.forward calls it `x` (first positional argument), so the lookup raises.
    # Point that name at argument 0; the hooks' own code then runs unchanged.
    TransformerBlockRegistry.get(ZImageTransformerBlock)._cached_parameter_indices = {"hidden_states": 0}
    apply_first_block_cache(pipe.transformer, FirstBlockCacheConfig(threshold=threshold))

    # Shim 2: stateful hooks need a cache context, which ZImagePipeline never opens (and
    # ZImageTransformer2DModel has no CacheMixin.cache_context); set "cond" around every call, as
    # CacheMixin.cache_context does in e.g. CogView4's pipeline.
    transformer, forward = pipe.transformer, pipe.transformer.forward

    def forward_in_context(*args, **kwargs):
        _set_cache_context(transformer, CacheContext("cond"))
        try:
            return forward(*args, **kwargs)
        finally:
            _set_cache_context(transformer, None)

    transformer.forward = forward_in_context

    # Probe: the head hook compares mean|r - r_prev| / mean|r_prev| (r = head output - head input over
    # the whole padded unified tensor, r_prev = r of the last computed step) with the threshold.
    head = transformer.layers[0]._diffusers_hook.get_hook("fbc_leader_block_hook")
    decide = head._should_compute_remaining_blocks

    def probe(residual):
        prev = head.state_manager.get_state().head_block_residual
        diff = None if prev is None else ((residual - prev).abs().mean() / prev.abs().mean()).item()
        should_compute = decide(residual)
        log.add(should_compute, diff)
        return should_compute

    head._should_compute_remaining_blocks = probe


class LayerCache:
    """Base of the two caches re-implemented here: wraps the forward of each of transformer.layers.
    The head wrapper decides; when it skips it returns what the last layer would have returned
    (head input or head output, plus a cached residual) and the other layers pass their input on."""

    def __init__(self, transformer, log):
        self.layers, self.log, self.skipping = transformer.layers, log, False
        originals = [layer.forward for layer in self.layers]
        for i, layer in enumerate(self.layers):
            layer.forward = self._wrap(i, originals[i])

    def _wrap(self, i, forward):
        last = len(self.layers) - 1

        def wrapped(x, *args):
            if i == 0:
                return self.head(forward, x, *args)
            if self.skipping:
                return x
            out = forward(x, *args)
            if i == last:
                self.store(out)
            return out

        return wrapped


class TeaCache(LayerCache):
    """vLLM-Omni's TeaCacheHook with its Z-Image extractor. The modulated input is layers[0]'s
    attention input: attention_norm1(unified) * (1 + scale_msa), scale_msa = the first of the four
    chunks of layers[0].adaLN_modulation(t embedding). Its relative L1 change since the previous call
    (computed or not), mean|m - m_prev| / (mean|m_prev| + 1e-8), is rescaled by the polynomial and its
    absolute value accumulated; below rel_l1_thresh the step adds the residual of the last computed
    step (output of the last layer - input of the first) to the unified input and skips every main
    layer; otherwise it resets the accumulator to 0 and computes. The first call always computes."""

    def __init__(self, transformer, log, rel_l1_thresh, coefficients):
        super().__init__(transformer, log)
        self.threshold, self.rescale = rel_l1_thresh, np.poly1d(coefficients)
        self.calls, self.accumulated, self.previous_modulated, self.residual, self.input = 0, 0.0, None, None, None

    def head(self, forward, x, attn_mask, freqs_cis, adaln_input, *rest):
        block = self.layers[0]
        scale_msa = 1.0 + block.adaLN_modulation(adaln_input).unsqueeze(1).chunk(4, dim=2)[0]
        modulated = block.attention_norm1(x) * scale_msa
        compute, diff = self.should_compute(modulated)
        self.previous_modulated, self.calls = modulated, self.calls + 1
        self.skipping = not compute and self.residual is not None
        self.log.add(not self.skipping, diff)
        if self.skipping:
            return x + self.residual
        self.input = x
        return forward(x, attn_mask, freqs_cis, adaln_input, *rest)

    def should_compute(self, modulated):
        if self.calls == 0 or self.previous_modulated is None:
            self.accumulated = 0.0
            return True, None
        if self.previous_modulated.shape != modulated.shape:  # packed CFG switched on or off
            self.accumulated = 0.0
            return True, None
        prev = self.previous_modulated
        distance = ((modulated - prev).abs().mean() / (prev.abs().mean() + 1e-8)).item()
        self.accumulated += abs(float(self.rescale(distance)))
        accumulated = self.accumulated
        if accumulated < self.threshold:
            return False, accumulated
        self.accumulated = 0.0
        return True, accumulated

    def store(self, out):
        self.residual = out - self.input


class DBCache(LayerCache):
    """cache-dit's DBCache (CachedBlocks_Pattern_3_4_5 + CachedContextManager.can_cache) with Bn = 0 and
    Fn = 1, as vLLM-Omni configures it for Z-Image. Per call (= step here, no CFG): run layers[0],
    r = its output - input. Warm-up steps (step < max_warmup_steps) compute. A step also computes when
    max_cached_steps >= 0 cached steps were already taken, or when the consecutive-cache counter has
    reached max_continuous_cached_steps (which resets the counter to 0). Otherwise it caches when
    mean|r_prev - r| / mean|r_prev| < threshold, r_prev = r of the last computed step. Caching adds the
    residual of the last computed step (last layer output - layers[0] output) to layers[0]'s output.
    Computing stores r and that residual."""

    def __init__(self, transformer, log, Fn_compute_blocks, Bn_compute_blocks, residual_diff_threshold,
                 max_warmup_steps, max_cached_steps, max_continuous_cached_steps):
        assert Fn_compute_blocks == 1 and Bn_compute_blocks == 0, "only vLLM-Omni's Fn=1, Bn=0 is re-implemented"
        super().__init__(transformer, log)
        self.threshold, self.warmup = residual_diff_threshold, max_warmup_steps
        self.max_cached, self.max_continuous = max_cached_steps, max_continuous_cached_steps
        self.step, self.cached_steps, self.continuous = -1, [], 0
        self.head_residual, self.residual, self.head_output = None, None, None

    def head(self, forward, x, *args):
        out = forward(x, *args)
        r = out - x
        self.step += 1
        cache, diff = self.can_cache(r)
        self.skipping = cache
        self.log.add(not cache, diff)
        if cache:
            self.add_cached_step()
            return out + self.residual
        self.head_residual, self.head_output = r, out
        return out

    def can_cache(self, r):
        if self.step < self.warmup:
            return False, None
        if self.max_cached >= 0 and len(self.cached_steps) >= self.max_cached:
            return False, None
        if self.max_continuous >= 0 and self.continuous >= self.max_continuous:
            self.continuous = 0
            return False, None
        if self.head_residual is None:
            return False, None
        prev = self.head_residual
        diff = ((prev - r).abs().mean() / prev.abs().mean()).item()
        return diff < self.threshold, diff

    def add_cached_step(self):
        # cache-dit's counter, quirks included: a cached step right after a cached step adds 1 (2 when
        # the counter is 0); the first cached step of a run adds 1; any other cached step adds nothing.
        if self.cached_steps:
            if self.step - self.cached_steps[-1] == 1:
                self.continuous += 2 if self.continuous == 0 else 1
        else:
            self.continuous += 1
        self.cached_steps.append(self.step)

    def store(self, out):
        self.residual = out - self.head_output


def count_tail_calls(pipe):
    """Counts evaluations of the last layer's feed-forward: an independent check of the flags."""
    calls = []
    pipe.transformer.layers[-1].feed_forward.register_forward_hook(lambda m, i, o: calls.append(1))
    return calls


def generate(case, run):
    pipe = ZImagePipeline.from_pretrained(ROOT, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    log = StepLog()
    knobs = {k: v for k, v in run.items() if k not in ("name", "method")}
    if run["method"] == "first_block_cache":
        first_block_cache(pipe, run["threshold"], log)
    elif run["method"] == "teacache":
        TeaCache(pipe.transformer, log, **knobs)
    elif run["method"] == "dbcache":
        DBCache(pipe.transformer, log, **knobs)
    tail_calls = count_tail_calls(pipe)

    latents = []

    def on_step(p, i, t, kwargs):
        latents.append(kwargs["latents"].detach().clone())
        return {}

    with torch.no_grad():
        image = pipe(prompt=case["prompt"], width=case["width"], height=case["height"],
                     num_inference_steps=case["steps"], guidance_scale=case["guidance_scale"],
                     generator=torch.Generator("cpu").manual_seed(case["seed"]),
                     max_sequence_length=case["max_sequence_length"], output_type="pil",
                     callback_on_step_end=on_step).images[0]
    if run["method"] == "none":
        log.computed, log.diff = [True] * case["steps"], [float("nan")] * case["steps"]
    assert len(latents) == len(log.computed) == case["steps"], (len(latents), len(log.computed))
    assert sum(tail_calls) == sum(log.computed), (sum(tail_calls), log.computed)
    pixels = torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8))
    assert list(pixels.shape) == [case["height"], case["width"], 3], pixels.shape
    return latents, log, pixels


def psnr(a, b):
    mse = ((a.double() - b.double()) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def randomize_dit(model, gen):
    """make_zimage_fixtures.randomize, then the timestep MLP reads only the slow half of the sinusoidal
    embedding. With all of it, the random MLP mixes in cos/sin(t f) with f up to 1 rad per unit of t, whose
    phase moves by up to 50 rad between two of 20 steps (t runs over 0..1000): the modulation, and with it
    every block's residual, would be unrelated from one step to the next (relative L1 change ~1 at every
    step), which no trained model does and no cache could exploit. Keeping f <= 0.01 (under about 0.5 rad
    per step) makes the embedding smooth in t, as a trained one is; the sqrt(2) keeps its scale."""
    make_zimage_fixtures.randomize(model, gen)
    with torch.no_grad():
        w = model.t_embedder.mlp[0].weight  # [mid, 256]: cos(t f_j) columns, then sin(t f_j), f_j = 10000^(-j/128)
        half = w.shape[1] // 2
        fast = torch.arange(half) < half // 2
        w[:, torch.cat([fast, fast])] = 0
        w *= 2 ** 0.5


def main():
    torch.set_num_threads(1)
    shutil.rmtree(ROOT, ignore_errors=True)
    # build() reads its module's DIT_CONFIG and randomize_dit: the same tiny DiT with more main layers and
    # a timestep embedding that is smooth in t.
    pipeline_fixture.DIT_CONFIG = {**pipeline_fixture.DIT_CONFIG, "n_layers": N_LAYERS}
    pipeline_fixture.randomize_dit = randomize_dit
    pipeline_fixture.build(ROOT, torch.Generator().manual_seed(20251201))

    tensors, measured = {}, []
    for k, case in enumerate(CASES):
        baseline = None
        for run in RUNS:
            latents, log, pixels = generate(case, run)
            if baseline is None:
                baseline = latents, pixels
            stored = case["stored_latent_steps"]
            if run["name"] != "none" and all(log.computed):
                # Nothing was skipped, so the run is plain diffusers, bit for bit: keep its last step only.
                assert all(torch.equal(a, b) for a, b in zip(latents, baseline[0])), run["name"]
                stored = [case["steps"] - 1]
            prefix = f"case_{k}_{run['name']}"
            for i in stored:
                tensors[f"{prefix}_latents_{i}"] = latents[i].float().contiguous()
            tensors[f"{prefix}_computed"] = torch.tensor(log.computed, dtype=torch.uint8)
            tensors[f"{prefix}_diff"] = torch.tensor(log.diff, dtype=torch.float32)
            tensors[f"{prefix}_image"] = pixels.contiguous()
            # A skipped step skips every main layer (TeaCache) or all but the head (FBC, DBCache Fn=1).
            skipped_layers = N_LAYERS if run["method"] == "teacache" else N_LAYERS - 1
            skipped_steps = case["steps"] - sum(log.computed)
            fraction = skipped_steps * skipped_layers / (case["steps"] * N_LAYERS)
            quality = psnr(pixels, baseline[1])
            measured.append(dict(case=k, run=run["name"], stored_latent_steps=stored,
                                 steps_computed=sum(log.computed), skipped_layer_fraction=round(fraction, 4),
                                 psnr_db=None if math.isinf(quality) else round(quality, 2)))
            flags = "".join("C" if c else "." for c in log.computed)
            print(f"case {k} {run['name']:>18}: {flags} computed {sum(log.computed):2d}/{case['steps']}, "
                  f"layers skipped {fraction:6.1%}, PSNR vs none {quality:6.2f} dB")

    write_safetensors(os.path.join(ROOT, "reference.safetensors"), tensors,
                      {"generator": "make_zimage_cache_fixture.py"})
    with open(os.path.join(ROOT, "cases.json"), "w") as f:
        json.dump(dict(n_layers=N_LAYERS, cases=CASES, runs=RUNS, measured=measured), f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
