"""The admin API's OpenAPI document: the answers and parameters its routes declare, and where the
document is published. It must state every constraint the validation enforces (tests/contract).

Routes carry no return annotation: the resolver would read it as the response model; the documented
answers are in ``responses``.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import TypeAdapter

from timkit.history import MAX_MESSAGE_ID, MAX_PAGE_SIZE
from timkit.models.admin import MAX_PAGE
from timkit.models.conversations import MAX_CONVERSATION_ID, MAX_TIME
from timkit.models.errors import ErrorBody
from timkit.models.rest import RobotId


def doc(description: str, model: Any = ErrorBody) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


# An empty content: otherwise the resolver documents a JSON body for the 204.
NO_CONTENT: OpenAPIResponse = {"description": "Done", "content": {}}
ERRORS: dict[int, OpenAPIResponse] = {
    400: doc("Bad request"),
    # Replaces the resolver's own 422 entry, which describes a body this API does not send.
    422: doc("Invalid request: the field and why"),
    404: doc("Not found"),
    502: doc("Tencent IM refused the call"),
    503: doc("Tencent IM or AWS could not be reached, or the app's key is not configured"),
}
POST_ERRORS = {**ERRORS, 415: doc("The body is not application/json")}

JobId = Annotated[str, Path(max_length=64, description="A broadcast's jobId")]
ROBOT_ID = TypeAdapter(RobotId)
# The pattern is the document's only: the resolver checks the parameter as it arrives, encoded.
RobotPath = Annotated[
    str,
    Path(
        description="An @RBT# robot ID, percent-encoded",
        json_schema_extra=ROBOT_ID.json_schema(),
        examples=["@RBT#assistant"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Token = Annotated[str | None, Query(max_length=2048)]
# As RobotPath: the constraints are the document's, checked on the decoded value by HistoryService.
ConversationPath = Annotated[
    str,
    Path(
        description="A conversation id, percent-encoded: c2c:<user>:<user> (either order), group:<GroupId> or "
        "topic:<GroupId>:<TopicId>, with ':' and '%' inside ids written %3A and %25",
        json_schema_extra={
            "pattern": r"^(c2c:[^:]+:[^:]+|group:[^:]+|topic:[^:]+:[^:]+)$",
            "maxLength": MAX_CONVERSATION_ID,
        },
        examples=["c2c:alice:bob", "group:@TGS#2J4SZEAEL"],
    ),
]
MessagePath = Annotated[
    str,
    Path(
        description="A message id, percent-encoded: c2c:<MsgKey>, group:<GroupId>:<MsgSeq>, "
        "topic:<GroupId>:<TopicId>:<MsgSeq>, or a system event's system:<id>",
        json_schema_extra={"pattern": r"^(c2c|group|topic|system):.+$", "maxLength": MAX_MESSAGE_ID},
        examples=["group:@TGS#2J4SZEAEL:123"],
    ),
]
UserPath = Annotated[str, Path(max_length=200, description="A UserID, percent-encoded")]
Seconds = Annotated[int | None, Query(ge=0, le=MAX_TIME, description="Unix seconds, inclusive")]
StartTime = Annotated[int | None, Query(ge=0, le=MAX_TIME, description="Only what happened from then on (Unix s)")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


def publish(app: APIGatewayHttpResolver, prefix: str, title: str, version: str, description: str) -> None:
    """The document at ``<prefix>/openapi.json`` and Swagger UI at ``<prefix>/swagger``."""
    app.enable_swagger(path=f"{prefix}/swagger", title=title, version=version, description=description)

    # No return annotation: the resolver would read it as the response model.
    @app.get(f"{prefix}/openapi.json", include_in_schema=False)
    def openapi():  # type: ignore[no-untyped-def]  # an annotation would become the response model
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=app.get_openapi_json_schema(title=title, version=version),
        )
