"""Fixtures for the emulator's conformance tests: the emulator in this process on a free port with
a fake clock, plain REST calls signed with ``gen_usersig`` (docs/protocol.md §4), and a stand-in for the app's
callback endpoint that records what the emulator sends it and answers what a test tells it to."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from local.tim_emulator import FakeClock, Identity, Seed, SeedGroup, Settings, TimEmulator
from local.tim_emulator.control import EmulatorControl
from local.tim_emulator.control import text_body as text  # noqa: F401 - the tests' one-element text body
from timkit.tim.rest import TimRestClient
from timkit.tim.usersig import gen_usersig

APP = 1400000001
KEY = "emulator-test-key-0123456789abcdef0123456789abcdef"
TOKEN = "emulator-test-callback-token"
ADMIN = "administrator"
START = 1_730_000_000.0
HTTP_TIMEOUT = 5

WORLD = Seed(
    accounts=("alice", "bob", "carol", "dave"),
    robots=("@RBT#assistant", "@RBT#helper"),
    groups=(
        SeedGroup("@TGS#demo", "Demo", "Public", "alice", ("alice", "bob", "carol")),
        SeedGroup("@TGS#other", "Other", "Work", "bob", ("bob", "carol")),
    ),
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[TimEmulator]:
    with TimEmulator(Identity(APP, KEY, ADMIN), Settings(), port=0, clock=clock, seed=WORLD) as running:
        yield running


class Rest:
    """``rest(api, body)`` → the answer's JSON; ``rest.raw(...)`` → the HTTP response."""

    def __init__(self, emulator: TimEmulator, clock: FakeClock) -> None:
        self.emulator = emulator
        self.clock = clock
        self.session = requests.Session()

    def query(self, identifier: str = ADMIN, **overrides: Any) -> dict[str, Any]:
        usersig = gen_usersig(APP, KEY, identifier, expire=86400, now=int(self.clock.now()))
        query = {
            "sdkappid": APP,
            "identifier": identifier,
            "usersig": usersig,
            "random": random.randint(0, 2**32 - 1),
            "contenttype": "json",
        }
        query.update(overrides)
        return {k: v for k, v in query.items() if v is not None}

    def raw(
        self,
        api: str,
        body: Any = None,
        data: bytes | None = None,
        method: str = "POST",
        timeout: float = HTTP_TIMEOUT,
        **query: Any,
    ) -> requests.Response:
        payload = data if data is not None else json.dumps({} if body is None else body).encode()
        return self.session.request(
            method,
            f"{self.emulator.url}/v4/{api}",
            params=self.query(**query),
            data=payload,
            headers={"Content-Type": "application/json"},
            timeout=timeout,
        )

    def __call__(self, api: str, body: Any = None, **query: Any) -> dict[str, Any]:
        response = self.raw(api, body, **query)
        assert response.status_code == 200, response.text
        return response.json()

    def ok(self, api: str, body: Any = None) -> dict[str, Any]:
        answer = self(api, body)
        assert (answer["ActionStatus"], answer["ErrorCode"]) == ("OK", 0), answer
        return answer


@pytest.fixture
def rest(emulator: TimEmulator, clock: FakeClock) -> Iterator[Rest]:
    client = Rest(emulator, clock)
    yield client
    client.session.close()


@pytest.fixture
def tim(emulator: TimEmulator) -> Iterator[EmulatorControl]:
    control = EmulatorControl(emulator.url)
    yield control
    control.close()


# ---------------------------------------------------------------------- the app's callback URL

Answer = Callable[[str, dict[str, Any]], Any]
ACK = {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}


class CallbackServer:
    """Records every callback; answers ``answer(command, body)``: a dict (sent as JSON with 200),
    or ``(status, bytes)``. ``hold(command)`` makes that command wait until ``release()``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answer: Answer = lambda command, body: ACK
        self._lock = threading.Lock()
        self._held: dict[str, threading.Event] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _callback_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/tim/callback"

    def hold(self, command: str) -> threading.Event:
        return self._held.setdefault(command, threading.Event())

    def release(self) -> None:
        for gate in self._held.values():
            gate.set()

    def commands(self) -> list[str]:
        with self._lock:
            return [r["command"] for r in self.received]

    def handle(self, query: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        body = json.loads(raw)
        command = query.get("CallbackCommand", "")
        with self._lock:
            self.received.append({"command": command, "query": query, "body": body})
        gate = self._held.get(command)
        if gate is not None:
            gate.wait(HTTP_TIMEOUT)
        answer = self.answer(command, body)
        if isinstance(answer, tuple):
            return answer
        return 200, json.dumps(answer).encode()


def _callback_handler(stand_in: CallbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = -1

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            _, _, query = self.path.partition("?")
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, body = stand_in.handle(dict(parse_qsl(query, keep_blank_values=True)), raw)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def callbacks(emulator: TimEmulator) -> Iterator[CallbackServer]:
    """The stand-in, with the emulator pointed at it (callback authentication on)."""
    stand_in = CallbackServer()
    stand_in._thread.start()
    emulator.configure(callback_url=stand_in.url, callback_token=TOKEN)
    yield stand_in
    stand_in.release()
    emulator.configure(callback_url=None)
    stand_in._server.shutdown()
    stand_in._server.server_close()


@pytest.fixture
def tim_client(emulator: TimEmulator, clock: FakeClock) -> TimRestClient:
    """The bundle's REST client pointed at the emulator, on its clock, without real sleeps."""
    return TimRestClient(APP, KEY, admin=ADMIN, base_url=emulator.url, clock=clock.now, sleep=lambda s: None)
