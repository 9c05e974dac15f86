"""Load test: 1,000 mixed requests at concurrency 32 against `omni serve` on the demo model, with 10%
of the clients hanging up at a random moment. Passes when no request is lost (every client that
stays gets a complete 200), none is wrong (each answer equals that request's answer when it ran
alone) and every KV block is free at the end (from /metrics).

    .venv-e2e/bin/python tests/load/load_test.py [--binary .build/release/omni] [--requests 1000]

It starts its own server (loopback, a free port), prints a summary and exits non-zero on any
failure. The numbers it prints are recorded in docs/server-load.md.
"""
import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "models", "demo-qwen3")
WORDS = ("the quick brown fox jumps over a lazy dog while swift engines turn weights into tokens and "
         "servers answer many clients at once without losing any of them").split()


def request_pool(size, rng):
    """Distinct requests covering the API: completions and chat, streamed or whole, greedy or seeded
    sampling with n > 1, stop strings, logprobs, token-id prompts, several prompts at once."""
    pool = []
    for i in range(size):
        words = " ".join(rng.sample(WORDS, 3 + i % 17))
        kind = ["completion", "chat"][i % 2]
        body = {"model": "demo", "max_tokens": 4 + i % 29, "stream": i % 3 == 0, "ignore_eos": True}
        if i % 4 == 1:
            body.update(temperature=0.8, top_p=0.9, seed=1000 + i, n=1 + i % 3)
        else:
            body["temperature"] = 0
        if kind == "completion":
            body["prompt"] = words if i % 5 else [[10 + (i * 7 + j) % 480 for j in range(5 + i % 40)]]
            if i % 7 == 0:
                body["prompt"] = [words, words[::-1]]
            if i % 6 == 2:
                body["logprobs"] = 2
        else:
            body["messages"] = [{"role": "user", "content": words}]
            if i % 6 == 2:
                body.update(logprobs=True, top_logprobs=2)
        if i % 9 == 4:
            body["stop"] = [" the", "e"]
            body.pop("ignore_eos")
        if body["stream"]:
            body["stream_options"] = {"include_usage": True}
        pool.append((kind, body))
    return pool


def path(kind):
    return "/v1/completions" if kind == "completion" else "/v1/chat/completions"


def answer_of(kind, body, response_json=None, chunks=None):
    """What must match: each choice's text, finish reason and logprob tokens, and the usage."""
    if response_json is not None:
        choices = {}
        for c in response_json["choices"]:
            text = c["text"] if kind == "completion" else c["message"]["content"]
            lp = c.get("logprobs")
            tokens = (lp["tokens"] if kind == "completion" else [e["token"] for e in lp["content"]]) if lp else None
            choices[c["index"]] = (text, c["finish_reason"], tokens)
        return choices, response_json["usage"]
    texts, reasons, tokens, usage = {}, {}, {}, None
    for chunk in chunks:
        if chunk.get("usage"):
            usage = chunk["usage"]
        for c in chunk["choices"]:
            i = c["index"]
            texts[i] = texts.get(i, "") + (c.get("text") or "" if kind == "completion" else c["delta"].get("content") or "")
            if c.get("finish_reason"):
                reasons[i] = c["finish_reason"]
            lp = c.get("logprobs")
            if lp:
                tokens.setdefault(i, []).extend(lp["tokens"] if kind == "completion" else [e["token"] for e in lp["content"]])
    return {i: (texts[i], reasons.get(i), tokens.get(i)) for i in texts}, usage


def run_complete(url, kind, body):
    """A client that stays: returns (answer, latency, completion tokens)."""
    start = time.monotonic()
    if body["stream"]:
        with requests.post(url + path(kind), json=body, stream=True, timeout=300) as r:
            r.raise_for_status()
            events = [line[6:] for line in r.iter_lines(decode_unicode=True) if line.startswith("data: ")]
        if events[-1] != "[DONE]":
            raise RuntimeError("stream did not end with [DONE]")
        answer = answer_of(kind, body, chunks=[json.loads(e) for e in events[:-1]])
    else:
        r = requests.post(url + path(kind), json=body, timeout=300)
        r.raise_for_status()
        answer = answer_of(kind, body, response_json=r.json())
    return answer, time.monotonic() - start, answer[1]["completion_tokens"]


def run_hang_up(port, kind, body, rng):
    """A client that sends its request and hangs up at a random moment (before or during the answer)."""
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST {path(kind)} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        deadline = time.monotonic() + rng.uniform(0, 0.05)
        sock.settimeout(0.005)
        while time.monotonic() < deadline:
            try:
                if not sock.recv(rng.choice([64, 512, 4096])):
                    break
            except socket.timeout:
                pass


def metrics(url):
    values = {}
    for line in requests.get(url + "/metrics", timeout=30).text.splitlines():
        if line.startswith("omni:") and "_bucket" not in line:
            name = line.split("{")[0].split(" ")[0]
            if 'finished_reason="' in line:
                name += ":" + line.split('finished_reason="')[1].split('"')[0]
            values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return values


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "omni"))
    parser.add_argument("--model", default=MODEL, help="model directory (default: the demo model)")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--hang-up", type=float, default=0.10, help="fraction of clients that hang up")
    parser.add_argument("--pool", type=int, default=120, help="distinct requests the load draws from")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="omni-load-", suffix=".log", delete=False)
    server = subprocess.Popen([args.binary, "serve", args.model, "--port", str(port), "--served-model-name", "demo",
                               "--kv-cache-memory", str(256 << 20)], stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        for _ in range(600):
            try:
                if requests.get(url + "/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        else:
            raise SystemExit("server did not start; log: " + log.name)

        pool = request_pool(args.pool, rng)
        # References: every distinct request alone, one at a time.
        start = time.monotonic()
        reference = []
        solo_tokens = 0
        for kind, body in pool:
            answer, _, tokens = run_complete(url, kind, body)
            reference.append(answer)
            solo_tokens += tokens
        solo_seconds = time.monotonic() - start
        idle = metrics(url)

        plan = [(rng.randrange(len(pool)), rng.random() < args.hang_up) for _ in range(args.requests)]
        results = [None] * len(plan)
        lock = threading.Lock()

        def work(index):
            item, hangs_up = plan[index]
            kind, body = pool[item]
            local = random.Random(args.seed * 7919 + index)
            try:
                if hangs_up:
                    run_hang_up(port, kind, body, local)
                    outcome = ("hung up", None, 0)
                else:
                    answer, latency, tokens = run_complete(url, kind, body)
                    outcome = ("ok" if answer == reference[item] else "wrong", latency, tokens)
            except Exception as error:  # a lost request: no complete answer
                outcome = ("lost: " + repr(error)[:200], None, 0)
            with lock:
                results[index] = outcome

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool_executor:
            list(pool_executor.map(work, range(len(plan))))
        load_seconds = time.monotonic() - start

        # Hung-up requests are aborted asynchronously: give the engine a moment to drain.
        deadline = time.monotonic() + 60
        while True:
            after = metrics(url)
            drained = (after["omni:num_requests_running"] == 0 and after["omni:num_requests_waiting"] == 0
                       and after["omni:kv_cache_free_blocks"] == after["omni:kv_cache_blocks"])
            if drained or time.monotonic() > deadline:
                break
            time.sleep(0.05)

        ok = [r for r in results if r[0] == "ok"]
        wrong = [i for i, r in enumerate(results) if r[0] == "wrong"]
        lost = [(i, r[0]) for i, r in enumerate(results) if r[0].startswith("lost")]
        hung = sum(1 for r in results if r[0] == "hung up")
        latencies = sorted(r[1] for r in ok)
        load_tokens = sum(r[2] for r in ok)
        print(f"model: {args.model}")
        print(f"requests: {len(plan)} at concurrency {args.concurrency} ({len(pool)} distinct, references run alone first)")
        print(f"completed: {len(ok)}, hung up: {hung}, wrong: {len(wrong)}, lost: {len(lost)}")
        print(f"KV blocks free after: {int(after['omni:kv_cache_free_blocks'])}/{int(after['omni:kv_cache_blocks'])}"
              f" (idle before: {int(idle['omni:kv_cache_free_blocks'])}), running {int(after['omni:num_requests_running'])},"
              f" waiting {int(after['omni:num_requests_waiting'])}")
        aborted = int(after["omni:request_success_total:abort"] - idle["omni:request_success_total:abort"])
        print(f"completions aborted in the engine by the {hung} hang-ups: {aborted} (each choice of an n > 1 request"
              f" counts; a client that hangs up after its answer is complete aborts nothing)")
        print(f"completion tokens/s: {load_tokens / load_seconds:.0f} under load vs {solo_tokens / solo_seconds:.0f} one at a time"
              f" = {load_tokens / load_seconds / (solo_tokens / solo_seconds):.2f}x from continuous batching")
        print(f"latency of completed requests: p50 {statistics.median(latencies) * 1000:.0f} ms,"
              f" p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} ms; wall {load_seconds:.1f} s")
        if wrong:
            failures.append(f"{len(wrong)} wrong answers, e.g. request {wrong[0]} (pool item {plan[wrong[0]][0]})")
        if lost:
            failures.append(f"{len(lost)} lost requests, e.g. {lost[0]}")
        if not drained:
            failures.append("KV blocks or sequences still held after the load")
        health = requests.get(url + "/health", timeout=5).status_code
        if health != 200:
            failures.append(f"/health answers {health} after the load")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            code = "killed"
        if code != 0:
            failures.append(f"server exited with {code} on SIGTERM (log {log.name})")
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    print("PASSED: 0 lost, 0 wrong, all KV blocks free")
    return 0


if __name__ == "__main__":
    sys.exit(main())
