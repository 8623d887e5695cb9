"""HttpApi Lambda authorizer for the merger API: the caller's own UserSig as a bearer token.

An HttpApi answers a refusing Lambda authorizer with 403, but a bad, expired or foreign UserSig
must be a 401 (only a missing header is one at the gateway). So the authorizer always admits and
says what it found in the context: the verified identifier, or why the sig was refused. The API's
middleware answers 401 for the latter before any route runs. The gateway caches either answer per
token (ReauthorizeEvery in the template), so a refused sig is not verified again on every call.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from timkit.config import Settings
from timkit.stores.config import ConfigStore
from timkit.tim.usersig import UserSigError, verify_usersig

logger = Logger()
settings = Settings.from_env()
config = ConfigStore(settings.TIM_SECRET_ID, "", settings.CONFIG_CACHE_SECONDS, logger)


def _refused(reason: str) -> dict:
    logger.info("merger API call refused", reason=reason)
    return {"isAuthorized": True, "context": {"refused": reason}}


def lambda_handler(event: dict, context: object) -> dict:
    scheme, _, token = ((event.get("identitySource") or [""])[0] or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refused("no Bearer UserSig")
    try:
        info = verify_usersig(token.strip(), settings.TIM_SDKAPPID, config.secret().secret_key)
    except UserSigError as exc:
        return _refused(str(exc))
    return {"isAuthorized": True, "context": {"identifier": info.identifier}}
