"""POST /mergers and GET /mergers/{downloadKey}: merger storage for chat clients.

The caller is the identifier of the UserSig the authorizer verified (a sig it refuses never gets
here: the gateway answers 403); without one in the authorizer's context every route is a 401
before it runs, and while the app's key is not configured every route is a 503 naming the setting
(the authorizer says so: it cannot answer 503 itself). Domain errors map to responses here, in one
place: limits 413/422 naming the limit, unknown/expired/forbidden 404, membership Tencent cannot
tell now (or storage that is throttled) 503.
"""

from __future__ import annotations

import base64
import binascii
import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import UnauthorizedError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from pydantic import ValidationError

from timkit.config import Settings
from timkit.keys import KeyNotConfigured
from timkit.merger import (
    BlockedContent,
    GroupMembership,
    InlineDocument,
    MembershipUnavailable,
    MergerNotFound,
    MergerService,
    NotJson,
    UnknownNestedKey,
)
from timkit.models.merger import LimitExceeded
from timkit.ratelimit import paced_client
from timkit.stores.appkey import AppKeyStore
from timkit.stores.config import ConfigStore, ConfigUnavailable
from timkit.stores.mergers import MergerStore, StoreBusy

logger = Logger()
settings = Settings.from_env()
keys = AppKeyStore(settings.TIM_SECRET_ID, settings.CONFIG_CACHE_SECONDS, logger)
# The body is validated in the route, not by the resolver's OpenAPI validation: that logs a
# repr of the parsed arguments, which recurses past Python's limit on a 100-level merger.
app = APIGatewayHttpResolver()
# Made on first use (a group merger's download); it asks for the app's key on every call, and its
# role lookups take their slots in the REST budget every Lambda shares.
rest = paced_client(settings, keys.current)
# The moderation policy the before-send callback applies (POLICY_SOURCE), cached as it caches it.
config = ConfigStore("", settings.POLICY_SOURCE, settings.CONFIG_CACHE_SECONDS, logger)
service = MergerService(
    MergerStore(settings.MERGER_BUCKET, settings.MERGER_TABLE),
    settings.MERGER_RETENTION_DAYS,
    is_member=GroupMembership(rest),
    policy=config.policy,
    inline_max_bytes=settings.MERGER_INLINE_MAX_BYTES,
)


def _verdict() -> dict:
    return app.current_event.request_context.authorizer.get_lambda or {}


def _caller() -> str:
    return _verdict()["identifier"]


def _require_verified_caller(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    verdict = _verdict()
    if verdict.get("unavailable"):
        return _unavailable(verdict["unavailable"])
    if not verdict.get("identifier"):
        raise UnauthorizedError("no verified UserSig")
    return next_middleware(app)


app.use(middlewares=[_require_verified_caller])


def _json(status: int, body: str) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.post("/mergers")
def upload() -> Response:
    event = app.current_event
    body = event.body or ""
    try:
        raw = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode()
    except (ValueError, binascii.Error):
        raise NotJson("the body is not valid base64") from None
    return _json(201, service.upload_json(_caller(), raw).model_dump_json())


@app.get("/mergers/<downloadKey>")
def download(downloadKey: str) -> Response:  # noqa: N803 - the path parameter's name
    found = service.download(_caller(), downloadKey)
    return _json(200, found.json.decode() if isinstance(found, InlineDocument) else found.model_dump_json())


def _unavailable(message: str, retry_after: int | None = None) -> Response:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Response(503, content_types.APPLICATION_JSON, json.dumps({"message": message}), headers=headers)


@app.exception_handler(KeyNotConfigured)
def _no_key(exc: KeyNotConfigured) -> Response:
    # AppKeyStore has logged it and counted it in the KeyNotConfigured metric.
    return _unavailable(str(exc))


@app.exception_handler(ConfigUnavailable)
def _no_config(exc: ConfigUnavailable) -> Response:
    logger.warning("merger API configuration unavailable", reason=str(exc))
    return _unavailable("the app's key could not be read; try again shortly", retry_after=5)


@app.exception_handler(LimitExceeded)
def _limit(exc: LimitExceeded) -> Response:
    return _json(413 if exc.limit == "size" else 422, json.dumps({"message": str(exc), "limit": exc.limit}))


@app.exception_handler(ValidationError)
def _invalid(exc: ValidationError) -> Response:
    # Where and what, never the input itself (it can be megabytes).
    errors = [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)[:20]
    ]
    return _json(422, json.dumps({"message": "invalid upload", "errors": errors}))


@app.exception_handler(NotJson)
def _not_json(exc: NotJson) -> Response:
    return _json(400, json.dumps({"message": str(exc)}))


@app.exception_handler(BlockedContent)
def _blocked(exc: BlockedContent) -> Response:
    return _json(422, json.dumps({"message": str(exc), "limit": "blocked"}))


@app.exception_handler(UnknownNestedKey)
def _nested(exc: UnknownNestedKey) -> Response:
    return _json(422, json.dumps({"message": str(exc), "limit": "nested_key"}))


@app.exception_handler(MergerNotFound)
def _not_found(exc: MergerNotFound) -> Response:
    return _json(404, json.dumps({"message": "no such merger"}))


@app.exception_handler([MembershipUnavailable, StoreBusy])
def _busy(exc: MembershipUnavailable | StoreBusy) -> Response:
    logger.warning("merger API unavailable", reason=str(exc))
    return _unavailable("the merger service cannot answer now; try again shortly", retry_after=1)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: object) -> dict:
    return app.resolve(event, context)
