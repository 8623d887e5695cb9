"""AI-chatbot custom messages (docs/protocol.md §8.3): JSON carried in ``TIMCustomElem.MsgContent.Data``.

``chatbotPlugin`` is always 2; ``src`` says what the payload is: 2 a (growing) streamed answer,
22 an interrupt from the user, 23 an error from the bot.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from timkit.models.callbacks import BotC2CMessage, BotGroupMessage, CallbackRequest
from timkit.models.elements import CustomContent, CustomElem, MsgElement, TextElem

MSG_KEY_PATTERN = r"^\d+_\d+_\d+$"
ROBOT_PREFIX = "@RBT#"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    chatbotPlugin: Literal[2] = 2

    def to_elem(self) -> CustomElem:
        data = self.model_dump_json(exclude_none=True)
        return CustomElem(MsgContent=CustomContent(Data=data))


class StreamPayload(_Payload):
    src: Literal[2] = 2
    # The whole answer so far, not a delta: clients render "".join(chunks).
    chunks: list[str] = Field(default_factory=list)
    # TUIKit treats a missing isFinished as finished.
    isFinished: Literal[0, 1] = 1
    typingText: str | None = None
    msgKey: Annotated[str | None, Field(pattern=MSG_KEY_PATTERN)] = None

    @property
    def text(self) -> str:
        return "".join(self.chunks)


class InterruptPayload(_Payload):
    src: Literal[22] = 22
    # The MsgKey ("<seq>_<random>_<time>") of the bot's streaming message to stop.
    msgKey: Annotated[str, Field(pattern=MSG_KEY_PATTERN)]


class ErrorPayload(_Payload):
    src: Literal[23] = 23
    errorInfo: str
    isFinished: Literal[0, 1] = 1


ChatbotPayload = Annotated[StreamPayload | InterruptPayload | ErrorPayload, Field(discriminator="src")]
_ADAPTER: TypeAdapter[StreamPayload | InterruptPayload | ErrorPayload] = TypeAdapter(ChatbotPayload)


def parse_chatbot(data: str) -> StreamPayload | InterruptPayload | ErrorPayload | None:
    """The chatbot payload in a custom element's ``Data``, or None when it is not one."""
    if '"chatbotPlugin"' not in data:
        return None
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError:
        return None


def chatbot_payloads(body: list[MsgElement]) -> list[StreamPayload | InterruptPayload | ErrorPayload]:
    found = []
    for elem in body:
        if isinstance(elem, CustomElem):
            payload = parse_chatbot(elem.MsgContent.Data)
            if payload is not None:
                found.append(payload)
    return found


def is_robot(account: str) -> bool:
    return account.startswith(ROBOT_PREFIX)


class Turn(BaseModel):
    """A user's message for a bot to answer: the chatbot queue's work item (one per message,
    whatever the number of deliveries of its callback)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bot: str
    kind: Literal["c2c", "group"]
    # The sender (the user the answer goes to in C2C).
    user: str
    group_id: str | None = None
    topic_id: str | None = None
    # The user's message: its identity (the archive's key, and the answer's idempotency key) and
    # its text as the model reads it.
    identity: str
    text: str
    msg_time: int = 0

    @property
    def conversation(self) -> str:
        """Whose conversation with the bot this is: its memory, and its place in the queue's order."""
        if self.kind == "c2c":
            return f"c2c:{self.user}"
        return f"group:{self.group_id}" + (f":{self.topic_id}" if self.topic_id else "")

    @property
    def queue_group(self) -> str:
        """The FIFO message group: one per bot and conversation (a hash: SQS takes 128 ASCII
        characters, user and group IDs may be longer or hold others)."""
        return "t" + hashlib.sha256(f"{self.bot}\n{self.conversation}".encode()).hexdigest()

    @property
    def dedupe_id(self) -> str:
        """The FIFO deduplication id: one per bot and user message."""
        return "d" + hashlib.sha256(f"{self.bot}\n{self.identity}".encode()).hexdigest()


def bot_turns(event: CallbackRequest) -> list[Turn]:
    """What a bot callback asks the bots to answer: a user's text to a bot (``Bot.OnC2CMessage``),
    or a group message that @-mentions bots (``Bot.OnGroupMessage``, one turn per bot). Never a
    bot's own message or another bot's (no loops), an interrupt or any other chatbot payload, a
    message Tencent did not deliver, or a message without text."""
    if not isinstance(event, BotC2CMessage | BotGroupMessage) or is_robot(event.From_Account):
        return []
    if chatbot_payloads(event.MsgBody):
        return []
    text = "\n".join(elem.MsgContent.Text for elem in event.MsgBody if isinstance(elem, TextElem)).strip()
    if not text:
        return []
    if isinstance(event, BotC2CMessage):
        # SendMsgResult other than 0: Tencent did not deliver it (a sensitive word, not friends...).
        if not is_robot(event.To_Account) or event.SendMsgResult != 0:
            return []
        return [
            Turn(
                bot=event.To_Account,
                kind="c2c",
                user=event.From_Account,
                identity=event.identity,
                text=text,
                msg_time=event.MsgTime,
            )
        ]
    bots = dict.fromkeys(bot for bot in event.AtRobots_Account if is_robot(bot))
    return [
        Turn(
            bot=bot,
            kind="group",
            user=event.From_Account,
            group_id=event.GroupId,
            topic_id=event.TopicId or None,
            identity=event.identity,
            text=text,
            msg_time=event.MsgTime,
        )
        for bot in bots
    ]
