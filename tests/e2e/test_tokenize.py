"""/tokenize and /detokenize against transformers (ids precomputed in fixtures/, made by
make_tokenize_fixture.py with transformers; CI does not need it)."""
import json
import os

import pytest

FIXTURE = json.load(open(os.path.join(os.path.dirname(__file__), "fixtures", "tokenize_expected.json")))


@pytest.mark.parametrize("case", FIXTURE["chats"], ids=[c["name"] for c in FIXTURE["chats"]])
def test_chat_tokens_equal_hf_apply_chat_template(server, case):
    r = server.post("/tokenize", case["request"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tokens"] == case["tokens"]
    assert body["count"] == len(case["tokens"]) and body["max_model_len"] == 2048


@pytest.mark.parametrize("case", FIXTURE["prompts"], ids=[c["prompt"] for c in FIXTURE["prompts"]])
def test_prompt_tokens_equal_hf_and_detokenize_round_trips(server, case):
    tokens = server.post("/tokenize", {"prompt": case["prompt"]}).json()["tokens"]
    assert tokens == case["tokens"]
    assert server.post("/detokenize", {"tokens": tokens}).json() == {"prompt": case["prompt"]}
