"""Callback authentication (docs/protocol.md §1.2): ``Sign = hex(sha256(token + RequestTime))``."""

from __future__ import annotations

import hashlib
import hmac


def callback_sign(token: str, request_time: int | str) -> str:
    return hashlib.sha256(f"{token}{request_time}".encode()).hexdigest()


def sign_matches(token: str, request_time: int | str, sign: str) -> bool:
    """Constant-time comparison of a received Sign with the expected one."""
    return hmac.compare_digest(callback_sign(token, request_time).encode(), sign.strip().lower().encode())


def callback_query(
    sdkappid: int,
    command: str,
    *,
    client_ip: str = "127.0.0.1",
    platform: str = "RESTAPI",
    token: str | None = None,
    request_time: int | None = None,
) -> dict[str, str]:
    """The query Tencent appends to the callback URL (docs/protocol.md §1.2), by default for a REST call from this
    machine. With a token (callback authentication on) it carries RequestTime and its Sign."""
    query = {
        "SdkAppid": str(sdkappid),
        "CallbackCommand": command,
        "contenttype": "json",
        "ClientIP": client_ip,
        "OptPlatform": platform,
    }
    if token:
        if request_time is None:
            raise ValueError("a signed callback query needs its RequestTime")
        query["RequestTime"] = str(request_time)
        query["Sign"] = callback_sign(token, request_time)
    return query
