"""A corpus of bad requests: each gets the right 4xx in OpenAI's error shape, naming the field,
and the server stays healthy and leak-free after all of them."""
import json

import pytest
import requests

from conftest import MODEL_NAME

C, CHAT, TOK, DETOK = "/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize"
USER = [{"role": "user", "content": "hi"}]


def completion(**fields):
    return json.dumps({"model": MODEL_NAME, "prompt": "hi", "max_tokens": 2, **fields})


def chat(**fields):
    return json.dumps({"model": MODEL_NAME, "messages": USER, "max_tokens": 2, **fields})


# (name, method, path, body, status, param)
CASES = [
    ("malformed json", "POST", C, "{", 400, None),
    ("json array body", "POST", C, "[1, 2]", 400, None),
    ("json string body", "POST", C, '"hello"', 400, None),
    ("empty body", "POST", C, "", 400, None),
    ("invalid utf-8", "POST", C, b'{"prompt": "\xff\xfe"}', 400, None),
    ("trailing garbage", "POST", C, '{"prompt": "a"} x', 400, None),
    ("unknown route", "GET", "/v1/nothing", None, 404, None),
    ("wrong method", "GET", C, None, 405, None),
    ("wrong method on models", "POST", "/v1/models", "{}", 405, None),
    ("unknown model completions", "POST", C, completion(model="gpt-4"), 404, "model"),
    ("unknown model chat", "POST", CHAT, chat(model="gpt-4"), 404, "model"),
    ("model not a string", "POST", C, completion(model=5), 400, "model"),
    ("prompt missing", "POST", C, json.dumps({"max_tokens": 2}), 400, "prompt"),
    ("prompt empty list", "POST", C, completion(prompt=[]), 400, "prompt"),
    ("prompt empty string", "POST", C, completion(prompt=""), 400, "prompt"),
    ("prompt mixed list", "POST", C, completion(prompt=[1, "a"]), 400, "prompt[1]"),
    ("prompt negative id", "POST", C, completion(prompt=[-1]), 400, "prompt"),
    ("prompt id past vocab", "POST", C, completion(prompt=[999999]), 400, "prompt"),
    ("prompt object", "POST", C, completion(prompt={"text": "a"}), 400, "prompt"),
    ("max_tokens zero", "POST", C, completion(max_tokens=0), 400, "max_tokens"),
    ("max_tokens string", "POST", C, completion(max_tokens="5"), 400, "max_tokens"),
    ("max_tokens fraction", "POST", C, completion(max_tokens=2.5), 400, "max_tokens"),
    ("max_tokens past context", "POST", C, completion(max_tokens=5000), 400, "max_tokens"),
    ("temperature negative", "POST", C, completion(temperature=-1), 400, "temperature"),
    ("temperature too high", "POST", C, completion(temperature=2.5), 400, "temperature"),
    ("temperature string", "POST", C, completion(temperature="hot"), 400, "temperature"),
    ("top_p zero", "POST", C, completion(top_p=0), 400, "top_p"),
    ("top_p above one", "POST", C, completion(top_p=1.5), 400, "top_p"),
    ("top_k below -1", "POST", C, completion(top_k=-5), 400, "top_k"),
    ("min_p above one", "POST", C, completion(min_p=2), 400, "min_p"),
    ("presence_penalty range", "POST", C, completion(presence_penalty=3), 400, "presence_penalty"),
    ("frequency_penalty range", "POST", C, completion(frequency_penalty=-3), 400, "frequency_penalty"),
    ("repetition_penalty zero", "POST", C, completion(repetition_penalty=0), 400, "repetition_penalty"),
    ("n zero", "POST", C, completion(n=0), 400, "n"),
    ("n greedy", "POST", C, completion(n=2, temperature=0), 400, "n"),
    ("logprobs too many", "POST", C, completion(logprobs=21), 400, "logprobs"),
    ("logprobs string", "POST", C, completion(logprobs="yes"), 400, "logprobs"),
    ("stop number", "POST", C, completion(stop=5), 400, "stop"),
    ("stop empty string", "POST", C, completion(stop=[""]), 400, "stop"),
    ("stop_token_ids negative", "POST", C, completion(stop_token_ids=[-1]), 400, "stop_token_ids"),
    ("stop_token_ids not a list", "POST", C, completion(stop_token_ids="a"), 400, "stop_token_ids"),
    ("min_tokens negative", "POST", C, completion(min_tokens=-1), 400, "min_tokens"),
    ("min_tokens above max", "POST", C, completion(min_tokens=10, max_tokens=5), 400, "min_tokens"),
    ("seed string", "POST", C, completion(seed="x"), 400, "seed"),
    ("stream string", "POST", C, completion(stream="yes"), 400, "stream"),
    ("stream_options without stream", "POST", C, completion(stream_options={"include_usage": True}), 400,
     "stream_options"),
    ("echo number", "POST", C, completion(echo=1), 400, "echo"),
    ("ignore_eos string", "POST", C, completion(ignore_eos="no"), 400, "ignore_eos"),
    ("best_of unsupported", "POST", C, completion(best_of=3), 400, "best_of"),
    ("logit_bias unsupported", "POST", C, completion(logit_bias={"1": 5}), 400, "logit_bias"),
    ("suffix unsupported", "POST", C, completion(suffix="x"), 400, "suffix"),
    ("messages missing", "POST", CHAT, json.dumps({"model": MODEL_NAME}), 400, "messages"),
    ("messages empty", "POST", CHAT, chat(messages=[]), 400, "messages"),
    ("messages a string", "POST", CHAT, chat(messages="hi"), 400, "messages"),
    ("message without role", "POST", CHAT, chat(messages=[{"content": "x"}]), 400, "messages[0].role"),
    ("message content number", "POST", CHAT, chat(messages=[{"role": "user", "content": 5}]), 400,
     "messages[0].content"),
    ("user content missing", "POST", CHAT, chat(messages=[{"role": "user"}]), 400, "messages[0].content"),
    ("image part on a text model", "POST", CHAT,
     chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]), 400,
     "messages[0].content[0]"),
    ("unknown part type", "POST", CHAT, chat(messages=[{"role": "user", "content": [{"type": "poem"}]}]), 400,
     "messages[0].content[0].type"),
    ("tool arguments not json", "POST", CHAT, chat(messages=[{"role": "assistant", "content": "", "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]), 400,
     "messages[0].tool_calls[0].function.arguments"),
    ("template rejects null content", "POST", CHAT, chat(messages=[USER[0], {"role": "assistant", "content": None,
     "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]), 400,
     "messages"),
    ("top_logprobs without logprobs", "POST", CHAT, chat(top_logprobs=2), 400, "top_logprobs"),
    ("top_logprobs too many", "POST", CHAT, chat(logprobs=True, top_logprobs=30), 400, "top_logprobs"),
    ("logprobs not a bool in chat", "POST", CHAT, chat(logprobs=3), 400, "logprobs"),
    ("tool_choice required", "POST", CHAT, chat(tool_choice="required"), 400, "tool_choice"),
    ("tools not a list", "POST", CHAT, chat(tools="x"), 400, "tools"),
    ("audio output on a text model", "POST", CHAT, chat(modalities=["text", "audio"]), 400, "modalities"),
    ("json response format", "POST", CHAT, chat(response_format={"type": "json_object"}), 400, "response_format"),
    ("continue and generation prompt", "POST", CHAT, chat(continue_final_message=True, add_generation_prompt=True),
     400, "continue_final_message"),
    ("chat_template_kwargs not an object", "POST", CHAT, chat(chat_template_kwargs="x"), 400,
     "chat_template_kwargs"),
    ("two stages of sampling params", "POST", CHAT, chat(sampling_params_list=[{}, {}]), 400,
     "sampling_params_list"),
    ("max_completion_tokens zero", "POST", CHAT, chat(max_completion_tokens=0), 400, "max_completion_tokens"),
    ("tokenize without prompt", "POST", TOK, json.dumps({}), 400, "prompt"),
    ("tokenize prompt number", "POST", TOK, json.dumps({"prompt": 5}), 400, "prompt"),
    ("detokenize without tokens", "POST", DETOK, json.dumps({}), 400, "tokens"),
    ("detokenize mixed tokens", "POST", DETOK, json.dumps({"tokens": [1, "a"]}), 400, "tokens[1]"),
    ("detokenize id past vocab", "POST", DETOK, json.dumps({"tokens": [999999]}), 400, "tokens"),
]


def test_corpus_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name,method,path,body,status,param", CASES, ids=[c[0] for c in CASES])
def test_bad_request_gets_its_4xx(server, name, method, path, body, status, param):
    r = requests.request(method, server.url + path, data=body, headers={"Content-Type": "application/json"},
                         timeout=30)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["type"] == "invalid_request_error"
    assert error["param"] == param, error


def test_wrong_method_names_the_allowed_one(server):
    r = requests.get(server.url + "/v1/chat/completions", timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "POST", (r.status_code, r.headers)
    assert "use POST" in r.json()["error"]["message"]
    assert requests.delete(server.url + "/health", timeout=30).headers.get("Allow") == "GET"


def test_server_is_healthy_after_the_corpus(server, client):
    for name, method, path, body, status, param in CASES:
        requests.request(method, server.url + path, data=body, timeout=30)
    assert requests.get(server.url + "/health").status_code == 200
    r = client.completions.create(model=MODEL_NAME, prompt="still alive?", max_tokens=3, temperature=0)
    assert r.choices[0].finish_reason in ("length", "stop")
    m = server.wait_for_idle()
    assert m["omni:kv_cache_free_blocks"] == m["omni:kv_cache_blocks"]
