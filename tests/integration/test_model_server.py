"""The OpenAI-compatible provider against the local model server over real HTTP: whole answers equal
:func:`expected_answer`, each failure mode maps to its kind, and closing a stream, even from another
thread while the reader is blocked, stops the model's generation."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.model_server import MODELS, ModelServer, Settings, answer_tokens, expected_answer
from tests.waiting import wait_for
from timkit.chatbot.providers import ChatMessage, Generation, OpenAICompatible, ProviderError

QUESTION = "What does the local model say?"
KEY = "sk-local-test-key-7f3a"


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    with ModelServer(Settings(token_delay_ms=0), port=0) as model:
        yield model


@pytest.fixture
def model(server: ModelServer) -> ModelServer:
    server.configure(**Settings(token_delay_ms=0).model_dump())
    server.reset()
    return server


def ask(
    model: ModelServer, name: str, question: str = QUESTION, key: str | None = None, **options: Any
) -> tuple[list[str], ProviderError | None]:
    provider = OpenAICompatible(model.base_url, (lambda: key) if key else None)
    messages = [ChatMessage(role="user", content="earlier"), ChatMessage(role="assistant", content="answer"),
                ChatMessage(role="user", content=question)]  # fmt: skip
    settings = {"temperature": 0.7, "max_tokens": 1024, "timeout": 10.0, **options}
    deltas: list[str] = []
    try:
        for delta in provider.stream(Generation(system="You are a test.", messages=messages, model=name, **settings)):
            deltas.append(delta)
    except ProviderError as exc:
        return deltas, exc
    return deltas, None


def record(model: ModelServer, index: int = -1) -> dict[str, Any]:
    return model.stats(times=True)["requests"][index]


# ------------------------------------------------------------------ answers


@pytest.mark.parametrize("name", ["local-echo", "local-slow", "local-long"])
def test_the_joined_deltas_are_the_models_whole_answer(model: ModelServer, name: str) -> None:
    model.configure(slow_token_delay_ms=1, long_token_delay_ms=0)
    deltas, error = ask(model, name)
    assert error is None
    assert "".join(deltas) == expected_answer(QUESTION, name)
    assert len(deltas) > 20 and all(re.fullmatch(r"\S+\s*", delta) for delta in deltas)  # word tokens
    assert record(model)["tokens"] == len(deltas) and record(model)["outcome"] == "finished"
    if name == "local-long":
        # Past Tencent's message size (the roll-over) within the default max_tokens, and larger escaped.
        assert len("".join(deltas).encode()) > 12 * 1024 and len(deltas) < 1024
        assert len(json.dumps("".join(deltas))) > len("".join(deltas).encode())


def test_the_answer_is_deterministic_and_depends_on_the_question(model: ModelServer) -> None:
    first, _ = ask(model, "local-echo", "Ünïcode question, “quoted”?")
    again, _ = ask(model, "local-echo", "Ünïcode question, “quoted”?")
    other, _ = ask(model, "local-echo", "Another question")
    assert first == again and "".join(first).startswith("You said: “Ünïcode question, “quoted”?”. ")
    assert "".join(other) == expected_answer("Another question") != "".join(first)


def test_max_tokens_ends_the_answer_early_without_an_error(model: ModelServer) -> None:
    deltas, error = ask(model, "local-echo", max_tokens=3)
    assert error is None and "".join(deltas) == expected_answer(QUESTION, max_tokens=3) and len(deltas) == 3


def test_a_first_token_delay_is_bridged_by_keep_alive_comments(model: ModelServer) -> None:
    model.configure(first_token_delay_ms=1100)
    deltas, error = ask(model, "local-echo", timeout=5.0)
    assert error is None and "".join(deltas) == expected_answer(QUESTION)


def test_the_non_streamed_form_answers_the_same_text(model: ModelServer) -> None:
    body = {"model": "local-echo", "messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]}
    answer = requests.post(f"{model.base_url}/chat/completions", json=body, timeout=10).json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": expected_answer(QUESTION)},
        "finish_reason": "stop",
    }
    failed = requests.post(
        f"{model.base_url}/chat/completions", json={**body, "model": "local-fail-mid-stream"}, timeout=10
    )
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "server_error"


# ------------------------------------------------------------------ failures


@pytest.mark.parametrize("name", ["local-fail-mid-stream", "local-drop-mid-stream"])
def test_a_stream_that_fails_midway_is_broken_after_what_was_sent(model: ModelServer, name: str) -> None:
    deltas, error = ask(model, name)
    assert error is not None and error.kind == "broken"
    assert "".join(deltas) == expected_answer(QUESTION, name) and len(deltas) == Settings().fail_after_tokens
    assert record(model)["outcome"] == "failed"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("local-http-429", "throttled"), ("local-http-503", "unavailable"), ("local-http-500", "unavailable"),
     ("local-http-401", "auth"), ("local-http-400", "config"), ("no-such-model", "config")],
)  # fmt: skip
def test_http_errors(model: ModelServer, name: str, kind: str) -> None:
    deltas, error = ask(model, name)
    assert deltas == [] and error is not None and error.kind == kind


def test_the_api_key_is_sent_as_a_bearer_token_and_never_shown(model: ModelServer) -> None:
    model.configure(api_key=KEY)
    assert ask(model, "local-echo", key=KEY)[1] is None
    for key in (None, "sk-wrong-key"):
        deltas, error = ask(model, "local-echo", key=key)
        assert deltas == [] and error is not None and error.kind == "auth"
        assert KEY not in str(error) and (key is None or key not in str(error))


def test_a_read_timeout_is_timeout_and_the_connection_is_closed(model: ModelServer) -> None:
    model.configure(first_token_delay_ms=3000)
    deltas, error = ask(model, "local-echo", timeout=0.3)
    assert deltas == [] and error is not None and error.kind == "timeout"
    wait_for(lambda: record(model)["outcome"] == "disconnected", "the server to see the client leave")
    assert record(model)["tokens"] == 0


def test_a_closed_port_is_unavailable() -> None:
    with ModelServer(port=0) as gone:
        url = gone.base_url
    deltas, error = ask_url(url)
    assert deltas == [] and error is not None and error.kind == "unavailable"


def ask_url(url: str) -> tuple[list[str], ProviderError | None]:
    stream = OpenAICompatible(url).stream(Generation(
        system="", messages=[ChatMessage(role="user", content="x")], model="local-echo", temperature=0,
        max_tokens=10, timeout=2,
    ))  # fmt: skip
    try:
        return list(stream), None
    except ProviderError as exc:
        return [], exc


# ------------------------------------------------------------------ closing stops generation


def test_close_from_another_thread_stops_the_models_generation(model: ModelServer) -> None:
    # A token every 2 s: the reader spends its time blocked on the socket, where closing it from another
    # thread does not wake it; close() must shut the connection down so that the model stops at once.
    model.configure(slow_token_delay_ms=2000)
    provider = OpenAICompatible(model.base_url)
    stream = provider.stream(Generation(
        system="", messages=[ChatMessage(role="user", content=QUESTION)], model="local-slow", temperature=0,
        max_tokens=100, timeout=30,
    ))  # fmt: skip
    deltas: queue.Queue[str | BaseException | None] = queue.Queue()

    def read() -> None:
        try:
            for delta in stream:
                deltas.put(delta)
        except BaseException as exc:
            deltas.put(exc)
        deltas.put(None)

    reader = threading.Thread(target=read)
    reader.start()
    assert deltas.get(timeout=30) == "You "
    closed_at = time.time()
    stream.close()
    assert deltas.get(timeout=30) is None  # iteration ends quietly, without an error
    reader.join(30)
    wait_for(lambda: record(model)["outcome"] == "disconnected", "the model to see the client leave")
    produced = record(model)
    # Not one token after the close: the model noticed before producing the next.
    assert produced["tokens"] == 1 and [t for t in produced["token_times"] if t > closed_at] == []
    assert produced["tokens_after_disconnect"] == 0


def test_closing_mid_stream_in_the_readers_thread_stops_generation_too(model: ModelServer) -> None:
    model.configure(long_token_delay_ms=5)
    stream = OpenAICompatible(model.base_url).stream(Generation(
        system="", messages=[ChatMessage(role="user", content=QUESTION)], model="local-long", temperature=0,
        max_tokens=8192, timeout=30,
    ))  # fmt: skip
    for count, _ in enumerate(stream, start=1):
        if count == 10:
            stream.close()
    wait_for(lambda: record(model)["outcome"] == "disconnected", "the model to see the client leave")
    # A token every 5 ms: within one second's worth of the close, far from the whole answer.
    assert 10 <= record(model)["tokens"] <= 10 + 200 < len(answer_tokens(QUESTION, "local-long"))


# ------------------------------------------------------------------ the server itself


def test_control_api_and_hostile_requests(model: ModelServer) -> None:
    assert (
        requests.post(f"{model.url}/_model/config", json={"token_delay_ms": 5}, timeout=10).json()["token_delay_ms"]
        == 5
    )
    refused = requests.post(f"{model.url}/_model/config", json={"token_delay_ms": "fast", "nope": 1}, timeout=10)
    assert refused.status_code == 400 and "token_delay_ms" in refused.text and "nope" in refused.text
    ask(model, "local-echo")
    stats = requests.get(f"{model.url}/_model/stats", timeout=10).json()
    assert stats["totals"]["requests"] == 1 and stats["totals"]["tokens"] == stats["requests"][0]["tokens"] > 0
    assert "token_times" not in stats["requests"][0]
    timed = requests.get(f"{model.url}/_model/stats?times=1", timeout=10).json()["requests"][0]
    assert len(timed["token_times"]) == timed["tokens"]
    requests.post(f"{model.url}/_model/reset", timeout=10)
    assert requests.get(f"{model.url}/_model/stats", timeout=10).json()["totals"]["requests"] == 0
    assert {m["id"] for m in requests.get(f"{model.base_url}/models", timeout=10).json()["data"]} == set(MODELS)
    url = f"{model.base_url}/chat/completions"
    for body in (
        b"not json",
        b"[]",
        b'{"model": 1, "messages": []}',
        b'{"model": "local-echo", "messages": {"role": "user"}}',
        b'{"model": "local-echo", "messages": [{"role": "user", "content": 5}]}',
        b'{"model": "local-echo", "messages": [], "stream": "yes"}',
        b'{"model": "local-echo", "messages": [], "max_tokens": true}',
    ):
        answer = requests.post(url, data=body, headers={"content-type": "application/json"}, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error", body


def test_python_m_local_model_server_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.model_server", "--port", "0", "--token-delay-ms", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert process.stdout is not None
        match = re.search(r"local model on (\S+) ", process.stdout.readline())
        assert match, "the banner names the base URL"
        deltas, error = ask_url(match.group(1))
        assert error is None and "".join(deltas) == expected_answer("x", max_tokens=10)
    finally:
        process.terminate()
        assert process.wait(30) == 0


def test_the_model_server_imports_nothing_from_timkit() -> None:
    # It stands for a third party: a mistake shared with the provider code must not pass unseen.
    check = "import sys, local.model_server; print(sorted(m for m in sys.modules if m.split('.')[0] == 'timkit'))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
