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
from dataclasses import dataclass, field
from typing import Any

# A sig is a few hundred bytes; a crafted one must not inflate into something huge.
_MAX_INFLATED_BYTES = 4096
_FROM_URL_SAFE = str.maketrans({"*": "+", "-": "/", "_": "="})


class MalformedSig(ValueError):
    """Not a UserSig at all (the message never repeats the sig)."""


@dataclass(frozen=True)
class SigDocument:
    identifier: str
    sdkappid: int
    time: int
    expire: int
    sig: str = field(repr=False)

    @property
    def expires_at(self) -> int:
        return self.time + self.expire

    def signed_with(self, secret_key: str) -> bool:
        """Whether ``TLS.sig`` is this app key's HMAC over the sig's own fields (constant time)."""
        content = (
            f"TLS.identifier:{self.identifier}\nTLS.sdkappid:{self.sdkappid}\n"
            f"TLS.time:{self.time}\nTLS.expire:{self.expire}\n"
        )
        digest = hmac.new(secret_key.encode(), content.encode(), hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(digest), self.sig.encode())


def read_usersig(usersig: str) -> SigDocument:
    """Unpack a UserSig without checking its signature; :class:`MalformedSig` if it is not one."""
    try:
        packed = base64.b64decode(usersig.strip().translate(_FROM_URL_SAFE), validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, _MAX_INFLATED_BYTES)
        if inflater.unconsumed_tail:
            raise MalformedSig("too large")
        doc = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError, TypeError, RecursionError) as exc:
        raise MalformedSig("not a UserSig") from exc
    # TLS.userbuf is for TRTC's PrivateMapKey, never an IM UserSig (docs/protocol.md §4.2).
    if not isinstance(doc, dict) or "TLS.userbuf" in doc or not doc.get("TLS.identifier"):
        raise MalformedSig("not a UserSig")
    return SigDocument(
        identifier=_text(doc, "TLS.identifier"),
        sdkappid=_whole(doc, "TLS.sdkappid"),
        time=_whole(doc, "TLS.time"),
        expire=_whole(doc, "TLS.expire"),
        sig=_text(doc, "TLS.sig"),
    )


def _text(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str):
        raise MalformedSig(f"{name} is not a string")
    try:
        value.encode()  # a lone surrogate decodes from JSON but cannot be signed
    except UnicodeEncodeError:
        raise MalformedSig(f"{name} is not text") from None
    return value


def _whole(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    # docs/protocol.md §4.2: integers; the official Go library's fields are 64-bit.
    if type(value) is not int or not -(2**63) <= value < 2**64:
        raise MalformedSig(f"{name} is not an integer")
    return value
