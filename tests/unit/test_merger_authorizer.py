"""The merger API's Lambda authorizer (functions/merger_authorizer): a verified UserSig is admitted
with its identifier; anything else is refused (``isAuthorized: false``, which API Gateway answers
with 403 without invoking the API), and nothing about a sig makes it raise."""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.handlers import lambda_context, load_handler
from tests.unit.conftest import APP_KEY as KEY
from tests.unit.conftest import FixedKey
from timkit.stores.config import ConfigUnavailable
from timkit.tim.usersig import gen_usersig

APP = 1400000001


@pytest.fixture
def authorizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("TIM_SDKAPPID", str(APP))
    monkeypatch.setenv("TIM_SECRET_ID", "")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tim-merger-authorizer")
    with load_handler("merger_authorizer", "unit_merger_authorizer_app") as module:
        monkeypatch.setattr(module, "keys", FixedKey())
        yield module


def authorize(module: ModuleType, header: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"version": "2.0", "type": "REQUEST", "routeKey": "GET /mergers/{downloadKey}"}
    if header is not None:
        event["identitySource"] = [header]
    return module.lambda_handler(event, lambda_context("merger_authorizer"))


def pack(doc: Any) -> str:
    """A UserSig's encoding of any JSON text (lone surrogates are written as \\ud800 escapes)."""
    packed = zlib.compress(json.dumps(doc).encode())
    return base64.b64encode(packed).decode().replace("+", "*").replace("/", "-").replace("=", "_")


def sig_doc(**changes: Any) -> dict[str, Any]:
    """A sig document issued now (not expired: what is wrong with it must be what refuses it)."""
    doc = {
        "TLS.ver": "2.0",
        "TLS.identifier": "alice",
        "TLS.sdkappid": APP,
        "TLS.expire": 86400,
        "TLS.time": int(time.time()),
        "TLS.sig": "AAAA",
    }
    doc.update(changes)
    return doc


def test_a_verified_sig_is_admitted_with_its_identifier(authorizer: ModuleType) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        verdict = authorize(authorizer, f"{scheme} {gen_usersig(APP, KEY, 'alice', 3600)}")
        assert verdict == {"isAuthorized": True, "context": {"identifier": "alice"}}


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer   ",
        "Basic YWxpY2U6eA==",
        "alice",
        "not-a-sig",
        "Bearer not-a-sig",
        f"Bearer {gen_usersig(APP, KEY, 'alice', 60, now=1_000_000)}",  # expired
        f"Bearer {gen_usersig(1400009999, KEY, 'alice', 3600)}",  # another app
        f"Bearer {gen_usersig(APP, 'another-key', 'alice', 3600)}",  # another key
        f"Bearer {pack(sig_doc(**{'TLS.identifier': chr(0xD800)}))}",
        f"Bearer {pack(sig_doc(**{'TLS.sig': 'A' + chr(0xDFFF)}))}",
        f"Bearer {pack(sig_doc(**{'TLS.identifier': ['alice']}))}",
        f"Bearer {pack(sig_doc(**{'TLS.sdkappid': {'id': APP}}))}",
        f"Bearer {pack(sig_doc(**{'TLS.time': float(int(time.time()))}))}",
        f"Bearer {pack(sig_doc(**{'TLS.expire': True}))}",
        f"Bearer {pack(sig_doc(**{'TLS.expire': 10**40}))}",
        f"Bearer {pack([sig_doc()])}",
        "Bearer " + "A" * 5000,
        "Bearer \ud800",
    ],
    ids=[
        "empty",
        "scheme-only",
        "blank-token",
        "basic",
        "no-scheme",
        "no-scheme-token",
        "garbage",
        "expired",
        "other-app",
        "other-key",
        "surrogate-identifier",
        "surrogate-sig",
        "identifier-list",
        "sdkappid-object",
        "time-float",
        "expire-bool",
        "expire-huge",
        "not-an-object",
        "long-garbage",
        "surrogate-header",
    ],
)
def test_anything_else_is_refused_never_raised(authorizer: ModuleType, header: str) -> None:
    assert authorize(authorizer, header) == {"isAuthorized": False}


def test_no_identity_source_is_refused(authorizer: ModuleType) -> None:
    # The gateway answers 401 itself without calling the authorizer; called anyway, it refuses.
    assert authorize(authorizer, None) == {"isAuthorized": False}


def test_the_refusal_is_logged_with_its_reason_never_the_sig(
    authorizer: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    sig = gen_usersig(APP, "another-key", "alice", 3600)
    authorize(authorizer, f"Bearer {sig}")
    (record,) = [r for r in caplog.records if r.getMessage() == "merger API call refused"]
    assert record.reason == "UserSig signature does not match"
    assert sig not in str(record.__dict__)


def test_a_key_that_cannot_be_read_is_passed_on_never_raised(
    authorizer: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Raised here, it would be the gateway's 500 for every caller; the API answers 503 instead.
    class Unreadable:
        def current(self) -> str:
            raise ConfigUnavailable("the app's key could not be loaded: EndpointConnectionError")

    monkeypatch.setattr(authorizer, "keys", Unreadable())
    verdict = authorize(authorizer, f"Bearer {gen_usersig(APP, KEY, 'alice', 3600)}")
    assert verdict["isAuthorized"] is True and "identifier" not in verdict["context"]
    assert "could not be loaded" in verdict["context"]["unavailable"]
