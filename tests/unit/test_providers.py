"""The OpenAI-compatible provider against bodies in the shapes servers send (OpenAI, Azure, vLLM/Ollama
style), cut at awkward places, and against hostile ones: no network, a transport adapter serves them."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import urllib3

from timkit.chatbot import providers
from timkit.chatbot.providers import (
    MAX_SSE_LINE,
    Bedrock,
    ChatMessage,
    Generation,
    OpenAICompatible,
    ProviderError,
    SseEvent,
    provider_for,
    sse_events,
)

QUESTION = [ChatMessage(role="user", content="Hi"), ChatMessage(role="assistant", content="Hello"),
            ChatMessage(role="user", content="How are you?")]  # fmt: skip
KEY = "sk-test-very-secret-0123456789"
STREAM_ARGS: dict[str, Any] = {
    "system": "",
    "messages": [],
    "model": "m",
    "temperature": 0,
    "max_tokens": 1,
    "timeout": 1,
}


def chunk(content: str | None = None, finish: str | None = None, **delta: Any) -> str:
    if content is not None:
        delta["content"] = content
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return "data: " + json.dumps(body) + "\n\n"


# OpenAI: a role-only first chunk, content chunks, a finish chunk with an empty delta, [DONE].
OPENAI_BODY = (
    chunk("", role="assistant")
    + chunk("Hel")
    + chunk("lo, ")
    + chunk("wörld")
    + chunk(finish="stop")
    + "data: [DONE]\n\n"
)
# Azure OpenAI: a first chunk with no choices (prompt filter results), content without "role".
AZURE_BODY = (
    'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}\n\n'
    + chunk("Hi")
    + chunk(" there")
    + chunk(finish="stop")
    + "data: [DONE]\n\n"
)
# stream_options include_usage: a last chunk with no choices and the usage.
USAGE_BODY = (
    chunk("a")
    + chunk(finish="length")
    + 'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
    + 'data: {"choices":null,"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
    + "data: [DONE]\n\n"
)


class _Pieces:
    """A body that arrives in the given pieces (one read1 each), then ends or fails."""

    def __init__(self, pieces: list[bytes], fail: BaseException | None = None) -> None:
        self._pieces = list(pieces)
        self._fail = fail
        self.closed = False

    def read1(self, amt: int = -1) -> bytes:
        if self._pieces:
            return self._pieces.pop(0)
        if self._fail is not None:
            raise self._fail
        return b""

    def read(self, amt: int = -1) -> bytes:
        data, self._pieces = b"".join(self._pieces), []
        return data

    def close(self) -> None:
        self.closed = True


@dataclass
class Served:
    status: int = 200
    pieces: list[bytes] = field(default_factory=list)
    fail: BaseException | None = None
    raise_on_send: BaseException | None = None


class _Adapter(requests.adapters.HTTPAdapter):
    def __init__(self, served: Served) -> None:
        super().__init__()
        self.served = served
        self.requests: list[requests.PreparedRequest] = []
        self.bodies: list[_Pieces] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.requests.append(request)
        self.timeout = kwargs.get("timeout")
        if self.served.raise_on_send is not None:
            raise self.served.raise_on_send
        body = _Pieces(self.served.pieces, self.served.fail)
        self.bodies.append(body)
        raw = urllib3.HTTPResponse(
            body=body, headers={"content-type": "text/event-stream"}, status=self.served.status, preload_content=False
        )
        return self.build_response(request, raw)


def provider(served: Served, api_key: Any = None) -> tuple[OpenAICompatible, _Adapter]:
    session = requests.Session()
    adapter = _Adapter(served)
    session.mount("https://", adapter)
    return OpenAICompatible("https://llm.example/v1/", api_key, session=session), adapter


def stream(served: Served, api_key: Any = None) -> tuple[Any, _Adapter]:
    p, adapter = provider(served, api_key)
    return p.stream(
        Generation(system="Be brief.", messages=QUESTION, model="m-1", temperature=0.2, max_tokens=64, timeout=7)
    ), adapter


def run(served: Served, api_key: Any = None) -> tuple[list[str], ProviderError | None]:
    s, _ = stream(served, api_key)
    deltas: list[str] = []
    try:
        for delta in s:
            deltas.append(delta)
    except ProviderError as exc:
        return deltas, exc
    return deltas, None


def body(text: str) -> list[bytes]:
    return [text.encode()]


def one_byte_at_a_time(text: str) -> list[bytes]:
    data = text.encode()
    return [data[i : i + 1] for i in range(len(data))]


# ------------------------------------------------------------------ the parser


def events(*pieces: bytes) -> list[SseEvent]:
    return list(sse_events(pieces))


def test_lines_end_with_lf_crlf_or_cr_even_when_cut_between_cr_and_lf() -> None:
    expected = [SseEvent("message", "a"), SseEvent("message", "b"), SseEvent("message", "c")]
    assert events(b"data: a\n\ndata: b\r\n\r\ndata: c\r\r") == expected
    # A CRLF cut by the network is one line end, not a line end and an empty line (which would end
    # the event early and split a multi-line data in two).
    assert events(b"data: x\r", b"\ndata: y\r", b"\n\r", b"\n") == [SseEvent("message", "x\ny")]


def test_multi_line_data_comments_event_field_and_colon_rules() -> None:
    text = b": keep-alive\n\ndata:first\ndata:  second\ndata\n: a comment inside\nevent: error\nid: 7\nretry: 10\n\n"
    # "data:first" (no space), one leading space only is removed, "data" alone is an empty line.
    assert events(text) == [SseEvent("error", "first\n second\n")]


def test_comment_only_and_empty_events_dispatch_nothing_and_the_type_resets() -> None:
    assert events(b": ping\n\n\n\nevent: error\n\ndata: x\n\n") == [SseEvent("message", "x")]


def test_a_leading_bom_is_ignored_and_an_unfinished_last_event_is_dropped() -> None:
    assert events("\ufeffdata: a\n\ndata: b\n".encode()) == [SseEvent("message", "a")]


def test_utf8_cut_inside_a_character_is_decoded_whole() -> None:
    data = "data: wörld 你好\n\n".encode()
    assert events(*[data[i : i + 1] for i in range(len(data))]) == [SseEvent("message", "wörld 你好")]


def test_an_endless_line_is_a_broken_stream_not_unbounded_memory() -> None:
    with pytest.raises(ProviderError) as err:
        events(b"data: " + b"x" * (MAX_SSE_LINE + 10))
    assert err.value.kind == "broken"
    with pytest.raises(ProviderError):
        events(*[b"data: " + b"y" * 1000 + b"\n"] * (MAX_SSE_LINE // 1000 + 2))
    with pytest.raises(ProviderError):  # one line in small pieces
        events(b"data: ", *[b"z" * 512] * (MAX_SSE_LINE // 512 + 2))


# ------------------------------------------------------------------ answers


@pytest.mark.parametrize(
    ("text", "expected"),
    [(OPENAI_BODY, ["Hel", "lo, ", "wörld"]), (AZURE_BODY, ["Hi", " there"]), (USAGE_BODY, ["a"])],
    ids=["openai", "azure", "usage"],
)
def test_answers_in_each_servers_shape(text: str, expected: list[str]) -> None:
    assert run(Served(pieces=body(text))) == (expected, None)
    assert run(Served(pieces=one_byte_at_a_time(text))) == (expected, None)


def test_the_request_is_a_streamed_chat_completion_with_the_system_prompt_first() -> None:
    s, adapter = stream(Served(pieces=body(OPENAI_BODY)), api_key=lambda: KEY)
    assert adapter.requests == []  # nothing is sent before iteration
    assert "".join(s) == "Hello, wörld"
    (request,) = adapter.requests
    assert request.url == "https://llm.example/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert json.loads(request.body or b"") == {
        "model": "m-1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "How are you?"},
        ],
        "stream": True,
        "temperature": 0.2,
        "max_tokens": 64,
    }
    assert adapter.timeout == (7, 7)


def test_no_key_no_authorization_header_and_no_system_message_when_empty() -> None:
    p, adapter = provider(Served(pieces=body(OPENAI_BODY)), api_key=lambda: None)
    list(p.stream(Generation(system="", messages=QUESTION[:1], model="m", temperature=0, max_tokens=1, timeout=1)))
    (request,) = adapter.requests
    assert "authorization" not in request.headers
    assert json.loads(request.body or b"")["messages"] == [{"role": "user", "content": "Hi"}]


# ------------------------------------------------------------------ failures


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "auth"), (403, "auth"), (429, "throttled"), (500, "unavailable"), (502, "unavailable"),
     (503, "unavailable"), (504, "timeout"), (408, "timeout"), (400, "config"), (404, "config")],
)  # fmt: skip
def test_http_errors_map_to_kinds_and_never_quote_the_body(status: int, kind: str) -> None:
    leaky = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}})
    deltas, error = run(Served(status=status, pieces=body(leaky)), api_key=lambda: KEY)
    assert deltas == []
    assert error is not None and error.kind == kind
    assert KEY not in str(error) and "Incorrect" not in str(error)
    assert error.user_text == ProviderError.USER_TEXT[kind]


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (requests.exceptions.ConnectTimeout("https://llm.example key"), "unavailable"),
        (requests.exceptions.ReadTimeout("https://llm.example"), "timeout"),
        (requests.exceptions.ConnectionError(f"refused https://llm.example?k={KEY}"), "unavailable"),
        (requests.exceptions.SSLError("bad cert"), "unavailable"),
        (requests.exceptions.InvalidURL("no host"), "config"),
    ],
)
def test_transport_failures_before_the_answer(exc: Exception, kind: str) -> None:
    deltas, error = run(Served(raise_on_send=exc))
    assert error is not None and (error.kind, deltas) == (kind, [])
    # Not in the message, nor in what logger.exception would print (the chained exceptions).
    logged = "".join(traceback.format_exception(error))
    assert KEY not in logged and "llm.example" not in logged


@pytest.mark.parametrize(
    ("error_object", "kind"),
    [
        ({"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}, "throttled"),
        ({"message": "You exceeded your current plan", "type": "insufficient_quota", "code": None}, "throttled"),
        ({"message": "bad key", "type": "authentication_error"}, "auth"),
        ({"message": "flagged", "type": "invalid_request_error", "code": "content_filter"}, "content_filter"),
        ({"message": "The server had an error", "type": "server_error", "code": None}, "broken"),
        ({"message": "no type at all"}, "broken"),
        ("a string, not an object", "broken"),
    ],
)
def test_an_error_event_mid_stream_ends_the_answer_with_its_kind(error_object: Any, kind: str) -> None:
    text = chunk("Partial ") + chunk("answer") + "data: " + json.dumps({"error": error_object}) + "\n\n"
    deltas, error = run(Served(pieces=one_byte_at_a_time(text)))
    assert deltas == ["Partial ", "answer"]
    assert error is not None and error.kind == kind
    if isinstance(error_object, dict) and "message" in error_object:
        assert error_object["message"] not in str(error)


def test_an_error_event_type_is_an_error_whatever_its_data() -> None:
    deltas, error = run(Served(pieces=body(chunk("a") + 'event: error\ndata: {"detail": "overloaded"}\n\n')))
    assert deltas == ["a"] and error is not None and error.kind == "broken"


def test_an_error_identifier_is_kept_for_the_logs_but_not_free_text() -> None:
    text = "data: " + json.dumps({"error": {"type": f"has spaces {KEY}", "code": "model_overloaded"}}) + "\n\n"
    _, error = run(Served(pieces=body(text)))
    assert error is not None and "model_overloaded" in str(error) and KEY not in str(error)


def test_content_filter_finish_reason_fails_after_what_was_said() -> None:
    deltas, error = run(Served(pieces=body(chunk("Sure, ") + chunk(finish="content_filter") + "data: [DONE]\n\n")))
    assert deltas == ["Sure, "] and error is not None and error.kind == "content_filter"


def test_a_stream_that_ends_without_done_or_a_finish_reason_is_broken() -> None:
    deltas, error = run(Served(pieces=body(chunk("Half an ") + chunk("answ"))))
    assert deltas == ["Half an ", "answ"] and error is not None and error.kind == "broken"


def test_a_finish_reason_without_done_is_a_whole_answer() -> None:
    # Some servers end the body after the finish chunk: the model said it was done.
    assert run(Served(pieces=body(chunk("All") + chunk(finish="stop")))) == (["All"], None)


def test_connection_lost_mid_stream_is_broken_and_a_read_timeout_is_timeout() -> None:
    deltas, error = run(Served(pieces=body(chunk("a")), fail=ConnectionResetError(104, "reset")))
    assert deltas == ["a"] and error is not None and error.kind == "broken"
    deltas, error = run(Served(pieces=body(chunk("a")), fail=TimeoutError("timed out")))
    assert deltas == ["a"] and error is not None and error.kind == "timeout"


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[1, 2]",
        '"a string"',
        '{"choices": {"index": 0}}',
        '{"choices": [{"index": 0, "delta": "text"}]}',
        '{"choices": [{"index": 0, "delta": {"content": 42}}]}',
        '{"choices": [{"index": 0, "delta": {"content": ["a"]}}]}',
        '{"choices": [{"index": 0, "delta": {}, "finish_reason": 1}]}',
        '{"choices": [{"index": 1, "delta": {"content": "other choice"}}]}',
        '{"choices": ["a string choice"]}',
    ],
)
def test_malformed_chunks_are_a_broken_stream(data: str) -> None:
    deltas, error = run(Served(pieces=body(chunk("ok") + f"data: {data}\n\n" + chunk("never"))))
    assert deltas == ["ok"] and error is not None and error.kind == "broken"


def test_null_content_and_tool_call_deltas_are_skipped() -> None:
    text = chunk(None, role="assistant") + chunk("a") + chunk(None, tool_calls=[]) + chunk(finish="stop")
    assert run(Served(pieces=body(text + "data: [DONE]\n\n"))) == (["a"], None)


# ------------------------------------------------------------------ closing


def test_closing_before_iteration_sends_nothing() -> None:
    s, adapter = stream(Served(pieces=body(OPENAI_BODY)))
    s.close()
    s.close()  # twice is fine
    assert list(s) == [] and adapter.requests == []


def test_closing_mid_stream_ends_iteration_quietly_and_closes_the_response() -> None:
    s, adapter = stream(Served(pieces=body(chunk("a")), fail=ConnectionResetError(104, "reset")))
    iterator = iter(s)
    assert next(iterator) == "a"
    s.close()
    # What the closed connection raises is not a failure: the reader asked to stop.
    assert list(iterator) == []
    assert adapter.bodies[0].closed


# ------------------------------------------------------------------ provider_for


def test_provider_for_openai_looks_the_key_up_by_name_for_each_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def api_keys(name: str) -> str | None:
        asked.append(name)
        return KEY

    adapter = _Adapter(Served(pieces=body(OPENAI_BODY)))
    session = requests.Session()
    session.mount("https://", adapter)
    monkeypatch.setattr(providers, "_default_session", lambda: session)
    config = SimpleNamespace(provider="openai", base_url="https://llm.example/v1", api_key="deepseek")
    p = provider_for(config, api_keys)
    assert isinstance(p, OpenAICompatible) and asked == []
    list(p.stream(Generation(system="", messages=QUESTION, model="m", temperature=0, max_tokens=1, timeout=1)))
    assert asked == ["deepseek"] and adapter.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_provider_for_bedrock_and_bad_configurations() -> None:
    assert isinstance(provider_for(SimpleNamespace(provider="bedrock", base_url=None, api_key=None), {}.get), Bedrock)
    keyless = provider_for(
        SimpleNamespace(provider="openai", base_url="http://127.0.0.1:3002/v1", api_key=None), {}.get
    )
    assert isinstance(keyless, OpenAICompatible) and keyless._api_key is None
    for config in (
        SimpleNamespace(provider="openai", base_url=None, api_key=None),
        SimpleNamespace(provider="gemini", base_url=None, api_key=None),
        SimpleNamespace(provider=["bedrock"], base_url=None, api_key=None),
    ):
        with pytest.raises(ProviderError) as err:
            provider_for(config, {}.get)
        assert err.value.kind == "config"


def test_a_named_key_missing_from_the_secret_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = _Adapter(Served(pieces=body(OPENAI_BODY)))
    session = requests.Session()
    session.mount("https://", adapter)
    monkeypatch.setattr(providers, "_default_session", lambda: session)
    config = SimpleNamespace(provider="openai", base_url="https://llm.example/v1", api_key="missing")
    with pytest.raises(ProviderError) as err:
        list(provider_for(config, {}.get).stream(Generation(**STREAM_ARGS)))
    assert err.value.kind == "config" and "missing" in str(err.value) and adapter.requests == []


def test_a_failing_key_lookup_is_a_provider_error_that_does_not_quote_it() -> None:
    def lookup() -> str:
        raise RuntimeError(f"AccessDenied reading arn:aws:secretsmanager:...:{KEY}")

    deltas, error = run(Served(pieces=body(OPENAI_BODY)), api_key=lookup)
    assert deltas == [] and error is not None and error.kind == "unavailable"
    assert KEY not in "".join(traceback.format_exception(error))
