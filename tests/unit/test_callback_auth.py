"""Callback authentication (docs/protocol.md §1.2): Sign = lowercase hex sha256(token + RequestTime)."""

from __future__ import annotations

import pytest

from timkit.tim.callback_auth import callback_sign, sign_matches

VECTOR_TOKEN = "xxxxyyyy"
VECTOR_TIME = 1669872112
VECTOR_SIGN = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"


@pytest.mark.parametrize("request_time", [VECTOR_TIME, str(VECTOR_TIME)])
def test_reference_vector(request_time: int | str) -> None:
    assert callback_sign(VECTOR_TOKEN, request_time) == VECTOR_SIGN


def test_intl_page_typo_token_gives_another_sign() -> None:
    # docs/protocol.md §1.2: the intl pages print the token as "xxxyyy"; that gives e78a8547…35de, not the vector.
    sign = callback_sign("xxxyyy", VECTOR_TIME)
    assert sign.startswith("e78a8547") and sign.endswith("35de")
    assert sign != VECTOR_SIGN


def test_sign_matches_true() -> None:
    assert sign_matches(VECTOR_TOKEN, VECTOR_TIME, VECTOR_SIGN) is True
    assert sign_matches(VECTOR_TOKEN, str(VECTOR_TIME), VECTOR_SIGN) is True


def test_uppercase_sign_is_accepted() -> None:
    assert sign_matches(VECTOR_TOKEN, VECTOR_TIME, VECTOR_SIGN.upper()) is True


@pytest.mark.parametrize(
    ("token", "request_time", "sign"),
    [
        ("xxxxyyyz", VECTOR_TIME, VECTOR_SIGN),  # other token
        (VECTOR_TOKEN, VECTOR_TIME + 1, VECTOR_SIGN),  # other time
        (VECTOR_TOKEN, VECTOR_TIME, VECTOR_SIGN[:-1]),  # truncated
        (VECTOR_TOKEN, VECTOR_TIME, VECTOR_SIGN[:-1] + "0"),  # last digit changed
        (VECTOR_TOKEN, VECTOR_TIME, VECTOR_SIGN + "0"),  # too long
        (VECTOR_TOKEN, VECTOR_TIME, ""),
        (VECTOR_TOKEN, VECTOR_TIME, "0" * 64),
        (VECTOR_TOKEN, VECTOR_TIME, "Ω" * 64),
        ("", VECTOR_TIME, VECTOR_SIGN),
    ],
    ids=["token", "time", "truncated", "changed", "long", "empty", "zeros", "non-ascii", "empty-token"],
)
def test_sign_matches_false(token: str, request_time: int, sign: str) -> None:
    assert sign_matches(token, request_time, sign) is False


def test_sign_is_not_an_hmac_and_has_no_separator() -> None:
    # sha256("xxxxyyyy" + "1669872112"): the token is not a key, there is nothing in between.
    assert callback_sign("xxxx", "yyyy1669872112") == VECTOR_SIGN
