"""/v1/chat/completions through the official openai client, streaming and not."""
import json

import requests

from conftest import MODEL_NAME, greedy

MESSAGES = [{"role": "system", "content": "You are a test."}, {"role": "user", "content": "Say something."}]


def test_chat_usage_counts_the_rendered_prompt(server, client):
    r = client.chat.completions.create(model=MODEL_NAME, messages=MESSAGES, max_tokens=9, **greedy())
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    choice = r.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason == "length"
    count = server.post("/tokenize", {"messages": MESSAGES}).json()["count"]
    assert r.usage.prompt_tokens == count
    assert r.usage.completion_tokens == 9 and r.usage.total_tokens == count + 9


def test_max_completion_tokens_wins_over_max_tokens(client):
    r = client.chat.completions.create(model=MODEL_NAME, messages=MESSAGES, max_tokens=3, max_completion_tokens=5,
                                       **greedy())
    assert r.usage.completion_tokens == 5


def test_streamed_deltas_equal_the_whole_answer(client):
    whole = client.chat.completions.create(model=MODEL_NAME, messages=MESSAGES, max_tokens=20, **greedy())
    stream = client.chat.completions.create(model=MODEL_NAME, messages=MESSAGES, max_tokens=20, stream=True,
                                            stream_options={"include_usage": True}, **greedy())
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 20
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_usage_option_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model=MODEL_NAME, messages=MESSAGES, max_tokens=4, stream=True,
                                                 **greedy()))
    assert all(c.choices for c in chunks)


def test_raw_stream_is_openai_sse_with_done(server):
    body = {"model": MODEL_NAME, "messages": MESSAGES, "max_tokens": 4, "stream": True, "temperature": 0}
    with requests.post(server.url + "/v1/chat/completions", json=body, stream=True, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines(decode_unicode=True) if line]
    data = [e for e in events if e.startswith("data: ")]
    assert data[-1] == "data: [DONE]"
    first = json.loads(data[0][len("data: "):])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(e.startswith("data: ") or e == ": ping" for e in events)


def test_n_streams_open_every_choice_with_its_role(client):
    chunks = list(client.chat.completions.create(model=MODEL_NAME, messages=MESSAGES, max_tokens=6, n=3, seed=5,
                                                 temperature=1.0, stream=True, extra_body={"ignore_eos": True}))
    roles = [c.choices[0].index for c in chunks if c.choices and c.choices[0].delta.role == "assistant"]
    assert sorted(roles) == [0, 1, 2]
    texts = {i: "" for i in range(3)}
    for c in chunks:
        for choice in c.choices:
            texts[choice.index] += choice.delta.content or ""
    whole = client.chat.completions.create(model=MODEL_NAME, messages=MESSAGES, max_tokens=6, n=3, seed=5,
                                           temperature=1.0, extra_body={"ignore_eos": True})
    assert [texts[i] for i in range(3)] == [c.message.content for c in whole.choices]


def test_seeded_sampling_is_reproducible(client):
    args = dict(model=MODEL_NAME, messages=MESSAGES, max_tokens=16, temperature=0.9, top_p=0.95, seed=99,
                extra_body={"ignore_eos": True, "top_k": 50})
    a = client.chat.completions.create(**args).choices[0].message.content
    b = client.chat.completions.create(**args).choices[0].message.content
    assert a == b


def test_chat_logprobs_have_openai_shape(client):
    r = client.chat.completions.create(model=MODEL_NAME, messages=MESSAGES, max_tokens=6, logprobs=True,
                                       top_logprobs=4, **greedy())
    content = r.choices[0].logprobs.content
    assert len(content) == 6
    for entry in content:
        assert entry.logprob <= 0 and entry.bytes == list(entry.token.encode("utf-8"))
        assert len(entry.top_logprobs) == 4
        values = [t.logprob for t in entry.top_logprobs]
        assert values == sorted(values, reverse=True)
        assert entry.top_logprobs[0].token == entry.token and abs(values[0] - entry.logprob) < 1e-6


def test_streamed_logprobs_match_the_whole_answer(client):
    args = dict(model=MODEL_NAME, messages=MESSAGES, max_tokens=5, logprobs=True, top_logprobs=2, **greedy())
    whole = client.chat.completions.create(**args).choices[0].logprobs.content
    streamed = [e for c in client.chat.completions.create(stream=True, **args)
                if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in whole]


def test_tools_reach_the_template(server, client):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": "Weather?"}]
    with_tools = server.post("/tokenize", {"messages": messages, "tools": tools}).json()["count"]
    without = server.post("/tokenize", {"messages": messages}).json()["count"]
    assert with_tools > without
    r = client.chat.completions.create(model=MODEL_NAME, messages=messages, tools=tools, max_tokens=3, **greedy())
    assert r.usage.prompt_tokens == with_tools


def test_continue_final_message_ends_inside_the_last_message(server):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, I am"}]
    r = server.post("/tokenize", {"messages": messages, "continue_final_message": True,
                                  "add_generation_prompt": False}).json()
    text = server.post("/detokenize", {"tokens": r["tokens"]}).json()["prompt"]
    assert text.endswith("Hello, I am")
