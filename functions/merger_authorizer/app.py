"""HttpApi Lambda authorizer for the merger API: the caller's own UserSig as a bearer token.

Simple responses: allowed with the sig's identifier in the context (the handler's caller), or
refused. The gateway caches the answer per token (ReauthorizeEvery in the template).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from timkit.config import Settings
from timkit.stores.config import ConfigStore
from timkit.tim.usersig import UserSigError, verify_usersig

logger = Logger()
settings = Settings.from_env()
config = ConfigStore(settings.TIM_SECRET_ID, "", settings.CONFIG_CACHE_SECONDS, logger)
DENY = {"isAuthorized": False}


def lambda_handler(event: dict, context: object) -> dict:
    scheme, _, token = ((event.get("identitySource") or [""])[0] or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        logger.info("merger API call refused", reason="no Bearer UserSig")
        return DENY
    try:
        info = verify_usersig(token.strip(), settings.TIM_SDKAPPID, config.secret().secret_key)
    except UserSigError as exc:
        logger.info("merger API call refused", reason=str(exc))
        return DENY
    return {"isAuthorized": True, "context": {"identifier": info.identifier}}
