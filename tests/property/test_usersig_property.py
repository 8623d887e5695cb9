"""UserSig documents mutated in type and structure, through decode_usersig, verify_usersig and the
merger API's authorizer: what decodes has the documented shape, anything else is a UserSigError,
and the authorizer admits only what verifies, refusing everything else without raising."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.handlers import lambda_context, load_handler
from tests.property.json_mutations import json_values, mutate
from tests.unit.conftest import APP_KEY as KEY
from tests.unit.conftest import FixedKey
from timkit.tim.usersig import UserSigError, UserSigInfo, decode_usersig, gen_usersig, verify_usersig

APP = 1400000001
# Issued now: the authorizer checks expiry against the real clock, and must see sigs it can admit.
ISSUED = int(time.time())
FIELDS = ["TLS.ver", "TLS.identifier", "TLS.sdkappid", "TLS.time", "TLS.expire", "TLS.sig"]
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

surrogates = st.integers(0xD800, 0xDFFF).map(chr)
hostile_text = st.lists(st.characters() | surrogates, max_size=12).map("".join)
hostile = (
    json_values
    | hostile_text
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**300, 0, -1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.lists(hostile_text | st.integers(), max_size=3)
    | st.dictionaries(hostile_text, hostile_text, max_size=3)
)


def pack(text: str) -> str:
    packed = zlib.compress(text.encode("utf-8", "surrogatepass"))
    return base64.b64encode(packed).decode().replace("+", "*").replace("/", "-").replace("=", "_")


def valid_doc() -> dict[str, Any]:
    raw = zlib.decompress(
        base64.b64decode(
            gen_usersig(APP, KEY, "alice", 86400, now=ISSUED).replace("*", "+").replace("-", "/").replace("_", "=")
        )
    )
    return json.loads(raw)


@st.composite
def mutated_sigs(draw: st.DrawFn) -> str:
    doc: Any = valid_doc()
    how = draw(st.sampled_from(["retype", "retype-some", "surrogate", "drop", "wrap", "replace", "mutate"]))
    if how == "retype":
        doc[draw(st.sampled_from(FIELDS))] = draw(hostile)
    elif how == "retype-some":
        for name in draw(st.lists(st.sampled_from(FIELDS), min_size=2, max_size=4, unique=True)):
            doc[name] = draw(hostile)
    elif how == "surrogate":
        name = draw(st.sampled_from(["TLS.identifier", "TLS.sig"]))
        at = draw(st.integers(0, len(doc[name])))
        doc[name] = doc[name][:at] + draw(surrogates) + doc[name][at:]
    elif how == "drop":
        del doc[draw(st.sampled_from(FIELDS))]
    elif how == "wrap":
        doc = draw(st.sampled_from([[doc], {"TLS": doc}, [doc, doc], {"TLS.sig": doc}]))
    elif how == "replace":
        doc = draw(hostile)
    else:
        return pack(mutate(draw, doc, draw(st.integers(1, 3)), cut_one_in=8))
    return pack(json.dumps(doc, ensure_ascii=draw(st.booleans())))


def check_shape(info: UserSigInfo) -> None:
    assert isinstance(info.identifier, str) and info.identifier
    info.identifier.encode()
    info.sig.encode()
    assert type(info.sdkappid) is int and 0 <= info.sdkappid < 2**64
    for number in (info.time, info.expire):
        assert type(number) is int and -(2**63) <= number < 2**63


@settings(PROPERTY)
@given(sig=mutated_sigs())
def test_decode_gives_the_documented_shape_or_user_sig_error(sig: str) -> None:
    try:
        info = decode_usersig(sig)
    except UserSigError:
        return
    check_shape(info)
    with contextlib.suppress(UserSigError):  # anything else fails the test
        verify_usersig(sig, APP, KEY, now=ISSUED)


@pytest.fixture(scope="module")
def authorizer(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch_module.setenv("TIM_SDKAPPID", str(APP))
    monkeypatch_module.setenv("TIM_SECRET_ID", "")
    monkeypatch_module.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    with load_handler("merger_authorizer", "prop_merger_authorizer_app") as module:
        monkeypatch_module.setattr(module, "keys", FixedKey())
        yield module


@settings(PROPERTY)
@given(sig=mutated_sigs(), scheme=st.sampled_from(["Bearer ", "bearer  ", ""]))
def test_authorizer_admits_only_what_verifies_and_never_raises(authorizer: ModuleType, sig: str, scheme: str) -> None:
    verdict = authorizer.lambda_handler({"identitySource": [scheme + sig]}, lambda_context("merger_authorizer"))
    try:
        info = verify_usersig(sig, APP, KEY) if scheme else None
    except UserSigError:
        info = None
    if info is None:
        assert verdict == {"isAuthorized": False}
    else:
        assert verdict == {"isAuthorized": True, "context": {"identifier": info.identifier}}
