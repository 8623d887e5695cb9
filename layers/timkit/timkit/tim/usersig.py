"""UserSig v2 (docs/protocol.md §4.2): generation and verification.

A UserSig is ``base64url'(zlib(json({TLS.ver, TLS.identifier, TLS.sdkappid, TLS.time,
TLS.expire, TLS.sig})))`` where ``TLS.sig`` is the standard base64 of an HMAC-SHA256, keyed with
the app's secret key, over four ``TLS.<name>:<value>\\n`` lines. Tencent's Python package only
generates; verification follows the official Go library: same app, same identifier, not
expired, same HMAC (compared in constant time).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_EXPIRE_SECONDS = 86400
# Stops a crafted sig from inflating into something huge.
_MAX_INFLATED_BYTES = 4096
# The official Go library's field types: sdkappid uint64, time and expire int64.
_UINT64_MAX = 2**64 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_ENCODE = str.maketrans({"+": "*", "/": "-", "=": "_"})
_DECODE = str.maketrans({"*": "+", "-": "/", "_": "="})


class UserSigError(ValueError):
    """A UserSig that must not be accepted. The message says why, never the sig itself."""


@dataclass(frozen=True)
class UserSigInfo:
    identifier: str
    sdkappid: int
    time: int
    expire: int
    sig: str = field(repr=False)

    @property
    def expires_at(self) -> int:
        return self.time + self.expire


def _hmac(key: str, identifier: str, sdkappid: int, issued: int, expire: int) -> str:
    content = f"TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{issued}\nTLS.expire:{expire}\n"
    digest = hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def gen_usersig(
    sdkappid: int,
    key: str,
    identifier: str,
    expire: int = DEFAULT_EXPIRE_SECONDS,
    now: int | None = None,
) -> str:
    issued = int(time.time()) if now is None else now
    doc = {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": issued,
        "TLS.sig": _hmac(key, identifier, sdkappid, issued, expire),
    }
    packed = zlib.compress(json.dumps(doc, separators=(",", ":")).encode())
    return base64.b64encode(packed).decode().translate(_ENCODE)


def decode_usersig(usersig: str) -> UserSigInfo:
    """Unpack a UserSig without checking it (use :func:`verify_usersig` to check). Anything but
    the documented shape (a JSON object, text as valid Unicode, whole numbers in the official Go
    library's integer ranges) is :class:`UserSigError`, never another exception."""
    try:
        packed = base64.b64decode(usersig.strip().translate(_DECODE), validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, _MAX_INFLATED_BYTES)
        if inflater.unconsumed_tail:
            raise UserSigError("UserSig is too large")
        doc = json.loads(raw)
    except UserSigError:
        raise
    except (binascii.Error, zlib.error, ValueError, TypeError, RecursionError) as exc:
        raise UserSigError("UserSig is malformed") from exc
    if not isinstance(doc, dict) or "TLS.userbuf" in doc or not doc.get("TLS.identifier"):
        raise UserSigError("UserSig is malformed")
    return UserSigInfo(
        identifier=_text(doc, "TLS.identifier"),
        sdkappid=_whole(doc, "TLS.sdkappid", 0, _UINT64_MAX),
        time=_whole(doc, "TLS.time", _INT64_MIN, _INT64_MAX),
        expire=_whole(doc, "TLS.expire", _INT64_MIN, _INT64_MAX),
        sig=_text(doc, "TLS.sig"),
    )


def _text(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    # A lone surrogate decodes from JSON but cannot be hashed (or logged) as UTF-8.
    if not isinstance(value, str) or not _is_unicode(value):
        raise UserSigError("UserSig is malformed")
    return value


def _is_unicode(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _whole(doc: dict[str, Any], name: str, low: int, high: int) -> int:
    value = doc.get(name)
    # bool is an int to Python, not to JSON; 1.0 or "1" is not what any official generator writes.
    if type(value) is not int or not low <= value <= high:
        raise UserSigError("UserSig is malformed")
    return value


def verify_usersig(
    usersig: str,
    sdkappid: int,
    key: str,
    identifier: str | None = None,
    now: int | Callable[[], float] | None = None,
) -> UserSigInfo:
    """Check a UserSig for this app: app, identifier (when given), expiry, then the HMAC.

    Returns what the sig says (its identifier names the caller); raises :class:`UserSigError`.
    """
    info = decode_usersig(usersig)
    if info.sdkappid != sdkappid:
        raise UserSigError("UserSig is for another SDKAppID")
    if identifier is not None and info.identifier != identifier:
        raise UserSigError("UserSig is for another identifier")
    current = int(now() if callable(now) else (time.time() if now is None else now))
    if current > info.expires_at:
        raise UserSigError("UserSig has expired")
    expected = _hmac(key, info.identifier, info.sdkappid, info.time, info.expire)
    if not hmac.compare_digest(expected.encode(), info.sig.encode()):
        raise UserSigError("UserSig signature does not match")
    return info
