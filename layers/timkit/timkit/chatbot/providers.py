"""One streaming interface over the team's model; implementations below (contract first).

A provider turns a conversation into a :class:`TextStream` of text deltas. Closing the stream closes
the connection to the model, so that generation (and what it costs) stops. Every failure is a
:class:`ProviderError` whose ``kind`` says what went wrong; its message is for logs (it never holds a
key, a stack trace or the provider's response body), and ``user_text`` is the short, safe text the
user is shown.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import boto3
import requests
import requests.adapters
import urllib3.exceptions
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)
from pydantic import BaseModel, ConfigDict

FailureKind = Literal["timeout", "throttled", "auth", "content_filter", "broken", "config", "unavailable"]


class ChatMessage(BaseModel):
    """One turn of the conversation sent as context (the system prompt travels apart)."""

    model_config = ConfigDict(frozen=True)

    role: Literal["user", "assistant"]
    content: str


class ProviderError(Exception):
    """The model could not answer (or stopped answering)."""

    USER_TEXT: dict[str, str] = {
        "timeout": "The assistant took too long to answer. Please try again.",
        "throttled": "The assistant is busy right now. Please try again in a moment.",
        "auth": "The assistant is not available right now.",
        "content_filter": "The assistant cannot answer this request.",
        "broken": "The answer was interrupted. Please try again.",
        "config": "The assistant is not available right now.",
        "unavailable": "The assistant is not available right now.",
    }

    def __init__(self, kind: FailureKind, detail: str) -> None:
        self.kind: FailureKind = kind
        super().__init__(f"{kind}: {detail}")

    @property
    def user_text(self) -> str:
        return self.USER_TEXT[self.kind]


class TextStream(Protocol):
    """Text deltas as the model produces them; iteration raises :class:`ProviderError` on failure.
    ``close()`` (safe to call from another thread, and more than once) stops generation."""

    def __iter__(self) -> Iterator[str]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Generation:
    """What a provider is asked to generate. ``timeout``: seconds to wait for the first byte and
    between bytes."""

    system: str
    messages: list[ChatMessage]
    model: str
    temperature: float
    max_tokens: int
    timeout: float


class Provider(Protocol):
    def stream(self, request: Generation) -> TextStream:
        """Start generating."""
        ...


# ---------------------------------------------------------------------------------------------------
# Implementations
# ---------------------------------------------------------------------------------------------------

# A hostile or broken endpoint could send one endless line: past this, the stream is broken.
MAX_SSE_LINE = 1024 * 1024
_EOL = re.compile(rb"\r\n|\r|\n")
_READ_SIZE = 64 * 1024
# Error codes and types from a provider's error object are kept for the logs when they look like an
# identifier; anything else in the body (messages may echo the prompt or a key prefix) is dropped.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True)
class SseEvent:
    type: str  # "message" unless an ``event:`` field named it
    data: str


def sse_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines of an event stream as bytes arrive, split on CRLF, LF or CR (WHATWG HTML §9.2.6). A line
    left unfinished at the end is dropped, as the standard drops an unfinished event."""
    pending = bytearray()
    for chunk in chunks:
        had_cr = pending.endswith(b"\r")
        pending += chunk
        # Only a chunk that may end a line is split: a long line arriving in small pieces stays linear.
        if had_cr or b"\n" in chunk or b"\r" in chunk:
            # A CR at the end may be the first half of a CRLF cut by the network: wait for the next byte.
            held = pending.endswith(b"\r")
            lines = _EOL.split(pending[:-1] if held else pending)
            pending = bytearray(lines.pop()) + (b"\r" if held else b"")
            yield from (bytes(line) for line in lines)
        if len(pending) > MAX_SSE_LINE:
            raise ProviderError("broken", "event stream line too long")
    if pending.endswith(b"\r"):
        yield bytes(pending[:-1])


def sse_events(chunks: Iterable[bytes]) -> Iterator[SseEvent]:
    """The events of a ``text/event-stream`` body (WHATWG HTML §9.2.6): ``data:`` lines joined by
    newlines, a blank line ends an event, lines starting with ``:`` are comments (keep-alives), ``id``
    and ``retry`` are ignored (a model's answer is never resumed), an unfinished event at the end is
    dropped."""
    data: list[str] = []
    size = 0
    event_type = ""
    first = True
    for raw in sse_lines(chunks):
        line = raw.decode("utf-8", errors="replace")
        if first:
            line = line.removeprefix("\ufeff")
            first = False
        if not line:
            if data:
                yield SseEvent(event_type or "message", "\n".join(data))
            data, size, event_type = [], 0, ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            size += len(value)
            if size > MAX_SSE_LINE:
                raise ProviderError("broken", "event stream event too long")
            data.append(value)
        elif name == "event":
            event_type = value


def _identifier(value: object) -> str | None:
    return value if isinstance(value, str) and _IDENTIFIER.fullmatch(value) else None


def _kind_for_status(status: int) -> FailureKind:
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "throttled"
    if status in (408, 504):
        return "timeout"
    if status >= 500:
        return "unavailable"
    # 400, 404, 422...: the request as configured (model name, parameters, URL) is refused.
    return "config"


def _error_object_kind(error: dict[str, Any]) -> tuple[FailureKind, str]:
    """The kind of an OpenAI-style ``{"error": {"type", "code", "message"}}`` and a safe description."""
    labels = [label for label in (_identifier(error.get("type")), _identifier(error.get("code"))) if label]
    text = " ".join(labels).lower()
    kind: FailureKind = "broken"
    if "rate_limit" in text or "quota" in text or "overloaded" in text:
        kind = "throttled"
    elif "auth" in text or "api_key" in text or "permission" in text:
        kind = "auth"
    elif "content_filter" in text or "content_policy" in text:
        kind = "content_filter"
    elif "timeout" in text:
        kind = "timeout"
    return kind, "error event " + (",".join(labels) or "without a code")


def _shutdown(raw: object) -> None:
    """Ends a read blocked in another thread: closing a socket does not wake a thread blocked reading
    it, shutting it down does (urllib3 ≥ 2.3 ``HTTPResponse.shutdown``)."""
    shutdown = getattr(raw, "shutdown", None)
    if shutdown is not None:
        with contextlib.suppress(Exception):
            shutdown()


class _StoppableStream:
    """What both streams share: ``close()``, from any thread, marks the stream closed and stops the
    model's connection, shutting its socket down so that a reader blocked on it wakes."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        self._connection: Any = None
        self._deltas = self._generate()

    def __iter__(self) -> Iterator[str]:
        return self._deltas

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connection = self._connection
        if connection is not None:
            self._stop(connection)

    def _attach(self, connection: Any) -> bool:
        """Keeps the opened connection for close(); False (and the connection stopped) when close()
        came first."""
        with self._lock:
            if not self._closed:
                self._connection = connection
                return True
        self._stop(connection)
        return False

    def _stop(self, connection: Any) -> None:
        _shutdown(self._socket_of(connection))
        with contextlib.suppress(Exception):  # the reader may be closing it too
            connection.close()

    def _socket_of(self, connection: Any) -> object:
        raise NotImplementedError

    def _generate(self) -> Iterator[str]:
        raise NotImplementedError


_shared_session: requests.Session | None = None
_shared_lock = threading.Lock()


def _default_session() -> requests.Session:
    """One session per process, so that the worker's concurrent streams reuse connections."""
    global _shared_session
    with _shared_lock:
        if _shared_session is None:
            session = requests.Session()
            # A worker streams many turns at once: keep a connection for each (the default keeps 10).
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=64)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _shared_session = session
        return _shared_session


class OpenAICompatible:
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI, DeepSeek, Hunyuan, vLLM,
    Ollama...), streamed as server-sent events. ``api_key`` is asked for each stream, so a rotated key
    is picked up; None (or a None key) sends no ``Authorization`` header."""

    def __init__(
        self,
        base_url: str,
        api_key: Callable[[], str | None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._session = session

    def stream(self, request: Generation) -> TextStream:
        """Nothing is sent until iteration starts: the request, and every failure, belong to the
        reader."""
        body = {
            "model": request.model,
            "messages": ([{"role": "system", "content": request.system}] if request.system else [])
            + [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        headers = {"accept": "text/event-stream"}
        session = self._session or _default_session()
        return _SseTextStream(session, self._url, body, headers, self._api_key, request.timeout)


class _SseTextStream(_StoppableStream):
    def __init__(
        self,
        session: requests.Session,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        api_key: Callable[[], str | None] | None,
        timeout: float,
    ) -> None:
        self._session = session
        self._url = url
        self._body = body
        self._headers = headers
        self._api_key = api_key
        super().__init__(timeout)

    def _socket_of(self, connection: Any) -> object:
        return connection.raw

    def _open(self) -> requests.Response | None:
        headers = dict(self._headers)
        try:
            key = self._api_key() if self._api_key is not None else None
        except ProviderError:
            raise
        except Exception as exc:
            # The caller's secret lookup: its message may name what it read, so only the class is kept.
            raise ProviderError("unavailable", f"API key lookup failed ({type(exc).__name__})") from None
        if key:
            headers["authorization"] = f"Bearer {key}"
        try:
            response = self._session.post(
                self._url, json=self._body, headers=headers, stream=True, timeout=(self._timeout, self._timeout)
            )
        except requests.exceptions.ConnectTimeout:
            raise ProviderError("unavailable", "connection timed out") from None
        except requests.Timeout:
            raise ProviderError("timeout", "no answer within the timeout") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema):
            raise ProviderError("config", "invalid base URL") from None
        except requests.RequestException as exc:
            # requests' messages quote the URL: the exception's class is enough for the logs.
            raise ProviderError("unavailable", f"connection failed ({type(exc).__name__})") from None
        if not self._attach(response):
            return None
        if response.status_code >= 300:
            response.close()
            raise ProviderError(_kind_for_status(response.status_code), f"HTTP {response.status_code}")
        return response

    def _chunks(self, response: requests.Response) -> Iterator[bytes]:
        raw = response.raw
        try:
            # read1: whatever has arrived, without waiting to fill a buffer (chunked or not).
            while chunk := raw.read1(_READ_SIZE, decode_content=True):
                yield chunk
        except urllib3.exceptions.ReadTimeoutError:
            raise ProviderError("timeout", "no data within the timeout") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ProviderError("broken", f"connection lost ({type(exc).__name__})") from None

    def _generate(self) -> Iterator[str]:
        if self._closed:
            return
        response = None
        finished = False
        try:
            response = self._open()
            if response is None:
                return
            for event in sse_events(self._chunks(response)):
                if event.data == "[DONE]":
                    return
                text, finish_reason = self._parse(event)
                if text:
                    yield text
                if finish_reason == "content_filter":
                    raise ProviderError("content_filter", "finish_reason content_filter")
                finished = finished or finish_reason is not None
            # Without [DONE], an answer is whole only if the model said why it stopped.
            if not finished:
                raise ProviderError("broken", "the stream ended before [DONE]")
        except Exception as exc:
            if self._closed:
                return  # the reader asked to stop: what the closed connection raised is not a failure
            if isinstance(exc, ProviderError):
                raise
            # Iteration raises only ProviderError (the contract).
            raise ProviderError("broken", f"unexpected {type(exc).__name__}") from None
        finally:
            if response is not None:
                response.close()

    @staticmethod
    def _parse(event: SseEvent) -> tuple[str, str | None]:
        """The text and finish reason of one ``chat.completion.chunk``."""
        try:
            chunk = json.loads(event.data)
        except ValueError:
            raise ProviderError("broken", "an event is not JSON") from None
        if not isinstance(chunk, dict):
            raise ProviderError("broken", "an event is not a JSON object")
        error = chunk.get("error")
        if event.type == "error" or error is not None:
            kind, detail = _error_object_kind(error if isinstance(error, dict) else {})
            raise ProviderError(kind, detail)
        choices = chunk.get("choices") or []  # none (or null) in a usage-only chunk
        if not isinstance(choices, list):
            raise ProviderError("broken", "choices is not a list")
        # n is 1: the first choice is the answer (a usage-only chunk has none).
        choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None)
        if choice is None:
            if choices:
                raise ProviderError("broken", "no choice 0 in a chunk")
            return "", None
        delta = choice.get("delta") or {}
        finish_reason = choice.get("finish_reason")
        if not isinstance(delta, dict) or not (finish_reason is None or isinstance(finish_reason, str)):
            raise ProviderError("broken", "malformed choice")
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            raise ProviderError("broken", "delta content is not a string")
        return content or "", finish_reason


# Bedrock: error codes (an API error's, or an exception event's in the stream: the same names with a
# lower-case first letter) → kinds. https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
_BEDROCK_KINDS: dict[str, FailureKind] = {
    "throttlingexception": "throttled",
    "servicequotaexceededexception": "throttled",
    "accessdeniedexception": "auth",
    "unrecognizedclientexception": "auth",
    "expiredtokenexception": "auth",
    "validationexception": "config",
    "resourcenotfoundexception": "config",
    "modeltimeoutexception": "timeout",
    "modelstreamerrorexception": "broken",
    "internalserverexception": "unavailable",
    "serviceunavailableexception": "unavailable",
    "modelnotreadyexception": "unavailable",
    "modelerrorexception": "unavailable",
}
# messageStop.stopReason values that mean the answer was withheld, not finished.
_BEDROCK_FILTERED = frozenset({"content_filtered", "guardrail_intervened"})

_bedrock_clients: dict[float, Any] = {}
_bedrock_lock = threading.Lock()


def _bedrock_client(timeout: float) -> Any:
    """One client per read timeout (boto3 sets it per client), built once: clients are thread-safe,
    building one is slow and not."""
    with _bedrock_lock:
        client = _bedrock_clients.get(timeout)
        if client is None:
            config = BotoConfig(read_timeout=timeout, connect_timeout=min(timeout, 10.0), retries={"mode": "standard"})
            client = _bedrock_clients[timeout] = boto3.client("bedrock-runtime", config=config)
        return client


def _bedrock_error(exc: Exception, started: bool) -> ProviderError:
    if isinstance(exc, ClientError):  # EventStreamError (an exception event) is one too
        code = str(exc.response.get("Error", {}).get("Code", ""))
        kind = _BEDROCK_KINDS.get(code.lower(), "broken" if started else "unavailable")
        return ProviderError(kind, f"bedrock {_identifier(code) or 'error'}")
    # botocore's while waiting for the answer, urllib3's while reading the stream.
    if isinstance(exc, ReadTimeoutError | urllib3.exceptions.ReadTimeoutError):
        return ProviderError("timeout", "bedrock read timed out")
    if isinstance(exc, NoCredentialsError):
        return ProviderError("auth", "no AWS credentials")
    if isinstance(exc, ParamValidationError | NoRegionError):
        return ProviderError("config", f"bedrock client misconfigured ({type(exc).__name__})")
    return ProviderError("broken" if started else "unavailable", f"bedrock {type(exc).__name__}")


class Bedrock:
    """Amazon Bedrock's ConverseStream (``bedrock-runtime``). Without ``client``, one per timeout is
    built from the environment's credentials and region."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def stream(self, request: Generation) -> TextStream:
        """Nothing is sent until iteration starts: the call, and every failure, belong to the reader."""
        converse: dict[str, Any] = {
            "modelId": request.model,
            "messages": [{"role": m.role, "content": [{"text": m.content}]} for m in request.messages],
            "inferenceConfig": {"temperature": request.temperature, "maxTokens": request.max_tokens},
        }
        if request.system:
            converse["system"] = [{"text": request.system}]
        return _BedrockTextStream(self._client, converse, request.timeout)


class _BedrockTextStream(_StoppableStream):
    def __init__(self, client: Any, request: dict[str, Any], timeout: float) -> None:
        self._client = client
        self._request = request
        super().__init__(timeout)

    def _socket_of(self, connection: Any) -> object:
        # botocore keeps the HTTP response as _raw_stream.
        return getattr(connection, "_raw_stream", None)

    def _generate(self) -> Iterator[str]:
        if self._closed:
            return
        try:
            client = self._client or _bedrock_client(self._timeout)
            events = client.converse_stream(**self._request)["stream"]
        except Exception as exc:
            raise _bedrock_error(exc, started=False) from None
        if not self._attach(events):
            return
        stopped = False
        try:
            for event in events:
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"].get("delta", {}).get("text")
                    if text:
                        yield text
                elif "messageStop" in event:
                    stopped = True
                    reason = event["messageStop"].get("stopReason")
                    if reason in _BEDROCK_FILTERED:
                        raise ProviderError("content_filter", f"bedrock stopReason {reason}")
            # botocore ends quietly on a body cut between (or inside) events: only messageStop says the
            # answer is whole.
            if not stopped and not self._closed:
                raise ProviderError("broken", "the stream ended before messageStop")
        except Exception as exc:
            if self._closed:
                return
            if isinstance(exc, ProviderError):
                raise
            raise _bedrock_error(exc, started=True) from None
        finally:
            events.close()


class ProviderSettings(Protocol):
    """What :func:`provider_for` reads of a bot's configuration (``timkit.models.botconfig.BotConfig``)."""

    @property
    def provider(self) -> str: ...

    @property
    def base_url(self) -> str | None: ...

    @property
    def api_key(self) -> str | None: ...


def provider_for(config: ProviderSettings, api_keys: Callable[[str], str | None]) -> Provider:
    """The provider a bot is configured with. ``api_keys`` looks a key up by its name in the chatbot
    secret (called for each stream, never here)."""
    if config.provider == "bedrock":
        return Bedrock()
    if config.provider == "openai":
        if not config.base_url:
            raise ProviderError("config", "an openai provider needs a base URL")
        name = config.api_key
        if not name:
            return OpenAICompatible(config.base_url)

        def api_key() -> str:
            key = api_keys(name)
            if not key:
                raise ProviderError("config", f"no API key named {_identifier(name) or '?'} in the chatbot secret")
            return key

        return OpenAICompatible(config.base_url, api_key)
    raise ProviderError("config", f"unknown provider {_identifier(config.provider) or '?'}")
