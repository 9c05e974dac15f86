"""Expected /tokenize ids for the demo model, from transformers' apply_chat_template.

CI never runs this (it needs transformers); it writes fixtures/tokenize_expected.json, which is
committed. Run it again after models/demo-qwen3 or its chat template changes:

    .venv-ref/bin/python tests/e2e/make_tokenize_fixture.py
"""
import copy
import json
import os

from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "models", "demo-qwen3")
OUT = os.path.join(HERE, "fixtures", "tokenize_expected.json")

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}

# Each case is a /tokenize request body as an OpenAI client sends it: tool-call arguments are JSON
# text. The reference gets them as objects, which is what vLLM hands the template.
CHATS = [
    {"name": "one user turn", "messages": [{"role": "user", "content": "Hello, how are you?"}]},
    {"name": "system and several turns", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another?"}]},
    {"name": "no generation prompt", "add_generation_prompt": False, "messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
    {"name": "thinking disabled", "chat_template_kwargs": {"enable_thinking": False},
     "messages": [{"role": "user", "content": "Quick answer: 2+2?"}]},
    {"name": "reasoning in history", "messages": [
        {"role": "user", "content": "Why?"},
        {"role": "assistant", "content": "Because.", "reasoning_content": "Think first."},
        {"role": "user", "content": "Sure?"}]},
    {"name": "tools and a tool call", "tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"}]},
    {"name": "text content parts", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "First part."}, {"type": "text", "text": "Second part."}]}]},
    {"name": "multilingual", "messages": [{"role": "user", "content": "你好，世界。 こんにちは。 Привет, мир! 👋🏽"}]},
]

PROMPTS = ["Hello, world!", "The quick brown fox jumps over the lazy dog.", "你好，世界。", "  spaces  and\ttabs\n"]


def reference_messages(messages):
    messages = copy.deepcopy(messages)
    for message in messages:
        if isinstance(message.get("content"), list):
            message["content"] = "\n".join(part["text"] for part in message["content"])
        for call in message.get("tool_calls", []):
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return messages


def main():
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    chats = []
    for case in CHATS:
        request = {k: v for k, v in case.items() if k != "name"}
        ids = tokenizer.apply_chat_template(
            reference_messages(case["messages"]), tools=case.get("tools"), tokenize=True,
            add_generation_prompt=case.get("add_generation_prompt", True), return_dict=False,
            **case.get("chat_template_kwargs", {}))
        chats.append({"name": case["name"], "request": request, "tokens": list(ids)})
    prompts = [{"prompt": p, "tokens": tokenizer(p)["input_ids"]} for p in PROMPTS]
    def lines(items):
        return ",\n  ".join(json.dumps(item, ensure_ascii=False) for item in items)
    with open(OUT, "w") as f:
        f.write('{"chats": [\n  ' + lines(chats) + '\n ],\n "prompts": [\n  ' + lines(prompts) + "\n ]\n}\n")
    print("wrote", OUT, len(chats), "chats,", len(prompts), "prompts")


if __name__ == "__main__":
    main()
