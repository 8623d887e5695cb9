"""Before-send moderation policy: a JSON document, compiled once, applied per message.

The document (see README, "Policy document")::

    {"version": 1,
     "blocked_words": ["..."], "blocked_action": "reject" | "discard",
     "reject_code": {"c2c": 120001, "group": 10100}, "reject_info": "...",
     "masked_words": ["..."], "mask_char": "*",
     "max_body_bytes": 12288,
     "allowed_elements": {"c2c": ["TIMTextElem", ...] | null, "group": [...] | null}}

Words match case-insensitively as substrings of text elements (chat text has no reliable word
boundaries: Chinese has none). Matching uses an Aho-Corasick automaton, so its cost depends on the
text length, not on how many words there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Literal

import ahocorasick
from pydantic import BaseModel, ConfigDict, Field, field_validator

from timkit.models.callbacks import (
    ANSWER_MODELS,
    REJECT,
    BeforeSendAnswer,
    C2CBeforeSend,
    ConversationKind,
    GroupBeforeSend,
)
from timkit.models.elements import (
    ELEMENT_TYPES,
    MAX_BODY_BYTES,
    MsgElement,
    RelayElem,
    TextElem,
    body_size,
)

Word = Annotated[str, Field(min_length=1, max_length=200)]


class RejectCodes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    c2c: int = 120001
    group: int = 10100

    @field_validator("c2c", "group")
    @classmethod
    def _in_kind_range(cls, code: int, info) -> int:  # type: ignore[no-untyped-def]
        allowed = ANSWER_MODELS[info.field_name].custom_codes
        if code != REJECT and code not in allowed:
            raise ValueError(f"must be 1 or in {allowed.start}-{allowed.stop - 1}")
        return code


class AllowedElements(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None: every element type is allowed.
    c2c: list[str] | None = None
    group: list[str] | None = None


class PolicyDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    blocked_words: list[Word] = Field(default_factory=list, max_length=200_000)
    blocked_action: Literal["reject", "discard"] = "reject"
    reject_code: RejectCodes = Field(default_factory=RejectCodes)
    reject_info: Annotated[str, Field(max_length=200)] = "Message blocked by policy"
    masked_words: list[Word] = Field(default_factory=list, max_length=200_000)
    mask_char: Annotated[str, Field(min_length=1, max_length=1)] = "*"
    max_body_bytes: Annotated[int, Field(ge=1, le=MAX_BODY_BYTES)] = MAX_BODY_BYTES
    allowed_elements: AllowedElements = Field(default_factory=AllowedElements)

    @field_validator("allowed_elements")
    @classmethod
    def _known_types(cls, value: AllowedElements) -> AllowedElements:
        for kind in ("c2c", "group"):
            unknown = set(getattr(value, kind) or ()) - ELEMENT_TYPES
            if unknown:
                raise ValueError(f"unknown element types for {kind}: {sorted(unknown)}")
        return value


def _fold(text: str) -> str:
    """Lower-case for matching, keeping every character at its index (so masks line up)."""
    folded = text.lower()
    if len(folded) == len(text):
        return folded
    # A few characters lower-case to two (e.g. "İ"): keep those as they are.
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


BLOCKED, MASKED = True, False


class WordMatcher:
    """Blocked and masked words in one Aho-Corasick automaton, so a text is scanned once,
    case-insensitively, whatever the number of words."""

    def __init__(self, blocked: Iterable[str], masked: Iterable[str]) -> None:
        self._automaton = ahocorasick.Automaton()
        # A word in both lists counts as blocked: the stricter rule wins.
        for word in {_fold(w) for w in masked}:
            self._automaton.add_word(word, (MASKED, len(word)))
        for word in {_fold(w) for w in blocked}:
            self._automaton.add_word(word, (BLOCKED, len(word)))
        self.empty = len(self._automaton) == 0
        if not self.empty:
            self._automaton.make_automaton()

    def scan(self, text: str) -> tuple[bool, list[tuple[int, int]]]:
        """(whether a blocked word occurs, the [start, end) spans of masked words)."""
        spans: list[tuple[int, int]] = []
        if self.empty:
            return False, spans
        for end, (blocked, length) in self._automaton.iter(_fold(text)):
            if blocked:
                return True, spans
            spans.append((end - length + 1, end + 1))
        return False, spans


def mask_spans(text: str, spans: list[tuple[int, int]], mask_char: str) -> str:
    """``text`` with every character inside any of the spans replaced by ``mask_char``."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = mask_char * (end - start)
    return "".join(chars)


def _forwarded_texts(body: list[MsgElement]) -> Iterator[str]:
    """Text of the messages inside inline mergers, at any depth."""
    for elem in body:
        if isinstance(elem, RelayElem) and elem.MsgContent.MsgList:
            for forwarded in elem.MsgContent.MsgList:
                for inner in forwarded.MsgBody:
                    if isinstance(inner, TextElem):
                        yield inner.MsgContent.Text
                yield from _forwarded_texts(forwarded.MsgBody)


BeforeSend = C2CBeforeSend | GroupBeforeSend


class Policy:
    """A compiled policy document."""

    def __init__(self, document: PolicyDocument) -> None:
        self.document = document
        self._words = WordMatcher(document.blocked_words, document.masked_words)
        allowed = document.allowed_elements
        self._allowed: dict[ConversationKind, frozenset[str] | None] = {
            "c2c": None if allowed.c2c is None else frozenset(allowed.c2c),
            "group": None if allowed.group is None else frozenset(allowed.group),
        }

    @classmethod
    def from_json(cls, raw: str | bytes) -> Policy:
        return cls(PolicyDocument.model_validate_json(raw))

    def decide(self, message: BeforeSend) -> BeforeSendAnswer:
        kind = message.kind
        answer = ANSWER_MODELS[kind]
        body = message.MsgBody

        allowed = self._allowed[kind]
        if allowed is not None:
            for elem in body:
                if elem.MsgType not in allowed:
                    return answer.reject(self._reject_code(kind), f"{elem.MsgType} is not allowed here")

        too_big = self._oversize(kind, body)
        if too_big is not None:
            return too_big

        masks: dict[int, list[tuple[int, int]]] = {}
        for index, elem in enumerate(body):
            if isinstance(elem, TextElem):
                blocked, spans = self._words.scan(elem.MsgContent.Text)
                if blocked:
                    return self._blocked(kind)
                if spans:
                    masks[index] = spans
        # Forwarding a message inside a merger must not get it past the blocked words.
        for text in _forwarded_texts(body):
            if self._words.scan(text)[0]:
                return self._blocked(kind)
        if masks:
            masked = self._masked_body(body, masks)
            # A multi-byte mask_char can make the body grow past the limit.
            return self._oversize(kind, masked) or answer.rewrite(masked)
        return answer.allow()

    def _oversize(self, kind: ConversationKind, body: list[MsgElement]) -> BeforeSendAnswer | None:
        size = body_size(body)
        if size <= self.document.max_body_bytes:
            return None
        return ANSWER_MODELS[kind].reject(
            self._reject_code(kind), f"message body is {size} bytes, over the {self.document.max_body_bytes}-byte limit"
        )

    def _blocked(self, kind: ConversationKind) -> BeforeSendAnswer:
        if self.document.blocked_action == "discard":
            return ANSWER_MODELS[kind].discard()
        return ANSWER_MODELS[kind].reject(self._reject_code(kind), self.document.reject_info)

    def _reject_code(self, kind: ConversationKind) -> int:
        return getattr(self.document.reject_code, kind)

    def _masked_body(self, body: list[MsgElement], masks: dict[int, list[tuple[int, int]]]) -> list[MsgElement]:
        out = list(body)
        for index, spans in masks.items():
            elem = body[index]
            assert isinstance(elem, TextElem)
            text = mask_spans(elem.MsgContent.Text, spans, self.document.mask_char)
            out[index] = elem.model_copy(update={"MsgContent": elem.MsgContent.model_copy(update={"Text": text})})
        return out


ALLOW_ALL = Policy(PolicyDocument())
