"""What an HttpApi hands a Powertools resolver that it would get wrong, put right before it reads the
request (:func:`prepare`), and the path parameters and JSON answers of the routes.

HTTP APIs hand rawPath over decoded, and the resolver matches a path parameter only if it is made
of URI-safe characters and letters: a robot ID's #, a ?, a control character or an emoji would find
no route. So the path is percent-encoded again before routing (a % stays: an encoded path passes
unchanged), and routes read their parameters with :func:`path_value`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from timkit.api.errors import Problem
from timkit.api.idempotency import BODY_METHODS


class InvalidPath(ValueError):
    """A path parameter that is not what the route takes (a 422 naming ``field``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    """The event to resolve, or (a body that is not JSON) the 415 to answer without resolving it."""
    raw_path = event.get("rawPath", "")
    if (encoded := quote(raw_path, safe="/%@:!$&'()*+,;=")) != raw_path:
        event = {**event, "rawPath": encoded}
    # Bodies are JSON (no Content-Type: taken as JSON). The resolver would read a form as fields
    # and fail on a multipart body with an error of its own (a 500): refused here, before it reads.
    media_type = (event.get("headers") or {}).get("content-type", "").split(";")[0].strip()
    method = event.get("requestContext", {}).get("http", {}).get("method")
    if method in BODY_METHODS and media_type not in ("", content_types.APPLICATION_JSON):
        refused = Problem(415, f"the body is {media_type}; this API takes application/json", "Content-Type")
        response = refused.response()
        return {
            "statusCode": response.status_code,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": response.body,
        }
    return event


def is_answer(prepared: dict[str, Any]) -> bool:
    """Whether :func:`prepare` answered the request itself."""
    return "statusCode" in prepared


def path_value(app: APIGatewayHttpResolver, name: str, raw: str) -> str:
    """Path parameter ``name`` as API Gateway decoded it: an id's own escapes (%3A in a conversation
    id) are then intact, where decoding the (re-encoded) path would take them for URL escapes."""
    given = (app.current_event.path_parameters or {}).get(name)
    return given if given is not None else unquote(raw)


def validated_path(app: APIGatewayHttpResolver, adapter: TypeAdapter[str], name: str, raw: str) -> str:
    """Path parameter ``name``, decoded, checked against ``adapter`` (:class:`InvalidPath` if not)."""
    try:
        return adapter.validate_python(path_value(app, name, raw))
    except ValidationError as exc:
        raise InvalidPath(f"path.{name}", exc.errors()[0]["msg"]) from None


def json_response(status: int, model: BaseModel) -> Response[str]:
    """``model`` as the JSON answer (camelCase names, nothing null)."""
    try:
        body = model.model_dump_json(by_alias=True, exclude_none=True)
    except PydanticSerializationError:
        # pydantic-core's JSON encoder stops near 250 nested levels; a message in history may hold
        # mergers 100 deep (500 levels). Its plain-Python dump goes deeper.
        plain = model.model_dump(by_alias=True, exclude_none=True)
        body = json.dumps(plain, ensure_ascii=False, default=str)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)
