"""What the bundle publishes to its EventBridge bus: one event per callback the event processor
handled, after it was archived (README "Events for your own code").

Every event has ``source`` :data:`SOURCE`, the callback's command as its ``detail-type`` (one
per command, so a rule picks commands by name) and a :class:`EventDetail` as its ``detail``: the
callback as the models read it, with what the bundle knows about it. The JSON schema of each
detail-type's detail is published in ``docs/events/<detail-type>.v<version>.json``
(``tools/event_schemas.py`` writes them; a test fails while they are stale).

Versioning: within a version, a detail only gains fields (a new optional field of ours, or a field
Tencent adds to its callback, which the models keep). Anything a consumer could trip on (a field
removed, renamed or retyped) is a new ``version``, with a schema file of its own; rules can pin
one with ``"detail": {"version": [1]}``.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from timkit.models.callbacks import ASYNC_COMMANDS, REQUEST_MODELS, CallbackRequest
from timkit.models.elements import ELEMENT_TYPES

SOURCE = "timkit"
DETAIL_VERSION: Literal[1] = 1

CallbackT = TypeVar("CallbackT", bound=CallbackRequest)


class EventDetail(BaseModel, Generic[CallbackT]):
    """The ``detail`` of an event on the bus."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    version: Literal[1] = Field(
        default=DETAIL_VERSION, description="The detail's version: fields are only added within one."
    )
    eventId: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The same for every delivery of the same callback: consumers may de-duplicate by it."
    )
    sdkAppId: int = Field(description="The Tencent Cloud Chat application (SDKAppID) the callback came from.")
    conversation: str | None = Field(
        default=None,
        description="The conversation id (c2c:<user>:<user>, group:<GroupId> or topic:<GroupId>:<TopicId>), "
        "where the callback is about one.",
    )
    messageIds: list[str] = Field(
        default_factory=list,
        description="The ids of the messages it concerns (as the history API knows them), where it concerns any.",
    )
    callback: CallbackT = Field(description="The callback's body, as Tencent sent it and the bundle read it.")


def detail_types() -> list[str]:
    """Every detail-type published: the commands processed after the acknowledgement."""
    return sorted(ASYNC_COMMANDS)


@cache
def detail_model(detail_type: str) -> type[EventDetail[Any]]:
    """The detail model of ``detail_type`` (a command of :func:`detail_types`)."""
    if detail_type not in ASYNC_COMMANDS:
        raise KeyError(f"{detail_type} is not published")
    callback: Any = REQUEST_MODELS[detail_type]
    # Parametrised by a class known at run time only, which a type checker cannot follow.
    model: type[EventDetail[Any]] = EventDetail[callback]
    return model


def detail_schema(detail_type: str) -> dict[str, Any]:
    """The JSON schema of ``detail_type``'s detail, as published in docs/events/."""
    schema = detail_model(detail_type).model_json_schema(mode="serialization")
    unknown = schema.get("$defs", {}).get("UnknownElem")
    if unknown is not None:
        # The models take an element as UnknownElem only when its MsgType is none of the known ones
        # (a discriminator pydantic cannot say in a schema): without this, a known element matches
        # its own schema and UnknownElem's too, and the union's oneOf refuses it.
        unknown["not"] = {"properties": {"MsgType": {"enum": sorted(ELEMENT_TYPES)}}, "required": ["MsgType"]}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = schema_file(detail_type)
    schema["title"] = f"{SOURCE} {detail_type} detail v{DETAIL_VERSION}"
    return schema


def schema_file(detail_type: str) -> str:
    return f"{detail_type}.v{DETAIL_VERSION}.json"
