"""Callback authentication (protocol §1.2): ``Sign = hex(sha256(token + RequestTime))``."""

from __future__ import annotations

import hashlib
import hmac


def callback_sign(token: str, request_time: int | str) -> str:
    return hashlib.sha256(f"{token}{request_time}".encode()).hexdigest()


def sign_matches(token: str, request_time: int | str, sign: str) -> bool:
    """Constant-time comparison of a received Sign with the expected one."""
    return hmac.compare_digest(callback_sign(token, request_time).encode(), sign.strip().lower().encode())
