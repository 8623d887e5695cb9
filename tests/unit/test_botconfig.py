"""BotConfig: every limit, type and rule between fields is a ValidationError naming the field (so
the admin API's 422 names it), the defaults, and the JSON the store and the API exchange."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from timkit.models.botconfig import BASE_URL_PATTERN, BotConfig

BEDROCK: dict[str, Any] = {"provider": "bedrock", "model": "anthropic.claude-3-haiku-20240307-v1:0"}
OPENAI: dict[str, Any] = {"provider": "openai", "model": "gpt-4o-mini", "baseUrl": "https://api.openai.com/v1"}


def error_fields(data: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        BotConfig.model_validate(data)
    return [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]


def test_defaults_and_python_names() -> None:
    config = BotConfig.model_validate(BEDROCK)
    assert (config.provider, config.model, config.base_url, config.api_key) == ("bedrock", BEDROCK["model"], None, None)
    assert (config.system_prompt, config.temperature, config.max_tokens) == ("", 0.7, 1024)
    assert (config.context_turns, config.max_answer_seconds, config.streaming_mode, config.typing_text) == (
        10,
        120,
        "custom",
        None,
    )


def test_the_json_round_trips_in_camel_case() -> None:
    config = BotConfig.model_validate(
        {
            **OPENAI,
            "apiKey": "openai",
            "typingText": "…",
            "streamingMode": "native",
            "systemPrompt": 'Quote "this"\nand 😀',
            "temperature": 0,
        }
    )
    text = config.model_dump_json(by_alias=True)
    assert {
        "baseUrl",
        "apiKey",
        "systemPrompt",
        "maxTokens",
        "contextTurns",
        "maxAnswerSeconds",
        "streamingMode",
        "typingText",
    } <= set(json.loads(text))
    assert BotConfig.model_validate_json(text) == config


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("temperature", 0, 2), ("maxTokens", 1, 8192), ("contextTurns", 0, 50), ("maxAnswerSeconds", 5, 600)],
)
def test_numbers_are_taken_up_to_their_limits_and_refused_past_them(field: str, low: float, high: float) -> None:
    for value in (low, high):
        BotConfig.model_validate({**BEDROCK, field: value})
    step = 0.01 if field == "temperature" else 1
    for value in (low - step, high + step):
        assert error_fields({**BEDROCK, field: value}) == [field]


@pytest.mark.parametrize(
    ("field", "limit"), [("model", 256), ("systemPrompt", 8000), ("typingText", 100), ("apiKey", 64)]
)
def test_texts_are_taken_up_to_their_limits_and_refused_past_them(field: str, limit: int) -> None:
    base = OPENAI if field == "apiKey" else BEDROCK
    BotConfig.model_validate({**base, field: "k" * limit})
    assert error_fields({**base, field: "k" * (limit + 1)}) == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # Types mutated: a number as a string, a boolean, a list, an object, a fraction for an integer
        # (1024.0 is the integer 1024, in JSON as in the published schema: tests/unit/test_published_rules.py).
        ("temperature", "0.7"),
        ("temperature", True),
        ("temperature", [0.7]),
        ("temperature", None),
        ("temperature", float("nan")),
        ("temperature", float("inf")),
        ("maxTokens", "1024"),
        ("maxTokens", True),
        ("maxTokens", 1024.5),
        ("maxTokens", {}),
        ("contextTurns", False),
        ("contextTurns", "10"),
        ("maxAnswerSeconds", None),
        ("provider", "Bedrock"),
        ("provider", "anthropic"),
        ("provider", ["bedrock"]),
        ("provider", 1),
        ("provider", None),
        ("model", ""),
        ("model", 42),
        ("model", {"id": "m"}),
        ("model", "bad\nmodel"),
        ("model", None),
        ("systemPrompt", None),
        ("systemPrompt", ["a", "b"]),
        ("systemPrompt", 1),
        ("streamingMode", "stream"),
        ("streamingMode", "CUSTOM"),
        ("streamingMode", None),
        ("streamingMode", 2),
        ("typingText", ""),
        ("typingText", 5),
        ("unknownField", 1),
    ],
)
def test_a_wrong_value_names_its_field(field: str, value: Any) -> None:
    assert error_fields({**BEDROCK, field: value}) == [field]


@pytest.mark.parametrize("data", [[], ["provider", "bedrock"], "bedrock", 1, None])
def test_a_body_that_is_not_an_object_is_refused(data: Any) -> None:
    assert error_fields(data) == [""]


def test_the_required_fields_are_named() -> None:
    assert error_fields({}) == ["provider", "model"]
    assert error_fields({"provider": "openai", "model": "m"}) == ["baseUrl"]


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("https://api.deepseek.com", "https://api.deepseek.com"),
        ("https://my-resource.openai.azure.com/openai/deployments/gpt4o/", None),
        ("https://10.0.0.5:8443/v1", None),
        ("https://[2001:db8::1]:8000/v1", None),
        ("http://127.0.0.1:3002/v1/", "http://127.0.0.1:3002/v1"),
        ("http://localhost:11434/v1", None),
        ("http://ollama.localhost/v1", None),
        ("http://[::1]:8000/v1", None),
        ("https://hunyuan.tencentcloudapi.com/v1%2Fchat", None),
    ],
)
def test_base_urls_taken(url: str, stored: str | None) -> None:
    config = BotConfig.model_validate({**OPENAI, "baseUrl": url})
    assert config.base_url == (stored or url.rstrip("/"))
    assert re.fullmatch(BASE_URL_PATTERN, url)  # the document's pattern says so too


@pytest.mark.parametrize(
    "url",
    [
        "http://api.openai.com/v1",  # plain http over a network
        "http://10.0.0.5/v1",
        "http://localhost.evil.com/v1",
        "http://127.0.0.1.nip.io/v1",
        "ftp://api.example.com",
        "api.openai.com/v1",
        "https://",
        "https://user:pass@api.example.com/v1",  # credentials go in the secret
        "https://api.example.com/v1?key=abc",
        "https://api.example.com/v1#x",
        "https://api.example.com:99999/v1",
        "https://api.example.com:0/v1",
        "https://api.example.com/v 1",
        "https://api.example.com/\n",
        "",
        "https://" + "a" * 2048,
    ],
)
def test_base_urls_refused(url: str) -> None:
    assert error_fields({**OPENAI, "baseUrl": url}) == ["baseUrl"]


@pytest.mark.parametrize("value", [["https://a.example"], {"url": "https://a.example"}, 1])
def test_a_base_url_of_another_type_is_refused(value: Any) -> None:
    assert error_fields({**OPENAI, "baseUrl": value}) == ["baseUrl"]


def test_the_openai_settings_belong_to_openai() -> None:
    assert error_fields({**BEDROCK, "baseUrl": "https://a.example"}) == ["baseUrl"]
    assert error_fields({**BEDROCK, "apiKey": "openai"}) == ["apiKey"]
    assert error_fields({**BEDROCK, "baseUrl": "https://a.example", "apiKey": "k"}) == ["baseUrl", "apiKey"]
    assert BotConfig.model_validate({**OPENAI, "apiKey": "deepseek_prod-2"}).api_key == "deepseek_prod-2"
    assert BotConfig.model_validate(OPENAI).api_key is None  # e.g. a local server that wants none


@pytest.mark.parametrize("name", ["sk-proj-abcdefghijklmnop", "SK-abc", "my key", "-leading", "k\x00", ""])
def test_an_api_key_name_that_is_a_key_or_no_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BotConfig.model_validate({**OPENAI, "apiKey": name})
    assert [e["loc"] for e in caught.value.errors()] == [("apiKey",)]
    assert name not in str([e["msg"] for e in caught.value.errors()]) or name == ""


def test_a_config_is_frozen() -> None:
    config = BotConfig.model_validate(BEDROCK)
    with pytest.raises(ValidationError):
        config.temperature = 1.5
