"""Errors to HTTP answers, one table per API: what each exception answers (status, the field or
limit it is about, a Retry-After), always as :class:`timkit.models.errors.ErrorBody`.

:data:`COMMON` holds what every API answers alike: AWS and Tencent IM failing are a 503 (try again),
a user, group or message Tencent says does not exist a 404, a refusal of Tencent's own a 502, the
app's key not configured a 503 naming the setting, schema failures a 422 naming the fields. Each API
adds its domain errors (see :func:`use_errors`); an entry for a subclass wins over its base's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import ApiGatewayResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from botocore.exceptions import ClientError

from timkit.keys import KeyNotConfigured
from timkit.models.errors import ErrorBody, FieldError
from timkit.stores.config import ConfigUnavailable
from timkit.tim.errors import NOT_FOUND_CODES, TimApiError, TimTransportError

# How many field problems a 422 lists.
MAX_FIELD_ERRORS = 20


@dataclass(frozen=True)
class Problem:
    """What an error answers."""

    status: int
    message: str
    field: str | None = None
    limit: str | None = None
    errors: list[FieldError] = dataclass_field(default_factory=list)
    retry_after: int | None = None

    def response(self) -> Response[str]:
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        body = ErrorBody(message=self.message, field=self.field, limit=self.limit, errors=self.errors)
        return Response(self.status, content_types.APPLICATION_JSON, body.model_dump_json(), headers=headers)


# An exception class and what it answers; a subclass's entry wins over its base's.
ErrorTable = Mapping[type[Exception], Callable[[Any], Problem]]


def status(code: int, field: str | None = None) -> Callable[[Exception], Problem]:
    """The common case: ``code``, the exception's own message, about ``field``."""
    return lambda exc: Problem(code, str(exc), field)


def field_errors(errors: Iterable[Any], prefix: tuple[Any, ...] = ()) -> list[FieldError]:
    """pydantic's errors as fields and messages: where and what, never the input (it can be
    megabytes, or a secret)."""
    return [
        FieldError(
            field=".".join(str(p) for p in (*prefix, *err["loc"])) or "body",
            message=err.get("msg", err.get("type", "invalid")),
        )
        for err in list(errors)[:MAX_FIELD_ERRORS]
    ]


def invalid(errors: list[FieldError], message: str | None = None) -> Problem:
    """A 422 naming the first field at fault in ``field`` (and ``message``), all of them in ``errors``."""
    first = errors[0] if errors else FieldError(field="body", message="invalid request")
    return Problem(422, message or f"{first.field}: {first.message}", first.field, errors=errors)


def _tencent_refused(exc: TimApiError) -> Problem:
    # A user, group or message that is not there is the request's mistake; a code that says Tencent
    # failed (one worth retrying) is an outage; any other refusal is Tencent's answer to relay.
    code = 404 if exc.error_code in NOT_FOUND_CODES else 503 if exc.retryable else 502
    return Problem(code, f"Tencent IM answered {exc.error_code}: {exc.error_info}", exc.command)


COMMON: ErrorTable = {
    RequestValidationError: lambda exc: invalid(field_errors(exc.errors())),
    # The resolver decodes a body that came base64-encoded (a binary one) as UTF-8 when it reads it.
    UnicodeDecodeError: lambda exc: Problem(422, "body: not UTF-8, so not JSON", "body"),
    # The resolver's own (a route not found, UnauthorizedError...), in this body rather than its own.
    ServiceError: lambda exc: Problem(exc.status_code, str(exc.msg)),
    IdempotencyValidationError: lambda exc: Problem(
        422, "this Idempotency-Key was used with another request body", "Idempotency-Key"
    ),
    IdempotencyAlreadyInProgressError: lambda exc: Problem(
        409, "a request with this Idempotency-Key is in progress", "Idempotency-Key"
    ),
    TimApiError: _tencent_refused,
    TimTransportError: lambda exc: Problem(
        503, f"Tencent IM did not answer ({exc.error_info}); try again", exc.command
    ),
    # AppKeyStore has logged it and counted it in the KeyNotConfigured metric.
    KeyNotConfigured: status(503),
    ConfigUnavailable: lambda exc: Problem(
        503, "the app's configuration could not be loaded; try again shortly", retry_after=5
    ),
    ClientError: lambda exc: Problem(503, f"an AWS call failed ({exc.response['Error']['Code']}); try again"),
}
# Logged where they are answered: the answer says little, the log says what failed.
_LOGGED = {ConfigUnavailable: "configuration unavailable", ClientError: "AWS call failed"}


def use_errors(app: ApiGatewayResolver, table: ErrorTable, logger: Logger) -> None:
    """Answers every exception in :data:`COMMON` and ``table`` (which wins) from the table."""

    def handler(answer: Callable[[Any], Problem], note: str | None) -> Callable[[Exception], Response[str]]:
        def handle(exc: Exception) -> Response[str]:
            if note is not None:
                logger.exception(note)
            return answer(exc).response()

        return handle

    for exc_class, answer in {**COMMON, **table}.items():
        note = next((text for base, text in _LOGGED.items() if issubclass(exc_class, base)), None)
        app.exception_handler(exc_class)(handler(answer, note))
