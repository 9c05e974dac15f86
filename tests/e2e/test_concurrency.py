"""Continuous batching seen from outside: concurrent requests give what each gives alone."""
from concurrent.futures import ThreadPoolExecutor

from conftest import MODEL_NAME, greedy

WORDS = "the quick brown fox jumps over a lazy dog while swift engines turn weights into tokens".split()


def prompt(i):
    # Mixed lengths, shared prefixes for some (prefix-cache hits), distinct texts.
    return " ".join(WORDS[: 3 + i % 11]) + f" #{i}" + " again" * (i % 5)


def test_32_parallel_requests_each_equal_its_greedy_reference(server, client):
    def run(i):
        if i % 2:
            r = client.completions.create(model=MODEL_NAME, prompt=prompt(i), max_tokens=8 + i % 9, **greedy())
            return r.choices[0].text, r.usage.completion_tokens
        r = client.chat.completions.create(model=MODEL_NAME, messages=[{"role": "user", "content": prompt(i)}],
                                           max_tokens=8 + i % 9, **greedy())
        return r.choices[0].message.content, r.usage.completion_tokens

    alone = [run(i) for i in range(32)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        together = list(pool.map(run, range(32)))
    for i in range(32):
        assert together[i] == alone[i], f"request {i} differs under load"
        assert alone[i][1] == 8 + i % 9
    m = server.wait_for_idle()
    assert m["omni:kv_cache_free_blocks"] == m["omni:kv_cache_blocks"]
