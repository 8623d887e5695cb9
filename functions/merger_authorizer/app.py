"""HttpApi Lambda authorizer for the merger API: the caller's own UserSig as a bearer token.

An HttpApi answers a refusing Lambda authorizer with 403, but a bad, expired or foreign UserSig
must be a 401 (only a missing header is one at the gateway). So the authorizer always admits and
says what it found in the context: the verified identifier, or why the sig was refused. The API's
middleware answers 401 for the latter before any route runs. The gateway caches either answer per
token (ReauthorizeEvery in the template), so a refused sig is not verified again on every call.

While the app's key is not configured no sig is verified at all: every caller is admitted with a
context that says why, and the API answers 503 naming the setting (an authorizer's own error would
be a 500, its refusal a 403).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from timkit.config import Settings
from timkit.keys import KeyNotConfigured
from timkit.stores.appkey import AppKeyStore
from timkit.tim.usersig import UserSigError, verify_usersig

logger = Logger()
settings = Settings.from_env()
keys = AppKeyStore(settings.TIM_SECRET_ID, settings.CONFIG_CACHE_SECONDS, logger)


def _refused(reason: str) -> dict:
    logger.info("merger API call refused", reason=reason)
    return {"isAuthorized": True, "context": {"refused": reason}}


def _unavailable(exc: KeyNotConfigured) -> dict:
    # AppKeyStore has logged it and counted it in the KeyNotConfigured metric.
    return {"isAuthorized": True, "context": {"unavailable": str(exc)}}


def lambda_handler(event: dict, context: object) -> dict:
    try:
        key = keys.current()
    except KeyNotConfigured as exc:
        return _unavailable(exc)
    scheme, _, token = ((event.get("identitySource") or [""])[0] or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refused("no Bearer UserSig")
    try:
        info = verify_usersig(token.strip(), settings.TIM_SDKAPPID, key)
    except UserSigError as exc:
        return _refused(str(exc))
    return {"isAuthorized": True, "context": {"identifier": info.identifier}}
