"""/v1/completions through the official openai client."""
import requests

from conftest import MODEL_NAME, greedy


def tokenize(server, text):
    return server.post("/tokenize", {"prompt": text}).json()["tokens"]


def test_greedy_completion_has_exact_usage_and_length_finish(server, client):
    prompt = "The quick brown fox"
    r = client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=12, **greedy())
    assert r.object == "text_completion" and r.id.startswith("cmpl-") and r.model == MODEL_NAME
    assert len(r.choices) == 1 and r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens == len(tokenize(server, prompt))
    assert r.usage.completion_tokens == 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + 12


def test_default_max_tokens_is_sixteen(client):
    r = client.completions.create(model=MODEL_NAME, prompt="Hello", **greedy())
    assert r.usage.completion_tokens == 16


def test_greedy_is_deterministic_and_token_prompts_equal_text_prompts(server, client):
    text = client.completions.create(model=MODEL_NAME, prompt="Swift is", max_tokens=10, **greedy()).choices[0].text
    again = client.completions.create(model=MODEL_NAME, prompt="Swift is", max_tokens=10, **greedy()).choices[0].text
    ids = tokenize(server, "Swift is")
    by_ids = client.completions.create(model=MODEL_NAME, prompt=ids, max_tokens=10, **greedy()).choices[0].text
    assert text == again == by_ids


def test_several_prompts_number_choices_prompt_major(client):
    prompts = ["Hello", "Numbers 1 2 3"]
    r = client.completions.create(model=MODEL_NAME, prompt=prompts, max_tokens=5, n=2, temperature=0.9, seed=11,
                                  extra_body={"ignore_eos": True})
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    assert r.usage.completion_tokens == 20
    alone = client.completions.create(model=MODEL_NAME, prompt=prompts[1], max_tokens=5, n=2, temperature=0.9,
                                      seed=11, extra_body={"ignore_eos": True})
    # Same seed, same prompt: the same two completions, whatever else is in the batch.
    assert [c.text for c in r.choices[2:]] == [c.text for c in alone.choices]


def test_n_choices_are_seeded_and_reproducible(client):
    args = dict(model=MODEL_NAME, prompt="Once upon a time", max_tokens=16, n=3, temperature=1.0, seed=1234,
                extra_body={"ignore_eos": True})
    first = [c.text for c in client.completions.create(**args).choices]
    second = [c.text for c in client.completions.create(**args).choices]
    assert len(first) == 3 and first == second
    assert len(set(first)) > 1, "n=3 sampled choices should not all be equal"
    other = [c.text for c in client.completions.create(**{**args, "seed": 4321}).choices]
    assert other != first


def test_stop_string_cuts_the_text_and_is_reported(client):
    full = client.completions.create(model=MODEL_NAME, prompt="Hello, world", max_tokens=24, **greedy()).choices[0].text
    stop = full[len(full) // 2: len(full) // 2 + 2]
    assert stop.strip(), f"need a visible stop string from {full!r}"
    cut = full[: full.index(stop)]
    r = client.completions.create(model=MODEL_NAME, prompt="Hello, world", max_tokens=24, stop=[stop], **greedy())
    assert r.choices[0].text == cut
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].model_extra.get("stop_reason") == stop
    kept = client.completions.create(model=MODEL_NAME, prompt="Hello, world", max_tokens=24, stop=stop,
                                     temperature=0, extra_body={"ignore_eos": True, "include_stop_str_in_output": True})
    assert kept.choices[0].text == cut + stop


def test_stop_token_ids_end_with_stop(server, client):
    full = client.completions.create(model=MODEL_NAME, prompt="Machine learning", max_tokens=10, logprobs=0,
                                     **greedy()).choices[0]
    # A generated token whose text maps back to exactly one id.
    for position, token in enumerate(full.logprobs.tokens):
        ids = server.post("/tokenize", {"prompt": token, "add_special_tokens": False}).json()["tokens"]
        if len(ids) == 1 and server.post("/detokenize", {"tokens": ids}).json()["prompt"] == token:
            break
    else:
        raise AssertionError(f"no round-tripping token in {full.logprobs.tokens}")
    r = client.completions.create(model=MODEL_NAME, prompt="Machine learning", max_tokens=10,
                                  temperature=0, extra_body={"ignore_eos": True, "stop_token_ids": ids})
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].model_extra.get("stop_reason") == ids[0]
    assert r.usage.completion_tokens <= position + 1


def test_logprobs_have_openai_shape(client):
    r = client.completions.create(model=MODEL_NAME, prompt="Tokens and logprobs", max_tokens=8, logprobs=3, **greedy())
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 8
    offset = 0
    for token, value, top, start in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, lp.text_offset):
        assert start == offset
        offset += len(token)
        assert value <= 0
        # Three alternatives and the chosen token; tokens with the same text share a key.
        assert 1 <= len(top) <= 4 and token in top
        # Greedy: the chosen token is the most likely one.
        assert abs(max(top.values()) - value) < 1e-6


def test_echo_returns_the_prompt_and_its_logprobs(client):
    prompt = "Hello there"
    r = client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=4, echo=True, logprobs=1, **greedy())
    choice = r.choices[0]
    assert choice.text.startswith(prompt)
    lp = choice.logprobs
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert len(lp.tokens) == r.usage.prompt_tokens + 4
    assert "".join(lp.tokens[: r.usage.prompt_tokens]) == prompt


def test_prompt_beyond_context_is_400_with_counts(server):
    r = server.post("/v1/completions", {"model": MODEL_NAME, "prompt": "Hello", "max_tokens": 2047})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "max_tokens" and error["code"] == "context_length_exceeded"
    assert "2048" in error["message"] and "2047" in error["message"]


def test_models_and_version(server, client):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL_NAME]
    assert requests.get(server.url + "/version").json()["version"]


def test_streamed_echo_with_logprobs_equals_the_whole_answer(client):
    args = dict(model=MODEL_NAME, prompt="Echo this", max_tokens=5, n=2, temperature=1.0, seed=8, echo=True,
                logprobs=2, extra_body={"ignore_eos": True})
    whole = client.completions.create(**args)
    texts, tokens, offsets = {0: "", 1: ""}, {0: [], 1: []}, {0: [], 1: []}
    for chunk in client.completions.create(stream=True, **args):
        for c in chunk.choices:
            texts[c.index] += c.text
            if c.logprobs:
                tokens[c.index] += c.logprobs.tokens
                offsets[c.index] += c.logprobs.text_offset
    for choice in whole.choices:
        assert texts[choice.index] == choice.text
        assert tokens[choice.index] == choice.logprobs.tokens
        assert offsets[choice.index] == choice.logprobs.text_offset
