#!/usr/bin/env python3
"""diffusers' FlowMatchEulerDiscreteScheduler, for Swift's (Tests/Fixtures/scheduler/).

Writes `flow_match_euler.json`: `{"diffusers": version, "cases": [...]}`. A case is a scheduler
config (as scheduler_config.json would hold it), `given`: the arguments of one `set_timesteps` call
(`num_inference_steps`, `mu`, `sigmas`, `timesteps`, those passed), and what diffusers then holds:
`timesteps` and `sigmas` as float32 bit patterns in hex. Cases with `"steps"` also run the
Euler loop on a small latent: `sample` is `torch.randn(shape, generator=manual_seed(seed))`, the
model output at step i is `torch.randn(shape, generator=manual_seed(seed + 1 + i))` (in
`model_dtype`), and each step's `prev_sample` is stored as hex bits; stochastic sampling draws its
noise from `manual_seed(noise_seed)`, one generator for the whole loop. The Swift test makes the
same inputs with `TorchGenerator`, which its own fixtures prove equal to torch's.

Also: `calculate_shift` for several sequence lengths (`shifts`, Python floats, exact), and torch's
float32 `linspace(1, 1/n, n)`, Z-Image's default sigmas (`linspace`).

Deterministic: rerunning rewrites identical bytes.
"""
import json
from pathlib import Path

import numpy as np
import torch
import diffusers
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.flux.pipeline_flux import calculate_shift
from diffusers.pipelines.z_image.pipeline_z_image import get_default_z_image_sigmas

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "scheduler" / "flow_match_euler.json"

ZIMAGE = {"num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": False}
FLUX = {"num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True, "base_shift": 0.5,
        "max_shift": 1.15, "base_image_seq_len": 256, "max_image_seq_len": 4096}


def hexes(t, dtype=torch.float32):
    bits = {torch.float32: torch.int32, torch.bfloat16: torch.int16}[dtype]
    width = 8 if dtype == torch.float32 else 4
    return [format(w & ((1 << (4 * width)) - 1), f"0{width}x") for w in t.to(dtype).reshape(-1).view(bits).tolist()]


def cases():
    out = []

    def add(name, config, steps=None, mu=None, sigmas=None, timesteps=None, run=None):
        out.append(dict(name=name, config=config, num_inference_steps=steps, mu=mu, sigmas=sigmas,
                        timesteps=timesteps, run=run))

    for n in (1, 2, 4, 28, 50):
        add(f"default_n{n}", {}, steps=n)
    add("shift3_n8", {"shift": 3.0}, steps=8, run={"shape": [1, 4, 4, 4], "seed": 10})
    add("shift_fractional_n7", {"shift": 1.7, "num_train_timesteps": 1234}, steps=7)
    for n in (1, 2, 4, 8, 9, 50):
        add(f"zimage_n{n}", ZIMAGE, mu=calculate_shift(4096), sigmas=get_default_z_image_sigmas(n),
            run={"shape": [1, 16, 4, 4], "seed": 20 + n} if n in (4, 9) else None)
    for seq in (256, 1024, 4096, 777):
        mu = calculate_shift(seq, 256, 4096, 0.5, 1.15)
        add(f"flux_dynamic_seq{seq}_n28", FLUX, steps=28, mu=mu)
        add(f"flux_dynamic_seq{seq}_custom_n6", FLUX, mu=mu, sigmas=np.linspace(1.0, 1 / 6, 6).tolist())
    add("flux_dynamic_run", FLUX, steps=5, mu=calculate_shift(1024), run={"shape": [2, 3, 4, 4], "seed": 30})
    add("linear_shift_n10", dict(FLUX, time_shift_type="linear"), steps=10, mu=calculate_shift(2048))
    add("linear_shift_custom_n5", dict(FLUX, time_shift_type="linear"), mu=0.9, sigmas=[1.0, 0.8, 0.55, 0.3, 0.1])
    add("shift_terminal_n12", dict(FLUX, shift_terminal=0.1), steps=12, mu=calculate_shift(3000))
    add("shift_terminal_static_custom", {"shift": 2.0, "shift_terminal": 0.05}, sigmas=[1.0, 0.75, 0.5, 0.25])
    add("invert_sigmas_n6", {"invert_sigmas": True, "shift": 2.5}, steps=6, run={"shape": [1, 2, 3, 3], "seed": 40})
    add("karras_n10", {"use_karras_sigmas": True, "shift": 3.0}, steps=10)
    add("karras_dynamic_n7", dict(FLUX, use_karras_sigmas=True), steps=7, mu=1.0)
    add("exponential_n10", {"use_exponential_sigmas": True, "shift": 3.0}, steps=10)
    add("exponential_custom", {"use_exponential_sigmas": True}, sigmas=[0.9, 0.6, 0.4, 0.2, 0.05])
    add("custom_timesteps", {"shift": 3.0}, timesteps=[999.0, 750.5, 500.0, 250.25, 1.0])
    add("custom_sigmas_and_timesteps", {"shift": 2.0}, sigmas=[1.0, 0.66, 0.33], timesteps=[900.0, 600.0, 300.0],
        run={"shape": [1, 1, 2, 2], "seed": 50})
    add("stochastic_n4", {"shift": 3.0, "stochastic_sampling": True}, steps=4,
        run={"shape": [1, 4, 4, 4], "seed": 60, "noise_seed": 61})
    add("bf16_model_output_n3", {"shift": 3.0}, steps=3, run={"shape": [1, 4, 4, 4], "seed": 70, "model_dtype": "bf16"})
    return out


def run_case(c):
    scheduler = FlowMatchEulerDiscreteScheduler(**c["config"])
    scheduler.set_timesteps(num_inference_steps=c["num_inference_steps"], mu=c["mu"], sigmas=c["sigmas"],
                            timesteps=c["timesteps"])
    given = {k: c[k] for k in ("num_inference_steps", "mu", "sigmas", "timesteps") if c[k] is not None}
    result = {"name": c["name"], "config": c["config"], "given": given}
    result["timesteps"] = hexes(scheduler.timesteps)
    result["sigmas"] = hexes(scheduler.sigmas)
    run = c["run"]
    if run:
        model_dtype = {"bf16": torch.bfloat16}.get(run.get("model_dtype"), torch.float32)
        sample = torch.randn(run["shape"], generator=torch.Generator("cpu").manual_seed(run["seed"]))
        noise = torch.Generator("cpu").manual_seed(run.get("noise_seed", 0))
        scheduler.set_begin_index(0)
        steps = []
        for i, t in enumerate(scheduler.timesteps):
            model_output = torch.randn(run["shape"], generator=torch.Generator("cpu").manual_seed(run["seed"] + 1 + i),
                                       dtype=model_dtype)
            sample = scheduler.step(model_output, t, sample, generator=noise, return_dict=False)[0]
            steps.append(hexes(sample, sample.dtype))
        result["run"] = dict(run, steps=steps)
    return result


def main():
    torch.set_num_threads(1)
    document = {
        "diffusers": diffusers.__version__,
        "torch": torch.__version__.split("+")[0],
        "shifts": [{"image_seq_len": s, "base_seq_len": b, "max_seq_len": m, "base_shift": bs, "max_shift": ms,
                    "mu": calculate_shift(s, b, m, bs, ms)}
                   for s, b, m, bs, ms in [(256, 256, 4096, 0.5, 1.15), (4096, 256, 4096, 0.5, 1.15),
                                           (1024, 256, 4096, 0.5, 1.15), (777, 256, 4096, 0.5, 1.15),
                                           (6400, 256, 8192, 0.25, 0.75)]],
        "linspace": [{"n": n, "values": hexes(torch.tensor(get_default_z_image_sigmas(n)))} for n in range(1, 70)],
        "cases": [run_case(c) for c in cases()],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    lines = ["{"]
    keys = list(document)
    for k, key in enumerate(keys):
        value = document[key]
        comma = "," if k + 1 < len(keys) else ""
        if isinstance(value, list):
            lines.append(f' {json.dumps(key)}: [')
            lines += ["  " + json.dumps(v, separators=(",", ":")) + ("," if i + 1 < len(value) else "")
                      for i, v in enumerate(value)]
            lines.append(" ]" + comma)
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
