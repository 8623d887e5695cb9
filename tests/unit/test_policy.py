"""The before-send policy: blocked words, masking, allowed element types, body size."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.conftest import payload, text_body
from timkit.models.callbacks import C2CBeforeSend, GroupBeforeSend
from timkit.models.elements import MAX_BODY_BYTES, body_size, dump_body
from timkit.policy import ALLOW_ALL, DeadlineExceeded, Policy, PolicyDocument


def c2c(body: list[dict[str, Any]]) -> C2CBeforeSend:
    return C2CBeforeSend.model_validate(payload("C2C.CallbackBeforeSendMsg", MsgBody=body, To_Account="u_2002"))


def group(body: list[dict[str, Any]]) -> GroupBeforeSend:
    return GroupBeforeSend.model_validate(payload("Group.CallbackBeforeSendMsg", MsgBody=body))


def policy(**doc: Any) -> Policy:
    return Policy.from_json(json.dumps(doc))


def masked_texts(answer) -> list[str]:
    assert answer.outcome == "rewritten", answer.to_wire()
    return [e["MsgContent"]["Text"] for e in answer.to_wire()["MsgBody"] if e["MsgType"] == "TIMTextElem"]


# ----------------------------------------------------------------------------- blocked words


def test_blocked_word_rejects_with_the_c2c_code() -> None:
    p = policy(blocked_words=["scam"], reject_code={"c2c": 120042, "group": 10150}, reject_info="nope")
    answer = p.decide(c2c(text_body("this is a SCAM, really")))
    assert answer.to_wire() == {"ActionStatus": "OK", "ErrorInfo": "nope", "ErrorCode": 120042}


def test_blocked_word_rejects_with_the_group_code() -> None:
    p = policy(blocked_words=["scam"], reject_code={"c2c": 120042, "group": 10150}, reject_info="nope")
    answer = p.decide(group(text_body("fine", "Scammer alert")))
    assert answer.to_wire() == {"ActionStatus": "OK", "ErrorInfo": "nope", "ErrorCode": 10150}


def test_default_codes_and_info() -> None:
    p = policy(blocked_words=["scam"])
    assert p.decide(c2c(text_body("scam"))).to_wire() == {
        "ActionStatus": "OK",
        "ErrorInfo": "Message blocked by policy",
        "ErrorCode": 120001,
    }
    assert p.decide(group(text_body("scam"))).ErrorCode == 10100


def test_plain_reject_code_one() -> None:
    p = policy(blocked_words=["scam"], reject_code={"c2c": 1, "group": 1})
    assert p.decide(c2c(text_body("scam"))).ErrorCode == 1
    assert p.decide(group(text_body("scam"))).ErrorCode == 1


@pytest.mark.parametrize("kind", ["c2c", "group"])
def test_discard_action(kind: str) -> None:
    p = policy(blocked_words=["scam"], blocked_action="discard")
    message = (c2c if kind == "c2c" else group)(text_body("a scam"))
    assert p.decide(message).to_wire() == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 2}


def test_text_without_blocked_words_is_allowed() -> None:
    p = policy(blocked_words=["scam"])
    assert p.decide(c2c(text_body("sca m", "s-c-a-m"))).to_wire() == {
        "ActionStatus": "OK",
        "ErrorInfo": "",
        "ErrorCode": 0,
    }


def test_chinese_blocked_word() -> None:
    p = policy(blocked_words=["诈骗"])
    assert p.decide(c2c(text_body("这是诈骗信息"))).outcome == "rejected"
    assert p.decide(c2c(text_body("这是正常信息"))).outcome == "allowed"


def test_blocked_wins_over_masked() -> None:
    p = policy(blocked_words=["darn"], masked_words=["darn", "heck"])
    assert p.decide(c2c(text_body("heck", "darn"))).outcome == "rejected"


def test_blocked_word_found_after_a_masked_word_in_the_same_text() -> None:
    p = policy(blocked_words=["scam"], masked_words=["heck"])
    assert p.decide(c2c(text_body("heck heck heck it is a scam"))).outcome == "rejected"


def test_many_blocked_words_still_find_one_at_the_end_of_a_long_text() -> None:
    words = [f"blockedword{i:05d}" for i in range(5000)]
    p = policy(blocked_words=words)
    text = "lorem ipsum dolor sit amet " * 80  # ~2 KB
    text = text[: 2048 - len(words[-1])] + words[-1].upper()
    assert len(text) == 2048
    assert p.decide(c2c(text_body(text))).outcome == "rejected"
    assert p.decide(c2c(text_body(text[:-1]))).outcome == "allowed"


# ----------------------------------------------------------------------------- masking


def test_masking_is_case_insensitive_and_keeps_the_rest() -> None:
    p = policy(masked_words=["darn"])
    answer = p.decide(c2c(text_body("Darn it, DARN, darned")))
    assert masked_texts(answer) == ["**** it, ****, ****ed"]
    assert answer.ErrorCode == 0


def test_mask_char() -> None:
    p = policy(masked_words=["darn"], mask_char="#")
    assert masked_texts(p.decide(c2c(text_body("darn")))) == ["####"]


def test_masking_longest_match() -> None:
    p = policy(masked_words=["ab", "abcd"])
    assert masked_texts(p.decide(c2c(text_body("xabcde")))) == ["x****e"]


def test_masking_several_words_and_elements() -> None:
    p = policy(masked_words=["darn", "heck"])
    assert masked_texts(p.decide(c2c(text_body("darn and heck", "clean", "HECK")))) == [
        "**** and ****",
        "clean",
        "****",
    ]


def test_masking_overlapping_words_masks_both() -> None:
    p = policy(masked_words=["abc", "bcd"])
    assert masked_texts(p.decide(c2c(text_body("abcd", "xbcdx")))) == ["****", "x***x"]


def test_masking_chinese_words() -> None:
    p = policy(masked_words=["坏人", "坏"])
    assert masked_texts(p.decide(c2c(text_body("你是坏人吗？坏！")))) == ["你是**吗？*！"]


def test_masking_after_emoji_keeps_alignment() -> None:
    p = policy(masked_words=["bad"])
    assert masked_texts(p.decide(c2c(text_body("😀bad👍🏽BAD")))) == ["😀***👍🏽***"]


def test_masking_after_a_character_that_lowercases_to_two_keeps_alignment() -> None:
    # "İ".lower() is two characters ("i̇"); positions after it must still line up.
    assert len("İ".lower()) == 2
    p = policy(masked_words=["bad"])
    assert masked_texts(p.decide(c2c(text_body("İstanbul BAD İİ bad İ")))) == ["İstanbul *** İİ *** İ"]


def test_masked_word_containing_that_character() -> None:
    p = policy(masked_words=["İx"])
    assert masked_texts(p.decide(c2c(text_body("aİxb aİXb")))) == ["a**b a**b"]


def test_rewrite_keeps_the_other_elements_as_they_came() -> None:
    custom = {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "darn", "Desc": "d", "Future": 1}}
    unknown = {"MsgType": "TIMFutureElem", "MsgContent": {"Text": "darn"}}
    text = {"MsgType": "TIMTextElem", "MsgContent": {"Text": "darn", "Lang": "en"}}
    answer = policy(masked_words=["darn"]).decide(c2c([custom, text, unknown]))
    assert answer.to_wire()["MsgBody"] == [
        custom,
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "****", "Lang": "en"}},
        unknown,
    ]


def test_masking_does_not_change_the_original_message() -> None:
    message = c2c(text_body("darn"))
    policy(masked_words=["darn"]).decide(message)
    assert dump_body(message.MsgBody) == text_body("darn")


def test_no_masked_word_means_no_rewrite() -> None:
    assert policy(masked_words=["darn"]).decide(c2c(text_body("fine"))).outcome == "allowed"


def test_rewritten_body_never_exceeds_the_size_limit() -> None:
    message = c2c(text_body("darn " * 2440))
    assert body_size(message.MsgBody) <= MAX_BODY_BYTES
    answer = policy(masked_words=["darn"], mask_char="＊").decide(message)
    if answer.MsgBody is not None:
        assert body_size(answer.MsgBody) <= MAX_BODY_BYTES


# ----------------------------------------------------------------------------- element types and size


def test_allowed_elements_per_kind() -> None:
    p = policy(allowed_elements={"c2c": ["TIMTextElem"], "group": None})
    image = {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": 1, "ImageInfoArray": []}}
    answer = p.decide(c2c([*text_body("hi"), image]))
    assert answer.outcome == "rejected"
    assert answer.ErrorCode == 120001
    assert "TIMImageElem" in answer.ErrorInfo
    # Group: everything allowed.
    assert p.decide(group([*text_body("hi"), image])).outcome == "allowed"
    assert p.decide(c2c(text_body("hi"))).outcome == "allowed"


def test_allowed_elements_refuse_unknown_types_in_the_body() -> None:
    p = policy(allowed_elements={"group": ["TIMTextElem", "TIMFaceElem"]})
    answer = p.decide(group([{"MsgType": "TIMFutureElem", "MsgContent": {}}]))
    assert answer.outcome == "rejected" and answer.ErrorCode == 10100
    assert "TIMFutureElem" in answer.ErrorInfo


def test_empty_allowed_list_refuses_everything() -> None:
    p = policy(allowed_elements={"c2c": []})
    assert p.decide(c2c(text_body("hi"))).outcome == "rejected"


def test_max_body_size() -> None:
    body = text_body("x" * 100)
    size = len(json.dumps(body, separators=(",", ":")))
    at_limit = policy(max_body_bytes=size)
    assert at_limit.decide(c2c(body)).outcome == "allowed"
    over = policy(max_body_bytes=size - 1, reject_code={"c2c": 120500})
    answer = over.decide(c2c(body))
    assert answer.outcome == "rejected" and answer.ErrorCode == 120500
    assert str(size) in answer.ErrorInfo
    assert str(size - 1) in answer.ErrorInfo


def test_max_body_size_counts_utf8_bytes() -> None:
    body = text_body("中" * 100)  # 300 bytes of text, 100 characters
    size = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    assert policy(max_body_bytes=size).decide(group(body)).outcome == "allowed"
    assert policy(max_body_bytes=size - 1).decide(group(body)).outcome == "rejected"


def test_allow_all() -> None:
    big = text_body("x" * 12000)
    assert ALLOW_ALL.decide(c2c(big)).outcome == "allowed"
    assert ALLOW_ALL.decide(group([{"MsgType": "TIMFutureElem"}])).outcome == "allowed"


def test_empty_body_is_allowed() -> None:
    assert policy(blocked_words=["x"], masked_words=["y"]).decide(c2c([])).outcome == "allowed"


# ----------------------------------------------------------------------------- the document


@pytest.mark.parametrize(
    "doc",
    [
        {"reject_code": {"c2c": 10100}},
        {"reject_code": {"c2c": 120000}},
        {"reject_code": {"c2c": 130001}},
        {"reject_code": {"c2c": 0}},
        {"reject_code": {"c2c": 2}},
        {"reject_code": {"group": 120001}},
        {"reject_code": {"group": 10099}},
        {"reject_code": {"group": 10201}},
        {"reject_code": {"group": 10016}},
        {"reject_code": {"c2c": 120001, "other": 1}},
        {"allowed_elements": {"c2c": ["TIMTextElem", "TIMGifElem"]}},
        {"allowed_elements": {"group": ["timtextelem"]}},
        {"allowed_elements": {"c2c": None, "channel": None}},
        {"blocked_word": ["typo in the key"]},
        {"unknown": 1},
        {"version": 2},
        {"blocked_action": "drop"},
        {"mask_char": ""},
        {"mask_char": "**"},
        {"max_body_bytes": 0},
        {"max_body_bytes": MAX_BODY_BYTES + 1},
        {"blocked_words": [""]},
        {"masked_words": ["x" * 201]},
        {"reject_info": "x" * 201},
        {"blocked_words": "scam"},
    ],
)
def test_policy_document_refuses(doc: dict) -> None:
    with pytest.raises(ValidationError):
        PolicyDocument.model_validate(doc)
    with pytest.raises(ValidationError):
        Policy.from_json(json.dumps(doc))


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"reject_code": {"c2c": 120001, "group": 10100}},
        {"reject_code": {"c2c": 130000, "group": 10200}},
        {"reject_code": {"c2c": 1, "group": 1}},
        {"allowed_elements": {"c2c": ["TIMTextElem", "TIMRelayElem", "TIMStreamElem"], "group": None}},
        {"max_body_bytes": 1},
        {"max_body_bytes": MAX_BODY_BYTES},
        {"mask_char": "＊"},
    ],
)
def test_policy_document_accepts(doc: dict) -> None:
    parsed = PolicyDocument.model_validate(doc)
    assert Policy(parsed).document == parsed


def test_policy_document_defaults() -> None:
    doc = PolicyDocument()
    assert doc.version == 1
    assert doc.blocked_action == "reject"
    assert (doc.reject_code.c2c, doc.reject_code.group) == (120001, 10100)
    assert doc.max_body_bytes == MAX_BODY_BYTES == 12 * 1024
    assert doc.mask_char == "*"


def test_from_json_refuses_broken_json() -> None:
    with pytest.raises(ValidationError):
        Policy.from_json('{"blocked_words": [')


def _merger(text: str, depth: int) -> dict[str, Any]:
    body = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]
    for _ in range(depth):
        body = [
            {
                "MsgType": "TIMRelayElem",
                "MsgContent": {"Title": "t", "MsgNum": 1, "MsgList": [{"From_Account": "a", "MsgBody": body}]},
            }
        ]
    return body[0]


@pytest.mark.parametrize("depth", [1, 3])
def test_blocked_word_inside_a_forwarded_merger_is_refused(depth: int) -> None:
    answer = policy(blocked_words=["scam"]).decide(c2c([_merger("a SCAM offer", depth)]))
    assert answer.ErrorCode == 120001


def test_clean_forwarded_merger_is_allowed() -> None:
    answer = policy(blocked_words=["scam"]).decide(c2c([_merger("a fair offer", 2)]))
    assert answer.outcome == "allowed"


# ----------------------------------------------------------------------------- what is scanned, and how


def _element(msg_type: str, **content: Any) -> dict[str, Any]:
    return {"MsgType": msg_type, "MsgContent": content}


USER_WRITTEN = {
    "custom-data": _element("TIMCustomElem", Data='{"note": "a scam"}'),
    "custom-desc": _element("TIMCustomElem", Data="{}", Desc="push: scam"),
    "custom-ext": _element("TIMCustomElem", Data="{}", Ext="scam"),
    "location-desc": _element("TIMLocationElem", Desc="scam street", Latitude=1, Longitude=2),
    "file-name": _element("TIMFileElem", Url="https://x", FileName="scam.pdf", FileSize=1),
    "face-data": _element("TIMFaceElem", Index=1, Data="scam"),
    "merger-title": _element("TIMRelayElem", Title="SCAM", MsgNum=1, JsonMsgKey="k"),
    "merger-abstract": _element("TIMRelayElem", Title="t", AbstractList=["a: hi", "b: scam"], JsonMsgKey="k"),
    "merger-compatible-text": _element("TIMRelayElem", Title="t", CompatibleText="scam", JsonMsgKey="k"),
}


@pytest.mark.parametrize("element", USER_WRITTEN.values(), ids=USER_WRITTEN.keys())
@pytest.mark.parametrize("depth", [0, 2])
def test_blocked_word_in_any_user_written_field_is_refused(element: dict[str, Any], depth: int) -> None:
    p = policy(blocked_words=["scam"])
    body = [element]
    for _ in range(depth):
        body = [_element("TIMRelayElem", Title="t", MsgNum=1, MsgList=[{"From_Account": "a", "MsgBody": body}])]
    assert p.decide(c2c(body)).ErrorCode == 120001
    assert policy(blocked_words=["fraud"]).decide(c2c(body)).outcome == "allowed"


@pytest.mark.parametrize(
    "text",
    [
        "ｓｃａｍ",  # full-width letters
        "ＳＣＡＭ",
        "s\u200bc\u200ca\u200dm",  # zero-width space, non-joiner, joiner
        "sc\u2060am\ufeff",  # word joiner, BOM
        "s\u00adcam",  # soft hyphen
        "sc\ufe0fam",  # variation selector
        "𝐬𝐜𝐚𝐦",  # mathematical bold
        "ⓢⓒⓐⓜ",  # circled letters
        "s\u0336c\u0336a\u0336m\u0336",  # a strikethrough overlay on each letter
        "sc\u0306\u0324am",  # marks that compose with no letter (breve, diaeresis below on c)
        "SCAM",
        "ſcam",  # long s: case-folds to s
        "s\u0441\u0430m",  # Cyrillic es and a
        "SCΑM",  # Greek capital alpha
        "\u0455\u0441\u0430m",  # Cyrillic dze
    ],
)
def test_blocked_words_are_found_through_unicode_tricks(text: str) -> None:
    assert policy(blocked_words=["scam"]).decide(c2c(text_body(f"a {text} here"))).outcome == "rejected"


def test_blocked_word_written_with_tricks_in_the_policy_matches_plain_text() -> None:
    assert policy(blocked_words=["ＳＣ\u200bＡＭ"]).decide(c2c(text_body("a scam"))).outcome == "rejected"


def test_composed_and_decomposed_accents_match_each_other() -> None:
    assert policy(blocked_words=["café"]).decide(c2c(text_body("un cafe\u0301"))).outcome == "rejected"
    assert policy(blocked_words=["cafe\u0301"]).decide(c2c(text_body("un café"))).outcome == "rejected"
    # An accent is not a trick: "año" is not "ano".
    assert policy(blocked_words=["ano"]).decide(c2c(text_body("feliz año"))).outcome == "allowed"


def test_turkish_dotted_and_dotless_i_are_i() -> None:
    p = policy(blocked_words=["bitcoin"])
    for text in ("BİTCOİN", "bıtcoın", "BITCOIN"):
        assert p.decide(c2c(text_body(f"buy {text} now"))).outcome == "rejected", text


def test_an_element_type_not_allowed_is_refused_inside_a_merger_too() -> None:
    p = policy(allowed_elements={"c2c": ["TIMTextElem", "TIMRelayElem"], "group": None})
    file = {"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://x.example/f", "FileName": "f.bin"}}
    merger = {
        "MsgType": "TIMRelayElem",
        "MsgContent": {"Title": "t", "MsgNum": 1, "MsgList": [{"From_Account": "a", "MsgBody": [file]}]},
    }
    assert p.decide(c2c([file])).outcome == "rejected"
    assert p.decide(c2c([merger])).outcome == "rejected"
    assert p.decide(c2c(text_body("fine"))).outcome == "allowed"


def test_words_in_the_look_alike_scripts_still_match_themselves() -> None:
    # Cyrillic and Greek words fold like the texts they are looked for in.
    assert policy(blocked_words=["спам"]).decide(c2c(text_body("это СПАМ"))).outcome == "rejected"
    assert policy(blocked_words=["απάτη"]).decide(c2c(text_body("μια ΑΠΆΤΗ"))).outcome == "rejected"
    assert policy(blocked_words=["спам"]).decide(c2c(text_body("это спорт"))).outcome == "allowed"


def test_a_masked_look_alike_is_masked_where_it_was_written() -> None:
    answer = policy(masked_words=["darn"]).decide(c2c(text_body("well d\u0430rn it")))
    assert answer.MsgBody is not None
    assert dump_body(answer.MsgBody)[0]["MsgContent"]["Text"] == "well **** it"


def test_a_word_of_invisible_characters_only_matches_nothing() -> None:
    assert policy(blocked_words=["\u200b"]).decide(c2c(text_body("a\u200bb"))).outcome == "allowed"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("ｄａｒｎ it", "**** it"),
        ("oh da\u200brn!", "oh *****!"),  # the invisible character inside the word is masked too
        ("ＤＡＲＮ ａｎｄ darn", "**** ａｎｄ ****"),
        ("中文ｄａｒｎ中文", "中文****中文"),
        ("İ ｄａｒｎ İ", "İ **** İ"),
    ],
)
def test_masks_cover_the_original_characters(text: str, masked: str) -> None:
    assert masked_texts(policy(masked_words=["darn"]).decide(c2c(text_body(text)))) == [masked]


def test_mask_of_a_decomposed_accent_covers_the_letter_and_its_mark() -> None:
    assert masked_texts(policy(masked_words=["café"]).decide(c2c(text_body("un cafe\u0301 noir")))) == ["un ***** noir"]


def test_masking_in_display_fields_of_other_elements_keeps_the_rest_as_it_came() -> None:
    custom = _element("TIMCustomElem", Data='{"darn": 1}', Desc="Darn push", Ext="darn", Future=[1])
    location = _element("TIMLocationElem", Desc="darn st", Latitude=39, Longitude=116.5)
    file = _element("TIMFileElem", Url="https://x", FileName="darn.pdf", Download_Flag=2)
    relay = _element("TIMRelayElem", Title="darn", AbstractList=["darn"], JsonMsgKey="k")
    answer = policy(masked_words=["darn"]).decide(c2c([custom, location, file, relay]))
    assert answer.outcome == "rewritten"
    assert answer.to_wire()["MsgBody"] == [
        _element("TIMCustomElem", Data='{"darn": 1}', Desc="**** push", Ext="darn", Future=[1]),
        _element("TIMLocationElem", Desc="**** st", Latitude=39, Longitude=116.5),
        _element("TIMFileElem", Url="https://x", FileName="****.pdf", Download_Flag=2),
        relay,
    ]


def test_masked_words_inside_forwarded_messages_are_left_alone() -> None:
    assert policy(masked_words=["darn"]).decide(c2c([_merger("darn", 1)])).outcome == "allowed"


def test_unexpected_image_type_is_still_moderated() -> None:
    image = _element("TIMImageElem", UUID="u", ImageFormat=1, ImageInfoArray=[{"Type": 9, "URL": "x"}])
    assert policy(blocked_words=["scam"]).decide(c2c([image, *text_body("scam")])).outcome == "rejected"


@pytest.mark.parametrize("levels", [40, 80, 100])
def test_blocked_word_at_the_bottom_of_a_deep_merger_is_refused(levels: int) -> None:
    answer = policy(blocked_words=["scam"]).decide(c2c([_merger("a scam", levels)]))
    assert answer.ErrorCode == 120001


# ----------------------------------------------------------------------------- the deadline


class ExpiresAfter:
    """A deadline that expires once it has been asked ``checks`` times."""

    def __init__(self, checks: int) -> None:
        self.left = checks
        self.asked = 0

    def expired(self) -> bool:
        self.asked += 1
        self.left -= 1
        return self.left < 0


def test_deadline_expiring_during_the_decision_stops_it() -> None:
    # The blocked word is in the third element: the deadline runs out before it is reached.
    deadline = ExpiresAfter(2)
    with pytest.raises(DeadlineExceeded):
        policy(blocked_words=["scam"]).decide(c2c(text_body("a", "b", "scam")), deadline)
    assert deadline.asked == 3


def test_deadline_is_checked_inside_forwarded_messages() -> None:
    deadline = ExpiresAfter(3)
    with pytest.raises(DeadlineExceeded):
        policy(blocked_words=["scam"]).decide(c2c([_merger("fine", 5)]), deadline)


def test_deadline_not_expired_gives_the_answer() -> None:
    deadline = ExpiresAfter(10)
    assert policy(blocked_words=["scam"]).decide(c2c(text_body("a", "b", "scam")), deadline).ErrorCode == 120001
