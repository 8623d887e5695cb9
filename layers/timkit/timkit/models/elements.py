"""Message elements (`MsgBody` items), docs/protocol.md §3 and §7.1.

Every element is ``{"MsgType": ..., "MsgContent": {...}}``. Known types are validated; a type
these models do not know is kept as it came and serialised back unchanged, because Tencent adds
element types and a callback must never fail on one. Known types also keep fields they do not
declare (``extra="allow"``), for the same reason.

Serialise with :func:`dump_body` / ``model_dump(mode="json", exclude_unset=True)`` so that a
parsed body goes back out exactly as it came in.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticSerializationError

# Tencent's limit for one message body (docs/protocol.md §6.2): the UTF-8 JSON of MsgBody.
MAX_BODY_BYTES = 12 * 1024


class Wire(BaseModel):
    """Base for everything that travels in Tencent's JSON: keeps unknown fields, lax numbers."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


class TextContent(Wire):
    Text: str


class LocationContent(Wire):
    Desc: str = ""
    # int | float keeps a whole number as it came (39, not 39.0): the body must go back unchanged.
    Latitude: int | float
    Longitude: int | float


class FaceContent(Wire):
    Index: int
    Data: str = ""


class CustomContent(Wire):
    Data: str = ""
    Desc: str = ""
    Ext: str = ""
    Sound: str = ""


class SoundContent(Wire):
    Url: str | None = None
    UUID: str | None = None
    Size: int | None = None
    Second: int | None = None
    Download_Flag: int | None = None


class ImageInfo(Wire):
    # 1 original, 2 large, 3 thumbnail today; a kind Tencent adds later is carried through.
    Type: int
    Size: int | None = None
    Width: int | None = None
    Height: int | None = None
    URL: str | None = None


class ImageContent(Wire):
    UUID: str | None = None
    ImageFormat: int | None = None
    ImageInfoArray: list[ImageInfo] = Field(default_factory=list)


class FileContent(Wire):
    Url: str | None = None
    UUID: str | None = None
    FileSize: int | None = None
    FileName: str | None = None
    Download_Flag: int | None = None


class VideoContent(Wire):
    VideoUrl: str | None = None
    VideoUUID: str | None = None
    VideoSize: int | None = None
    VideoSecond: int | None = None
    VideoFormat: str | None = None
    VideoDownloadFlag: int | None = None
    ThumbUrl: str | None = None
    ThumbUUID: str | None = None
    ThumbSize: int | None = None
    ThumbWidth: int | None = None
    ThumbHeight: int | None = None
    ThumbFormat: str | None = None
    ThumbDownloadFlag: int | None = None


class RelayMessage(Wire):
    """One forwarded message inside a merger's ``MsgList`` (docs/protocol.md §7.1)."""

    From_Account: str
    To_Account: str | None = None
    GroupId: str | None = None
    MsgSeq: int | None = None
    MsgRandom: int | None = None
    MsgTimeStamp: int | None = None
    MsgBody: list[MsgElement]
    CloudCustomData: str = ""
    From_AccountNick: str | None = None
    From_AccountHeadurl: str | None = None


class RelayContent(Wire):
    """A merger: either the list inline (``MsgList``) or a key to it stored elsewhere (``JsonMsgKey``)."""

    Title: str = ""
    MsgNum: int = 0
    CompatibleText: str = ""
    AbstractList: list[str] = Field(default_factory=list)
    MsgList: list[RelayMessage] | None = None
    JsonMsgKey: str | None = None
    PbMsgKey: str | None = None


class StreamChunk(Wire):
    EventType: str = "data"
    Index: int
    Markdown: str = ""
    IsLast: bool = False


class StreamContent(Wire):
    Chunks: list[StreamChunk] = Field(default_factory=list)
    CompatibleText: str = ""
    StreamMsgID: str | None = None


class Element(Wire):
    """An element's ``MsgType`` always goes out, also when it was filled in by default."""

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.add("MsgType")


class TextElem(Element):
    MsgType: Literal["TIMTextElem"] = "TIMTextElem"
    MsgContent: TextContent


class LocationElem(Element):
    MsgType: Literal["TIMLocationElem"] = "TIMLocationElem"
    MsgContent: LocationContent


class FaceElem(Element):
    MsgType: Literal["TIMFaceElem"] = "TIMFaceElem"
    MsgContent: FaceContent


class CustomElem(Element):
    MsgType: Literal["TIMCustomElem"] = "TIMCustomElem"
    MsgContent: CustomContent


class SoundElem(Element):
    MsgType: Literal["TIMSoundElem"] = "TIMSoundElem"
    MsgContent: SoundContent


class ImageElem(Element):
    MsgType: Literal["TIMImageElem"] = "TIMImageElem"
    MsgContent: ImageContent


class FileElem(Element):
    MsgType: Literal["TIMFileElem"] = "TIMFileElem"
    MsgContent: FileContent


class VideoFileElem(Element):
    MsgType: Literal["TIMVideoFileElem"] = "TIMVideoFileElem"
    MsgContent: VideoContent


class RelayElem(Element):
    MsgType: Literal["TIMRelayElem"] = "TIMRelayElem"
    MsgContent: RelayContent


class StreamElem(Element):
    MsgType: Literal["TIMStreamElem"] = "TIMStreamElem"
    MsgContent: StreamContent


class UnknownElem(Wire):
    """An element type these models do not know: carried through untouched."""

    # Published as what it is: any type but those modelled above (which are checked as theirs).
    MsgType: Annotated[
        str, Field(json_schema_extra=lambda schema: schema.update({"not": {"enum": sorted(KNOWN_ELEMENTS)}}))
    ]
    MsgContent: Any = None


KNOWN_ELEMENTS: dict[str, type[Wire]] = {
    "TIMTextElem": TextElem,
    "TIMLocationElem": LocationElem,
    "TIMFaceElem": FaceElem,
    "TIMCustomElem": CustomElem,
    "TIMSoundElem": SoundElem,
    "TIMImageElem": ImageElem,
    "TIMFileElem": FileElem,
    "TIMVideoFileElem": VideoFileElem,
    "TIMRelayElem": RelayElem,
    "TIMStreamElem": StreamElem,
}
ELEMENT_TYPES = frozenset(KNOWN_ELEMENTS)


def _element_tag(value: Any) -> str:
    msg_type = value.get("MsgType") if isinstance(value, dict) else getattr(value, "MsgType", None)
    # Anything but a known name (a list, an object: unhashable) is "unknown", whose model then
    # refuses a MsgType that is not a string with a validation error naming the field.
    return msg_type if isinstance(msg_type, str) and msg_type in KNOWN_ELEMENTS else "unknown"


MsgElement = Annotated[
    Annotated[TextElem, Tag("TIMTextElem")]
    | Annotated[LocationElem, Tag("TIMLocationElem")]
    | Annotated[FaceElem, Tag("TIMFaceElem")]
    | Annotated[CustomElem, Tag("TIMCustomElem")]
    | Annotated[SoundElem, Tag("TIMSoundElem")]
    | Annotated[ImageElem, Tag("TIMImageElem")]
    | Annotated[FileElem, Tag("TIMFileElem")]
    | Annotated[VideoFileElem, Tag("TIMVideoFileElem")]
    | Annotated[RelayElem, Tag("TIMRelayElem")]
    | Annotated[StreamElem, Tag("TIMStreamElem")]
    | Annotated[UnknownElem, Tag("unknown")],
    Discriminator(_element_tag),
]
MsgBody = list[MsgElement]

RelayMessage.model_rebuild()
BODY_ADAPTER: TypeAdapter[list[MsgElement]] = TypeAdapter(MsgBody)


def parse_body(raw: Any) -> list[MsgElement]:
    """Validate a ``MsgBody`` array (already decoded JSON)."""
    return BODY_ADAPTER.validate_python(raw)


def dump_body(body: list[MsgElement]) -> list[dict[str, Any]]:
    """The wire form of a body: only the fields that were given, nothing added."""
    wire: list[dict[str, Any]] = BODY_ADAPTER.dump_python(body, mode="json", exclude_unset=True)
    return wire


def body_size(body: list[MsgElement]) -> int:
    """Bytes Tencent counts against the 12 KB limit: UTF-8 of the compact JSON of ``MsgBody``
    (what ``JSON.stringify`` gives: no spaces, non-ASCII characters left as they are)."""
    try:
        return len(BODY_ADAPTER.dump_json(body, exclude_unset=True))
    except PydanticSerializationError:
        # pydantic-core's encoder stops near 250 nested arrays and objects (about 50 merger
        # levels); Tencent nests mergers up to 100 levels (docs/protocol.md §7.4).
        return len(json.dumps(dump_body(body), ensure_ascii=False, separators=(",", ":")).encode())


# ---------------------------------------------------------------------- requests of this bundle's HTTP APIs


def whole_numbers(value: Any) -> Any:
    """``value`` (decoded JSON) with every float that is a whole number made an int: JSON has one kind
    of number, and JSON Schema's integer takes 5.0 as 5, where pydantic's strict mode would not."""
    root = [value]
    pending: list[tuple[Any, Any]] = [(root, 0)]
    # A loop, not recursion: the value may nest as deep as the JSON parser allowed.
    while pending:
        container, key = pending.pop()
        item = container[key]
        if isinstance(item, float) and item.is_integer():
            container[key] = int(item)
        elif isinstance(item, dict):
            container[key] = members = dict(item)
            pending.extend((members, name) for name in members)
        elif isinstance(item, list):
            container[key] = items = list(item)
            pending.extend((items, index) for index in range(len(items)))
    return root[0]


# A JSON integer for a strict int field: 5 or 5.0, not "5" or true.
WholeNumber = BeforeValidator(lambda value: int(value) if isinstance(value, float) and value.is_integer() else value)


def strictly(annotation: Any) -> WrapValidator:
    """Validates ``annotation`` in strict mode: a request of the admin or merger API gets no lax reading
    of the wire models it holds (a "5" or a true where a number goes is refused, as the published types
    say), while callbacks, read with the same models, keep Tencent's lax numbers. Built on first use:
    the callback's cold start does not pay for it."""

    @functools.cache
    def adapter() -> TypeAdapter[Any]:
        return TypeAdapter(annotation)

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return adapter().validate_python(whole_numbers(value), strict=True)

    return WrapValidator(validate)
