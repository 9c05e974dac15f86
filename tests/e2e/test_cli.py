"""The `omni` command line on the bundled models: `generate` for text and images (with step caches),
`bench diffusion`, and the clear errors for flags that do not fit the model."""
import json
import os
import subprocess

from conftest import BINARY, IMAGE_MODEL, MODEL
from test_images import decode_png


def omni(*args, check=True):
    result = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_generate_text_json():
    out = omni("generate", MODEL, "--prompt", "hello", "--max-tokens", "4", "--temperature", "0", "--ignore-eos", "--json")
    record = json.loads(out.stdout.strip().splitlines()[0])
    assert len(record["token_ids"]) == 4 and record["finish_reason"] == "length"


def test_generate_image_with_and_without_step_cache(tmp_path):
    base = ["generate", IMAGE_MODEL, "--prompt", "a red cat on a mat", "--width", "32", "--height", "24",
            "--steps", "6", "--seed", "3"]
    plain, cached = tmp_path / "plain.png", tmp_path / "cached.png"
    first = omni(*base, "--output", str(plain))
    assert "step 6/6" in first.stderr and "wrote 32x24 image" in first.stderr
    second = omni(*base, "--output", str(cached), "--cache-backend", "first_block_cache", "--cache-config",
                  '{"residual_diff_threshold": 1e9, "max_warmup_steps": 0, "max_continuous_cached_steps": -1}')
    # 5 of 6 steps reuse the cache; the fixture's DiT has 2 joint layers, so 5 of 12 evaluations are skipped.
    assert "first_block_cache: skipped 5 of 12 joint-block evaluations" in second.stderr, second.stderr
    width, height, pixels = decode_png(plain.read_bytes())
    assert (width, height) == (32, 24)
    assert decode_png(cached.read_bytes())[2] != pixels


def test_flags_that_do_not_fit_are_clear_errors(tmp_path):
    bad = omni("generate", IMAGE_MODEL, "--prompt", "x", "--output", str(tmp_path / "x.png"), "--cache-backend", "magic",
               check=False)
    assert bad.returncode != 0 and "cache backend \"magic\"" in bad.stderr, bad.stderr
    wrong = omni("generate", IMAGE_MODEL, "--prompt", "x", "--output", str(tmp_path / "x.png"), "--cache-backend",
                 "tea_cache", "--cache-config", '{"residual_diff_threshold": 0.1}', check=False)
    assert wrong.returncode != 0 and "residual_diff_threshold" in wrong.stderr, wrong.stderr
    text = omni("generate", MODEL, "--prompt", "x", "--cache-backend", "tea_cache", check=False)
    assert text.returncode != 0 and "text model" in text.stderr, text.stderr
    size = omni("generate", IMAGE_MODEL, "--prompt", "x", "--width", "30", "--height", "24",
                "--output", str(tmp_path / "x.png"), check=False)
    assert size.returncode != 0 and "width 30" in size.stderr, size.stderr


def test_bench_diffusion_json_reports_the_cache():
    out = omni("bench", "diffusion", IMAGE_MODEL, "--size", "32x24", "--steps", "3", "--cache-backend",
               "tea_cache", "--cache-config", '{"rel_l1_thresh": 1e9}', "--json")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert record["benchmark"] == "dit_step" and record["unit"] == "s/step" and record["value"] > 0
    assert record["details"]["cache_backend"] == "tea_cache"
    assert record["details"]["skipped_blocks"] == 2 * 2   # steps 1 and 2 of 3, 2 joint layers
    assert record["model"] == os.path.abspath(IMAGE_MODEL)


def test_matmul_precision_flag(tmp_path):
    # bf16 mode (activations rounded to bf16 in products with bf16 weights; --dtype bfloat16 stores
    # the demo models' weights in bf16 so that those products run): text and image generation
    # complete; the kernels' numbers are the Swift tests'.
    for precision in ("float32", "bfloat16"):
        out = omni("generate", MODEL, "--prompt", "hello", "--max-tokens", "4", "--temperature", "0", "--ignore-eos",
                   "--json", "--dtype", "bfloat16", "--matmul-precision", precision)
        record = json.loads(out.stdout.strip().splitlines()[0])
        assert len(record["token_ids"]) == 4, out.stdout
    image = tmp_path / "bf16.png"
    omni("generate", IMAGE_MODEL, "--prompt", "a cat", "--width", "32", "--height", "32", "--steps", "2",
         "--output", str(image), "--dtype", "bfloat16", "--matmul-precision", "bfloat16")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = omni("generate", MODEL, "--prompt", "x", "--matmul-precision", "fp8", check=False)
    assert bad.returncode != 0 and "--matmul-precision must be float32 or bfloat16" in bad.stderr, bad.stderr


def test_bench_machine_json_pairs_each_gemv_pass_with_the_probe_passes_around_it():
    out = omni("bench", "machine", "--threads", "1", "--buffer-mib", "64", "--gemm-size", "64", "--repeats", "3",
               "--json")
    result = json.loads(out.stdout)
    assert result["threads"] == 1 and result["bufferBytes"] == 64 << 20
    assert result["readBandwidthGBps"]["1"] > 0 and result["f32GemmGFLOPs"] > 0 and result["bf16GemmGFLOPs"] > 0
    shares = result["bf16GemvPairedShares"]
    assert len(shares) == 3 and all(s > 0 for s in shares)
    assert result["bf16GemvPairedShareMedian"] == sorted(shares)[1]
    assert abs(result["bf16GemvShareOfRoof"] - result["bf16GemvGBps"] / result["bestReadBandwidthGBps"]) < 1e-9


def test_bench_decode_json_pairs_each_run_with_the_probes_and_windows_around_it():
    out = omni("bench", "decode", MODEL, "--tokens", "4", "--repeats", "3", "--buffer-mib", "64", "--threads", "1",
               "--json")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert record["benchmark"] == "decode" and record["unit"] == "tok/s" and record["value"] > 0
    details = record["details"]
    runs, best, mean = details["runs_tok_s"], details["bracket_read_gbps"], details["bracket_read_mean_gbps"]
    # A probe (several passes) before each of the 3 runs and one after the last; each run against the
    # best pass and the mean pass around it (the mean of two probes of equal pass counts).
    assert len(runs) == 3 and len(best) == 4 and len(mean) == 4
    assert all(0 < m <= b for m, b in zip(mean, best))
    for key, roof in (("paired_roof_fractions", lambda i: max(best[i], best[i + 1])),
                      ("paired_mean_roof_fractions", lambda i: (mean[i] + mean[i + 1]) / 2)):
        fractions = details[key]
        assert len(fractions) == 3
        for i, fraction in enumerate(fractions):
            expected = runs[i] * details["bytes_per_token"] / 1e9 / roof(i)
            assert abs(fraction - expected) <= 1e-9 * expected, (key, i, fraction, expected)
        assert sorted(fractions)[1] == details[key.replace("fractions", "fraction_median")]
    # A window as long as a run before each run and after the last: each run against the mean of the
    # two around it, and the fastest run against the fastest window.
    windows, rate = details["window_read_gbps"], details["bytes_per_token"] / 1e9
    assert len(windows) == 4 and all(w > 0 for w in windows)
    fractions = details["window_roof_fractions"]
    assert len(fractions) == 3
    for i, fraction in enumerate(fractions):
        expected = runs[i] * rate / ((windows[i] + windows[i + 1]) / 2)
        assert abs(fraction - expected) <= 1e-9 * expected, (i, fraction, expected)
    assert sorted(fractions)[1] == details["window_roof_fraction_median"]
    expected = record["value"] * rate / max(windows)
    assert abs(details["window_best_roof_fraction"] - expected) <= 1e-9 * expected
    assert record["model"] == os.path.abspath(MODEL)
