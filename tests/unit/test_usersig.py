"""UserSig v2 (docs/protocol.md §4.2), checked against Tencent's own Python generator (tls-sig-api-v2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import types
import zlib

import pytest
import TLSSigAPIv2 as tls_module
from TLSSigAPIv2 import TLSSigAPIv2

from timkit.tim.usersig import UserSigError, decode_usersig, gen_usersig, verify_usersig

APP = 1400000001
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
USER = "administrator"
ISSUED = 1_700_000_000
EXPIRE = 86400


def pack(doc: dict | list | str | bytes) -> str:
    """Encode anything the way a UserSig is encoded (zlib, base64, URL-ish substitutions)."""
    raw = doc if isinstance(doc, bytes) else (doc.encode() if isinstance(doc, str) else json.dumps(doc).encode())
    return base64.b64encode(zlib.compress(raw)).decode().replace("+", "*").replace("/", "-").replace("=", "_")


def unpack(sig: str) -> dict:
    return json.loads(zlib.decompress(base64.b64decode(sig.replace("*", "+").replace("-", "/").replace("_", "="))))


def expected_hmac(key: str, user: str, app: int, issued: int, expire: int) -> str:
    content = f"TLS.identifier:{user}\nTLS.sdkappid:{app}\nTLS.time:{issued}\nTLS.expire:{expire}\n"
    return base64.b64encode(hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()).decode()


@pytest.fixture
def theirs(monkeypatch: pytest.MonkeyPatch):
    """A sig from the official package, generated at ISSUED."""
    monkeypatch.setattr(tls_module, "time", types.SimpleNamespace(time=lambda: ISSUED + 0.75))
    api = TLSSigAPIv2(APP, KEY)
    # The brief names genUserSig; package version 1.1 calls it gen_sig.
    generate = getattr(api, "genUserSig", None) or api.gen_sig
    return generate(USER, EXPIRE)


@pytest.fixture
def ours() -> str:
    return gen_usersig(APP, KEY, USER, expire=EXPIRE, now=ISSUED)


def assert_secret_free(exc: pytest.ExceptionInfo, *secrets: str) -> None:
    text = f"{exc.value!s} {exc.value!r}"
    for secret in (KEY, *secrets):
        assert secret not in text


# ----------------------------------------------------------------------------- against the official package


def test_official_sig_verifies(theirs: str) -> None:
    info = verify_usersig(theirs, APP, KEY, USER, now=ISSUED + 10)
    assert info.identifier == USER
    assert info.sdkappid == APP
    assert info.time == ISSUED
    assert info.expire == EXPIRE
    assert info.expires_at == ISSUED + EXPIRE


def test_ours_and_theirs_decode_to_the_same_fields_and_hmac(theirs: str, ours: str) -> None:
    a, b = decode_usersig(ours), decode_usersig(theirs)
    assert (a.identifier, a.sdkappid, a.time, a.expire) == (b.identifier, b.sdkappid, b.time, b.expire)
    assert a.sig == b.sig == expected_hmac(KEY, USER, APP, ISSUED, EXPIRE)
    assert a == b


def test_our_sig_has_the_documented_json_document(ours: str) -> None:
    doc = unpack(ours)
    assert doc == {
        "TLS.ver": "2.0",
        "TLS.identifier": USER,
        "TLS.sdkappid": APP,
        "TLS.expire": EXPIRE,
        "TLS.time": ISSUED,
        "TLS.sig": expected_hmac(KEY, USER, APP, ISSUED, EXPIRE),
    }
    # Only the URL-safe-ish alphabet of docs/protocol.md §4.2 step 6.
    assert set(ours) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_")


def test_our_sig_verifies_like_theirs(ours: str) -> None:
    assert verify_usersig(ours, APP, KEY, USER, now=ISSUED).identifier == USER


def test_non_ascii_identifier_round_trips() -> None:
    sig = gen_usersig(APP, KEY, "用户_01", expire=60, now=ISSUED)
    assert verify_usersig(sig, APP, KEY, "用户_01", now=ISSUED).identifier == "用户_01"


def test_identifier_is_optional_and_reported(ours: str) -> None:
    assert verify_usersig(ours, APP, KEY, now=ISSUED).identifier == USER


def test_now_may_be_a_clock(ours: str) -> None:
    assert verify_usersig(ours, APP, KEY, USER, now=lambda: ISSUED + 1.5).time == ISSUED
    with pytest.raises(UserSigError, match="expired"):
        verify_usersig(ours, APP, KEY, USER, now=lambda: ISSUED + EXPIRE + 1.0)


def test_surrounding_whitespace_is_ignored(ours: str) -> None:
    assert verify_usersig(f"  {ours}\n", APP, KEY, USER, now=ISSUED).identifier == USER


# ----------------------------------------------------------------------------- refusals


def test_wrong_app(theirs: str) -> None:
    with pytest.raises(UserSigError, match="SDKAppID") as exc:
        verify_usersig(theirs, APP + 1, KEY, USER, now=ISSUED)
    assert_secret_free(exc, theirs)


def test_wrong_identifier(theirs: str) -> None:
    with pytest.raises(UserSigError, match="identifier") as exc:
        verify_usersig(theirs, APP, KEY, "someone_else", now=ISSUED)
    assert_secret_free(exc, theirs)


def test_expiry_boundary(theirs: str) -> None:
    assert verify_usersig(theirs, APP, KEY, USER, now=ISSUED + EXPIRE).identifier == USER
    with pytest.raises(UserSigError, match="expired") as exc:
        verify_usersig(theirs, APP, KEY, USER, now=ISSUED + EXPIRE + 1)
    assert_secret_free(exc, theirs)


def test_wrong_key(theirs: str) -> None:
    other_key = "0" * 64
    with pytest.raises(UserSigError, match="signature") as exc:
        verify_usersig(theirs, APP, other_key, USER, now=ISSUED)
    assert_secret_free(exc, theirs, other_key)


@pytest.mark.parametrize(
    "change",
    [
        {"TLS.sig": expected_hmac("wrong-key", USER, APP, ISSUED, EXPIRE)},
        {"TLS.sig": ""},
        {"TLS.expire": EXPIRE * 10},  # extend the lifetime without re-signing
        {"TLS.time": ISSUED + 1000},
        {"TLS.identifier": "admin"},  # claim another identity
    ],
    ids=["other-hmac", "empty-hmac", "longer-expire", "later-time", "other-identifier"],
)
def test_tampered_document_is_refused(theirs: str, change: dict) -> None:
    doc = unpack(theirs) | change
    forged = pack(doc)
    with pytest.raises(UserSigError, match="signature") as exc:
        verify_usersig(forged, APP, KEY, now=ISSUED + 1)
    assert_secret_free(exc, theirs, forged)


def test_flipped_hmac_character_is_refused(ours: str) -> None:
    doc = unpack(ours)
    sig = doc["TLS.sig"]
    doc["TLS.sig"] = ("B" if sig[0] != "B" else "C") + sig[1:]
    with pytest.raises(UserSigError, match="signature"):
        verify_usersig(pack(doc), APP, KEY, USER, now=ISSUED)


def test_tampered_encoding_is_refused(ours: str) -> None:
    # Change one character in the middle of the compressed stream: bad zlib data or a bad checksum.
    middle = len(ours) // 2
    replacement = "A" if ours[middle] != "A" else "B"
    tampered = ours[:middle] + replacement + ours[middle + 1 :]
    with pytest.raises(UserSigError) as exc:
        verify_usersig(tampered, APP, KEY, USER, now=ISSUED)
    assert_secret_free(exc, ours, tampered)


def test_sig_with_userbuf_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls_module, "time", types.SimpleNamespace(time=lambda: ISSUED))
    sig = TLSSigAPIv2(APP, KEY).gen_sig_with_userbuf(USER, EXPIRE, b"room")
    with pytest.raises(UserSigError, match="malformed"):
        verify_usersig(sig, APP, KEY, USER, now=ISSUED)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "a",
        "@@@@",
        "****",
        "eJw_",
        "éé",
        "A" * 10,
        "not a usersig at all!",
        pack(b"not json"),
        pack("[]"),
        pack('"TLS.sig"'),
        pack({"TLS.identifier": USER}),
        pack({"TLS.identifier": 5, "TLS.sdkappid": APP, "TLS.time": 1, "TLS.expire": 1, "TLS.sig": "x"}),
        pack({"TLS.identifier": USER, "TLS.sdkappid": "app", "TLS.time": 1, "TLS.expire": 1, "TLS.sig": "x"}),
        pack({"TLS.identifier": USER, "TLS.sdkappid": APP, "TLS.time": 1, "TLS.expire": 1, "TLS.sig": None}),
        pack(b"\xff\xfe\x00binary"),
        base64.b64encode(b"not zlib").decode(),
    ],
)
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(UserSigError) as exc:
        verify_usersig(garbage, APP, KEY, USER, now=ISSUED)
    assert_secret_free(exc)
    if len(garbage) > 3:
        assert garbage not in str(exc.value)


def test_zlib_bomb_is_refused_without_inflating_it() -> None:
    # 50 MB of spaces compress to ~50 KB; a sig must stay small when inflated.
    bomb = pack(b'{"TLS.identifier":"' + b" " * 50_000_000 + b'"}')
    assert len(bomb) < 200_000
    with pytest.raises(UserSigError, match="too large") as exc:
        decode_usersig(bomb)
    assert_secret_free(exc)


def test_deeply_nested_json_is_refused_as_malformed() -> None:
    with pytest.raises(UserSigError):
        decode_usersig(pack(b"[" * 3000))


def test_infinite_number_is_refused_as_malformed() -> None:
    forged = pack(
        b'{"TLS.identifier":"administrator","TLS.sdkappid":1400000001,"TLS.time":1e400,"TLS.expire":1,"TLS.sig":"x"}'
    )
    with pytest.raises(UserSigError):
        verify_usersig(forged, APP, KEY, USER, now=ISSUED)


def test_info_repr_hides_the_hmac(ours: str) -> None:
    info = decode_usersig(ours)
    assert info.sig not in repr(info)


def doc_with(**changes: object) -> dict:
    doc = {
        "TLS.ver": "2.0",
        "TLS.identifier": USER,
        "TLS.sdkappid": APP,
        "TLS.expire": EXPIRE,
        "TLS.time": ISSUED,
        "TLS.sig": expected_hmac(KEY, USER, APP, ISSUED, EXPIRE),
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        doc_with(**{"TLS.identifier": "\ud800"}),
        doc_with(**{"TLS.identifier": "admin\udfffistrator"}),
        doc_with(**{"TLS.sig": "\ud800" + expected_hmac(KEY, USER, APP, ISSUED, EXPIRE)}),
        doc_with(**{"TLS.identifier": ""}),
        doc_with(**{"TLS.identifier": [USER]}),
        doc_with(**{"TLS.identifier": {"id": USER}}),
        doc_with(**{"TLS.sig": 12345}),
        doc_with(**{"TLS.sdkappid": {"id": APP}}),
        doc_with(**{"TLS.sdkappid": str(APP)}),
        doc_with(**{"TLS.sdkappid": float(APP)}),
        doc_with(**{"TLS.sdkappid": -1}),
        doc_with(**{"TLS.sdkappid": 2**64}),
        doc_with(**{"TLS.time": float(ISSUED)}),
        doc_with(**{"TLS.time": ISSUED + 0.5}),
        doc_with(**{"TLS.time": True}),
        doc_with(**{"TLS.time": 2**63}),
        doc_with(**{"TLS.expire": False}),
        doc_with(**{"TLS.expire": 10**400 // 10**300}),
        doc_with(**{"TLS.expire": -(2**63) - 1}),
        doc_with(**{"TLS.expire": [EXPIRE]}),
        [doc_with()],
        "TLS.identifier",
        ISSUED,
        None,
    ],
    ids=[
        "lone-surrogate-identifier",
        "surrogate-inside-identifier",
        "lone-surrogate-sig",
        "empty-identifier",
        "identifier-list",
        "identifier-object",
        "sig-number",
        "sdkappid-object",
        "sdkappid-string",
        "sdkappid-float",
        "sdkappid-negative",
        "sdkappid-over-uint64",
        "time-float",
        "time-fraction",
        "time-bool",
        "time-over-int64",
        "expire-bool",
        "expire-huge",
        "expire-under-int64",
        "expire-list",
        "document-list",
        "document-string",
        "document-number",
        "document-null",
    ],
)
def test_sig_documents_of_the_wrong_shape_are_malformed(doc: object) -> None:
    packed = pack(json.dumps(doc))  # ensure_ascii: a lone surrogate travels as a \ud800 escape
    with pytest.raises(UserSigError, match="malformed") as exc:
        decode_usersig(packed)
    assert_secret_free(exc)
    with pytest.raises(UserSigError, match="malformed"):
        verify_usersig(packed, APP, KEY, now=ISSUED)


def test_integers_at_the_official_libraries_limits_decode() -> None:
    info = decode_usersig(pack(doc_with(**{"TLS.sdkappid": 2**64 - 1, "TLS.time": -(2**63), "TLS.expire": 2**63 - 1})))
    assert (info.sdkappid, info.time, info.expire) == (2**64 - 1, -(2**63), 2**63 - 1)
