"""Before-send moderation policy: a JSON document, compiled once, applied per message.

The document (see README, "Policy document")::

    {"version": 1,
     "blocked_words": ["..."], "blocked_action": "reject" | "discard",
     "reject_code": {"c2c": 120001, "group": 10100}, "reject_info": "...",
     "masked_words": ["..."], "mask_char": "*",
     "max_body_bytes": 12288,
     "allowed_elements": {"c2c": ["TIMTextElem", ...] | null, "group": [...] | null}}

Words match as substrings (chat text has no reliable word boundaries: Chinese has none) of the
text a sender writes into a message, at any depth of forwarded messages, whatever the case, the
compatibility forms (full-width letters) and invisible characters in between. Matching uses an
Aho-Corasick automaton, so its cost depends on the text length, not on how many words there are.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal, Protocol

import ahocorasick
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

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
    CustomElem,
    FaceElem,
    FileElem,
    LocationElem,
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
    def _in_kind_range(cls, code: int, info: ValidationInfo) -> int:
        kind: ConversationKind = "c2c" if info.field_name == "c2c" else "group"
        allowed = ANSWER_MODELS[kind].custom_codes
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


class DeadlineExceeded(Exception):
    """The callback's deadline passed while the decision ran."""


class Expiring(Protocol):
    def expired(self) -> bool: ...


def _invisible(ch: str) -> bool:
    """Characters that show nothing and can split a word without changing how it looks: format
    characters (zero-width space and joiners, word joiner, BOM, soft hyphen, bidi controls...),
    the combining grapheme joiner, variation selectors and the Hangul fillers."""
    code = ord(ch)
    return (
        unicodedata.category(ch) == "Cf"
        or code in (0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0)
        or 0x180B <= code <= 0x180F
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )


_FOLD_CACHE_MAX = 1 << 16


# Cyrillic and Greek letters drawn like Latin ones (pairs from Unicode's confusables data, UTS #39),
# after case folding, to the Latin letter: "pаypаl" with a Cyrillic "а" is "paypal". Applied after
# folding so that both cases of a letter fold alike, and words written in those scripts fold the
# same way as the texts they are looked for in, so they still match themselves.
_LOOKALIKES = str.maketrans(
    "авекмнорстухѕіјһԁԛԝӏүαβεζηικμνορτυχγı",
    "abekmhopctyxsijhdqwlyabezhikmvoptuxyi",
)


class _FoldTable(dict[int, str | None]):
    """A ``str.translate`` table, filled as characters are first seen: each character to its
    compatibility form (NFKC: full-width and styled letters become plain ones) case-folded, Latin
    look-alikes to the Latin letter, and invisible characters to nothing."""

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        folded = None if _invisible(ch) else unicodedata.normalize("NFKC", ch).casefold().translate(_LOOKALIKES)
        if len(self) < _FOLD_CACHE_MAX:  # a bound on what unusual texts can make it hold
            self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()


class _MarkTable(dict[int, str | None]):
    """A ``str.translate`` table, filled as characters are first seen: combining marks to
    nothing, every other character to itself."""

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        kept = None if unicodedata.combining(ch) else ch
        if len(self) < _FOLD_CACHE_MAX:
            self[code] = kept
        return kept


_UNCOMPOSED_MARKS = _MarkTable()


def fold(text: str) -> str:
    """The form words are matched in: compatibility forms, look-alike letters of other scripts, case
    and invisible characters do not count. Words and texts are folded alike."""
    if text.isascii():  # the common case: nothing but case to fold
        return text.lower()
    folded = text.translate(_FOLD_TABLE)
    # Character by character, a letter and a combining mark after it stay apart ("e" + U+0301):
    # composing them makes them match a word written with the precomposed letter ("é"). A mark
    # that composes with nothing (a strikethrough overlay, the dot "İ" folds to) only decorates
    # the letter: it does not count either.
    if not unicodedata.is_normalized("NFKC", folded):
        folded = unicodedata.normalize("NFKC", folded)
    return folded.translate(_UNCOMPOSED_MARKS)


def _fold_mapped(text: str) -> tuple[str, list[int], list[int]]:
    """``fold(text)`` built piece by piece (a character with the combining marks and invisible
    characters that follow it), and for each folded character the [start, end) of its piece in
    ``text``, so that a match found in the folded text masks the characters it came from."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    begin = 0
    for end in range(1, len(text) + 1):
        if end == len(text) or (unicodedata.combining(text[end]) == 0 and not _invisible(text[end])):
            piece = fold(text[begin:end])
            pieces.append(piece)
            starts.extend([begin] * len(piece))
            ends.extend([end] * len(piece))
            begin = end
    return "".join(pieces), starts, ends


BLOCKED, MASKED = True, False


class WordMatcher:
    """Blocked and masked words in one Aho-Corasick automaton, so a text is scanned once,
    whatever the number of words, in its folded form (see :func:`fold`)."""

    def __init__(self, blocked: Iterable[str], masked: Iterable[str]) -> None:
        self._automaton = ahocorasick.Automaton()
        # A word in both lists counts as blocked: the stricter rule wins. A word made only of
        # invisible characters folds to nothing and matches nothing.
        for word in {fold(w) for w in masked} - {""}:
            self._automaton.add_word(word, (MASKED, len(word)))
        for word in {fold(w) for w in blocked} - {""}:
            self._automaton.add_word(word, (BLOCKED, len(word)))
        self.empty = len(self._automaton) == 0
        if not self.empty:
            self._automaton.make_automaton()

    def scan(self, text: str, mask: bool = True) -> tuple[bool, list[tuple[int, int]]]:
        """(whether a blocked word occurs, the [start, end) spans in ``text`` of masked words;
        only looked for when ``mask``)."""
        if self.empty:
            return False, []
        plain = text.isascii()  # folding keeps every character where it is
        spans = self._spans(fold(text))
        if spans is None:
            return True, []
        if not mask:
            return False, []
        if spans and not plain:
            folded, starts, ends = _fold_mapped(text)
            spans = self._spans(folded)
            if spans is None:
                return True, []
            spans = [(starts[start], ends[end - 1]) for start, end in spans]
        return False, spans

    def _spans(self, folded: str) -> list[tuple[int, int]] | None:
        """None when a blocked word occurs in ``folded``, else where the masked words are."""
        spans: list[tuple[int, int]] = []
        for end, (blocked, length) in self._automaton.iter(folded):
            if blocked:
                return None
            spans.append((end - length + 1, end + 1))
        return spans


def mask_spans(text: str, spans: list[tuple[int, int]], mask_char: str) -> str:
    """``text`` with every character inside any of the spans replaced by ``mask_char``."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = mask_char * (end - start)
    return "".join(chars)


def _user_texts(elem: MsgElement) -> Iterator[tuple[str, bool, str]]:
    """The text a sender can write into an element: (its MsgContent field, whether masked words
    are masked there, the text). Custom Data and Ext are often structured (JSON) and face Data
    an identifier: they are checked for blocked words but never rewritten."""
    if isinstance(elem, TextElem):
        yield "Text", True, elem.MsgContent.Text
    elif isinstance(elem, CustomElem):
        custom = elem.MsgContent
        yield "Desc", True, custom.Desc
        yield "Data", False, custom.Data
        yield "Ext", False, custom.Ext
    elif isinstance(elem, LocationElem):
        yield "Desc", True, elem.MsgContent.Desc
    elif isinstance(elem, FileElem):
        if elem.MsgContent.FileName:
            yield "FileName", True, elem.MsgContent.FileName
    elif isinstance(elem, FaceElem):
        yield "Data", False, elem.MsgContent.Data
    elif isinstance(elem, RelayElem):
        relay = elem.MsgContent
        yield "Title", False, relay.Title
        yield "CompatibleText", False, relay.CompatibleText
        for abstract in relay.AbstractList:
            yield "AbstractList", False, abstract


def _walk(body: list[MsgElement], deadline: Expiring | None) -> Iterator[tuple[MsgElement, int, bool]]:
    """Every element of a body and of the messages inside its inline mergers, at any depth,
    without recursion (they nest 100 levels deep): (element, its index in its own body, whether
    it is the message's own). The deadline is checked before each one."""
    pending: list[tuple[list[MsgElement], bool]] = [(body, True)]
    while pending:
        elems, top = pending.pop()
        for index, elem in enumerate(elems):
            if deadline is not None and deadline.expired():
                raise DeadlineExceeded
            yield elem, index, top
            if isinstance(elem, RelayElem) and elem.MsgContent.MsgList:
                pending.extend((forwarded.MsgBody, False) for forwarded in elem.MsgContent.MsgList)


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

    def decide(self, message: BeforeSend, deadline: Expiring | None = None) -> BeforeSendAnswer:
        """The answer to a before-send callback; :class:`DeadlineExceeded` when ``deadline``
        expires before it is known (checked before each element, at every depth)."""
        kind = message.kind
        answer = ANSWER_MODELS[kind]
        body = message.MsgBody

        allowed = self._allowed[kind]
        if allowed is not None:
            # At every depth: a merger must not carry an element type the chat does not allow.
            for elem, _, _ in _walk(body, deadline):
                if elem.MsgType not in allowed:
                    return answer.reject(self._reject_code(kind), f"{elem.MsgType} is not allowed here")

        too_big = self._oversize(kind, body)
        if too_big is not None:
            return too_big

        # {top-level element index: {MsgContent field: spans to mask}}
        masks: dict[int, dict[str, list[tuple[int, int]]]] = {}
        for elem, index, top in _walk(body, deadline):
            for field, maskable, text in _user_texts(elem):
                if not text:
                    continue
                blocked, spans = self._words.scan(text, mask=top and maskable)
                if blocked:
                    return self._blocked(kind)
                if spans:
                    masks.setdefault(index, {})[field] = spans
        if masks:
            masked = self._masked_body(body, masks)
            # A multi-byte mask_char can make the body grow past the limit.
            return self._oversize(kind, masked) or answer.rewrite(masked)
        return answer.allow()

    def blocks(self, body: list[MsgElement]) -> bool:
        """Whether a blocked word is anywhere in ``body`` that :meth:`decide` looks: for a merger
        stored by the app (an upload), whose messages the before-send callback never sees."""
        return any(
            text and self._words.scan(text, mask=False)[0]
            for elem, _, _ in _walk(body, None)
            for _, _, text in _user_texts(elem)
        )

    def blocked_anywhere(self, document: Any) -> bool:
        """Whether a blocked word is in any string of a decoded JSON ``document``: for a body the
        models cannot read, which must not get past the words by being unreadable."""
        pending = [document]
        while pending:
            node = pending.pop()
            if isinstance(node, str):
                if node and self._words.scan(node, mask=False)[0]:
                    return True
            elif isinstance(node, dict):
                pending.extend(node.keys())
                pending.extend(node.values())
            elif isinstance(node, list):
                pending.extend(node)
        return False

    def blocked_answer(self, kind: ConversationKind) -> BeforeSendAnswer:
        return self._blocked(kind)

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
        return self.document.reject_code.c2c if kind == "c2c" else self.document.reject_code.group

    def _masked_body(
        self, body: list[MsgElement], masks: dict[int, dict[str, list[tuple[int, int]]]]
    ) -> list[MsgElement]:
        out = list(body)
        for index, fields in masks.items():
            elem = body[index]
            content = elem.MsgContent
            update = {
                field: mask_spans(getattr(content, field), spans, self.document.mask_char)
                for field, spans in fields.items()
            }
            # Only the masked fields change: the copy goes out with exactly the fields that came.
            out[index] = elem.model_copy(update={"MsgContent": content.model_copy(update=update)})
        return out


ALLOW_ALL = Policy(PolicyDocument())
