"""POST /mergers and GET /mergers/{downloadKey}: merger storage for chat clients. Its OpenAPI document
is GET /mergers/openapi.json (no authorization: it describes a public API); web pages of the origins
in MERGER_CORS_ORIGINS may call it (CORS, answered here: the gateway's OPTIONS routes have no authorizer).

The caller is the identifier of the UserSig the authorizer verified (a sig it refuses never gets
here: the gateway answers 403); without one in the authorizer's context every route is a 401
before it runs, and while the app's key is not configured every route is a 503 naming the setting
(the authorizer says so: it cannot answer 503 itself). Errors are timkit.models.errors.ErrorBody,
mapped in DOMAIN_ERRORS below (limits 413/422 naming the limit, unknown/expired/forbidden 404,
membership Tencent cannot tell now or storage that is throttled 503) and, for what every API shares
(AWS or Tencent IM failing: 503), in timkit.api.errors.COMMON.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import UnauthorizedError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from timkit.api.errors import ErrorTable, Problem, field_errors, invalid, use_errors
from timkit.api.http import is_answer, prepare
from timkit.api.openapi import doc, merger_document
from timkit.config import MergerApiSettings
from timkit.merger import (
    KEY_PATTERN,
    BlockedContent,
    GroupMembership,
    InlineDocument,
    MembershipUnavailable,
    MergerNotFound,
    MergerService,
    NotJson,
    UnknownNestedKey,
)
from timkit.metrics import MERGER_DOWNLOADED, MERGER_UPLOADED
from timkit.models.merger import DownloadLink, LimitExceeded, MergerDocument, UploadResult
from timkit.ratelimit import paced_client
from timkit.stores.appkey import AppKeyStore
from timkit.stores.config import ConfigStore
from timkit.stores.mergers import MergerStore, StoreBusy
from timkit.stores.parameters import PowertoolsSource

logger = Logger()
metrics = Metrics()
settings = MergerApiSettings.from_env()
keys = AppKeyStore(settings.TIM_SECRET_ID, settings.CONFIG_CACHE_SECONDS, logger)
# The body is validated in the route, not by the resolver's OpenAPI validation: that logs a
# repr of the parsed arguments, which recurses past Python's limit on a 100-level merger.
origins = settings.cors_origins
app = APIGatewayHttpResolver(
    cors=CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Retry-After"],
        max_age=600,
    )
    if origins
    else None
)
# Made on first use (a group merger's download); it asks for the app's key on every call, and its
# role lookups take their slots in the REST budget every Lambda shares.
rest = paced_client(settings, keys.current)
# The moderation policy the before-send callback applies (POLICY_SOURCE), cached as it caches it.
config = ConfigStore(
    "",
    settings.POLICY_SOURCE,
    settings.CONFIG_CACHE_SECONDS,
    logger,
    source=PowertoolsSource(),
    count=lambda name: metrics.add_metric(name=name, unit=MetricUnit.Count, value=1),
)
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
        return Problem(503, verdict["unavailable"]).response()
    if not verdict.get("identifier"):
        raise UnauthorizedError("no verified UserSig")
    return next_middleware(app)


def _json(status: int, body: str) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


# The gateway's own refusals (no Authorization header: 401; a UserSig that does not verify: 403) and the
# answers every route may give.
_REFUSED = {
    401: doc("No Authorization: Bearer <UserSig> header"),
    403: doc("The UserSig does not verify (expired, another app's, malformed)"),
    503: doc("Storage, Tencent IM or the app's key is not available now; try again (Retry-After)"),
}


@app.post(
    "/mergers",
    middlewares=[_require_verified_caller],
    responses={
        201: doc("Stored: the downloadKey, and the TIMRelayElem carrying it, ready to send", UploadResult),
        400: doc("The body is not JSON"),
        404: doc("The list references a stored merger there is none of, for this caller (limit nested_key)"),
        413: doc("The upload is over 5 MB (limit size)"),
        415: doc("The body is not application/json"),
        422: doc("Invalid upload: the fields and why, or the limit it breaks (messages, levels, relay, blocked)"),
        **_REFUSED,
    },
)
def upload():  # no return annotation: the resolver would document it as the answer's model
    event = app.current_event
    body = event.body or ""
    try:
        raw = base64.b64decode(body, validate=True) if event.is_base64_encoded else body.encode()
    except (ValueError, binascii.Error):
        raise NotJson("the body is not valid base64") from None
    stored = service.upload_json(_caller(), raw)
    metrics.add_metric(name=MERGER_UPLOADED, unit=MetricUnit.Count, value=1)
    return _json(201, stored.model_dump_json())


@app.get(
    "/mergers/<downloadKey>",
    middlewares=[_require_verified_caller],
    responses={
        200: doc("The merger's list, or (a large one) a short-lived link to it", MergerDocument | DownloadLink),
        404: doc("No such merger, or not one of the caller's conversations"),
        **_REFUSED,
    },
)
def download(
    downloadKey: Annotated[  # noqa: N803 - the path parameter's name
        str, Path(description="A merger's downloadKey", json_schema_extra={"pattern": f"^{KEY_PATTERN.pattern}$"})
    ],
):  # no return annotation: as upload's
    found = service.download(_caller(), downloadKey)
    metrics.add_metric(name=MERGER_DOWNLOADED, unit=MetricUnit.Count, value=1)
    return _json(200, found.json.decode() if isinstance(found, InlineDocument) else found.model_dump_json())


# No return annotation: the resolver would read it as the response model.
@app.get("/mergers/openapi.json", include_in_schema=False)
def openapi():
    return _json(200, merger_document(app))


def _busy(exc: MembershipUnavailable | StoreBusy) -> Problem:
    logger.warning("merger API unavailable", reason=str(exc))
    return Problem(503, "the merger service cannot answer now; try again shortly", retry_after=1)


DOMAIN_ERRORS: ErrorTable = {
    LimitExceeded: lambda exc: Problem(413 if exc.limit == "size" else 422, str(exc), limit=exc.limit),
    # The route validates the body itself (see `app` above): its errors are pydantic's own.
    ValidationError: lambda exc: invalid(
        field_errors(exc.errors(include_url=False, include_input=False)), "invalid upload"
    ),
    NotJson: lambda exc: Problem(400, str(exc), "body"),
    BlockedContent: lambda exc: Problem(422, str(exc), limit="blocked"),
    # A reference to a merger there is none of (for this caller): not found, as a download of it would be.
    UnknownNestedKey: lambda exc: Problem(404, str(exc), limit="nested_key"),
    MergerNotFound: lambda exc: Problem(404, "no such merger", "downloadKey"),
    MembershipUnavailable: _busy,
    StoreBusy: _busy,
}
use_errors(app, DOMAIN_ERRORS, logger)


# The gateway's request id: in the access log, in the authorizer's log and in the apigw-requestid
# header the caller got.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    prepared = prepare(event)
    return prepared if is_answer(prepared) else app.resolve(prepared, context)
