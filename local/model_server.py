"""A local model behind an OpenAI-compatible chat-completions API, for `make run` and the tests: the real
provider code talks to it over HTTP, with no network and no cost. It stands for a third party, so it
imports nothing from timkit.

    from local.model_server import ModelServer, expected_answer
    with ModelServer(port=0) as model:
        ...  # an OpenAI-compatible client's base URL is model.base_url (…/v1)

    .venv/bin/python -m local.model_server [--port 3002] [--token-delay-ms 50] [--first-token-delay-ms 0]

The answer is deterministic: "You said: “<the last user message>”. " then a scripted text chosen by the
question, in word tokens (each with its trailing space, so the joined deltas are the answer exactly:
:func:`expected_answer`). The model name picks the behaviour:

* ``local-echo``: a short answer at ``token_delay_ms`` per token.
* ``local-slow``: the same at ``slow_token_delay_ms`` per token.
* ``local-long``: an answer over ``long_answer_bytes`` (the roll-over past Tencent's message size) at
  ``long_token_delay_ms``.
* ``local-fail-mid-stream``: ``fail_after_tokens`` tokens, then an error event (OpenAI's error object)
  and the end of the stream, without ``[DONE]``.
* ``local-drop-mid-stream``: ``fail_after_tokens`` tokens, then the connection is cut.
* ``local-http-<status>``: answers that HTTP status with an OpenAI-style error object (429, 500...).

Every answer waits ``first_token_delay_ms`` (sending a ``:`` keep-alive comment each second) before its
first token; ``max_tokens`` ends it early with ``finish_reason: "length"``; an ``api_key`` setting makes
it answer 401 to a request without that bearer key. Generation stops as soon as the client goes away.

Control: ``GET /_model/stats`` (the last 1,000 requests: tokens produced, with ``?times=1`` the time of
each, how it ended, tokens produced after the client left; and totals), ``POST /_model/reset``,
``GET``/``POST /_model/config``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import selectors
import signal
import socket
import sys
import threading
import time
from collections import deque
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from local.http import JSON_HEADERS, LocalHTTPHandler, LocalHTTPServer

log = logging.getLogger("local.model_server")

DEFAULT_PORT = 3002
MODELS = ("local-echo", "local-slow", "local-long", "local-fail-mid-stream", "local-drop-mid-stream")
_HTTP_MODEL = re.compile(r"local-http-([1-5][0-9][0-9])")
_TOKEN = re.compile(r"\S+\s*")
_KEEPALIVE_S = 1.0
_KEPT_REQUESTS = 1000

_SCRIPT_TEXT = (
    "This answer comes from the local model that stands in for a real one while you develop. "
    "It streams word by word, the way a large language model streams tokens, so that the bot worker, "
    "the pacing of modifications and the interrupt can be watched at work without any network or cost. "
    "Point the bot at Amazon Bedrock or any OpenAI-compatible endpoint to hear a real model instead. "
    "Until then every question gets an answer built from its own words and this short script, the same "
    "answer each time it is asked, which is what the end-to-end tests rely on. "
)
_SCRIPT = _SCRIPT_TEXT.split()
_SHORT_WORDS = 40
# The long answer: long words, so that it passes 12 KB well within a default max_tokens (1,024), and
# characters that JSON escapes (quotes, backslashes, newlines, tabs, non-ASCII), so that its size in a
# Tencent custom message's escaped Data is larger than its own.
_LONG_TEXT = (
    "Internationalization characteristically demonstrates “interoperability” between heterogeneous\n"
    'components: "quoted" back\\slashes, tab\tseparated responsibilities, 中文字符的流式回答, '
    "emoji-bearing 🙂 acknowledgements, extraordinarily comprehensive implementations, "
    "unquestionably incomprehensible telecommunications, electroencephalographically "
    "uncharacteristically counterrevolutionary misunderstandings.\n\n"
)
_LONG_WORDS = _LONG_TEXT.split(" ")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # ~44 tokens: about 2 s at 50 ms, long enough to show a first message, modifications and the final.
    token_delay_ms: float = Field(default=50.0, ge=0, le=60_000)
    first_token_delay_ms: float = Field(default=0.0, ge=0, le=600_000)
    slow_token_delay_ms: float = Field(default=250.0, ge=0, le=60_000)
    long_token_delay_ms: float = Field(default=1.0, ge=0, le=60_000)
    long_answer_bytes: int = Field(default=14_000, ge=1, le=10_000_000)
    fail_after_tokens: int = Field(default=5, ge=0, le=1_000_000)
    api_key: str | None = None


def question_of(messages: Any) -> str:
    """The last user message's text (a string, or OpenAI's list of text parts); ValueError if malformed."""
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValueError("messages must be a list of objects")
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list) and all(isinstance(p, dict) for p in content):
            return "".join(p["text"] for p in content if p.get("type") == "text" and isinstance(p.get("text"), str))
        raise ValueError("a user message's content must be a string or a list of parts")
    return ""


def expected_answer(
    question: str, model: str = "local-echo", settings: Settings | None = None, max_tokens: int | None = None
) -> str:
    """The whole text the model streams for ``question`` (for the failing models, what it sends before
    the failure)."""
    return "".join(answer_tokens(question, model, settings, max_tokens))


def answer_tokens(
    question: str, model: str = "local-echo", settings: Settings | None = None, max_tokens: int | None = None
) -> list[str]:
    settings = settings or Settings()
    question = question.strip()
    opening = f"You said: “{question}”. " if question else "You said nothing. "
    script = _LONG_WORDS if model == "local-long" else _SCRIPT
    start = int.from_bytes(hashlib.sha256(question.encode()).digest()[:4], "big") % len(script)
    words: list[str] = []
    size = len(opening.encode())
    index = start
    while (size <= settings.long_answer_bytes) if model == "local-long" else (len(words) < _SHORT_WORDS):
        word = script[index % len(script)]
        words.append(word)
        size += len(word.encode()) + 1
        index += 1
    tokens = _TOKEN.findall(opening + " ".join(words))
    if model in ("local-fail-mid-stream", "local-drop-mid-stream"):
        tokens = tokens[: settings.fail_after_tokens]
    return tokens[:max_tokens] if max_tokens is not None else tokens


def _token_delay_s(model: str, settings: Settings) -> float:
    delay = {"local-slow": settings.slow_token_delay_ms, "local-long": settings.long_token_delay_ms}
    return delay.get(model, settings.token_delay_ms) / 1000


class _Gone(Exception):
    """The client went away."""


class _Record:
    """One request's generation, as the stats show it."""

    def __init__(self, number: int, model: str, stream: bool) -> None:
        self.number = number
        self.model = model
        self.stream = stream
        self.started_at = time.time()
        self.token_times: list[float] = []
        self.tokens_after_disconnect = 0
        self.outcome = "running"
        self.ended_at: float | None = None

    def as_json(self, times: bool) -> dict[str, Any]:
        return {
            "request": self.number,
            "model": self.model,
            "stream": self.stream,
            "started_at": self.started_at,
            "tokens": len(self.token_times),
            **({"token_times": list(self.token_times)} if times else {}),
            "tokens_after_disconnect": self.tokens_after_disconnect,
            "outcome": self.outcome,
            "ended_at": self.ended_at,
        }


class ModelServer:
    """Binds its port when created (0 picks a free one); serves once started."""

    def __init__(self, settings: Settings | None = None, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> None:
        self._settings = settings or Settings()
        self._lock = threading.Lock()
        self._records: deque[_Record] = deque(maxlen=_KEPT_REQUESTS)
        self._count = 0
        self.stopping = threading.Event()
        self._server = _Server(host, port, _Handler, name="model-server", poll_interval=0.05)
        self._server.model = self
        self.url = self._server.url
        self.base_url = self.url + "/v1"

    def start(self) -> ModelServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # ends the delays of answers in progress at once
        self._server.stop()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def settings(self) -> Settings:
        return self._settings

    def configure(self, **changes: Any) -> Settings:
        """Change some settings (raises pydantic's ValidationError naming the bad fields)."""
        with self._lock:
            self._settings = Settings.model_validate({**self._settings.model_dump(), **changes})
            return self._settings

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def stats(self, times: bool = False) -> dict[str, Any]:
        """Per request, and totals; ``times``: with each token's time (``time.time()``)."""
        with self._lock:
            requests = [record.as_json(times) for record in self._records]
        return {
            "requests": requests,
            "totals": {
                "requests": len(requests),
                "tokens": sum(r["tokens"] for r in requests),
                "tokens_after_disconnect": sum(r["tokens_after_disconnect"] for r in requests),
                "running": sum(r["outcome"] == "running" for r in requests),
            },
        }

    def _record(self, model: str, stream: bool) -> _Record:
        with self._lock:
            self._count += 1
            record = _Record(self._count, model, stream)
            self._records.append(record)
            return record


class _Server(LocalHTTPServer):
    model: ModelServer


class _Handler(LocalHTTPHandler):
    server: _Server
    server_version = "local-model"
    error_field = "error"

    def _dispatch(self) -> None:
        raw = self.read_body()
        if raw is None:
            return
        path, query = self.target()
        try:
            if path == "/v1/chat/completions" and self.command == "POST":
                self._completions(raw)
            elif path == "/v1/models" and self.command == "GET":
                data = [{"id": name, "object": "model", "owned_by": "local"} for name in MODELS]
                self._send_json(200, {"object": "list", "data": data})
            elif path.startswith("/_model/"):
                self._control(path.removeprefix("/_model/").strip("/"), query, raw)
            else:
                self._error(404, "not found: the API is POST /v1/chat/completions", "invalid_request_error", None)
        except _Gone:
            self.close_connection = True
        except Exception:
            # A bug of this server: the connection may be mid-answer, so it is closed, not answered.
            log.exception("model server error on %s %s", self.command, path)
            self.close_connection = True

    do_GET = do_POST = _dispatch

    # ------------------------------------------------------------------ answers

    def _completions(self, raw: bytes) -> None:
        model_server = self.server.model
        settings = model_server.settings()
        if settings.api_key is not None and self.headers.get("authorization") != f"Bearer {settings.api_key}":
            self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            model = body.get("model")
            if not isinstance(model, str):
                raise ValueError("model must be a string")
            question = question_of(body.get("messages"))
            stream = body.get("stream", False)
            max_tokens = body.get("max_tokens")
            positive = isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0
            if not isinstance(stream, bool) or not (max_tokens is None or positive):
                raise ValueError("stream must be a boolean and max_tokens a positive integer")
        except ValueError as exc:
            self._error(400, str(exc), "invalid_request_error", None)
            return
        if status := _HTTP_MODEL.fullmatch(model):
            code = int(status.group(1))
            self._error(code, f"the local model answers HTTP {code}", "local_error", f"http_{code}")
            return
        if model not in MODELS:
            self._error(404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found")
            return
        tokens = answer_tokens(question, model, settings)
        finish_reason = "stop"
        if max_tokens is not None and len(tokens) > max_tokens:
            tokens, finish_reason = tokens[:max_tokens], "length"
        record = model_server._record(model, stream)
        try:
            with selectors.DefaultSelector() as self._selector:
                # A closed connection turns readable (EOF or reset): waits end on it at once.
                self._selector.register(self.connection, selectors.EVENT_READ)
                if stream:
                    self._stream(record, model, tokens, finish_reason, settings)
                else:
                    self._whole(record, model, tokens, finish_reason, settings)
        except _Gone:
            record.outcome = "stopped" if model_server.stopping.is_set() else "disconnected"
            raise
        except Exception:
            record.outcome = "error"
            raise
        finally:
            record.ended_at = time.time()

    def _whole(self, record: _Record, model: str, tokens: list[str], finish: str, settings: Settings) -> None:
        self._generate(record, model, tokens, settings, emit=None)
        if model in ("local-fail-mid-stream", "local-drop-mid-stream"):
            record.outcome = "failed"
            self._error(500, "The model failed in the middle of the answer.", "server_error", "local_failure")
            return
        record.outcome = "finished"  # before the answer leaves: whoever reads it sees the record complete
        answer = "".join(tokens)
        self._send_json(
            200,
            {
                **_envelope(record, model, "chat.completion"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 0, "completion_tokens": len(tokens), "total_tokens": len(tokens)},
            },
        )

    def _stream(self, record: _Record, model: str, tokens: list[str], finish: str, settings: Settings) -> None:
        self.send_response_only(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._chunk(b": local model\n\n")
        chunk = _envelope(record, model, "chat.completion.chunk")

        def event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return b"data: " + json.dumps({**chunk, "choices": [choice]}, ensure_ascii=False).encode() + b"\n\n"

        self._chunk(event({"role": "assistant", "content": ""}))
        self._generate(record, model, tokens, settings, emit=lambda token: self._chunk(event({"content": token})))
        if model == "local-drop-mid-stream":
            record.outcome = "failed"
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if model == "local-fail-mid-stream":
            record.outcome = "failed"
            error = {"message": "The model failed in the middle of the answer.", "type": "server_error"}
            self._chunk(b"data: " + json.dumps({"error": {**error, "code": "local_failure"}}).encode() + b"\n\n")
        else:
            record.outcome = "finished"  # before the end leaves: whoever reads it sees the record complete
            self._chunk(event({}, finish))
            self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")  # the last chunk: the response is complete

    def _generate(self, record: _Record, model: str, tokens: list[str], settings: Settings, emit: Any) -> None:
        """Produces the tokens at the configured pace, stopping when the client leaves."""
        first_wait = settings.first_token_delay_ms / 1000
        while first_wait > 0:
            step = min(first_wait, _KEEPALIVE_S)
            self._wait(step)
            first_wait -= step
            if first_wait > 0 and emit is not None:
                self._chunk(b": keep-alive\n\n")
        delay = _token_delay_s(model, settings)
        for index, token in enumerate(tokens):
            if index:
                self._wait(delay)
            elif self._gone():
                raise _Gone
            record.token_times.append(time.time())
            if emit is not None:
                try:
                    emit(token)
                except _Gone:
                    record.tokens_after_disconnect += 1
                    raise

    def _wait(self, seconds: float) -> None:
        """Waits ``seconds``, or less if the client leaves (then raises _Gone) or the server stops."""
        deadline = time.monotonic() + seconds
        while True:
            if self.server.model.stopping.is_set():
                raise _Gone
            left = deadline - time.monotonic()
            if self._selector.select(max(0.0, min(left, 0.1))):
                if self._gone():
                    raise _Gone
                # Bytes from the client (a pipelined request) are no departure: wait without spinning.
                self.server.model.stopping.wait(max(0.0, min(left, 0.1)))
            if left <= 0:
                return

    def _gone(self) -> bool:
        """Whether the client has closed its end (it sends nothing else while it reads the answer)."""
        try:
            # Readable first: the socket has a timeout, so a recv would wait for data.
            return bool(self._selector.select(0)) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        except OSError as exc:
            raise _Gone from exc

    # ------------------------------------------------------------------ control and errors

    def _control(self, action: str, query: str, raw: bytes) -> None:
        model_server = self.server.model
        if action == "stats" and self.command == "GET":
            self._send_json(200, model_server.stats(times="times=1" in query.split("&")))
        elif action == "reset" and self.command == "POST":
            model_server.reset()
            self._send_json(200, {"reset": True})
        elif action == "config" and self.command == "GET":
            self._send_json(200, model_server.settings().model_dump())
        elif action == "config" and self.command == "POST":
            try:
                changes = json.loads(raw or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object of settings")
                self._send_json(200, model_server.configure(**changes).model_dump())
            except ValidationError as exc:
                fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
                self._send_json(400, {"error": f"invalid settings: {', '.join(fields)}"})
            except ValueError as exc:
                self._send_json(400, {"error": str(exc)})
        else:
            self._send_json(404, {"error": "control: GET stats, POST reset, GET/POST config under /_model/"})

    def _error(self, status: int, message: str, kind: str, code: str | None) -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})

    def _send_json(self, status: int, body: Any) -> None:
        try:
            self.respond(status, JSON_HEADERS, json.dumps(body, ensure_ascii=False).encode())
        except OSError as exc:
            raise _Gone from exc


def _envelope(record: _Record, model: str, kind: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-local-{record.number}", "object": kind, "created": int(record.started_at), "model": model}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.model_server", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--token-delay-ms", type=float, default=Settings().token_delay_ms)
    parser.add_argument("--first-token-delay-ms", type=float, default=Settings().first_token_delay_ms)
    parser.add_argument("--slow-token-delay-ms", type=float, default=Settings().slow_token_delay_ms)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="model-server | %(levelname)s %(message)s", stream=sys.stderr)
    settings = Settings(
        token_delay_ms=args.token_delay_ms,
        first_token_delay_ms=args.first_token_delay_ms,
        slow_token_delay_ms=args.slow_token_delay_ms,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        server = ModelServer(settings, port=args.port)
    except OSError as exc:
        print(f"the model server did not start: {exc} (--port chooses another port)", file=sys.stderr)
        return 1
    with server:
        print(f"local model on {server.base_url} (OpenAI-compatible; models: {', '.join(MODELS)}, local-http-<status>)")
        print(f"  control   {server.url}/_model/stats, /config, /reset")
        sys.stdout.flush()
        stopping.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
