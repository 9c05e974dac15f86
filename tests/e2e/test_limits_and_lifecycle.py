"""Body size (413), queue length (429 with Retry-After), keep-alive pings during long prefills,
graceful shutdown on SIGTERM and SIGINT, and a log line per request."""
import json
import signal
import time

import requests

from conftest import MODEL_NAME, Server


def test_body_over_the_limit_is_413():
    s = Server("--max-body-bytes", "4096")
    try:
        r = s.post("/v1/completions", {"model": MODEL_NAME, "prompt": "a" * 8000, "max_tokens": 1})
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        assert s.post("/v1/completions", {"model": MODEL_NAME, "prompt": "a", "max_tokens": 1}).status_code == 200
    finally:
        assert s.stop() == 0


def test_full_queue_is_429_with_retry_after_then_recovers():
    s = Server("--max-num-seqs", "1", "--max-queued-seqs", "0")
    try:
        body = {"model": MODEL_NAME, "prompt": "Go:", "max_tokens": 1500, "ignore_eos": True, "stream": True,
                "temperature": 0}
        with requests.post(s.url + "/v1/completions", json=body, stream=True, timeout=60) as busy:
            # Hold the line iterator: a dropped one makes urllib3 close the connection.
            lines = busy.iter_lines()
            next(line for line in lines if line.startswith(b"data: {"))
            r = s.post("/v1/completions", {"model": MODEL_NAME, "prompt": "hi", "max_tokens": 1})
            assert r.status_code == 429
            assert r.headers["retry-after"] == "1" and r.json()["error"]["type"] == "rate_limit_error"
        s.wait_for_idle()
        deadline = time.monotonic() + 30
        while True:
            r = s.post("/v1/completions", {"model": MODEL_NAME, "prompt": "hi", "max_tokens": 1})
            if r.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert r.status_code == 200
    finally:
        assert s.stop() == 0


def test_long_prefill_streams_ping_comments_the_client_ignores(server, client):
    prompt = list(range(10, 490)) * 4  # 1,920 prompt tokens: a prefill far longer than the 1 ms keep-alive
    body = {"model": MODEL_NAME, "prompt": prompt, "max_tokens": 3, "stream": True, "temperature": 0}
    with requests.post(server.url + "/v1/completions", json=body, stream=True, timeout=120) as r:
        lines = [line for line in r.iter_lines(decode_unicode=True) if line]
    assert ": ping" in lines
    assert lines[-1] == "data: [DONE]"
    chunks = list(client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=3, stream=True, temperature=0))
    assert "".join(c.choices[0].text for c in chunks) == "".join(
        json.loads(l[6:])["choices"][0]["text"] for l in lines if l.startswith("data: {"))


def test_sigterm_finishes_in_flight_requests_then_exits_zero():
    s = Server("--shutdown-timeout", "60")
    body = {"model": MODEL_NAME, "prompt": "Count:", "max_tokens": 200, "ignore_eos": True, "stream": True,
            "temperature": 0}
    with requests.post(s.url + "/v1/completions", json=body, stream=True, timeout=120) as first:
        lines = first.iter_lines(decode_unicode=True)
        next(line for line in lines if line.startswith("data: {"))
        s.process.send_signal(signal.SIGTERM)
        rest = [line for line in lines if line]
    assert rest[-1] == "data: [DONE]", "the stream in flight should finish"
    assert s.process.wait(timeout=60) == 0
    assert "shutting down" in s.log_text()


def test_sigint_aborts_what_outlives_the_grace_period_and_exits_zero():
    s = Server("--shutdown-timeout", "0.2")
    body = {"model": MODEL_NAME, "prompt": "Forever:", "max_tokens": 2000, "n": 4, "temperature": 1,
            "ignore_eos": True, "stream": True}
    with requests.post(s.url + "/v1/completions", json=body, stream=True, timeout=120) as r:
        lines = r.iter_lines(decode_unicode=True)
        next(line for line in lines if line.startswith("data: {"))
        s.process.send_signal(signal.SIGINT)
        assert s.process.wait(timeout=60) == 0
    assert "engine stopped" in s.log_text()


def test_every_request_is_logged_with_id_status_tokens_and_latency(server, client):
    r = client.completions.create(model=MODEL_NAME, prompt="log me", max_tokens=2, temperature=0)
    deadline = time.monotonic() + 10
    while r.id not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    line = next(l for l in server.log_text().splitlines() if r.id in l)
    assert "POST /v1/completions" in line and "status=200" in line
    assert "completion_tokens=2" in line and "prompt_tokens=" in line and "latency_ms=" in line
