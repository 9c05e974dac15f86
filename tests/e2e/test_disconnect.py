"""A client that hangs up, streaming or not, aborts its request: its KV blocks come back."""
import json
import socket
import time

import requests

from conftest import MODEL_NAME


def wait_until(server, predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = server.metrics()
        if predicate(m):
            return m
        time.sleep(0.02)
    raise AssertionError(f"condition not reached; metrics {server.metrics()}")


def long_request(stream):
    return {"model": MODEL_NAME, "prompt": "Write forever:", "max_tokens": 1900, "n": 4, "temperature": 1.0,
            "ignore_eos": True, "stream": stream}


def test_streaming_client_disconnect_frees_every_block(server):
    idle = server.wait_for_idle()
    aborted = idle["omni:request_success_total:abort"]
    with requests.post(server.url + "/v1/completions", json=long_request(True), stream=True, timeout=60) as r:
        lines = r.iter_lines()
        received = 0
        for line in lines:
            if line.startswith(b"data: {"):
                received += 1
                if received == 8:
                    break
        busy = server.metrics()
        assert busy["omni:num_requests_running"] == 4
        assert busy["omni:kv_cache_free_blocks"] < idle["omni:kv_cache_blocks"]
    # Leaving the with-block closes the connection mid-stream.
    m = server.wait_for_idle()
    assert m["omni:num_requests_running"] == 0
    assert m["omni:kv_cache_free_blocks"] == m["omni:kv_cache_blocks"]
    assert m["omni:kv_cache_usage_perc"] == 0
    wait_until(server, lambda m: m["omni:request_success_total:abort"] == aborted + 4)


def test_non_streaming_client_disconnect_frees_every_block(server):
    server.wait_for_idle()
    before = server.metrics()["omni:generation_tokens_total"]
    body = json.dumps(long_request(False)).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        wait_until(server, lambda m: m["omni:num_requests_running"] == 4
                   and m["omni:generation_tokens_total"] > before + 40)
    m = server.wait_for_idle()
    assert m["omni:num_requests_running"] == 0 and m["omni:kv_cache_free_blocks"] == m["omni:kv_cache_blocks"]
    # Aborted well before 4 x 1900 tokens.
    assert m["omni:generation_tokens_total"] - before < 4 * 1900
