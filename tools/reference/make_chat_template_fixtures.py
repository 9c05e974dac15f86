"""Chat-template fixtures: what transformers' `apply_chat_template` renders with Python jinja2.

Writes, under Tests/Fixtures/chat_templates/:
  scenarios.json       the conversations (messages, tools, documents, extra kwargs), once
  renders/<name>.json  for each template in templates/: per scenario and add_generation_prompt,
                       the exact rendered text, or the error transformers raised
  jinja_cases.json     small templates exercising the Jinja engine (whitespace control, loops,
                       namespaces, slicing, filters, tests, tojson, string escapes, errors),
                       rendered in the same jinja2 environment transformers builds

The template texts in templates/ are real chat templates, copied once from the llama.cpp sources
vendored in the PyPI sdist of llama-cpp-python (see templates/README.md); `--import-from DIR`
copies them again from such a directory. Rendering uses a tokenizer object built in memory (no
download) and a fixed clock for `strftime_now`, so reruns give identical bytes.

    .venv-ref/bin/python tools/reference/make_chat_template_fixtures.py
"""

import argparse
import copy
import datetime as datetime_module
import json
import pathlib
import random
import re
import shutil
import warnings

import jinja2
import transformers
import transformers.utils.chat_template_utils as chat_template_utils
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "chat_templates"

# The clock `strftime_now` reads while rendering (Llama 3.2 prints "Today Date: 14 Mar 2025").
FIXED_NOW = datetime_module.datetime(2025, 3, 14, 9, 26, 53)


class FixedDatetime(datetime_module.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


chat_template_utils.datetime = FixedDatetime
# Python warns about subscripting literals ('1'[0]) in the code jinja2 generates; not our concern.
warnings.simplefilter("ignore", SyntaxWarning)

# ---------------------------------------------------------------------------------------------
# Templates and their special tokens

TEMPLATES = [
    # name in templates/ (without .jinja), family for special tokens, scenario set
    ("Qwen-Qwen2.5-7B-Instruct", "qwen", "full"),
    ("Qwen-Qwen3-0.6B", "qwen", "full"),
    ("Qwen-QwQ-32B", "qwen", "full"),
    ("Qwen3-Coder", "qwen", "full"),
    ("Qwen3.5-4B", "qwen", "full"),
    ("MiMo-VL", "qwen", "basic"),
    ("meta-llama-Llama-3.1-8B-Instruct", "llama3", "full"),
    ("meta-llama-Llama-3.2-3B-Instruct", "llama3", "full"),
    ("meta-llama-Llama-3.3-70B-Instruct", "llama3", "basic"),
    ("mistralai-Mistral-Nemo-Instruct-2407", "mistral", "full"),
    ("Mistral-Small-3.2-24B-Instruct-2506", "mistral", "full"),
    ("mistralai-Ministral-3-14B-Reasoning-2512", "mistral", "basic"),
    ("unsloth-mistral-Devstral-Small-2507", "mistral", "basic"),
    ("google-gemma-2-2b-it", "gemma", "full"),
    ("google-gemma-4-31B-it", "gemma", "basic"),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "deepseek", "full"),
    ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B", "deepseek", "basic"),
    ("deepseek-ai-DeepSeek-V3.1", "deepseek", "full"),
    ("deepseek-ai-DeepSeek-V3.2", "deepseek", "basic"),
    ("llama-cpp-deepseek-r1", "deepseek", "basic"),
    ("microsoft-Phi-3.5-mini-instruct", "phi3", "full"),
    ("HuggingFaceTB-SmolLM3-3B", "smollm", "full"),
    ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", "llama3", "basic"),
    ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "llama3", "basic"),
    ("fireworks-ai-llama-3-firefunction-v2", "llama3", "basic"),
    ("meetkai-functionary-medium-v3.1", "llama3", "basic"),
    ("meetkai-functionary-medium-v3.2", "llama3", "basic"),
    ("openai-gpt-oss-120b", "gptoss", "full"),
    ("ibm-granite-granite-3.3-2B-Instruct", "granite", "full"),
    ("ibm-granite-granite-4.0", "granite", "basic"),
    ("CohereForAI-c4ai-command-r-plus-tool_use", "cohere", "basic"),
    ("CohereForAI-c4ai-command-r7b-12-2024-tool_use", "cohere", "basic"),
    ("GLM-4.6", "glm", "basic"),
    ("moonshotai-Kimi-K2", "kimi", "basic"),
    ("Kimi-K2-Thinking", "kimi", "basic"),
    ("MiniMax-M2", "default", "basic"),
    ("NVIDIA-Nemotron-Nano-v2", "default", "basic"),
    ("ByteDance-Seed-OSS", "default", "basic"),
    ("LFM2.5-8B-A1B", "default", "basic"),
    ("Apertus-8B-Instruct", "default", "basic"),
    ("unsloth-Apriel-1.5", "default", "basic"),
    ("tencent-Hy3", "default", "basic"),
    ("llama-cpp-rwkv-world", "default", "basic"),
    # Older and simpler templates, from the strings of llama.cpp's tests/test-chat-template.cpp
    ("tests-mistralai-Mistral-7B-Instruct-v0.2", "mistral", "full"),
    ("tests-mistralai-Mistral-7B-Instruct-v0.2-v1-system", "mistral", "basic"),
    ("tests-Mistral-Large-Instruct-2407-v3", "mistral", "basic"),
    ("tests-mistralai-Mistral-Large-Instruct-2411-v7", "mistral", "basic"),
    ("tests-google-gemma-7b-it", "gemma", "basic"),
    ("tests-Llama-3", "llama3", "basic"),
    ("tests-Phi-3-mini", "phi3", "basic"),
    ("tests-phi-4", "default", "basic"),
    ("tests-DeepSeek-V2", "deepseek", "basic"),
    ("tests-deepseek-ai-deepseek-coder-33b-instruct", "deepseek", "basic"),
    ("tests-teknium-OpenHermes-2.5-Mistral-7B", "default", "basic"),
    ("tests-ChatGLM3", "default", "basic"),
    ("tests-ibm-granite-granite-3.0-8b-instruct", "granite", "basic"),
    ("tests-OrionStarAI-Orion-14B-Chat", "default", "basic"),
    ("tests-bofenghuang-vigogne-2-70b-chat", "default", "basic"),
    ("tests-TheBloke-FusionNet_34Bx2_MoE-AWQ", "default", "basic"),
    ("tests-mlabonne-AlphaMonarch-7B", "default", "basic"),
    ("tests-yandex-YandexGPT-5-Lite-8B-instruct", "default", "basic"),
    ("tests-ai-sage-GigaChat-20B-A3B-instruct", "default", "basic"),
]

SPECIAL_TOKENS = {
    "qwen": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "llama3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "mistral": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "gemma": {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"},
    "deepseek": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "phi3": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>"},
    "smollm": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"},
    "gptoss": {"bos_token": "<|startoftext|>", "eos_token": "<|return|>"},
    "granite": {"bos_token": "<|end_of_text|>", "eos_token": "<|end_of_text|>"},
    "cohere": {"bos_token": "<BOS_TOKEN>", "eos_token": "<|END_OF_TURN_TOKEN|>"},
    "glm": {"eos_token": "<|endoftext|>"},
    "kimi": {"bos_token": "[BOS]", "eos_token": "[EOS]"},
    "default": {"bos_token": "<s>", "eos_token": "</s>"},
}

# ---------------------------------------------------------------------------------------------
# Conversations

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city. Température en °C.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris or 東京"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Unit"},
                "days": {"type": "integer", "description": "Forecast days", "default": 1},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for"},
                "max_results": {"type": "number", "description": "At most this many", "nullable": True},
                "filters": {"type": "array", "items": {"type": "string"}, "description": "Site filters"},
            },
            "required": ["query"],
        },
    },
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


def tool_call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


SCENARIOS = {
    "single_user": {"messages": [{"role": "user", "content": "Hello! How are you?"}]},
    "system_user": {"messages": [SYSTEM, {"role": "user", "content": "What is 2+2?"}]},
    "multi_turn": {
        "messages": [
            SYSTEM,
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "2+2 is 4."},
            {"role": "user", "content": "And times 3?"},
        ]
    },
    "multi_turn_no_system": {
        "messages": [
            {"role": "user", "content": "Name a color."},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another one?"},
            {"role": "assistant", "content": "Green."},
        ]
    },
    "non_ascii": {
        "messages": [
            {"role": "system", "content": "Réponds en français. 日本語も可。"},
            {"role": "user", "content": "你好，世界！🌍 Ünïcödé café — “quotes” 👩‍👩‍👧‍👦"},
            {"role": "assistant", "content": "こんにちは！😀 Привет, мир."},
            {
                "role": "user",
                "content": "Tabs\tand\nnewlines, \"double\" and 'single' quotes, back\\slash, <tags> & "
                "{braces} {{ not jinja }} {% raw %} \u2028 end  ",
            },
        ]
    },
    "whitespace": {
        "messages": [
            {"role": "system", "content": "  padded system  \n"},
            {"role": "user", "content": "\n\n  leading and trailing  \n\n"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "   "},
        ]
    },
    "tool_call": {
        "tools": [WEATHER_TOOL, SEARCH_TOOL],
        "messages": [
            SYSTEM,
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [tool_call("call00001", "get_weather", {"city": "Paris", "unit": "celsius"})],
            },
            {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "{\"temperature\": 18.5, \"sky\": \"clear\"}"},
            {"role": "assistant", "content": "It is 18.5 °C and clear in Paris."},
        ],
    },
    "parallel_tool_calls": {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "Weather in Paris and 東京?"},
            {
                "role": "assistant",
                "content": "Let me check both.",
                "tool_calls": [
                    tool_call("call00001", "get_weather", {"city": "Paris"}),
                    tool_call("call00002", "get_weather", {"city": "東京", "days": 2, "hourly": [1.5, True, None]}),
                ],
            },
            {"role": "tool", "tool_call_id": "call00001", "content": "18 °C"},
            {"role": "tool", "tool_call_id": "call00002", "content": "晴れ 21 °C"},
        ],
    },
    "tools_no_call": {"tools": [WEATHER_TOOL, SEARCH_TOOL], "messages": [{"role": "user", "content": "Hi there"}]},
    "tool_call_string_arguments": {
        "tools": [SEARCH_TOOL],
        "messages": [
            {"role": "user", "content": "Search for swift jinja"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [tool_call("call00003", "search", "{\"query\": \"swift jinja\"}")],
            },
            {"role": "tool", "tool_call_id": "call00003", "content": "No results."},
        ],
    },
    "multi_step_tools": {
        "tools": [WEATHER_TOOL, SEARCH_TOOL],
        "messages": [
            {"role": "user", "content": "Plan a picnic in Paris."},
            {
                "role": "assistant",
                "content": "",
                "reasoning_content": "I need the weather first.",
                "tool_calls": [tool_call("call00004", "get_weather", {"city": "Paris"})],
            },
            {"role": "tool", "tool_call_id": "call00004", "content": "Sunny"},
            {
                "role": "assistant",
                "content": "",
                "reasoning_content": "Now parks.",
                "tool_calls": [tool_call("call00005", "search", {"query": "parks in Paris", "filters": ["fr"]})],
            },
            {"role": "tool", "tool_call_id": "call00005", "content": "<tool_response>Parc Monceau</tool_response>"},
            {"role": "assistant", "content": "Go to Parc Monceau; it will be sunny.", "reasoning_content": "Done."},
        ],
    },
    "reasoning": {
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "The answer is 4.", "reasoning_content": "2+2=4, simple arithmetic."},
            {"role": "user", "content": "And 3+3?"},
        ]
    },
    "reasoning_inline": {
        "messages": [
            {"role": "user", "content": "What is 3+3?"},
            {"role": "assistant", "content": "<think>\nLet me add.\n3+3=6\n</think>\n\nIt is 6."},
            {"role": "user", "content": "Thanks!"},
        ]
    },
    "thinking_off": {"messages": [SYSTEM, {"role": "user", "content": "Quick: capital of France?"}], "kwargs": {"enable_thinking": False}},
    "thinking_on": {"messages": [{"role": "user", "content": "Think hard: 17*23?"}], "kwargs": {"enable_thinking": True}},
    "builtin_tools": {
        "messages": [SYSTEM, {"role": "user", "content": "Search the news."}],
        "kwargs": {"builtin_tools": ["brave_search", "wolfram_alpha"], "reasoning_effort": "high"},
    },
    "content_parts": {
        "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe this image."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "A cat on a mat."}]},
            {"role": "user", "content": [{"type": "text", "text": "And this one?"}, {"type": "video"}]},
        ]
    },
    "documents": {
        "documents": [
            {"title": "Swift", "text": "Swift is a programming language."},
            {"title": "Jinja", "text": "Jinja is a template engine — for Python."},
        ],
        "messages": [{"role": "user", "content": "What do the documents say?"}],
    },
    "roles_not_alternating": {
        "messages": [{"role": "user", "content": "First"}, {"role": "user", "content": "Second"}]
    },
    "system_last": {"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Late system"}]},
}

BASIC_SCENARIOS = [
    "single_user",
    "multi_turn",
    "non_ascii",
    "tool_call",
    "reasoning",
    "thinking_off",
    "content_parts",
    "roles_not_alternating",
]
# Scenarios rendered both with and without the generation prompt (the others: with it only).
BOTH_PROMPT_SETTINGS = {"single_user", "multi_turn", "multi_turn_no_system", "reasoning", "thinking_off", "thinking_on", "tool_call"}


# ---------------------------------------------------------------------------------------------
# Jinja engine cases: (name, template, context). Expected outputs come from jinja2, not by hand.

NESTED = {"name": "Zoë", "tags": ["α", "β"], "meta": {"ok": True, "score": 1.5, "none": None, "emoji": "😀"}}

JINJA_CASES = [
    # Whitespace control with trim_blocks and lstrip_blocks
    ("trim_blocks_eats_newline", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("lstrip_blocks_indented_tags", "<ul>\n    {% for x in [1, 2] %}\n    <li>{{ x }}</li>\n    {% endfor %}\n</ul>", {}),
    ("lstrip_not_for_variables", "a\n    {{ 'x' }}\n", {}),
    ("lstrip_only_whitespace_before_tag", "text {% if true %}x{% endif %}\n  {% if true %}y{% endif %}", {}),
    ("minus_strips_both_sides", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c", {}),
    ("minus_on_variables", "a \n {{- 'b' -}} \n c", {}),
    ("plus_disables_lstrip", "x\n    {%+ if true %}y{% endif %}", {}),
    ("plus_disables_trim", "{% if true +%}\nkept newline{% endif %}", {}),
    ("comment_trims_and_strips", "a\n  {# comment #}\nb {#- c -#} d", {}),
    ("trailing_newline_dropped", "line\n", {}),
    ("crlf_normalized", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc", {}),
    ("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}!", {}),
    ("raw_block_whitespace", "x\n  {%- raw -%}  {{ a }}  {%- endraw -%}  \ny", {}),
    ("block_at_line_start_after_var", "{{ 'a' }}\n  {% if true %}b{% endif %}", {}),
    ("lstrip_at_template_start", "   {% if true %}x{% endif %}", {}),
    ("unicode_spaces_not_lstripped", "\u3000{% if true %}x{% endif %}", {}),
    # Literals and printing
    ("python_literals", "{{ True }} {{ false }} {{ None }} {{ none }} {{ 1_000 }} {{ 0x1F }} {{ 1.5e3 }} {{ 1E-2 }} {{ 0o17 }} {{ 0b101 }} {{ 007 }}", {}),
    ("print_containers", "{{ [1, 'a', None, True, 1.5, {'k': 'v\\n'}, []] }} {{ {'a': [1, {'b': none}]} }}", {}),
    ("print_floats", "{{ 1e15 }} {{ 1e16 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1/3 }} {{ 2**0.5 }} {{ -0.0 }} {{ 1e300*1e300 }} {{ 100.0 }} {{ 123456789.125 }}", {}),
    ("print_string_reprs", "{{ ['it\\'s', \"say \\\"hi\\\"\", 'both \\' \"', 'tab\\t', '\\x00\\x7f', 'é', '\\u200b', '😀'] }}", {}),
    ("string_escapes", "{{ 'a\\nb\\tc\\\\d\\'e\\x41\\u00e9\\U0001F600\\101\\d' }}", {}),
    ("double_quoted_escapes", '{{ "line\\nnext \\"q\\" \\u4e2d" }}', {}),
    ("adjacent_strings", "{{ 'a' 'b' \"c\" }}", {}),
    ("context_values", "{{ s }}|{{ i }}|{{ f }}|{{ b }}|{{ n }}|{{ l }}|{{ d }}", {"s": "str", "i": 42, "f": 2.0, "b": False, "n": None, "l": [1, "x"], "d": {"z": 1, "a": 2}}),
    # Operators
    ("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 3 ** 2 }} {{ 2 ** -1 }} {{ 1 + True }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}", {}),
    ("string_and_list_ops", "{{ 'ab' * 3 }} {{ 2 * 'x' }} {{ [1] * 3 }} {{ [1, 2] + [3] }} {{ 'a' ~ 1 ~ none ~ true ~ 1.0 }} {{ 'a' * 0 }}|", {}),
    ("comparisons", "{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ none == none }} {{ 'A' < 'a' }}", {}),
    ("in_operator", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'x' not in ['y'] }} {{ '' in 'abc' }} {{ 1 in {'1': 0} }} {{ 'a' in undefined_thing }}", {}),
    ("logic_returns_operands", "{{ 0 or 'fallback' }} {{ 'first' or 'second' }} {{ 1 and 'both' }} {{ [] and 'never' }} {{ not [] }} {{ none or none }}", {}),
    ("ternary", "{{ 'yes' if 1 > 0 else 'no' }} {{ 'yes' if [] else 'no' }} [{{ 'x' if false }}] {{ 'a' if false else 'b' if true else 'c' }}", {}),
    ("unary", "{{ -3 }} {{ - -3 }} {{ -(2 + 3) }} {{ +4 }} {{ -x|abs }} {{ -true }}", {"x": 5}),
    ("precedence_filters_bind_tight", "{{ 'a' + 'b ' | trim + 'c' }} {{ -2 ** 2 }} {{ not 1 == 2 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 * 3 ~ 4 }} {{ 10 - 2 - 3 }}", {}),
    ("truthiness", "{% for v in [0, 0.0, '', [], {}, none, 1, 'a', [0], {'a': 0}, false] %}{{ 'T' if v else 'F' }}{% endfor %}", {}),
    # Attribute and item lookup
    ("dict_attribute_falls_back_to_item", "{{ m.role }} {{ m['role'] }} {{ m.missing is defined }} {{ m['missing'] is defined }} {{ m.get('missing', 'dflt') }} {{ m.get('role') }} {{ m.get('x') }}", {"m": {"role": "user"}}),
    ("dict_methods_win_over_keys", "{{ d['items'] }} {{ d.items is defined }} {{ d.keys()|list }} {{ d.values()|list }}", {"d": {"items": 3, "b": 4}}),
    ("items_method_and_filter", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d|items %}{{ k }}:{{ v }},{% endfor %}{{ d|items|list|length }}", {"d": {"z": [1], "a": None}}),
    ("list_indexing", "{{ l[0] }} {{ l[-1] }} {{ l[10] is defined }} {{ l.0 }} {{ l[true] }}", {"l": ["a", "b", "c"]}),
    ("string_indexing", "{{ s[0] }}{{ s[-1] }}{{ s[1:3] }}{{ s[::-1] }}{{ s[100] is defined }}", {"s": "héllo😀"}),
    ("none_attribute_is_undefined", "{{ n.x is defined }} {{ n['x'] is defined }} {{ 5.x is defined }}", {"n": None}),
    ("nested_attribute_lookup", "{{ m.tool_calls[0].function.name }} {{ m.tool_calls[0]['function']['arguments'].city }}", {"m": {"tool_calls": [{"function": {"name": "f", "arguments": {"city": "東京"}}}]}}),
    # Slicing
    ("slicing_lists", "{{ x[::-1] }} {{ x[1:] }} {{ x[:-1] }} {{ x[::2] }} {{ x[-2:] }} {{ x[1:4:2] }} {{ x[10:] }} {{ x[-100:2] }} {{ x[4:1:-1] }} {{ x[:0] }}", {"x": [1, 2, 3, 4, 5]}),
    ("slicing_messages", "{% for m in messages[1:] %}{{ m.role }},{% endfor %}{% for m in messages[::-1] %}{{ loop.index }}{{ m.role[0] }}{% endfor %}", {"messages": [{"role": "system"}, {"role": "user"}, {"role": "assistant"}]}),
    # Loops
    ("loop_variables", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}", {}),
    ("loop_filter", "{% for x in [1, 2, 3, 4] if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }}{{ '!' if loop.last }},{% endfor %}", {}),
    ("loop_else", "{% for x in [] %}a{% else %}empty{% endfor %}|{% for x in [1] if false %}b{% else %}filtered{% endfor %}|{% for x in missing %}c{% else %}undef{% endfor %}", {}),
    ("loop_over_dict_and_string", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %} {% for c in 'ab' %}[{{ c }}]{% endfor %}", {}),
    ("loop_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("nested_loops", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
    ("loop_scope_does_not_leak", "{% set x = 5 %}{% for i in [1, 2] %}[{{ x }}]{% set x = i %}({{ x }}){% endfor %}{{ x }}", {}),
    ("loop_scope_fresh_each_iteration", "{% for i in [1, 2] %}{% if i == 2 %}[{{ y }}]{% endif %}{% set y = i %}{% endfor %}", {}),
    ("loop_unpacking", "{% for a, b in [[1, 2], ['x', 'y']] %}{{ a }}-{{ b }} {% endfor %}{% for (a, b) in [(3, 4)] %}{{ a + b }}{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('odd', 'even') }} {% endfor %}", {}),
    ("range_forms", "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}", {}),
    # Assignment and scoping
    ("loop_else_after_break_or_continue", "{% for x in [1, 2] %}{% continue %}{% else %}E1{% endfor %}|{% for x in [1, 2] %}{% break %}{% else %}E2{% endfor %}|{% for x in [1, 2] %}{% if x == 2 %}{% break %}{% endif %}{% else %}E3{% endfor %}", {}),
    ("set_inside_block_set_stays_inside", "{% set m %}{% set b = 'inner' %}{{ b }}{% endset %}[{{ m }}][{{ b }}]", {"b": "outer"}),
    ("set_inside_generation_stays_inside", "{% generation %}{% set g = 1 %}{% endgeneration %}[{{ g }}]", {}),
    ("assigned_later_hides_context_from_macros", "{% macro f() %}[{{ a }}]{% endmacro %}{{ f() }}{% set a = 'set' %}{{ f() }}", {"a": "context"}),
    ("assigned_later_in_loop_hides_context", "{% for i in [1, 2] %}{% for j in [1] %}({{ a }}){% endfor %}{% set a = i %}{% endfor %}", {"a": "context"}),
    ("read_before_assignment_keeps_context", "{{ a }}{% for i in [1] %}{% for j in [1] %}({{ a }}){% endfor %}{% set a = i %}{% endfor %}{% set a = 'set' %}{{ a }}", {"a": "context"}),
    ("assigned_in_some_branches_keeps_context", "{% macro f() %}[{{ a }}]{% endmacro %}{{ f() }}{% if false %}{% set a = 'one' %}{% endif %}{{ f() }}{% if true %}{% set a = 'b' %}{% else %}{% set a = 'c' %}{% endif %}{{ f() }}", {"a": "context"}),
    ("set_and_tuple_set", "{% set a = 1 %}{% set b, c = [2, 3] %}{{ a }}{{ b }}{{ c }}{% set t = 1, 2 %}{{ t|list }}{{ t|length }}{% set x, y = 'ab' %}{{ y }}{{ x }}", {}),
    ("set_in_if_is_visible", "{% if true %}{% set v = 'set' %}{% endif %}{{ v }}", {}),
    ("block_set", "{% set block %}  Hello {{ name }}!  {% endset %}[{{ block }}]{% set trimmed | trim | upper %}  x  {% endset %}[{{ trimmed }}]", {"name": "Zoë"}),
    ("namespace_counter", "{% set ns = namespace(count=0, found=false) %}{% for x in [1, 2, 3] %}{% set ns.count = ns.count + x %}{% if x == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns.missing is defined }}", {}),
    ("namespace_list_accumulation", "{% set ns = namespace(items=[]) %}{% for x in 'abc' %}{% set ns.items = ns.items + [x|upper] %}{% endfor %}{{ ns.items|join(',') }} {{ ns.items }}", {}),
    ("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("context_variable_shadowed_by_set", "{{ x }}{% set x = 'new' %}{{ x }}", {"x": "old"}),
    # Macros
    ("macro_defaults_and_kwargs", "{% macro f(a, b=2, c='c') %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ f(1) }} {{ f(1, 3) }} {{ f(1, c='z') }} {{ f(a=5) }}", {}),
    ("macro_sees_outer_variables", "{% macro f() %}{{ x }}{% endmacro %}{% set x = 1 %}{{ f() }}{% set x = 2 %}{{ f() }}", {}),
    ("macro_recursion", "{% macro render(v) %}{% if v is mapping %}{{ '{' }}{% for k, x in v.items() %}{{ k }}:{{ render(x) }}{% if not loop.last %},{% endif %}{% endfor %}{{ '}' }}{% elif v is iterable and v is not string %}[{% for x in v %}{{ render(x) }}{% endfor %}]{% else %}{{ v }}{% endif %}{% endmacro %}{{ render(data) }}", {"data": {"a": [1, {"b": "c"}], "d": None}}),
    ("macro_output_is_string", "{% macro m() %} x {% endmacro %}{{ m()|length }}{{ m()|trim }}{{ (m() ~ '|') }}", {}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs|list }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}", {}),
    ("call_block_caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inner {{ 1 + 1 }}{% endcall %}", {}),
    ("call_block_with_arguments", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}<{{ x }}>{% endcall %}", {}),
    ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %} {% filter trim %}   x   {% endfilter %}|", {}),
    # Filters
    ("tojson_nested_non_ascii", "{{ v|tojson }}", {"v": NESTED}),
    ("tojson_indent", "{{ v|tojson(indent=2) }}|{{ [] |tojson(indent=2) }}|{{ {}|tojson(indent=4) }}", {"v": {"a": [1, 2.0, {}], "b": [], "c": {"d": "é"}}}),
    ("tojson_options", "{{ v|tojson(separators=(',', ':')) }} {{ v|tojson(sort_keys=true) }} {{ v|tojson(ensure_ascii=true) }}", {"v": {"b": "日本😀", "a": [1, None]}}),
    ("tojson_escapes", "{{ s|tojson }}", {"s": "quote\" back\\ nl\n tab\t cr\r bell\u0007 del\u007f sep\u2028 <b>&'"}),
    ("tojson_scalars", "{{ 1|tojson }} {{ 1.0|tojson }} {{ 1e20|tojson }} {{ none|tojson }} {{ true|tojson }} {{ 'x'|tojson }} {{ -0.5|tojson }}", {}),
    ("trim_filter", "[{{ '  x  '|trim }}] [{{ 'xxaxx'|trim('x') }}] [{{ '\\n\\t y \\u3000'|trim }}]", {}),
    ("length_count", "{{ 'héllo😀'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ missing|length }}", {}),
    ("case_filters", "{{ 'hello world-foo(bar'|title }} {{ 'aBc dEF'|capitalize }} {{ 'ß straße'|upper }} {{ 'ÀÉÎ'|lower }} {{ \"they're o'neil\"|title }}", {}),
    ("replace_filter", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'ab'|replace('', '-') }}", {}),
    ("join_filter", "{{ [1, 'a', none]|join }} {{ ['x', 'y']|join(', ') }} {{ [{'n': 'a'}, {'n': 'b'}]|join('|', attribute='n') }}", {}),
    ("default_filter", "{{ none|default('d') }} {{ missing|default('d') }} {{ ''|default('d', true) }} {{ ''|d('d') }} {{ 0|default('d', boolean=true) }} {{ false|d('x') }}", {}),
    ("first_last", "{{ 'abc'|first }} {{ [1, 2]|last }} {{ {'a': 1, 'b': 2}|first }} {{ []|first is defined }} {{ 'xyz'|last }}", {}),
    ("string_list_conversions", "{{ 5|string ~ 'x' }} {{ [1, 2]|string }} {{ 'ab'|list }} {{ {'a': 1}|list }} {{ none|string }}", {}),
    ("int_float_filters", "{{ 3.7|int }} {{ '42'|int }} {{ 'x'|int }} {{ '3.5'|int }} {{ 'x'|int(7) }} {{ '0x1A'|int(base=16) }} {{ 3|float }} {{ 'x'|float }} {{ ' 12 '|int }} {{ true|int }}", {}),
    ("round_abs", "{{ 2.567|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 3|round }} {{ 2.1|round(method='ceil') }} {{ 2.9|round(0, 'floor') }} {{ -3|abs }} {{ -2.5|abs }}", {}),
    ("map_filter", "{{ [1, 2]|map('string')|join(',') }} {{ [{'a': 1}, {'a': 2}]|map(attribute='a')|list }} {{ [{'a': 1}, {}]|map(attribute='a', default=0)|list }} {{ ['a', 'B']|map('upper')|list }} {{ [{'a': {'b': 'deep'}}]|map(attribute='a.b')|first }}", {}),
    ("select_reject", "{{ [1, none, 0, 2]|select|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [1, 5, 10]|select('gt', 3)|list }} {{ ['a', 1]|select('string')|list }} {{ [1, 2, 3]|select('in', [2, 3])|list }}", {}),
    ("selectattr_rejectattr", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='c')|list }} {{ msgs|rejectattr('role', 'eq', 'user')|list|length }} {{ msgs|selectattr('tool')|list }} {{ msgs|selectattr('tool', 'defined')|list|length }} {{ msgs|rejectattr('tool', 'undefined')|list|length }}", {"msgs": [{"role": "user", "c": 1}, {"role": "assistant", "c": 2, "tool": "t"}, {"role": "user", "c": 3}]}),
    ("unique_filter", "{{ ['a', 'A', 'b', 'a']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }} {{ [{'k': 1}, {'k': 1}, {'k': 2}]|unique(attribute='k')|list }} {{ [1, 1.0, true, 2]|unique|list }}", {}),
    ("sort_filter", "{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'a', 'C']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} {{ [{'a': 2}, {'a': 1}]|sort(attribute='a') }} {{ [1, 3, 2]|sort(reverse=true) }}", {}),
    ("dictsort_filter", "{% for k, v in d|dictsort %}{{ k }}{{ v }}{% endfor %} {% for p in d|dictsort(reverse=true) %}{{ p[0] }}{{ p[1] }}{% endfor %} {{ (d|dictsort(by='value'))|map('first')|join }}", {"d": {"b": 1, "A": 3, "c": 2}}),
    ("min_max_sum", "{{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ ['b', 'A']|min }} {{ [1, 2, 3]|sum }} {{ [{'v': 1.5}, {'v': 2}]|sum(attribute='v') }} {{ []|max is defined }}", {}),
    ("reverse_filter", "{{ 'abc'|reverse }} {{ [1, 2, 3]|reverse|list }}", {}),
    ("indent_filter", "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(width=3, blank=true) }}|{{ 'x\\ny'|indent('> ') }}", {}),
    ("wordcount_center_truncate", "{{ 'hello big world'|wordcount }} [{{ 'ab'|center(6) }}] [{{ 'abc'|center(6) }}] {{ 'one two three four five six seven eight'|truncate(20) }} {{ 'one two three'|truncate(9, true) }}", {}),
    ("batch_filter", "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 'x')|list }}", {}),
    ("escape_and_safe", "{{ '<a href=\"x\">&\\'</a>'|e }} {{ '<b>'|safe }} {{ '<i>'|escape }}", {}),
    ("format_filter_and_percent", "{{ '%s is %d years'|format('Zoë', 42) }} {{ '%5.2f|%-4s|%03d' % (3.14159, 'ab', 7) }} {{ '%(a)s' % {'a': 'named'} }} {{ '100%%' % () }}", {}),
    ("attr_filter", "{{ 'abc'|attr('upper') is defined }} {{ {'k': 1}|attr('k') is defined }}", {}),
    ("filter_chains", "{{ '  Hello World  '|trim|lower|replace('world', 'there')|title }}", {}),
    # Tests
    ("type_tests", "{{ 'x' is string }}{{ 1 is number }}{{ true is number }}{{ true is integer }}{{ 1 is integer }}{{ 1.0 is integer }}{{ 1.0 is float }}{{ none is none }}{{ {} is mapping }}{{ [] is mapping }}{{ true is boolean }}{{ 0 is boolean }}", {}),
    ("iterable_sequence_tests", "{{ 'x' is iterable }}{{ [] is iterable }}{{ {} is iterable }}{{ 1 is iterable }}{{ missing is iterable }}{{ 'x' is sequence }}{{ {} is sequence }}{{ 1 is sequence }}", {}),
    ("defined_tests", "{{ x is defined }}{{ y is defined }}{{ y is undefined }}{{ x is not none }}{{ n is none }}{{ n is defined }}{{ x.y is defined }}", {"x": {"a": 1}, "n": None}),
    ("true_false_sameas", "{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 0 is false }}{{ false is sameas false }}{{ none is sameas none }}{{ 0 is sameas false }}{{ x is sameas true }}", {"x": True}),
    ("comparison_tests", "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 2 is gt 1 }}{{ 2 is lt 1 }}{{ 2 is ge 2 }}{{ 2 is le 1 }}{{ 1 is ne 2 }}{{ 'a' is in 'abc' }}{{ 4 is divisibleby 2 }}{{ 3 is odd }}{{ 3 is even }}", {}),
    ("case_tests", "{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'aBc' is lower }}{{ '123' is lower }}", {}),
    ("test_is_not", "{{ 1 is not string }}{{ 'a' is not string }}{{ not 'a' is string }}{{ x is not mapping }}", {"x": {}}),
    ("callable_test", "{{ 'a'.upper is callable }}{{ 'a' is callable }}{{ range is callable }}", {}),
    # String methods
    ("string_methods_case", "{{ 'hello World'.upper() }} {{ 'HeLLo'.lower() }} {{ 'hello wORLD 3rd'.title() }} {{ 'hELLO'.capitalize() }} {{ 'AbC'.swapcase() }}", {}),
    ("string_methods_strip", "[{{ '  x  '.strip() }}] [{{ 'xxhixx'.strip('x') }}] [{{ '\\n\\nhi\\n'.lstrip('\\n') }}] [{{ 'hi  \\n'.rstrip() }}] [{{ 'abcba'.strip('ab') }}] [{{ '  x '.lstrip() }}]", {}),
    ("string_methods_split", "{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ '  a  b '.split(none, 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ ''.split() }} {{ ''.split(',') }} {{ 'l1\\nl2\\r\\nl3'.splitlines() }}", {}),
    ("think_split_pattern", "{% set c = content.split('</think>')[-1].lstrip('\\n') %}{% set r = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}[{{ r }}][{{ c }}]", {"content": "<think>\nstep 1\nstep 2\n</think>\n\nAnswer."}),
    ("string_methods_affixes", "{{ 'hello'.startswith('he') }}{{ 'hello'.endswith('lo') }}{{ 'hello'.startswith(('x', 'h')) }}{{ '<tool_response>x</tool_response>'.startswith('<tool_response>') and '<tool_response>x</tool_response>'.endswith('</tool_response>') }}{{ 'abc'.startswith('b', 1) }}", {}),
    ("string_methods_search", "{{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'banana'.count('an') }} {{ 'hello'.index('e') }} {{ 'a-b-c'.replace('-', '+') }} {{ 'aaa'.replace('a', 'b', 1) }}", {}),
    ("string_methods_format", "{{ '{} and {}'.format(1, 'two') }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}: {value!r}'.format(name='k', value='v') }} {{ '{{literal}} {:>5}|{:<4}|{:^7}|{:.2f}|{:05d}|{:,}'.format('r', 'l', 'c', 3.14159, 42, 1234567) }}", {}),
    ("string_methods_misc", "{{ ','.join(['a', 'b']) }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ 'ab'.isupper() }} {{ '7'.zfill(3) }} {{ 'a=b=c'.partition('=')|join('|') }} {{ 'prefix-x'.removeprefix('prefix-') }}", {}),
    ("string_concat_unicode", "{{ ('日本' ~ '語')|length }} {{ '👩‍👩‍👧'|length }} {{ 'e\\u0301'|length }} {{ '👩‍👩‍👧'[0] }}", {}),
    # Globals
    ("raise_exception", "before{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}", {}),
    ("raise_exception_in_condition", "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Roles must alternate, got ' + m.role + ' at ' ~ loop.index0) }}{% endif %}{% endfor %}", {"messages": [{"role": "user"}, {"role": "user"}]}),
    ("strftime_now", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %j %I%p %y %a %e') }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict({'z': 0}, y=1) }}", {}),
    ("undefined_prints_empty", "[{{ missing }}][{{ missing|string }}][{{ missing ~ 'x' }}][{{ missing|lower }}][{{ missing|join }}]", {}),
    ("undefined_is_falsy", "{% if missing %}T{% else %}F{% endif %}{% if not missing %}N{% endif %}{{ missing == missing }}{{ missing == none }}{{ 'x' in missing }}", {}),
    ("generation_tag", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}<a>{{ m.content }}</a>{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %}", {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}]}),
    ("loop_depth_and_changed_fields", "{% for x in [1] %}{{ loop.depth }}{{ loop.depth0 }}{% for y in [2] %}{{ loop.depth }}{% endfor %}{% endfor %}", {}),
    ("whitespace_control_in_real_shape", "{%- for m in messages %}\n    {%- if m.role == 'user' %}\n        {{- '<|user|>\\n' + m.content }}\n    {%- else %}\n        {{- '<|assistant|>\\n' + m.content }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|assistant|>\\n' }}\n{%- endif %}\n", {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "add_generation_prompt": True}),
    # Markup (|safe, |escape) and generators (map, select, ...), as Python has them
    ("markup_concatenation", "{{ '<b>'|safe + '<i>' }} {{ '<i>' + '<b>'|safe }} {{ '<b>'|safe ~ '<i>' }} {{ ('%s'|safe) % '<x>' }} {{ ('<b>'|safe).upper() + '&' }} {{ '<a>'|e + '<a>' }} {{ ('a&'|safe) * 2 }} {{ '<x>'|safe|length }} {{ '<x>'|safe is escaped }} {{ '<x>' is escaped }} {{ '<x>'|safe == '<x>' }}", {}),
    ("markup_escape_idempotent", "{{ ('<b>'|safe)|e }} {{ '<b>'|e|e }} {{ ('<b>'|safe)|forceescape }} {{ ('<b>'|safe)|trim|upper + '<' }} {{ ('x'|safe).join(['<', '>']) }} {{ ('{}'|safe).format('<') }}", {}),
    ("generators_are_single_use", "{% set g = [1, 2, 3]|map('string') %}{{ g|join(',') }}|{{ g|join(',') }}|{{ [1, 2, 3]|select('odd') is iterable }} {{ ([]|select) is sequence }} {{ 'yes' if []|select else 'no' }} {{ [1, 2]|reverse|list }} {{ [1, 2, 3]|select|first }} {{ [3, 1]|map('string')|sort }}", {}),
    ("generator_first_then_rest", "{% set g = ['a', 'b', 'c']|select %}{{ g|first }}{{ g|list }}{% for x in g %}never{% endfor %}", {}),
    ("non_string_dict_keys", "{% set d = {0: 'zero', 512: 'half', 'k': 1} %}{{ d[512] }} {{ d[0] }} {{ d.k }} {{ d|tojson }} {{ 512 in d }} {{ d.get(0) }} {{ d }} {% for k, v in {2: 'b', 1: 'a'}|dictsort %}{{ k }}{{ v }}{% endfor %} {{ {1: 'a', 2.5: 'b', none: 'c', true: 'd'} }}", {}),
    # Expected errors (the message matters when the template raised it on purpose)
    ("error_generator_length", "{{ [1, 2]|select|length }}", {}),
    ("error_generator_tojson", "{{ [1]|map('string')|tojson }}", {}),
    ("error_generator_index", "{{ ([1]|select)[0] }}", {}),
    ("error_generator_last", "{{ [1]|select|last }}", {}),
    ("error_undefined_attribute", "{{ missing.attr }}", {}),
    ("error_undefined_arithmetic", "{{ missing + 1 }}", {}),
    ("error_missing_nested_key", "{{ d.a.b }}", {"d": {}}),
    ("error_unsafe_append", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("error_type_concat", "{{ 'a' + 1 }}", {}),
    ("error_compare_types", "{{ 1 < 'a' }}", {}),
    ("error_division_by_zero", "{{ 1 / 0 }}", {}),
    ("error_not_iterable", "{% for x in 5 %}{% endfor %}", {}),
    ("error_tojson_undefined", "{{ missing|tojson }}", {}),
    ("error_namespace_underscore", "{% set ns = namespace(_x=1) %}", {}),
    ("error_set_attribute_on_dict", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("error_unknown_tag", "{% do x %}", {}),
    ("error_unclosed_block", "{% if true %}never closed", {}),
    ("error_unclosed_expression", "{{ 1 + }}", {}),
    ("error_bad_string_escape", "{{ '\\x4' }}", {}),
    ("error_unknown_filter_at_render", "{% if true %}{{ 'x'|no_such_filter }}{% endif %}", {}),
]


# ---------------------------------------------------------------------------------------------
# Content format (vLLM's `_detect_content_format`): whether a template loops over the parts of
# message content ("openai": content given as a list of parts) or prints it ("string": the
# server joins text parts first). Reimplemented here on jinja2's AST, as vLLM does it.


def _is_var_access(node, varname):
    return isinstance(node, jinja2.nodes.Name) and node.ctx == "load" and node.name == varname


def _is_attr_access(node, varname, key):
    if isinstance(node, jinja2.nodes.Getitem):
        return _is_var_access(node.node, varname) and isinstance(node.arg, jinja2.nodes.Const) and node.arg.value == key
    if isinstance(node, jinja2.nodes.Getattr):
        return _is_var_access(node.node, varname) and node.attr == key
    return False


def _is_var_or_elems_access(node, varname, key=None):
    if isinstance(node, jinja2.nodes.Filter):
        return node.node is not None and _is_var_or_elems_access(node.node, varname, key)
    if isinstance(node, jinja2.nodes.Test):
        return _is_var_or_elems_access(node.node, varname, key)
    if isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Slice):
        return _is_var_or_elems_access(node.node, varname, key)
    return _is_attr_access(node, varname, key) if key else _is_var_access(node, varname)


def content_format(template_source):
    try:
        root = chat_template_utils._compile_jinja_template(template_source).environment.parse(template_source)
        related, queue = ["messages"], ["messages"]
        while queue:
            current = queue.pop(0)
            for assign in root.find_all(jinja2.nodes.Assign):
                if _is_var_or_elems_access(assign.node, current):
                    assert isinstance(assign.target, jinja2.nodes.Name)
                    related.append(assign.target.name)
                    if assign.target.name != current:
                        queue.append(assign.target.name)
        message_names = []
        for loop in root.find_all(jinja2.nodes.For):
            if any(_is_var_or_elems_access(loop.iter, name) for name in related):
                assert isinstance(loop.target, jinja2.nodes.Name)
                message_names.append(loop.target.name)
        for loop in root.find_all(jinja2.nodes.For):
            if any(_is_var_or_elems_access(loop.iter, name, "content") for name in message_names):
                assert isinstance(loop.target, jinja2.nodes.Name)
                return "openai"
        return "string"
    except Exception:
        return "string"


def make_tokenizer(special_tokens):
    backend = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, **special_tokens)


def error_record(exc):
    kind = "runtime"
    if isinstance(exc, jinja2.exceptions.TemplateSyntaxError):
        kind = "syntax"
    elif type(exc) is jinja2.exceptions.TemplateError:
        kind = "raised"
    return {"kind": kind, "type": type(exc).__name__, "message": str(exc)}


def render_templates():
    (OUT / "renders").mkdir(parents=True, exist_ok=True)
    totals = {"rendered": 0, "errors": 0}
    for name, family, scenario_set in TEMPLATES:
        source = (OUT / "templates" / f"{name}.jinja").read_text(encoding="utf-8")
        special = SPECIAL_TOKENS[family]
        tokenizer = make_tokenizer(special)
        scenario_names = list(SCENARIOS) if scenario_set == "full" else BASIC_SCENARIOS
        cases = []
        for scenario_name in scenario_names:
            scenario = SCENARIOS[scenario_name]
            for add_generation_prompt in ([False, True] if scenario_name in BOTH_PROMPT_SETTINGS else [True]):
                case = {"scenario": scenario_name, "add_generation_prompt": add_generation_prompt}
                try:
                    case["expected"] = tokenizer.apply_chat_template(
                        json.loads(json.dumps(scenario["messages"])),
                        tools=scenario.get("tools"),
                        documents=scenario.get("documents"),
                        chat_template=source,
                        add_generation_prompt=add_generation_prompt,
                        tokenize=False,
                        **scenario.get("kwargs", {}),
                    )
                    totals["rendered"] += 1
                except Exception as exc:  # the template rejected the input: that is a fixture too
                    case["error"] = error_record(exc)
                    totals["errors"] += 1
                cases.append(case)
        record = {
            "template": f"templates/{name}.jinja",
            "content_format": content_format(source),
            "special_tokens": tokenizer.special_tokens_map,
            "cases": cases,
        }
        path = OUT / "renders" / f"{name}.json"
        path.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"templates: {len(TEMPLATES)}, renders: {totals['rendered']}, expected errors: {totals['errors']}")


def write_scenarios():
    record = {"now": FIXED_NOW.isoformat(), "scenarios": SCENARIOS}
    (OUT / "scenarios.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def render_jinja_cases():
    cases = []
    for name, template, context in JINJA_CASES:
        case = {"name": name, "template": template, "context": context}
        try:
            compiled = chat_template_utils._compile_jinja_template(template)
            case["expected"] = compiled.render(**json.loads(json.dumps(context)))
        except Exception as exc:
            case["error"] = error_record(exc)
        cases.append(case)
    (OUT / "jinja_cases.json").write_text(json.dumps({"cases": cases}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"jinja cases: {len(cases)} ({sum('error' in c for c in cases)} expected errors)")


# ---------------------------------------------------------------------------------------------
# Random templates (seeded): whitespace-control layouts, statement mixes and expressions, for a
# differential check against jinja2 beyond the hand-written cases.

RANDOM_CONTEXT = {
    "items": [{"role": "user", "content": "c1"}, {"role": "assistant"}, {"role": "user", "content": "c3"}],
    "a": "A", "x": "X", "d": {"a": 1, "b": [1, 2], "c": {"e": "f"}}, "l": [3, 1, 2], "s": "Hello World", "n": None,
}


def random_layout(rng, depth=0):
    text = ["", " ", "  ", "\t", "\n", "\n\n", " \n ", "a", "b c", "\n  x\n", "\r\n", "  \t\n", "\u3000", "\u00a0", "y\n    "]

    def sign():
        return rng.choice(["", "", "-", "+"])

    def space():
        return rng.choice(["", " ", "  ", "\n", " \n "])

    parts = []
    for _ in range(rng.randint(1, 4)):
        k = rng.random()
        if k < 0.35:
            parts.append(rng.choice(text))
        elif k < 0.55:
            value = rng.choice(["'v'", "1", "x", "' s '", "loop.index if loop is defined else 0"])
            parts.append("{{" + rng.choice(["", "-"]) + space() + value + space() + rng.choice(["", "-"]) + "}}")
        elif k < 0.65:
            parts.append("{#" + sign() + " c " + sign() + "#}")
        elif k < 0.72:
            parts.append("{%" + sign() + " raw " + sign() + "%}" + rng.choice(text) + "{{ r }}{%" + sign() + " endraw " + sign() + "%}")
        elif depth < 3 and k < 0.86:
            otherwise = rng.choice(["", "{%" + sign() + " else " + sign() + "%}" + random_layout(rng, depth + 1)])
            parts.append("{%" + sign() + " if " + rng.choice(["true", "false", "x"]) + " " + sign() + "%}"
                         + random_layout(rng, depth + 1) + otherwise + "{%" + sign() + " endif " + sign() + "%}")
        elif depth < 3:
            parts.append("{%" + sign() + " for i in [1, 2] " + sign() + "%}" + random_layout(rng, depth + 1)
                         + "{%" + sign() + " endfor " + sign() + "%}")
        else:
            parts.append("{%" + sign() + " set z = 1 " + sign() + "%}")
        parts.append(rng.choice(text))
    return "".join(parts)


STATEMENT_PRELUDE = (
    "{% set ns = namespace(v=0, w='w') %}{% macro f(p, q=1) %}[{{ p }}/{{ q }}/{{ a }}/{{ varargs|length }}"
    "{{ caller() if caller is defined else '' }}]{% endmacro %}{% macro g() %}<{{ ns.v }}>{% endmacro %}"
)


def random_statements(rng, depth=0, in_loop=False):
    expressions = ["a", "b", "ns.v", "ns.w", "m", "1", "'s'", "a ~ b", "ns.v + 1", "loop.index", "loop.first", "loop.last",
                   "loop.length", "loop.previtem", "loop.nextitem", "x", "items|length", "f(a)", "f(b, 2)", "g()",
                   "caller() if caller is defined else 'nc'", "varargs|list", "items[loop.index0] if loop is defined else 'nl'",
                   "kwargs", "x.role", "x['content']|default('d')"]

    def statement():
        k = rng.random()
        if k < 0.3:
            return "{{ " + rng.choice(expressions) + " }}|"
        if k < 0.45:
            target = rng.choice(["a", "b", "ns.v", "ns.w"])
            value = rng.choice(["1", "'x'", "a", "ns.v + 1" if target.startswith("ns") else "2", "[a, b]"])
            return "{% set " + target + " = " + value + " %}"
        if depth < 3 and k < 0.65:
            condition = rng.choice(["", " if x.role == 'user'", " if x is mapping"])
            return ("{% for x in items" + condition + " %}" + random_statements(rng, depth + 1, True)
                    + rng.choice(["", "{% else %}E"]) + "{% endfor %}")
        if depth < 3 and k < 0.75:
            return ("{% if " + rng.choice(expressions) + " %}" + random_statements(rng, depth + 1, in_loop) + "{% elif "
                    + rng.choice(expressions) + " %}" + random_statements(rng, depth + 1, in_loop) + "{% endif %}")
        if in_loop and k < 0.8:
            return rng.choice(["{% break %}", "{% continue %}"])
        if depth < 2 and k < 0.88:
            return "{% call f(" + rng.choice(expressions) + ") %}" + random_statements(rng, depth + 1) + "{% endcall %}"
        if depth < 3 and k < 0.93:
            return "{% with a = " + rng.choice(expressions) + " %}" + random_statements(rng, depth + 1, in_loop) + "{% endwith %}"
        if depth < 3:
            return "{% set m %}" + random_statements(rng, depth + 1) + "{% endset %}"
        return "{{ a }}"

    return "".join(statement() for _ in range(rng.randint(1, 3)))


def random_expression(rng):
    values = ["0", "1", "-3", "2.5", "-0.5", "true", "false", "none", "''", "'a'", "'Ab c'", "' x '", "'日本😀'", "'1,2,,3'",
              "'  a b\\t c  '", "'ÀÉ ß ǅ'", "'\\n\\nhi\\n'", "'a-b(c)d[e]'", "'%s and %d'", "'{} {}'", "[]", "[1, 2, 3]",
              "['b', 'A', 'a']", "[1, 'a']", "{}", "{'k': 'v', 'a': 1}", "{'x': [1, {'y': none}]}", "missing", "d", "d.a",
              "d['b']", "l", "l[0]", "s", "n", "[none]"]
    filters = ["length", "count", "string", "trim", "upper", "lower", "title", "capitalize", "first", "last", "list", "int",
               "float", "abs", "round", "tojson", "sort", "unique|list", "reverse|list", "join", "join(', ')", "default('D')",
               "default('D', true)", "sum", "min", "max", "wordcount", "center(9)", "indent(2)", "indent(2, true)", "e", "safe",
               "replace('a', 'b')", "select|list", "reject|list", "map('string')|list", "map('upper')|list", "batch(2)|list",
               "truncate(5)", "tojson(indent=1)", "int(7)", "float(1.5)", "round(1)", "string|length", "list|length",
               "trim('a ')", "replace(' ', '')", "truncate(3, true)", "truncate(4, false, '>')", "indent('>> ')",
               "format(1, 2)", "string|first", "reverse", "unique(true)|list", "sort(reverse=true)", "join('|')",
               "tojson(sort_keys=true)", "tojson(separators=[',', ':'])", "tojson(ensure_ascii=true)"]
    tests = ["defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false", "mapping",
             "iterable", "sequence", "callable", "sameas none", "odd", "even", "divisibleby 2", "eq 1", "in [1, 'a']",
             "lower", "upper", "escaped"]
    operators = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or"]
    methods = ["upper()", "lower()", "strip()", "split()", "split(',')", "split(',', 1)", "startswith('H')", "endswith('d')",
               "replace('o', '0')", "title()", "find('o')", "count('l')", "get('a')", "get('zz', 5)", "strip('H')",
               "rstrip('d')", "lstrip()", "format(1, 2)", "capitalize()", "isdigit()", "splitlines()", "index(1)",
               "join(['x', 'y'])", "split(none, 1)", "rsplit(',', 1)", "strip(' a')", "replace('', '-')",
               "replace('a', 'X', 1)", "startswith(('x', 'a'))", "endswith('')", "find('')", "rfind('a')", "swapcase()",
               "center(11, '*')", "zfill(6)", "ljust(5)", "partition(',')|list", "isspace()", "isalpha()"]
    value = rng.choice(values)
    k = rng.random()
    if k < 0.3:
        return f"{value}|{rng.choice(filters)}"
    if k < 0.5:
        return f"{value} is {rng.choice(['', 'not '])}{rng.choice(tests)}"
    if k < 0.75:
        other = rng.choice(values)
        operator = rng.choice(operators)
        if operator == "%" and other.startswith("["):
            other = "(" + other[1:-1] + ("," if other != "[]" else "") + ")"
        return f"{value} {operator} {other}"
    if k < 0.9:
        return f"{value}.{rng.choice(methods)}"
    container = rng.choice(["l", "s", "d.b", "items", "x"])
    index = rng.choice(["0", "-1", "1:", "::-1", ":2", "'a'", "5"])
    return f"{container}[{index}]"


def render_random_cases(count=600):
    """Seeded random templates; cases whose jinja2 output this engine prints differently by
    design (tuples, dict views, ints past 64 bits, object addresses) are left out."""
    rng = random.Random(20250314)
    compile_template = chat_template_utils._compile_jinja_template
    cases = []
    kinds = [("layout", lambda: random_layout(rng)), ("statements", lambda: STATEMENT_PRELUDE + random_statements(rng)),
             ("expression", lambda: "{{ " + random_expression(rng) + " }}")]
    for kind, make in kinds:
        made = 0
        while made < count:
            template = make()
            case = {"kind": kind, "template": template}
            try:
                case["expected"] = compile_template(template).render(**copy.deepcopy(RANDOM_CONTEXT))
                if re.search(r"\(['\d]|dict_(keys|values|items)|\d{20}| at 0x", case["expected"]):
                    continue
            except Exception as exc:
                case["error"] = error_record(exc)
                if "tuple" in case["error"]["message"]:
                    continue
            cases.append(case)
            made += 1
    record = {"context": RANDOM_CONTEXT, "cases": cases}
    (OUT / "jinja_random_cases.json").write_text(json.dumps(record, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"random jinja cases: {len(cases)} ({sum('error' in c for c in cases)} expected errors)")


def test_template_file_name(case_name):
    """'mistralai/Mistral-7B-Instruct-v0.2 (mistralai 'v1' template with a system prompt)' ->
    'tests-mistralai-Mistral-7B-Instruct-v0.2-v1-system' (the names TEMPLATES uses)."""
    base, _, note = case_name.partition(" (")
    name = "tests-" + base.replace("/", "-")
    for marker, suffix in (("'v1' template with a system", "-v1-system"), ("'v3' template", "-v3"), ("'v7' template", "-v7")):
        if marker in note:
            name += suffix
    return name


def import_test_templates(cpp_path):
    """The template strings of llama.cpp's tests/test-chat-template.cpp (C string literals)."""
    literal = r'(?:u8)?"((?:[^"\\]|\\.)*)"'
    case_re = re.compile(r"/\* \.name= \*/\s*" + literal + r",\s*/\* \.template_str= \*/\s*((?:" + literal + r"\s*)+),", re.S)
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}

    def unescape(text):
        return re.sub(r"\\(.)", lambda m: escapes[m.group(1)], text)

    wanted = {name for name, _, _ in TEMPLATES if name.startswith("tests-")}
    source = pathlib.Path(cpp_path).read_text(encoding="utf-8")
    for match in case_re.finditer(source):
        name = test_template_file_name(unescape(match.group(1)))
        if name in wanted:
            text = "".join(unescape(part) for part in re.findall(literal, match.group(2)))
            (OUT / "templates" / f"{name}.jinja").write_text(text, encoding="utf-8")
            wanted.discard(name)
    if wanted:
        raise SystemExit(f"not found in {cpp_path}: {sorted(wanted)}")


def import_templates(directory):
    """Copies the templates from llama.cpp's models/templates (and its tests, beside it)."""
    (OUT / "templates").mkdir(parents=True, exist_ok=True)
    for name, _, _ in TEMPLATES:
        if not name.startswith("tests-"):
            shutil.copyfile(pathlib.Path(directory) / f"{name}.jinja", OUT / "templates" / f"{name}.jinja")
    import_test_templates(pathlib.Path(directory).parents[1] / "tests" / "test-chat-template.cpp")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--import-from",
        help="copy the template texts first from this directory: llama.cpp's models/templates "
        "(its tests/test-chat-template.cpp is read too)",
    )
    args = parser.parse_args()
    if args.import_from:
        import_templates(args.import_from)
    print(f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}")
    write_scenarios()
    render_templates()
    render_jinja_cases()
    render_random_cases()


if __name__ == "__main__":
    main()
