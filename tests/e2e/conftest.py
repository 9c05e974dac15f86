"""End-to-end tests: the real `omni serve` binary on the bundled demo model, driven by the official
`openai` client (max_retries=0) and by raw HTTP where a client would hide what is on the wire.

OMNI_BIN names the binary (default: the debug build, .build/debug/omni).
"""
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import openai
import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("OMNI_BIN", os.path.join(ROOT, ".build", "debug", "omni"))
MODEL = os.path.join(ROOT, "models", "demo-qwen3")
MODEL_NAME = "demo"
IMAGE_MODEL = os.path.join(ROOT, "Tests", "Fixtures", "zimage-pipeline")
IMAGE_MODEL_NAME = "zimage-tiny"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_LOGS = []


def pytest_sessionfinish(session, exitstatus):
    """The servers' logs are removed after a passing run and kept (their paths printed) after a failing one."""
    for path in SERVER_LOGS:
        if exitstatus == 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            print(f"omni serve log kept: {path}")


class Server:
    """One `omni serve` process on a free port; its log goes to a temporary file."""

    def __init__(self, *flags, env=None, model=MODEL, name=MODEL_NAME):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="omni-serve-", suffix=".log", delete=False)
        SERVER_LOGS.append(self.log.name)
        command = [BINARY, "serve", model, "--port", str(self.port), "--served-model-name", name,
                   "--threads", "1", "--kv-cache-memory", str(8 << 20), *flags]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {})})
        self.wait_until_healthy()

    def wait_until_healthy(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"omni serve exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"omni serve did not become healthy in {timeout}s:\n{self.log_text()}")

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def client(self, api_key="unused"):
        return openai.OpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, timeout=120)

    def metrics(self, headers=None):
        """The Prometheus text as {name: value} for the omni: samples; labels are dropped except
        finished_reason, which is kept as `name:reason` (e.g. `omni:request_success_total:abort`)."""
        text = requests.get(self.url + "/metrics", headers=headers, timeout=10).text
        values = {}
        for line in text.splitlines():
            if line.startswith("omni:") and "_bucket" not in line:
                name = line.split("{")[0].split(" ")[0]
                if 'finished_reason="' in line:
                    name += ":" + line.split('finished_reason="')[1].split('"')[0]
                values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return values

    def wait_for_idle(self, timeout=30):
        """Waits until no sequence runs or waits and every KV block is free; returns the metrics."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            idle = (m["omni:num_requests_running"] == 0 and m["omni:num_requests_waiting"] == 0
                    and m["omni:kv_cache_free_blocks"] == m["omni:kv_cache_blocks"])
            if idle or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def post(self, path, body, **kwargs):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return requests.post(self.url + path, data=data, headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="session")
def server():
    s = Server("--keep-alive", "0.001")
    yield s
    code = s.stop()
    assert code == 0, f"omni serve exited with {code} on SIGTERM:\n{s.log_text()[-4000:]}"


@pytest.fixture(scope="session")
def image_server():
    """A second server, on its own port, for the tiny Z-Image pipeline fixture."""
    s = Server(model=IMAGE_MODEL, name=IMAGE_MODEL_NAME)
    yield s
    code = s.stop()
    assert code == 0, f"omni serve exited with {code} on SIGTERM:\n{s.log_text()[-4000:]}"


@pytest.fixture(scope="session")
def client(server):
    return server.client()


def greedy(**extra):
    """Request fields for deterministic greedy decoding that never stops early."""
    return {"temperature": 0, "extra_body": {"ignore_eos": True}, **extra}
