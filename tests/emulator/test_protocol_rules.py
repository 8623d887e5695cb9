"""The emulator's own protocol code (it shares none with timkit): callback signing
(docs/protocol.md §1.2), UserSig reading (§4.2) and message element checks (§3, §6.2, §7)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from typing import Any

import pytest

from local.tim_emulator.callbacks import callback_sign
from local.tim_emulator.elements import MAX_BODY_BYTES, MAX_NESTING, BodyError, body_size, validate_body
from local.tim_emulator.usersig import MalformedSig, expires_at, read_usersig, signed_with

KEY = "k" * 64


def test_callback_sign_matches_the_documented_vector() -> None:
    # docs/protocol.md §1.2: token xxxxyyyy, RequestTime 1669872112.
    assert callback_sign("xxxxyyyy", 1669872112) == "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"


def make_sig(doc: dict[str, Any]) -> str:
    """A UserSig built by hand from docs/protocol.md §4.2, steps 4-6."""
    packed = zlib.compress(json.dumps(doc).encode())
    return base64.b64encode(packed).decode().translate(str.maketrans("+/=", "*-_"))


def signed_doc(
    identifier: str = "administrator",
    sdkappid: int = 1400000000,
    issued: int = 1_700_000_000,
    expire: int = 86400,
    key: str = KEY,
) -> dict[str, Any]:
    content = f"TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{issued}\nTLS.expire:{expire}\n"
    sig = base64.b64encode(hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()).decode()
    return {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": issued,
        "TLS.sig": sig,
    }


def test_a_hand_built_usersig_reads_and_verifies() -> None:
    doc = read_usersig(make_sig(signed_doc()))
    assert (doc["TLS.identifier"], doc["TLS.sdkappid"], expires_at(doc)) == ("administrator", 1400000000, 1_700_086_400)
    assert signed_with(doc, KEY)
    assert not signed_with(doc, "another key")


def test_a_usersig_whose_fields_were_changed_does_not_verify() -> None:
    doc = signed_doc()
    doc["TLS.expire"] = 10**9  # a longer life, under the old signature
    assert not signed_with(read_usersig(make_sig(doc)), KEY)


@pytest.mark.parametrize(
    "change",
    [
        {"TLS.sdkappid": True},
        {"TLS.time": "1700000000"},
        {"TLS.expire": 1.5},
        {"TLS.identifier": ""},
        {"TLS.identifier": ["administrator"]},
        {"TLS.sig": None},
        {"TLS.userbuf": "eA=="},
        {"TLS.sdkappid": 2**64},
    ],
)
def test_a_usersig_of_the_wrong_shape_is_malformed(change: dict[str, Any]) -> None:
    with pytest.raises(MalformedSig):
        read_usersig(make_sig({**signed_doc(), **change}))


@pytest.mark.parametrize(
    "sig",
    [
        "",
        "not base64!",
        base64.b64encode(b"not zlib").decode(),
        make_sig([1, 2]),
        base64.b64encode(zlib.compress(b"{" * 5000)).decode(),
    ],
)
def test_what_is_no_usersig_at_all_is_malformed(sig: Any) -> None:
    with pytest.raises(MalformedSig):
        read_usersig(sig)


def text(value: Any = "hi") -> dict[str, Any]:
    return {"MsgType": "TIMTextElem", "MsgContent": {"Text": value}}


def merger(body: list[Any]) -> dict[str, Any]:
    return {
        "MsgType": "TIMRelayElem",
        "MsgContent": {"Title": "t", "MsgNum": 1, "MsgList": [{"From_Account": "a", "MsgBody": body}]},
    }


@pytest.mark.parametrize(
    "body",
    [
        [text(), {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": ""}}],
        [{"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": 39, "Longitude": 116.5}}],
        [{"MsgType": "TIMImageElem", "MsgContent": {"ImageInfoArray": [{"Type": 1, "URL": "u"}], "Extra": 1}}],
        [{"MsgType": "TIMSomethingNewElem", "MsgContent": [1, 2]}],  # a type Tencent may add: carried
        [merger([merger([text()])])],
    ],
)
def test_bodies_that_follow_the_element_format(body: list[Any]) -> None:
    validate_body(body)


@pytest.mark.parametrize(
    "body",
    [
        {"MsgType": "TIMTextElem"},
        ["TIMTextElem"],
        [{"MsgType": 3, "MsgContent": {}}],
        [{"MsgContent": {"Text": "hi"}}],
        [text(5)],
        [text(None)],
        [{"MsgType": "TIMTextElem", "MsgContent": "hi"}],
        [{"MsgType": "TIMFaceElem", "MsgContent": {"Index": True}}],
        [{"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": "39", "Longitude": 116}}],
        [{"MsgType": "TIMImageElem", "MsgContent": {"ImageInfoArray": [{"URL": "u"}]}}],
        [{"MsgType": "TIMImageElem", "MsgContent": {"ImageInfoArray": {"Type": 1}}}],
        [{"MsgType": "TIMStreamElem", "MsgContent": {"Chunks": [{"Index": 1, "IsLast": "yes"}]}}],
        [merger([text(5)])],
        [merger("hi")],
    ],
)
def test_bodies_that_do_not(body: Any) -> None:
    with pytest.raises(BodyError):
        validate_body(body)


def test_mergers_nest_to_the_documented_depth_and_no_further() -> None:
    body: list[Any] = [text()]
    for _ in range(MAX_NESTING):
        body = [merger(body)]
    validate_body(body)
    with pytest.raises(BodyError, match="nest"):
        validate_body([merger(body)])


def test_body_size_counts_compact_utf8_json() -> None:
    body = [text("é" * 10)]
    assert body_size(body) == len('[{"MsgType":"TIMTextElem","MsgContent":{"Text":""}}]') + 20
    assert body_size([text("x" * MAX_BODY_BYTES)]) > MAX_BODY_BYTES
