"""The Idempotency-Key header: a POST or PUT that carries one is carried out once, and a repeat
within 24 hours gets the first answer (Powertools idempotency, records in a DynamoDB table).

Only successes are kept: an error answer leaves the key free to be tried again. The same key with
another body is refused (IdempotencyValidationError, a 422 in timkit.api.errors), as is a repeat
while the first is still running (IdempotencyAlreadyInProgressError, a 409).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import ApiGatewayResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.api.errors import Problem

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
KEPT_SECONDS = 24 * 3600
# The methods that take a JSON body, and an Idempotency-Key.
BODY_METHODS = ("POST", "PUT")

# Documents the header on a route (declare it as a parameter); the middleware does the work.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        max_length=MAX_KEY_LENGTH,
        description="Carries out this request once; a repeat within 24 hours gets the first answer. The same key "
        "with another request is refused (422); a repeat while the first is under way is a 409.",
    ),
]


class _NotKept(Exception):
    """An answer that is not a success is not kept: the same key may be tried again."""

    def __init__(self, response: Response[Any]) -> None:
        self.response = response


def _carry_out(request: dict[str, str], route: Callable[[], Response[Any]]) -> dict[str, Any]:
    response = route()
    if response.status_code >= 300:
        raise _NotKept(response)
    return {"status": response.status_code, "body": response.body, "type": response.headers.get("Content-Type")}


class IdempotentWrites:
    """The middleware (``app.use(middlewares=[writes.middleware])``), keeping its records in ``table``."""

    def __init__(self, table: str) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="[path, key]",
            # The same key with another body is refused rather than answered with the first body's result.
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=KEPT_SECONDS,
        )
        self._once = idempotent_function(
            data_keyword_argument="request",
            persistence_store=DynamoDBPersistenceLayer(table_name=table),
            config=self._config,
        )(_carry_out)

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Call at the start of every invocation: a record in progress expires with the invocation."""
        self._config.register_lambda_context(context)

    def middleware(self, app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
        event = app.current_event
        key = (event.headers or {}).get(HEADER)
        if event.http_method not in BODY_METHODS or not key:
            return next_middleware(app)
        if len(key) > MAX_KEY_LENGTH:
            return Problem(
                400, f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", "Idempotency-Key"
            ).response()
        request = {"path": event.path, "key": key, "body": event.decoded_body or ""}
        try:
            done = self._once(request=request, route=lambda: next_middleware(app))
        except _NotKept as exc:
            return exc.response
        return Response(
            status_code=done["status"], content_type=done["type"] or content_types.APPLICATION_JSON, body=done["body"]
        )
