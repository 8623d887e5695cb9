"""What schemathesis needs to know about the APIs beyond their documents, in one place.

* Values of the string formats the documents declare beyond JSON Schema's own (defined in
  timkit.api.openapi.FORMATS, and so in each document's description): a format is a rule JSON Schema
  cannot state (a length in UTF-8 bytes, an id made of other ids, a time to come), and a tool only
  knows it by its name. Every value drawn here is one the API must accept; negative cases still break
  each keyword the document states beside the format (type, pattern, maxLength...).
* An Idempotency-Key is state, not shape: a key used before with another body is refused (422), as
  the header's description says. Generated cases draw keys from a small space and would reuse them, so
  each request gets a key of its own (:func:`before_call`). What a repeat answers is tested in
  tests/integration and tests/e2e.
  (The CLI's stateful phase calls no hook: the stateful tests run from pytest.)

Imported by conftest.py. The CLI takes it as a hook module: SCHEMATHESIS_HOOKS=tests.contract.hooks.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from hypothesis import strategies as st

from timkit.models.admin import zones
from timkit.models.rest import MAX_GROUP_ID_BYTES, MAX_GROUP_NAME_BYTES, MAX_USER_ID_BYTES, ROBOT_PREFIX

# Far enough ahead that a case is still in the future when it reaches the API, whatever its time zone.
_AHEAD = timedelta(days=2)


def utf8_text(max_bytes: int, chars: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """1 to ``max_bytes`` bytes of UTF-8: ASCII up to the limit, or fewer characters of any kind."""
    chars = chars if chars is not None else st.characters(codec="utf-8")
    return st.one_of(
        st.text(chars.filter(str.isascii), min_size=1, max_size=max_bytes),
        st.text(chars, min_size=1, max_size=max_bytes // 4),
    ).filter(lambda text: len(text.encode()) <= max_bytes)


_NO_CONTROL = st.characters(codec="utf-8").filter(lambda c: c >= " ")
# The parts of ids in a path: schemathesis decodes a path value before it encodes it, so the %3A and %25
# a conversation id writes for a ':' or '%' inside an id would reach the API as ':' and '%' (the escapes
# are tested in tests/integration). Ids here have neither.
_PART = st.characters(codec="utf-8").filter(lambda c: c not in ":%")
user_ids = utf8_text(MAX_USER_ID_BYTES)
robot_ids = utf8_text(MAX_USER_ID_BYTES - len(ROBOT_PREFIX)).map(lambda name: ROBOT_PREFIX + name)
group_ids = utf8_text(MAX_GROUP_ID_BYTES, _NO_CONTROL)
group_names = utf8_text(MAX_GROUP_NAME_BYTES)


@st.composite
def _c2c(draw: st.DrawFn, parts: st.SearchStrategy[str]) -> str:
    first, second = draw(st.lists(parts, min_size=2, max_size=2, unique=True))
    return f"c2c:{first}:{second}"


def _conversation_ids(
    users: st.SearchStrategy[str], groups: st.SearchStrategy[str], topics: bool
) -> st.SearchStrategy[str]:
    kinds = [_c2c(users), groups.map("group:{}".format)]
    if topics:
        kinds.append(st.tuples(groups, groups).map(lambda ids: "topic:{}:{}".format(*ids)))
    return st.one_of(kinds).filter(lambda value: len(value) <= 200)


any_ids = st.text(_PART, min_size=1, max_size=20)


@st.composite
def schedule_at(draw: st.DrawFn) -> str:
    moment = draw(
        st.datetimes(
            min_value=(datetime.now(UTC) + _AHEAD).replace(tzinfo=None), max_value=datetime(9998, 12, 30, 0, 0)
        )
    )
    text = moment.isoformat(timespec=draw(st.sampled_from(["minutes", "seconds", "microseconds"])))
    return text + draw(st.sampled_from(["", "Z", "+00:00", "+08:00", "-05:30"]))


_MINUTES = st.sampled_from(["0", "*/15", "5,35", "0-30/10", "59"])
_HOURS = st.sampled_from(["9", "*", "0-23/6", "12,18"])
_DAYS_OF_MONTH = st.sampled_from(["*", "1", "15", "L", "LW", "10W", "1-28/7"])
_MONTHS = st.sampled_from(["*", "1", "JAN-JUN", "3,9", "1/2"])
_DAYS_OF_WEEK = st.sampled_from(["*", "MON-FRI", "2", "6L", "3#2", "SUN,SAT"])
# A year to come, or every year: the schedule fires again.
_YEARS = st.sampled_from(["*", "2090-2199", "2150", "2100/5"])


@st.composite
def schedule_cron(draw: st.DrawFn) -> str:
    minutes, hours, months, years = draw(_MINUTES), draw(_HOURS), draw(_MONTHS), draw(_YEARS)
    if draw(st.booleans()):
        return f"cron({minutes} {hours} {draw(_DAYS_OF_MONTH)} {months} ? {years})"
    return f"cron({minutes} {hours} ? {months} {draw(_DAYS_OF_WEEK)} {years})"


http_urls = st.builds(
    "{}://{}.example{}".format,
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
    st.sampled_from(["", "/", "/face.png", "/a/b?c=d"]),
)

FORMATS: dict[str, st.SearchStrategy[str]] = {
    "http-url": http_urls,
    "time-zone": st.sampled_from(sorted(zones())),
    "tim-user-id": user_ids,
    "tim-robot-id": robot_ids,
    "tim-group-id": group_ids,
    "tim-group-name": group_names,
    "conversation-id": _conversation_ids(any_ids, any_ids, topics=True),
    "thread-id": _conversation_ids(
        utf8_text(MAX_USER_ID_BYTES, _PART), utf8_text(MAX_GROUP_ID_BYTES, _PART), topics=False
    ),
    "schedule-at": schedule_at(),
    "schedule-cron": schedule_cron(),
}

for _name, _strategy in FORMATS.items():
    schemathesis.openapi.format(_name, _strategy)


# Keys up to the documented limit are taken as given; a longer one is refused before anything is kept.
_KEPT_KEY_LENGTH = 255
_SENT = itertools.count()


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    """Each request with an Idempotency-Key gets one of its own, as long as the generated one (at least 22
    characters), so the boundaries of its length are still sent; the same on every run."""
    headers = case.headers or {}
    for name, key in list(headers.items()):
        if name.lower() != "idempotency-key" or not isinstance(key, str) or not key or len(key) > _KEPT_KEY_LENGTH:
            continue
        digest = hashlib.sha256(f"{next(_SENT)}:{key}".encode()).digest()
        fresh = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        headers[name] = (fresh * 6)[: max(len(key), len(fresh))]
