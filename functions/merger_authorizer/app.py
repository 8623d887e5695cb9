"""HttpApi Lambda authorizer for the merger API: the caller's own UserSig as a bearer token.

A sig that does not verify is refused here (``isAuthorized: false``), so API Gateway answers 403
itself and the merger function is never invoked for it; a missing header is the gateway's own 401
(the identity source is required), without invoking this function either. The gateway caches each
verdict per token (ReauthorizeEvery in the template): a refused sig is not verified again on
every call. An admitted caller's identifier goes to the API in the context.

While the app's key is not configured no sig is verified at all: every caller is admitted with a
context that says why, and the API answers 503 naming the setting (an authorizer's own error would
be a 500, its refusal a 403).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.config import MergerAuthorizerSettings
from timkit.keys import KeyNotConfigured
from timkit.metrics import MERGER_AUTH_REJECTED
from timkit.stores.appkey import AppKeyStore
from timkit.stores.config import ConfigUnavailable
from timkit.tim.usersig import UserSigError, verify_usersig

logger = Logger()
metrics = Metrics()
settings = MergerAuthorizerSettings.from_env()
keys = AppKeyStore(settings.TIM_SECRET_ID, settings.CONFIG_CACHE_SECONDS, logger)


def _admitted(identifier: str) -> dict:
    return {"isAuthorized": True, "context": {"identifier": identifier}}


def _refused(reason: str) -> dict:
    # The reason ("UserSig has expired"...), never the sig itself.
    logger.info("merger API call refused", reason=reason)
    metrics.add_metric(name=MERGER_AUTH_REJECTED, unit=MetricUnit.Count, value=1)
    return {"isAuthorized": False}


def _bearer(event: dict) -> str | None:
    scheme, _, token = ((event.get("identitySource") or [""])[0] or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _verdict(token: str, key: str) -> dict:
    try:
        info = verify_usersig(token, settings.TIM_SDKAPPID, key)
    except UserSigError as exc:
        return _refused(str(exc))
    return _admitted(info.identifier)


def _unavailable(exc: KeyNotConfigured | ConfigUnavailable) -> dict:
    # AppKeyStore has logged it (and counted a missing key in the KeyNotConfigured metric).
    return {"isAuthorized": True, "context": {"unavailable": str(exc)}}


# The gateway's request id, which the merger API logs the same call under.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        key = keys.current()
    except (KeyNotConfigured, ConfigUnavailable) as exc:
        # An authorizer's own error would be the gateway's 500: the API answers 503 instead.
        return _unavailable(exc)
    token = _bearer(event)
    return _refused("no Bearer UserSig") if token is None else _verdict(token, key)
