"""Generated texts and word lists through the before-send policy.

Properties: a blocked word written with compatibility forms, another case and invisible characters
between its letters is still found, whatever surrounds it; masking keeps every character that is
not part of a masked word and leaves no masked word behind; no text makes the decision fail.
"""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.conftest import payload
from timkit.models.callbacks import C2CBeforeSend
from timkit.policy import Policy, fold

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u034f", "\ufe0f", "\u180e"]
# Letters with their tricky relatives, and characters whose folding is not one to one.
ALPHABET = [*string.ascii_letters, "ａ", "Ｂ", "İ", "ß", "ﬁ", "é", "\u0301", "中", "文", "😀", "Ⅻ", *INVISIBLE]


def message(*texts: str) -> C2CBeforeSend:
    body = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}} for text in texts]
    return C2CBeforeSend.model_validate(payload("C2C.CallbackBeforeSendMsg", MsgBody=body, To_Account="u_2002"))


def policy(**doc: Any) -> Policy:
    return Policy.from_json(json.dumps(doc))


@st.composite
def disguised(draw: st.DrawFn, word: str) -> str:
    out = []
    for ch in word:
        form = draw(st.sampled_from(["plain", "upper", "full-width", "full-width upper"]))
        if form == "upper":
            ch = ch.upper()
        elif form.startswith("full-width"):
            ch = chr(ord(ch.upper() if form.endswith("upper") else ch) + 0xFEE0)
        out.append(ch + "".join(draw(st.lists(st.sampled_from(INVISIBLE), max_size=2))))
    return "".join(out)


@PROPERTY
@given(
    word=st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=8),
    data=st.data(),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_disguised_blocked_word_is_always_found(word: str, data: st.DataObject, before: str, after: str) -> None:
    text = f"{before} {data.draw(disguised(word))} {after}"
    assert policy(blocked_words=[word]).decide(message(text)).outcome == "rejected", ascii(text)


@PROPERTY
@given(
    words=st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=4), min_size=1, max_size=4),
    texts=st.lists(st.text(alphabet=ALPHABET + [" ", "*"], max_size=30), min_size=1, max_size=3),
)
def test_masking_keeps_everything_else_and_leaves_no_masked_word(words: list[str], texts: list[str]) -> None:
    answer = policy(masked_words=words, mask_char="#").decide(message(*texts))
    assert answer.outcome in ("allowed", "rewritten")
    if answer.MsgBody is None:
        return
    masked = [elem["MsgContent"]["Text"] for elem in answer.to_wire()["MsgBody"]]
    folded_words = {fold(w) for w in words} - {""}
    for original, new in zip(texts, masked, strict=True):
        assert len(new) == len(original)
        assert all(a == b or b == "#" for a, b in zip(original, new, strict=True)), (original, new)
        assert not any(w in fold(new) for w in folded_words), (original, new, words)


@PROPERTY
@given(
    words=st.lists(st.text(min_size=1, max_size=6), max_size=5),
    masked=st.lists(st.text(min_size=1, max_size=6), max_size=5),
    texts=st.lists(st.text(max_size=40), min_size=1, max_size=3),
)
def test_any_text_gets_an_answer(words: list[str], masked: list[str], texts: list[str]) -> None:
    answer = policy(blocked_words=words, masked_words=masked).decide(message(*texts))
    json.dumps(answer.to_wire(), ensure_ascii=False).encode()
