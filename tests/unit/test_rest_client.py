"""The REST client's transport rules over real HTTP, against a scripted local server: URL and
query, UserSig caching and renewal, retries (which, how often, same body), error typing, and no
secret in any error or log line; the key from a source that may change (rotation) or hold no usable
key (no call at all). Endpoint behaviour is tested against the emulator."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.unit.conftest import FakeClock
from timkit.keys import KeyNotConfigured
from timkit.models import messages
from timkit.stores.appkey import AppKeyStore
from timkit.tim.errors import MessageDropped, MessageTooLarge, TimApiError, TimTransportError
from timkit.tim.rest import SIG_LIFETIME_SECONDS, SIG_RENEW_BEFORE_SECONDS, RetryPolicy, TimRestClient
from timkit.tim.usersig import decode_usersig, verify_usersig

APP = 1400000001
KEY = "rest-client-test-key-0123456789abcdef"
NEW_KEY = "rotated-rest-client-key-0123456789abcdef"


class Script:
    """Answers queued per request (status, JSON body); records what arrived."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, object]] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def next(self) -> tuple[int, object]:
        with self.lock:
            return self.answers.pop(0) if self.answers else (200, {"ActionStatus": "OK", "ErrorCode": 0})


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body in one write: separate small writes meet Nagle + delayed ACK (~40 ms).
        wbufsize = 64 * 1024

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            script.requests.append({"path": url.path, "query": parse_qs(url.query), "body": json.loads(body)})
            status, answer = script.next()
            data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", script
    httpd.shutdown()
    httpd.server_close()


class Clock:
    def __init__(self, now: float = 1_730_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client(base: str, clock: Clock | None = None, sleeps: list[float] | None = None, key=KEY, **kw) -> TimRestClient:
    return TimRestClient(
        APP,
        key,
        base_url=base,
        clock=clock or Clock(),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        rng=random.Random(7),
        **kw,
    )


def test_url_query_and_body(server) -> None:
    base, script = server
    client(base).call("openim", "sendmsg", {"To_Account": "bob"})
    request = script.requests[0]
    assert request["path"] == "/v4/openim/sendmsg"
    query = {k: v[0] for k, v in request["query"].items()}
    assert query["sdkappid"] == str(APP) and query["identifier"] == "administrator"
    assert query["contenttype"] == "json" and 0 <= int(query["random"]) < 2**32
    assert verify_usersig(query["usersig"], APP, KEY, "administrator", now=1_730_000_000)
    assert request["body"] == {"To_Account": "bob"}


def test_fresh_random_per_request_and_one_sig_while_valid(server) -> None:
    base, script = server
    c = client(base)
    for _ in range(20):
        c.call("openim", "sendmsg", {})
    randoms = {r["query"]["random"][0] for r in script.requests}
    sigs = {r["query"]["usersig"][0] for r in script.requests}
    assert len(randoms) == 20 and len(sigs) == 1 and c.sigs_made == 1


def test_sig_is_renewed_before_it_expires(server) -> None:
    base, script = server
    clock = Clock()
    c = client(base, clock)
    c.call("a", "b", {})
    clock.now += SIG_LIFETIME_SECONDS - SIG_RENEW_BEFORE_SECONDS - 1
    c.call("a", "b", {})
    assert c.sigs_made == 1
    clock.now += 2
    c.call("a", "b", {})
    assert c.sigs_made == 2
    renewed = decode_usersig(script.requests[-1]["query"]["usersig"][0])
    assert renewed.time == int(clock.now) and renewed.expires_at > clock.now + SIG_RENEW_BEFORE_SECONDS


def test_concurrent_threads_share_one_sig(server) -> None:
    base, script = server
    c = client(base)
    threads = [threading.Thread(target=lambda: [c.call("a", "b", {}) for _ in range(5)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(script.requests) == 40 and c.sigs_made == 1


def test_expired_sig_is_regenerated_once(server) -> None:
    base, script = server
    script.answers = [(200, {"ActionStatus": "FAIL", "ErrorCode": 70001, "ErrorInfo": "sig expired"})]
    c = client(base)
    c.call("a", "b", {})
    assert c.sigs_made == 2 and len(script.requests) == 2
    script.answers = [(200, {"ActionStatus": "FAIL", "ErrorCode": 70001, "ErrorInfo": "sig expired"})] * 2
    with pytest.raises(TimApiError) as err:
        c.call("a", "b", {})
    assert err.value.error_code == 70001 and len(script.requests) == 4


@pytest.mark.parametrize("code", [20004, 10002, 60018, 90992])
def test_transient_codes_are_retried_with_the_same_body(server, code) -> None:
    base, script = server
    script.answers = [(200, {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": "busy"})] * 2
    sleeps: list[float] = []
    request = messages.text("hi").group_request("@TGS#1")
    client(base, sleeps=sleeps).send_group(request)
    bodies = [r["body"] for r in script.requests]
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["Random"] == request.Random
    assert len(sleeps) == 2


def test_http_502_and_timeouts_are_retried(server) -> None:
    base, script = server
    script.answers = [(502, "<html>bad gateway</html>"), (200, "not json")]
    client(base).call("a", "b", {})
    assert len(script.requests) == 3


@pytest.mark.parametrize("code", [90001, 20006, 10016, 80002, 93000, 70003, 30001, 20003])
def test_caller_errors_are_not_retried(server, code) -> None:
    base, script = server
    script.answers = [(200, {"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": "nope"})]
    with pytest.raises(TimApiError) as err:
        client(base).call("openim", "sendmsg", {})
    assert (err.value.error_code, err.value.error_info, err.value.command) == (code, "nope", "openim/sendmsg")
    assert len(script.requests) == 1


def test_retries_stop_at_the_cap_with_bounded_jittered_backoff(server) -> None:
    base, script = server
    script.answers = [(200, {"ActionStatus": "FAIL", "ErrorCode": 20004, "ErrorInfo": "x"})] * 10
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=5, base_delay=0.5, max_delay=1.0)
    with pytest.raises(TimApiError):
        client(base, sleeps=sleeps, retry=policy).call("a", "b", {})
    assert len(script.requests) == 5 and len(sleeps) == 4
    assert all(0 <= s <= 1.0 for s in sleeps) and len(set(sleeps)) > 1


def test_msg_freq_ctrl_drop_is_not_success(server) -> None:
    base, script = server
    script.answers = [(200, {"ActionStatus": "OK", "ErrorCode": 0, "MsgSeq": 0, "MsgDropReason": "MsgFreqCtrl"})]
    with pytest.raises(MessageDropped) as err:
        client(base).send_group(messages.text("hi").group_request("@TGS#1"))
    assert err.value.reason == "MsgFreqCtrl" and err.value.group_id == "@TGS#1"


def test_oversize_body_is_refused_before_any_call(server) -> None:
    base, script = server
    with pytest.raises(MessageTooLarge, match="over Tencent's 12288-byte limit"):
        client(base).send_c2c(messages.text("字" * 4200).c2c_request("bob"))
    assert script.requests == []


def test_no_secret_in_errors_reprs_or_logs(server, caplog) -> None:
    base, script = server
    caplog.set_level(logging.DEBUG)
    c = client(base)
    script.answers = [(200, {"ActionStatus": "FAIL", "ErrorCode": 20004, "ErrorInfo": "x"})] * 10
    errors: list[BaseException] = []
    for target in (c, client("http://127.0.0.1:9")):  # the second: connection refused
        try:
            target.call("openim", "sendmsg", {})
        except (TimApiError, TimTransportError) as exc:
            errors.append(exc)
    sig = script.requests[0]["query"]["usersig"][0]
    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [repr(c), caplog.text]
    for text in texts:
        assert KEY not in text and sig not in text
    # urllib3 logs every request line at DEBUG: the sig is taken out of it.
    assert "usersig=[redacted]" in caplog.text
    assert isinstance(errors[1], TimTransportError) and errors[1].__cause__ is None


# ----------------------------------------------------------------------------- the key


def signed_with(request: dict, key: str) -> bool:
    try:
        return verify_usersig(request["query"]["usersig"][0], APP, key, "administrator", now=1_730_000_000) is not None
    except ValueError:
        return False


@pytest.mark.parametrize("key", ["", "   ", "REPLACE_ME", "changeme", "your-secret-key", "short-key-0123456789"])
def test_no_call_is_made_without_a_usable_key(server, key: str) -> None:
    base, script = server
    paced: list[str] = []
    c = client(base, key=key, pace=lambda api, body: paced.append(api))
    with pytest.raises(KeyNotConfigured) as err:
        c.call("openim", "sendmsg", {"To_Account": "bob"})
    # Nothing sent, not even a rate slot taken; the error says where to set the key, not what it is.
    assert script.requests == [] and paced == [] and c.sigs_made == 0
    assert "secret_key" in str(err.value) and "TIM_SECRET_ID" in str(err.value)
    assert not key.strip() or key not in str(err.value)


class FakeSecrets:
    """Stands in for Powertools' SecretsProvider: the secret's current text, read on every get."""

    def __init__(self, secret_key: str) -> None:
        self.text = json.dumps({"secret_key": secret_key})

    def get(self, name: str, max_age: int | None = None) -> str:
        return self.text


def test_a_rotated_key_signs_the_calls_after_the_cache_time(server, logger) -> None:
    base, script = server
    secrets, monotonic = FakeSecrets(KEY), FakeClock()
    c = client(base, key=AppKeyStore("tim/key", 60, logger, clock=monotonic, secrets=secrets).current)
    c.call("a", "b", {})
    secrets.text = json.dumps({"secret_key": NEW_KEY})
    monotonic.now += 59
    c.call("a", "b", {})  # within the cache time: the key read before
    monotonic.now += 2
    c.call("a", "b", {})
    c.call("a", "b", {})
    assert [signed_with(r, KEY) for r in script.requests] == [True, True, False, False]
    assert [signed_with(r, NEW_KEY) for r in script.requests] == [False, False, True, True]
    assert c.sigs_made == 2  # a new sig for the new key, then kept


def test_a_key_emptied_in_the_secret_stops_the_calls(server, logger) -> None:
    base, script = server
    secrets, monotonic = FakeSecrets(KEY), FakeClock()
    c = client(base, key=AppKeyStore("tim/key", 60, logger, clock=monotonic, secrets=secrets).current)
    c.call("a", "b", {})
    secrets.text = json.dumps({"secret_key": ""})
    monotonic.now += 61
    with pytest.raises(KeyNotConfigured, match="it is empty"):
        c.call("a", "b", {})
    assert len(script.requests) == 1
