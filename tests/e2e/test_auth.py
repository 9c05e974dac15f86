"""--api-key: 401 without or with a wrong key, 200 with it; /health stays open."""
import openai
import pytest
import requests

from conftest import MODEL_NAME, Server


@pytest.fixture(scope="module")
def keyed():
    s = Server("--api-key", "sk-test-123")
    yield s
    assert s.stop() == 0


def test_missing_or_wrong_key_is_401_and_right_key_is_200(keyed):
    with pytest.raises(openai.AuthenticationError) as error:
        keyed.client(api_key="sk-wrong").completions.create(model=MODEL_NAME, prompt="hi", max_tokens=2)
    assert error.value.status_code == 401 and error.value.body["code"] == "invalid_api_key"
    r = requests.get(keyed.url + "/v1/models")
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert requests.get(keyed.url + "/metrics").status_code == 401
    assert requests.post(keyed.url + "/tokenize", json={"prompt": "x"}).status_code == 401
    ok = keyed.client(api_key="sk-test-123").completions.create(model=MODEL_NAME, prompt="hi", max_tokens=2)
    assert ok.usage.completion_tokens >= 1
    assert requests.get(keyed.url + "/metrics", headers={"Authorization": "Bearer sk-test-123"}).status_code == 200


def test_health_needs_no_key(keyed):
    assert requests.get(keyed.url + "/health").status_code == 200


def test_key_from_environment(tmp_path):
    s = Server(env={"OMNI_API_KEY": "env-key"})
    try:
        assert requests.get(s.url + "/v1/models").status_code == 401
        assert requests.get(s.url + "/v1/models", headers={"Authorization": "Bearer env-key"}).status_code == 200
    finally:
        assert s.stop() == 0
