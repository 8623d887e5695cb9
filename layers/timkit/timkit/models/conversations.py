"""Conversations and what was said in them: the ids callers keep and the entries history returns.

A **conversation id** names one conversation whichever way round it is asked for:

* ``c2c:<user>:<user>``: a one-to-one chat, the two UserIDs in code-point order (so
  ``c2c:bob:alice`` is normalised to ``c2c:alice:bob``);
* ``group:<GroupId>``: a group;
* ``topic:<GroupId>:<TopicId>``: one topic of a Community group.

Inside the ids a ``%`` or ``:`` is percent-escaped (custom UserIDs and group ids may hold any
printable ASCII), so an id splits back into its parts unambiguously.

A **message id** is the archive's identity of the message (:mod:`timkit.archive`):
``c2c:<MsgKey>`` for a one-to-one message, ``group:<GroupId>:<MsgSeq>`` (or
``topic:<GroupId>:<TopicId>:<MsgSeq>``) for a group message. Both are stable: Tencent never
changes a message's ``MsgKey`` or ``MsgSeq``, so a caller can keep them. A group's system event
(members joining or leaving, its information changing, its creation and dismissal) is
``system:<id>``, the id derived from the callback's content.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote

ConversationKind = Literal["c2c", "group", "topic"]
# How many ':'-separated ids follow each kind's prefix.
_PARTS: dict[ConversationKind, int] = {"c2c": 2, "group": 1, "topic": 2}
MAX_CONVERSATION_ID = 200
# Times are Unix seconds as Tencent sends them: unsigned 32-bit (until 2106).
MAX_TIME = 0xFFFF_FFFF


class InvalidConversationId(ValueError):
    pass


def escape_part(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


def c2c_conversation(first: str, second: str) -> str:
    a, b = sorted((first, second))
    return f"c2c:{escape_part(a)}:{escape_part(b)}"


def group_conversation(group_id: str, topic_id: str | None = None) -> str:
    if topic_id:
        return f"topic:{escape_part(group_id)}:{escape_part(topic_id)}"
    return f"group:{escape_part(group_id)}"


def parse_conversation(value: str) -> tuple[ConversationKind, tuple[str, ...]]:
    """The kind and the unescaped parts of a conversation id: ``("c2c", (a, b))`` with ``a <= b``,
    ``("group", (GroupId,))`` or ``("topic", (GroupId, TopicId))``. Anything else is refused with
    the reason."""
    if not isinstance(value, str) or not value or len(value) > MAX_CONVERSATION_ID:
        raise InvalidConversationId(f"a conversation id is 1 to {MAX_CONVERSATION_ID} characters")
    prefix, _, rest = value.partition(":")
    parts = tuple(unquote(part) for part in rest.split(":"))
    kind = next((known for known in _PARTS if known == prefix), None)
    if kind is None:
        raise InvalidConversationId("a conversation id starts with c2c:, group: or topic:")
    if len(parts) != _PARTS[kind] or not all(parts):
        shape = {"c2c": "c2c:<user>:<user>", "group": "group:<GroupId>", "topic": "topic:<GroupId>:<TopicId>"}[kind]
        raise InvalidConversationId(f"a {kind} conversation id is {shape} (':' and '%' inside ids percent-escaped)")
    if kind == "c2c":
        parts = tuple(sorted(parts))
        if parts[0] == parts[1]:
            raise InvalidConversationId("a c2c conversation is between two different users")
    return kind, parts


def normalise_conversation(value: str) -> str:
    """The canonical form of a conversation id (one-to-one ids in order, escapes as written here)."""
    kind, parts = parse_conversation(value)
    if kind == "c2c":
        return c2c_conversation(*parts)
    return group_conversation(*parts)
