"""The admin API's OpenAPI document: the answers and parameters its routes declare, and where the
document is published. It must state every constraint the validation enforces (tests/contract).

Routes carry no return annotation: the resolver would read it as the response model; the documented
answers are in ``responses``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import Field, TypeAdapter

from timkit.history import MAX_MESSAGE_ID, MAX_PAGE_SIZE
from timkit.models.admin import MAX_PAGE
from timkit.models.conversations import MAX_CONVERSATION_ID, MAX_TIME
from timkit.models.errors import ErrorBody
from timkit.models.merger import MergerUpload
from timkit.models.rest import MAX_GROUP_ID_BYTES, MAX_USER_ID_BYTES, RobotId
from timkit.stores.paging import TOKEN_PATTERN

# The string formats the documents use beyond JSON Schema's own: rules JSON Schema cannot state (lengths
# in UTF-8 bytes, ids made of ids, times to come). Listed in each document's description; the contract
# tests generate values of each (tests/contract/hooks.py).
FORMATS = {
    "tim-user-id": "a Tencent IM UserID: 1 to 32 bytes in UTF-8 (maxLength counts characters)",
    "tim-robot-id": "a robot's UserID: @RBT# and a name, 32 bytes at most in UTF-8",
    "tim-group-id": "a GroupId: 1 to 48 bytes in UTF-8, no control characters",
    "tim-group-name": "a group's name: 1 to 30 bytes in UTF-8",
    "conversation-id": "c2c:<user>:<user> (two different users), group:<GroupId> or topic:<GroupId>:<TopicId>, "
    "':' and '%' inside ids written %3A and %25",
    "thread-id": "c2c:<user>:<user> (two different UserIDs) or group:<GroupId>, each id as its format says",
    "schedule-at": "YYYY-MM-DDTHH:MM[:SS[.ffffff]] with an optional Z or ±HH:MM offset (none: in the schedule's "
    "time zone), a real date and time from 1970 to 9998 that has not passed",
    "schedule-cron": "cron(minutes hours day-of-month month day-of-week year) as EventBridge Scheduler takes it, "
    "firing at least once more",
    "time-zone": "an IANA time zone name, such as Asia/Shanghai or UTC",
    "http-url": "an http or https URL with a host, as the WHATWG URL standard reads it",
}
FORMATS_TEXT = " String formats beyond JSON Schema's: " + "; ".join(f"{name}: {rule}" for name, rule in FORMATS.items())


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

MAX_JOB_ID = 64
# As RobotPath: the resolver would count the length of the id as it arrives, encoded.
JOB_ID = TypeAdapter(Annotated[str, Field(max_length=MAX_JOB_ID)])
JobId = Annotated[str, Path(description="A broadcast's jobId", json_schema_extra={"maxLength": MAX_JOB_ID})]
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
Token = Annotated[
    str | None,
    Query(
        max_length=2048,
        pattern=TOKEN_PATTERN,
        description="The nextToken of the page before, as given (absent or empty: the first page)",
    ),
]


# As RobotPath: pattern and format are the document's, checked on the decoded value by HistoryService or
# timkit.chat.
_ESCAPES = ", percent-encoded, with ':' and '%' inside ids written %3A and %25"


def _id_schema(pattern: str, id_format: str) -> dict[str, Any]:
    return {"pattern": pattern, "maxLength": MAX_CONVERSATION_ID, "format": id_format}


# One character of an id inside a thread id, or a %XX escape: a UserID is at most 32 of them, a GroupId
# 48 (bytes, in the format thread-id); the second user of a c2c id is not the first.
_UNIT = "(?:%[0-9A-Fa-f]{2}|[^:])"
_C2C = rf"c2c:({_UNIT}{{1,{MAX_USER_ID_BYTES}}}):(?!\1$){_UNIT}{{1,{MAX_USER_ID_BYTES}}}"
_GROUP = rf"group:{_UNIT}{{1,{MAX_GROUP_ID_BYTES}}}"


ConversationPath = Annotated[
    str,
    Path(
        description="A conversation id: c2c:<user>:<user> (two different users, either order), group:<GroupId> or "
        "topic:<GroupId>:<TopicId>" + _ESCAPES,
        json_schema_extra=_id_schema(
            r"^(?:c2c:([^:]+):(?!\1$)[^:]+|group:[^:]+|topic:[^:]+:[^:]+)$", "conversation-id"
        ),
        examples=["c2c:alice:bob", "group:@TGS#2J4SZEAEL"],
    ),
]
# Threads are one-to-one chats and groups (topics of Community groups are not threads), their ids
# Tencent's: UserIDs and GroupIds (the format thread-id).
ThreadPath = Annotated[
    str,
    Path(
        description="A thread id: c2c:<user>:<user> (two different users, either order) or group:<GroupId>" + _ESCAPES,
        json_schema_extra=_id_schema(f"^(?:{_C2C}|{_GROUP})$", "thread-id"),
        examples=["c2c:alice:bob", "group:@TGS#2J4SZEAEL"],
    ),
]
GroupThreadPath = Annotated[
    str,
    Path(
        description="A group thread's id, group:<GroupId> (Tencent IM offers this for groups only)" + _ESCAPES,
        json_schema_extra=_id_schema(f"^{_GROUP}$", "thread-id"),
        examples=["group:@TGS#2J4SZEAEL"],
    ),
]
C2CThreadPath = Annotated[
    str,
    Path(
        description="A one-to-one thread's id, c2c:<user>:<user> (Tencent IM offers this for one-to-one chats only)"
        + _ESCAPES,
        json_schema_extra=_id_schema(f"^{_C2C}$", "thread-id"),
        examples=["c2c:alice:bob"],
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
UserPath = Annotated[
    str,
    Path(
        description="A UserID, percent-encoded",
        json_schema_extra={"maxLength": MAX_USER_ID_BYTES, "format": "tim-user-id"},
    ),
]
Seconds = Annotated[int | None, Query(ge=0, le=MAX_TIME, description="Unix seconds, inclusive")]
StartTime = Annotated[int | None, Query(ge=0, le=MAX_TIME, description="Only what happened from then on (Unix s)")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


def publish(app: APIGatewayHttpResolver, prefix: str, title: str, version: str, description: str) -> None:
    """The document at ``<prefix>/openapi.json`` and Swagger UI at ``<prefix>/swagger``."""
    description += FORMATS_TEXT
    app.enable_swagger(path=f"{prefix}/swagger", title=title, version=version, description=description)

    # No return annotation: the resolver would read it as the response model.
    @app.get(f"{prefix}/openapi.json", include_in_schema=False)
    def openapi():  # type: ignore[no-untyped-def]  # an annotation would become the response model
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=app.get_openapi_json_schema(title=title, version=version, description=description),
        )


MERGER_DESCRIPTION = (
    "Merger (merged-forward message) storage for chat clients: upload a merger's message list, get a downloadKey "
    "and a TIMRelayElem carrying it; members of the conversation download the list with the key. Calls carry the "
    "caller's own UserSig as a bearer token (Authorization: Bearer <UserSig>)."
)


def merger_document(app: APIGatewayHttpResolver) -> str:
    """The merger API's OpenAPI document: its routes' answers as the resolver documents them, and the
    upload's body, which the route validates itself (see functions/merger_api)."""
    document = json.loads(
        app.get_openapi_json_schema(
            title="timkit merger API",
            version="1.0.0",
            description=MERGER_DESCRIPTION + FORMATS_TEXT,
            security_schemes={"UserSig": HTTPBearer(description="The caller's UserSig")},
            security=[{"UserSig": []}],
        )
    )
    # What a request takes, named <Model>Input: the answers' schemas (what they give) differ for some models.
    upload = MergerUpload.model_json_schema(ref_template="#/components/schemas/{model}Input")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update({f"{name}Input": schema for name, schema in upload.pop("$defs", {}).items()})
    schemas["MergerUploadInput"] = upload
    # What an upload gives, a download takes (the link schemathesis's stateful phase follows, too).
    document["paths"]["/mergers"]["post"]["responses"]["201"]["links"] = {
        "DownloadMerger": {
            "operationId": document["paths"]["/mergers/{downloadKey}"]["get"]["operationId"],
            "parameters": {"downloadKey": "$response.body#/downloadKey"},
        }
    }
    document["paths"]["/mergers"]["post"]["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MergerUploadInput"}}},
    }
    return json.dumps(document)
