"""Message builders: the server-side twins of the Web SDK's ``create*Message`` calls and
``sendMessage`` options, producing the REST requests of docs/protocol.md §5.3–§5.5.

    msg = messages.text_at("Maintenance at 22:00, @all", at_all=True)
    client.send_group(msg.group_request("@TGS#1", options=SendOptions(priority="High")))
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from timkit.models.callbacks import GroupAtItem
from timkit.models.elements import (
    MAX_BODY_BYTES,
    CustomContent,
    CustomElem,
    FaceContent,
    FaceElem,
    FileContent,
    FileElem,
    ImageContent,
    ImageElem,
    ImageInfo,
    LocationContent,
    LocationElem,
    MsgElement,
    RelayContent,
    RelayElem,
    RelayMessage,
    SoundContent,
    SoundElem,
    TextContent,
    TextElem,
    VideoContent,
    VideoFileElem,
    body_size,
    parse_body,
)
from timkit.models.rest import (
    MAX_GROUP_RECEIVERS,
    BatchSendMsgRequest,
    ForbidCallback,
    PushInfo,
    SendGroupMsgRequest,
    SendMsgRequest,
    UserId,
    unique_ids,
)

# REST sends must ask for download flag 2 (docs/protocol.md §3).
_DOWNLOAD_FLAG = 2


def new_random() -> int:
    """A fresh uint32 for ``MsgRandom`` / ``Random``; keep it to retry the same message."""
    return secrets.randbits(32)


class SendOptions(BaseModel):
    """The ``sendMessage`` options that exist server-side."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Flags are booleans only: 0 or "yes" are refused, not taken for what they might mean.
    # Delivered to online users only, not stored (C2C MsgLifeTime 0, group OnlineOnlyFlag 1).
    online_only: StrictBool = False
    offline_push: PushInfo | None = None
    # Does not count as unread / does not become the conversation's last message.
    no_unread: StrictBool = False
    no_last_message: StrictBool = False
    # Group only: decides what survives the 40 messages/s per-group limit.
    priority: Literal["High", "Normal", "Low"] | None = None
    cloud_custom_data: Annotated[str, Field(max_length=MAX_BODY_BYTES)] | None = None
    # The sender's other devices see it too (C2C SyncOtherMachine 1) or not (2).
    sync_other_devices: StrictBool | None = None
    forbid_callbacks: StrictBool = False
    # The Web SDK's createXxxMessage options (docs/protocol.md §5.10). Group only: deliver to these
    # members alone (receiverList → To_Account).
    receiver_list: (
        Annotated[
            list[UserId],
            Field(min_length=1, max_length=MAX_GROUP_RECEIVERS, json_schema_extra={"uniqueItems": True}),
            AfterValidator(unique_ids),
        ]
        | None
    ) = None
    # needReadReceipt → IsNeedReadReceipt (one-to-one) / NeedReadReceipt (group).
    need_read_receipt: StrictBool = False
    # isSupportExtension → SupportMessageExtension (sendmsg and send_group_msg; batchsendmsg has none).
    support_extension: StrictBool = False
    # excludedFromContentModeration → SendMsgControl NoMsgCheck (only where content moderation is enabled).
    excluded_from_content_moderation: StrictBool = False

    def _controls(self) -> list[Literal["NoUnread", "NoLastMsg", "NoMsgCheck"]] | None:
        controls: list[Literal["NoUnread", "NoLastMsg", "NoMsgCheck"]] = []
        if self.no_unread:
            controls.append("NoUnread")
        if self.no_last_message:
            controls.append("NoLastMsg")
        if self.excluded_from_content_moderation:
            controls.append("NoMsgCheck")
        return controls or None

    def group_conflict(self) -> str | None:
        """What a group send cannot carry, or None: send_group_msg takes no SendMsgControl with
        OnlineOnlyFlag 1 (docs/protocol.md §5.5). NoUnread and NoLastMsg are left out then (an online-only
        message is neither counted nor kept); leaving out NoMsgCheck would moderate what was to be exempt."""
        if self.online_only and self.excluded_from_content_moderation:
            return "excludedFromContentModeration cannot go with onlineOnly in a group (no SendMsgControl then)"
        return None

    def _forbid(self) -> list[ForbidCallback] | None:
        return ["ForbidBeforeSendMsgCallback", "ForbidAfterSendMsgCallback"] if self.forbid_callbacks else None


class Message(BaseModel):
    """A message body (and, for group @-mentions, its ``GroupAtInfo``) ready to send."""

    model_config = ConfigDict(frozen=True)

    body: list[MsgElement] = Field(min_length=1)
    at_info: list[GroupAtItem] | None = None

    @property
    def size(self) -> int:
        return body_size(self.body)

    @property
    def fits(self) -> bool:
        return self.size <= MAX_BODY_BYTES

    def c2c_request(
        self,
        to: str,
        sender: str | None = None,
        options: SendOptions | None = None,
        random: int | None = None,
        seq: int | None = None,
    ) -> SendMsgRequest:
        """``random`` and ``seq`` (MsgRandom, MsgSeq): keep both to resend the same message."""
        opts = options or SendOptions()
        return SendMsgRequest(
            To_Account=to,
            SupportMessageExtension=1 if opts.support_extension else None,
            **self._c2c_fields(sender, opts, random, seq),
        )

    def batch_c2c_request(
        self,
        to: Sequence[str],
        sender: str | None = None,
        options: SendOptions | None = None,
        random: int | None = None,
        seq: int | None = None,
    ) -> BatchSendMsgRequest:
        opts = options or SendOptions()
        if opts.support_extension:
            raise ValueError("batchsendmsg takes no SupportMessageExtension (docs/protocol.md §5.10)")
        return BatchSendMsgRequest(To_Account=list(to), **self._c2c_fields(sender, opts, random, seq))

    def _c2c_fields(self, sender: str | None, opts: SendOptions, random: int | None, seq: int | None) -> dict[str, Any]:
        if opts.receiver_list is not None:
            raise ValueError("receiver_list (To_Account) is for group messages only (docs/protocol.md §5.10)")
        return {
            "From_Account": sender,
            "MsgRandom": new_random() if random is None else random,
            "MsgSeq": seq,
            "MsgBody": self.body,
            "MsgLifeTime": 0 if opts.online_only else None,
            "SyncOtherMachine": None if opts.sync_other_devices is None else (1 if opts.sync_other_devices else 2),
            "SendMsgControl": opts._controls(),
            "CloudCustomData": opts.cloud_custom_data,
            "OfflinePushInfo": opts.offline_push,
            "ForbidCallbackControl": opts._forbid(),
            "IsNeedReadReceipt": 1 if opts.need_read_receipt else None,
        }

    def group_request(
        self,
        group_id: str,
        sender: str | None = None,
        options: SendOptions | None = None,
        random: int | None = None,
    ) -> SendGroupMsgRequest:
        opts = options or SendOptions()
        if conflict := opts.group_conflict():
            raise ValueError(conflict)
        return SendGroupMsgRequest(
            GroupId=group_id,
            From_Account=sender,
            Random=new_random() if random is None else random,
            MsgBody=self.body,
            MsgPriority=opts.priority,
            OnlineOnlyFlag=1 if opts.online_only else None,
            # Tencent refuses NoUnread together with online-only (docs/protocol.md §5.5).
            SendMsgControl=None if opts.online_only else opts._controls(),
            GroupAtInfo=self.at_info,
            CloudCustomData=opts.cloud_custom_data,
            OfflinePushInfo=opts.offline_push,
            ForbidCallbackControl=opts._forbid(),
            To_Account=None if opts.receiver_list is None else list(opts.receiver_list),
            NeedReadReceipt=1 if opts.need_read_receipt else None,
            SupportMessageExtension=1 if opts.support_extension else None,
        )


def text(content: str) -> Message:
    return Message(body=[TextElem(MsgContent=TextContent(Text=content))])


def text_at(content: str, users: Sequence[str] = (), at_all: bool = False) -> Message:
    """Text with @-mentions; ``GroupAtInfo`` lists them in text order, @all first (docs/protocol.md §5.5)."""
    at = [GroupAtItem(GroupAtAllFlag=1)] if at_all else []
    at += [GroupAtItem(GroupAtAllFlag=0, GroupAt_Account=user) for user in users]
    if not at:
        raise ValueError("text_at needs users to mention or at_all")
    return Message(body=text(content).body, at_info=at)


def image(uuid: str, url: str, size: int, width: int, height: int, image_format: int = 255) -> Message:
    """An image already uploaded (by URL); the original is listed, clients derive the rest."""
    info = ImageInfo(Type=1, Size=size, Width=width, Height=height, URL=url)
    content = ImageContent(UUID=uuid, ImageFormat=image_format, ImageInfoArray=[info])
    return Message(body=[ImageElem(MsgContent=content)])


def sound(url: str, size: int, seconds: int, uuid: str | None = None) -> Message:
    content = SoundContent(Url=url, UUID=uuid, Size=size, Second=seconds, Download_Flag=_DOWNLOAD_FLAG)
    return Message(body=[SoundElem(MsgContent=content)])


def video(
    url: str,
    size: int,
    seconds: int,
    video_format: str,
    thumb_url: str,
    thumb_size: int,
    thumb_width: int,
    thumb_height: int,
    thumb_format: str = "JPG",
    uuid: str | None = None,
    thumb_uuid: str | None = None,
) -> Message:
    content = VideoContent(
        VideoUrl=url,
        VideoUUID=uuid,
        VideoSize=size,
        VideoSecond=seconds,
        VideoFormat=video_format,
        VideoDownloadFlag=_DOWNLOAD_FLAG,
        ThumbUrl=thumb_url,
        ThumbUUID=thumb_uuid,
        ThumbSize=thumb_size,
        ThumbWidth=thumb_width,
        ThumbHeight=thumb_height,
        ThumbFormat=thumb_format,
        ThumbDownloadFlag=_DOWNLOAD_FLAG,
    )
    return Message(body=[VideoFileElem(MsgContent=content)])


def file(url: str, name: str, size: int, uuid: str | None = None) -> Message:
    content = FileContent(Url=url, UUID=uuid, FileSize=size, FileName=name, Download_Flag=_DOWNLOAD_FLAG)
    return Message(body=[FileElem(MsgContent=content)])


def custom(data: str, desc: str = "", ext: str = "", sound_name: str = "") -> Message:
    return Message(body=[CustomElem(MsgContent=CustomContent(Data=data, Desc=desc, Ext=ext, Sound=sound_name))])


def face(index: int, data: str = "") -> Message:
    return Message(body=[FaceElem(MsgContent=FaceContent(Index=index, Data=data))])


def location(description: str, latitude: float, longitude: float) -> Message:
    return Message(
        body=[LocationElem(MsgContent=LocationContent(Desc=description, Latitude=latitude, Longitude=longitude))]
    )


def merger(
    title: str,
    messages: Sequence[RelayMessage],
    compatible_text: str,
    abstract_list: Sequence[str] = (),
) -> Message:
    """A merged-forward message carrying its list inline (``MsgList``, docs/protocol.md §7.1)."""
    if not compatible_text:
        raise ValueError("a merger needs compatible_text, shown by clients that cannot display it")
    content = RelayContent(
        Title=title,
        MsgNum=len(messages),
        CompatibleText=compatible_text,
        AbstractList=list(abstract_list),
        MsgList=list(messages),
    )
    return Message(body=[RelayElem(MsgContent=content)])


def forward(body: Sequence[MsgElement] | Sequence[dict[str, Any]]) -> Message:
    """Resend an existing message's body (e.g. from a callback or the archive) as it is."""
    return Message(body=parse_body(list(body)))
