"""Reading and checking a UserSig v2 as Tencent does (docs/protocol.md §4.2).

A UserSig is zlib-compressed JSON (``TLS.ver``, ``TLS.identifier``, ``TLS.sdkappid``,
``TLS.time``, ``TLS.expire``, ``TLS.sig``), base64-encoded with ``+`` ``/`` ``=`` replaced by
``*`` ``-`` ``_``. ``TLS.sig`` is the standard base64 of an HMAC-SHA256, keyed with the app's
secret key, over ``TLS.identifier:…\\nTLS.sdkappid:…\\nTLS.time:…\\nTLS.expire:…\\n``.
Written from the protocol document, not from the bundle's generator, so that a mistake in the
bundle's UserSig code fails against the emulator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from typing import Any

# A sig is a few hundred bytes; a crafted one must not inflate into something huge.
_INFLATE_LIMIT = 4096
_FROM_URL_SAFE = str.maketrans("*-_", "+/=")
# §4.2's JSON fields and their types; the integers are 64-bit in the official Go library.
_TEXT_FIELDS = ("TLS.identifier", "TLS.sig")
_WHOLE_FIELDS = ("TLS.sdkappid", "TLS.time", "TLS.expire")


class MalformedSig(ValueError):
    """Not a UserSig at all (the message never repeats the sig)."""


def read_usersig(usersig: str) -> dict[str, Any]:
    """The JSON document inside a UserSig, its fields checked for type but not its signature;
    :class:`MalformedSig` if it is not one."""
    try:
        doc = json.loads(_inflate(base64.b64decode(usersig.strip().translate(_FROM_URL_SAFE), validate=True)))
    except (binascii.Error, zlib.error, ValueError, TypeError, RecursionError) as exc:
        raise MalformedSig("not a UserSig") from exc
    # TLS.userbuf belongs to TRTC's PrivateMapKey, never to an IM UserSig (§4.2).
    if not isinstance(doc, dict) or "TLS.userbuf" in doc or not doc.get("TLS.identifier"):
        raise MalformedSig("not a UserSig")
    for name in _TEXT_FIELDS:
        if not isinstance(doc.get(name), str) or not _encodable(doc[name]):
            raise MalformedSig(f"{name} is not text")
    for name in _WHOLE_FIELDS:
        if type(doc.get(name)) is not int or not -(2**63) <= doc[name] < 2**64:
            raise MalformedSig(f"{name} is not an integer")
    return doc


def expires_at(doc: dict[str, Any]) -> int:
    return int(doc["TLS.time"]) + int(doc["TLS.expire"])


def signed_with(doc: dict[str, Any], secret_key: str) -> bool:
    """Whether ``TLS.sig`` is this app key's HMAC over the sig's own fields (compared in constant time)."""
    lines = "".join(f"{name}:{doc[name]}\n" for name in ("TLS.identifier", "TLS.sdkappid", "TLS.time", "TLS.expire"))
    mac = hmac.new(secret_key.encode(), lines.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(mac), str(doc["TLS.sig"]).encode())


def _inflate(compressed: bytes) -> bytes:
    stream = zlib.decompressobj()
    inflated = stream.decompress(compressed, _INFLATE_LIMIT)
    if stream.unconsumed_tail:
        raise MalformedSig("too large")
    return inflated


def _encodable(value: str) -> bool:
    """A lone surrogate decodes from JSON but cannot be signed as UTF-8."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True
