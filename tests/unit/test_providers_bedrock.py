"""The Bedrock provider through botocore, offline (moto does not emulate ConverseStream).

* Errors before the stream: botocore's Stubber.
* Streams: the Stubber cannot carry one (its response validator requires a dict where botocore puts an
  ``EventStream``), so a ``before-send`` hook answers with the bytes of a real event stream
  (application/vnd.amazon.eventstream) and botocore's own parser decodes them, exception events included.
* Closing from another thread: a loopback HTTP server streams those bytes slowly over a real socket.
"""

from __future__ import annotations

import binascii
import json
import select
import socket
import struct
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from local.http import LocalHTTPHandler, LocalHTTPServer
from timkit.chatbot import providers
from timkit.chatbot.providers import Bedrock, ChatMessage, Generation, ProviderError

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [ChatMessage(role="user", content="Hi"), ChatMessage(role="assistant", content="Hello"),
            ChatMessage(role="user", content="How are you?")]  # fmt: skip
EXPECTED_REQUEST = {
    "modelId": MODEL,
    "messages": [
        {"role": "user", "content": [{"text": "Hi"}]},
        {"role": "assistant", "content": [{"text": "Hello"}]},
        {"role": "user", "content": [{"text": "How are you?"}]},
    ],
    "system": [{"text": "Be brief."}],
    "inferenceConfig": {"temperature": 0.3, "maxTokens": 200},
}
SECRET_BODY = "an account detail that must not reach the user or the logs"


def client(endpoint_url: str | None = None) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def open_stream(bedrock: Bedrock, system: str = "Be brief.") -> Any:
    return bedrock.stream(
        Generation(system=system, messages=MESSAGES, model=MODEL, temperature=0.3, max_tokens=200, timeout=5)
    )


def run(bedrock: Bedrock) -> tuple[list[str], ProviderError | None]:
    deltas: list[str] = []
    try:
        for delta in open_stream(bedrock):
            deltas.append(delta)
    except ProviderError as exc:
        return deltas, exc
    return deltas, None


# ------------------------------------------------------------------ the event stream encoding
# https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html (the same framing):
# total length, headers length, prelude CRC32, headers (name, type 7 = string, value), payload, CRC32.


def _message(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


def event(kind: str, body: dict[str, Any]) -> bytes:
    headers = {":message-type": "event", ":event-type": kind, ":content-type": "application/json"}
    return _message(headers, json.dumps(body).encode())


def exception(kind: str, message: str = SECRET_BODY) -> bytes:
    headers = {":message-type": "exception", ":exception-type": kind, ":content-type": "application/json"}
    return _message(headers, json.dumps({"message": message}).encode())


def delta(text: str) -> bytes:
    return event("contentBlockDelta", {"delta": {"text": text}, "contentBlockIndex": 0})


START = event("messageStart", {"role": "assistant"})
METADATA = event(
    "metadata", {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}, "metrics": {"latencyMs": 9}}
)


def stop(reason: str = "end_turn") -> bytes:
    return event("contentBlockStop", {"contentBlockIndex": 0}) + event("messageStop", {"stopReason": reason})


class _Raw:
    """What botocore reads an HTTP body from: ``stream()`` (cut in 7-byte pieces) and ``close()``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.closed = False

    def stream(self, amt: int = 1024, **_: Any) -> Iterator[bytes]:
        for i in range(0, len(self.data), 7):
            if self.closed:
                return
            yield self.data[i : i + 7]

    def close(self) -> None:
        self.closed = True


class Wire:
    """Answers ConverseStream with given bytes, keeping the requests' bodies."""

    def __init__(self, data: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.client = client()
        self.raw = _Raw(data)
        self.status = status
        self.headers = headers or {"content-type": "application/vnd.amazon.eventstream"}
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.client.meta.events.register("before-send.bedrock-runtime.ConverseStream", self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        self.paths.append(request.url)
        self.bodies.append(json.loads(request.body))
        return AWSResponse(request.url, self.status, self.headers, self.raw)


# ------------------------------------------------------------------ answers


def test_an_answer_streams_its_text_deltas_and_the_request_has_system_messages_and_inference_config() -> None:
    wire = Wire(START + delta("Fine, ") + delta("thank ") + delta("you.") + stop() + METADATA)
    assert run(Bedrock(wire.client)) == (["Fine, ", "thank ", "you."], None)
    (body,) = wire.bodies
    assert body == {k: v for k, v in EXPECTED_REQUEST.items() if k != "modelId"}
    assert wire.paths[0].endswith("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream")
    assert wire.raw.closed


def test_no_system_prompt_sends_no_system_block_and_nothing_is_sent_before_iteration() -> None:
    wire = Wire(START + delta("a") + stop())
    s = open_stream(Bedrock(wire.client), system="")
    assert wire.bodies == []
    assert list(s) == ["a"]
    assert "system" not in wire.bodies[0]


def test_max_tokens_stop_is_a_whole_answer() -> None:
    assert run(Bedrock(Wire(START + delta("cut") + stop("max_tokens")).client)) == (["cut"], None)


@pytest.mark.parametrize("reason", ["content_filtered", "guardrail_intervened"])
def test_a_filtered_stop_is_content_filter_after_what_was_said(reason: str) -> None:
    deltas, error = run(Bedrock(Wire(START + delta("Well, ") + stop(reason)).client))
    assert deltas == ["Well, "] and error is not None and error.kind == "content_filter"


@pytest.mark.parametrize(
    ("kind_event", "kind"),
    [
        ("modelStreamErrorException", "broken"),
        ("throttlingException", "throttled"),
        ("internalServerException", "unavailable"),
        ("serviceUnavailableException", "unavailable"),
        ("validationException", "config"),
    ],
)
def test_an_exception_event_mid_stream_fails_after_what_was_said(kind_event: str, kind: str) -> None:
    wire = Wire(START + delta("Half ") + delta("an ") + exception(kind_event) + delta("never"))
    deltas, error = run(Bedrock(wire.client))
    assert deltas == ["Half ", "an "]
    assert error is not None and error.kind == kind
    assert SECRET_BODY not in "".join(traceback.format_exception(error))
    assert error.user_text == ProviderError.USER_TEXT[kind]
    assert wire.raw.closed


@pytest.mark.parametrize("cut", [5, 0], ids=["inside-an-event", "between-events"])
def test_a_stream_that_ends_before_message_stop_is_broken(cut: int) -> None:
    # botocore's decoder ends quietly on both: only the missing messageStop tells.
    data = START + delta("ok") + delta("lost")
    deltas, error = run(Bedrock(Wire(data[: len(data) - cut]).client))
    assert deltas[0] == "ok" and error is not None and error.kind == "broken"


def test_an_http_error_is_parsed_by_botocore_and_mapped() -> None:
    headers = {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/"}
    wire = Wire(json.dumps({"message": SECRET_BODY}).encode(), status=429, headers=headers)
    deltas, error = run(Bedrock(wire.client))
    assert deltas == [] and error is not None and error.kind == "throttled"
    assert SECRET_BODY not in str(error)


# ------------------------------------------------------------------ errors before the stream (Stubber)


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ThrottlingException", 429, "throttled"),
        ("ServiceQuotaExceededException", 400, "throttled"),
        ("AccessDeniedException", 403, "auth"),
        ("UnrecognizedClientException", 403, "auth"),
        ("ValidationException", 400, "config"),
        ("ResourceNotFoundException", 404, "config"),
        ("ModelTimeoutException", 408, "timeout"),
        ("ModelNotReadyException", 429, "unavailable"),
        ("ModelErrorException", 424, "unavailable"),
        ("InternalServerException", 500, "unavailable"),
        ("ServiceUnavailableException", 503, "unavailable"),
        ("SomethingNewException", 400, "unavailable"),
    ],
)
def test_api_errors_map_by_their_code(code: str, status: int, kind: str) -> None:
    stubbed = client()
    with Stubber(stubbed) as stubber:
        stubber.add_client_error(
            "converse_stream",
            service_error_code=code,
            service_message=SECRET_BODY,
            http_status_code=status,
            expected_params=EXPECTED_REQUEST,
        )
        deltas, error = run(Bedrock(stubbed))
        stubber.assert_no_pending_responses()
    assert deltas == [] and error is not None and error.kind == kind
    assert SECRET_BODY not in "".join(traceback.format_exception(error))


def test_the_default_client_is_built_once_per_timeout_in_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "_bedrock_clients", {})
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    first, again, other = providers._bedrock_client(5.0), providers._bedrock_client(5.0), providers._bedrock_client(9.0)
    assert first is again and other is not first
    assert (first.meta.config.read_timeout, other.meta.config.read_timeout) == (5.0, 9.0)
    assert first.meta.region_name == "eu-west-1"


def test_no_region_is_a_configuration_error_raised_by_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "_bedrock_clients", {})
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    s = open_stream(Bedrock())  # building the client waits for the reader
    with pytest.raises(ProviderError) as err:
        list(s)
    assert err.value.kind == "config"


def test_missing_credentials_are_auth() -> None:
    unsigned = client()
    unsigned._request_signer._credentials = None  # what an environment without credentials gives
    deltas, error = run(Bedrock(unsigned))
    assert deltas == [] and error is not None and error.kind == "auth"


# ------------------------------------------------------------------ closing


def test_closing_before_iteration_sends_nothing_and_mid_stream_ends_quietly() -> None:
    wire = Wire(START + delta("a") + delta("b") + stop())
    s = open_stream(Bedrock(wire.client))
    s.close()
    assert list(s) == [] and wire.bodies == []

    wire = Wire(START + delta("a") + delta("b") + exception("modelStreamErrorException") + stop())
    s = open_stream(Bedrock(wire.client))
    iterator = iter(s)
    assert next(iterator) == "a"
    s.close()
    assert list(iterator) == [] and wire.raw.closed


class _SlowBedrock(LocalHTTPServer):
    """Streams one delta, then one more every ``gap`` seconds, noting whether the client left first."""

    frames = [START, delta("first ")] + [delta(f"w{i} ") for i in range(5)]
    gap = 5.0

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0, _SlowHandler, name="slow-bedrock", poll_interval=0.05)
        self.sent = 0
        self.left = threading.Event()


class _SlowHandler(LocalHTTPHandler):
    server: _SlowBedrock

    def do_POST(self) -> None:
        self.read_body()
        self.send_response_only(200)
        self.send_header("content-type", "application/vnd.amazon.eventstream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for index, frame in enumerate(self.server.frames):
            if index > 1:
                readable, _, _ = select.select([self.connection], [], [], self.server.gap)
                if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                    self.server.left.set()
                    self.close_connection = True
                    return
            self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            self.wfile.flush()
            self.server.sent += 1


def test_close_from_another_thread_wakes_a_reader_blocked_on_the_socket() -> None:
    server = _SlowBedrock()
    server.start()
    try:
        s = open_stream(Bedrock(client(server.url)))
        got: list[str] = []
        first = threading.Event()
        failures: list[BaseException] = []

        def read() -> None:
            try:
                for text in s:
                    got.append(text)
                    first.set()
            except BaseException as exc:
                failures.append(exc)
            first.set()

        reader = threading.Thread(target=read)
        reader.start()
        assert first.wait(30)
        s.close()  # the reader is blocked reading the socket: the next frame is seconds away
        reader.join(30)
        assert not reader.is_alive() and failures == [] and got == ["first "]
        # The server saw the client leave before it sent anything more: the connection was really closed,
        # not left until the next frame arrived.
        assert server.left.wait(30) and server.sent == 2
    finally:
        server.stop()
