"""MergerService against moto in-process (S3 + DynamoDB, the table's key schema from template.yaml):
who may download, expiry, the one answer (and the same store work) for unknown/forbidden/expired
keys, presigned downloads, nesting by key (deduplicated, capped, batched), the over-deep chain,
what is stored, capture from after-send callbacks, and group membership by role lookup.

Presigned URLs are fetched with ``requests.get`` while ``mock_aws`` is active: moto intercepts
plain ``requests`` calls to S3 URLs too (through ``responses``), so the URL is exercised exactly as
a client would use it, next to a boto3 ``get_object`` of the same key."""

from __future__ import annotations

import copy
import gzip
import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from pydantic import ValidationError

from tests.moto_env import offline_aws, template_table
from tests.unit.conftest import FakeClock
from timkit.keys import KeyNotConfigured
from timkit.merger import (
    DOWNLOAD_URL_SECONDS,
    MAX_NESTED_KEYS,
    BlockedContent,
    GroupMembership,
    InlineDocument,
    MembershipUnavailable,
    MergerNotFound,
    MergerService,
    UnknownNestedKey,
    captured_key,
)
from timkit.models.callbacks import C2CAfterSend, C2CBeforeSend, GroupAfterSend
from timkit.models.elements import RelayElem
from timkit.models.merger import MAX_LEVELS, DownloadLink, LimitExceeded, MergerUpload
from timkit.models.rest import RoleInGroupReply, RoleInGroupRequest
from timkit.policy import Policy
from timkit.stores.mergers import BATCH_GET_ATTEMPTS, BATCH_GET_KEYS, MergerStore, StoreBusy
from timkit.tim.errors import TimApiError, TimTransportError

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "timkit-mergers-test"
TABLE = "timkit-merger-meta-test"
T0 = 1_730_000_000.0
DAY = 86400
RETENTION_DAYS = 7


class Keys:
    """Deterministic download keys: k0001, k0002, ..."""

    def __init__(self) -> None:
        self._n = itertools.count(1)

    def __call__(self) -> str:
        return f"k{next(self._n):04d}"


class Members:
    """A fake group membership check: {group: {users}}; records its calls."""

    def __init__(self, groups: dict[str, set[str]]) -> None:
        self.groups = groups
        self.calls: list[tuple[str, str]] = []

    def __call__(self, group_id: str, user: str) -> bool:
        self.calls.append((group_id, user))
        return user in self.groups.get(group_id, set())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with offline_aws(monkeypatch):
        properties = template_table("MergerTable", TABLE)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield properties


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def members() -> Members:
    return Members({"@TGS#team": {"A", "M1", "M2"}})


class Calls:
    """The AWS calls a boto3 client makes, with their parameters: ``[(operation, params)]``."""

    def __init__(self, *clients: Any) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        for client in clients:
            client.meta.events.register("before-parameter-build.*.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.made.append((model.name, copy.deepcopy(params)))

    def names(self) -> list[str]:
        return [name for name, _ in self.made]

    def clear(self) -> None:
        self.made.clear()


class SpyBody:
    """An S3 GET's body stream, counting what is read of it."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self.reads = 0
        self.closed = False

    def read(self, *args: Any) -> bytes:
        self.reads += 1
        return self._body.read(*args)

    def close(self) -> None:
        self.closed = True
        self._body.close()


class SpyS3:
    """The S3 client, every GET's body wrapped in a :class:`SpyBody`."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.bodies: list[SpyBody] = []

    def get_object(self, **params: Any) -> dict[str, Any]:
        reply = self._client.get_object(**params)
        reply["Body"] = SpyBody(reply["Body"])
        self.bodies.append(reply["Body"])
        return reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def s3(aws: dict[str, Any]) -> SpyS3:
    return SpyS3(boto3.client("s3"))


@pytest.fixture
def dynamodb(aws: dict[str, Any]) -> Any:
    return boto3.client("dynamodb")


@pytest.fixture
def calls(s3: SpyS3, dynamodb: Any) -> Calls:
    return Calls(s3._client, dynamodb)


@pytest.fixture
def store(s3: SpyS3, dynamodb: Any) -> MergerStore:
    return MergerStore(BUCKET, TABLE, s3=s3, dynamodb=dynamodb)


@pytest.fixture
def service(store: MergerStore, clock: FakeClock, members: Members) -> MergerService:
    return MergerService(store, RETENTION_DAYS, is_member=members, clock=clock, new_key=Keys())


# ----------------------------------------------------------------------------- helpers


def text(value: str) -> dict[str, Any]:
    return {"MsgType": "TIMTextElem", "MsgContent": {"Text": value}}


def wire_message(
    sender: str, body: list[dict[str, Any]], seq: int = 1, peer: str | None = "B", group: str | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"From_Account": sender}
    if group is not None:
        message["GroupId"] = group
    elif peer is not None:
        message["To_Account"] = peer
    message.update(
        {
            "MsgSeq": seq,
            "MsgRandom": 1000 + seq,
            "MsgTimeStamp": 1_664_437_700 + seq,
            "MsgBody": body,
            "CloudCustomData": "",
        }
    )
    return message


def key_relay(key: str, title: str = "earlier") -> dict[str, Any]:
    return {
        "MsgType": "TIMRelayElem",
        "MsgContent": {
            "Title": title,
            "MsgNum": 1,
            "CompatibleText": "upgrade",
            "AbstractList": ["x"],
            "JsonMsgKey": key,
        },
    }


def inline_relay(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "MsgType": "TIMRelayElem",
        "MsgContent": {
            "Title": "inner",
            "MsgNum": len(messages),
            "CompatibleText": "upgrade",
            "AbstractList": [],
            "MsgList": messages,
        },
    }


def upload_doc(messages: list[dict[str, Any]], kind: str = "c2c", to: str = "B", **changes: Any) -> dict[str, Any]:
    doc = {
        "conversation": {"kind": kind, "id": to},
        "title": "Chat history of A and B",
        "abstractList": ["A: hi", "B: hello"],
        "compatibleText": "Please upgrade to view this message",
        "messageList": messages,
    }
    doc.update(changes)
    return doc


def parse(raw: str) -> MergerUpload:
    """The upload model from decoded JSON. (The HTTP route uses model_validate_json, which cannot
    parse inline nesting of 40+ levels: see test_merger_models.py; the service takes either.)"""
    return MergerUpload.model_validate(json.loads(raw))


def upload(service: MergerService, uploader: str, doc: dict[str, Any]) -> str:
    raw = json.dumps(doc)
    return service.upload(uploader, parse(raw)).downloadKey


def downloaded(service: MergerService, caller: str, key: str) -> dict[str, Any]:
    found = service.download(caller, key)
    assert isinstance(found, InlineDocument), found
    return json.loads(found.json)


def expected(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": doc.get("title", ""),
        "abstractList": doc.get("abstractList", []),
        "compatibleText": doc["compatibleText"],
        "messageList": doc["messageList"],
        "layersOverLimit": False,
    }


CONVERSATION = [
    wire_message("A", [text("hi")], seq=85),
    wire_message(
        "B", [text("hello"), {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 3, "Data": "smile"}}], seq=86, peer="A"
    ),
    wire_message("A", [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": '{"x":1}', "Desc": "d"}}], seq=87),
]


def not_found_message(exc_info: pytest.ExceptionInfo[MergerNotFound], key: str) -> str:
    """The exception's message with the key itself taken out: what it says beyond the key."""
    return str(exc_info.value).replace(key, "<key>")


# ----------------------------------------------------------------------------- C2C


def test_c2c_upload_downloads_equal_for_uploader_and_peer_only(service: MergerService) -> None:
    doc = upload_doc(CONVERSATION)
    key = upload(service, "A", doc)
    for caller in ("A", "B"):
        got = downloaded(service, caller, key)
        assert got == expected(doc)
        # The forwarded messages come back exactly as they went in: no field added or dropped.
        assert json.dumps(got["messageList"], sort_keys=True) == json.dumps(doc["messageList"], sort_keys=True)
    with pytest.raises(MergerNotFound):
        service.download("C", key)


def test_upload_result_carries_a_ready_relay_elem(service: MergerService, clock: FakeClock) -> None:
    doc = upload_doc(CONVERSATION)
    raw = json.dumps(doc)
    result = service.upload("A", parse(raw))
    assert result.expiresAt == int(T0) + RETENTION_DAYS * DAY
    assert result.relayElem == {
        "MsgType": "TIMRelayElem",
        "MsgContent": {
            "Title": doc["title"],
            "MsgNum": 3,
            "CompatibleText": doc["compatibleText"],
            "AbstractList": doc["abstractList"],
            "JsonMsgKey": result.downloadKey,
        },
    }


def test_upload_over_the_size_limit_is_refused_naming_size(service: MergerService) -> None:
    raw = json.dumps(upload_doc(CONVERSATION)).encode()
    at_limit = raw + b" " * (5 * 1024 * 1024 - len(raw))  # JSON may end in whitespace
    with pytest.raises(LimitExceeded) as info:
        service.upload_json("A", at_limit + b" ")
    assert info.value.limit == "size"
    service.upload_json("A", at_limit)


# ----------------------------------------------------------------------------- groups


def test_group_merger_readable_by_members_and_uploader(service: MergerService, members: Members) -> None:
    doc = upload_doc([wire_message("M1", [text("team")], group="@TGS#team")], kind="group", to="@TGS#team")
    key = upload(service, "U", doc)  # the uploader is not (or no longer) a member
    assert downloaded(service, "U", key) == expected(doc)
    assert downloaded(service, "M1", key) == expected(doc)
    assert downloaded(service, "M2", key) == expected(doc)
    with pytest.raises(MergerNotFound):
        service.download("outsider", key)
    # The uploader never costs a membership check; the others do, against the merger's group.
    assert ("@TGS#team", "U") not in members.calls
    assert ("@TGS#team", "outsider") in members.calls
    # A group merger is not readable by a user whose name equals the group ID's "peer" rule.
    with pytest.raises(MergerNotFound):
        service.download("@TGS#team", key)


def test_group_merger_without_membership_check_only_uploader(store: MergerStore, clock: FakeClock) -> None:
    service = MergerService(store, RETENTION_DAYS, is_member=None, clock=clock, new_key=Keys())
    key = upload(service, "A", upload_doc(CONVERSATION, kind="group", to="@TGS#team"))
    downloaded(service, "A", key)
    with pytest.raises(MergerNotFound):
        service.download("M1", key)


class FakeTencent:
    """The REST client's roles_in_group as Tencent answers it, for {group: {user: role}}: requests
    validated by the client's own model, every call recorded, ``fail`` raised when set."""

    def __init__(self, groups: dict[str, dict[str, str]]) -> None:
        self.groups = groups
        self.calls: list[tuple[str, list[str]]] = []
        self.fail: Exception | None = None

    def roles_in_group(self, group_id: str, users: list[str], topic_id: str | None = None) -> dict[str, str]:
        RoleInGroupRequest(GroupId=group_id, User_Account=users, TopicId=topic_id)
        self.calls.append((group_id, list(users)))
        if self.fail is not None:
            raise self.fail
        if group_id not in self.groups:
            raise TimApiError("group_open_http_svc/get_role_in_group", 10010, "group does not exist")
        return {user: self.groups[group_id].get(user, "NotMember") for user in users}


@pytest.fixture
def tencent() -> FakeTencent:
    return FakeTencent({"g1": {"a": "Owner", "b": "Admin", "c": "Member"}, "g2": {"c": "Member"}})


def test_group_membership_asks_for_the_caller_alone_and_caches_per_pair(tencent: FakeTencent) -> None:
    clock = FakeClock(500.0)
    membership = GroupMembership(lambda: tencent, ttl=60, clock=clock)
    assert membership("g1", "a") and membership("g1", "b") and membership("g1", "c")
    assert not membership("g1", "d")
    assert tencent.calls == [("g1", ["a"]), ("g1", ["b"]), ("g1", ["c"]), ("g1", ["d"])]
    clock.advance(59.9)
    tencent.groups["g1"] = {"b": "Admin"}  # a left; the cache still says member, d still says not
    assert membership("g1", "a") and not membership("g1", "d")
    assert membership("g2", "c") and len(tencent.calls) == 5  # per group
    clock.advance(0.1)  # 60 s after the first lookup: asked again
    assert not membership("g1", "a") and membership("g1", "b")
    assert tencent.calls[5:] == [("g1", ["a"]), ("g1", ["b"])]


@pytest.mark.parametrize(
    ("answer", "member"),
    [
        ("Owner", True),
        ("Admin", True),
        ("Member", True),
        ("NotMember", False),
        ("SomethingNew", False),
        (TimApiError("get_role_in_group", 10010, "gone"), False),
        (TimApiError("get_role_in_group", 10015, "invalid group"), False),
        (TimApiError("get_role_in_group", 10007, "AVChatRoom"), False),
    ],
    ids=["owner", "admin", "member", "not-member", "unknown-role", "10010", "10015", "10007-avchatroom"],
)
def test_group_membership_from_tencent_answers(tencent: FakeTencent, answer: Any, member: bool) -> None:
    clock = FakeClock(500.0)
    membership = GroupMembership(lambda: tencent, clock=clock)
    if isinstance(answer, Exception):
        tencent.fail = answer
    else:
        tencent.groups["g1"]["x"] = answer
    assert membership("g1", "x") is member
    assert membership("g1", "x") is member
    assert len(tencent.calls) == 1  # remembered either way


def garbled_answer() -> ValidationError:
    """What the client raises for an answer that is not in the documented shape."""
    try:
        RoleInGroupReply.model_validate({"ActionStatus": "OK", "ErrorCode": 0, "UserIdList": {"a": "Owner"}})
    except ValidationError as exc:
        return exc
    raise AssertionError("the answer should not validate")


@pytest.mark.parametrize(
    "failure",
    [
        TimApiError("get_role_in_group", 10002, "internal error"),
        TimApiError("get_role_in_group", 10004, "bad"),
        TimTransportError("get_role_in_group", "timed out"),
        TimTransportError("get_role_in_group", "bad", 502),
        garbled_answer(),
    ],
    ids=["10002", "10004", "timeout", "http-502", "garbled-answer"],
)
def test_group_membership_tencent_cannot_tell_is_unavailable_and_not_remembered(
    tencent: FakeTencent, failure: Exception
) -> None:
    membership = GroupMembership(lambda: tencent, clock=FakeClock(500.0))
    tencent.fail = failure
    with pytest.raises(MembershipUnavailable) as info:
        membership("g1", "a")
    assert "g1" in str(info.value)
    tencent.fail = None
    assert membership("g1", "a")
    assert len(tencent.calls) == 2


def test_group_membership_forgets_the_least_recently_used_past_its_size(tencent: FakeTencent) -> None:
    membership = GroupMembership(lambda: tencent, max_entries=2, clock=FakeClock(500.0))
    for user in ("a", "b", "a", "c"):  # a used again after b: b is the least recently used
        membership("g1", user)
    assert [user for _, (user,) in tencent.calls] == ["a", "b", "c"]
    membership("g1", "a")
    assert len(tencent.calls) == 3
    membership("g1", "b")
    assert tencent.calls[-1] == ("g1", ["b"])


def test_group_membership_of_an_id_tencent_cannot_have_is_no(tencent: FakeTencent) -> None:
    membership = GroupMembership(lambda: tencent, clock=FakeClock(500.0))
    assert not membership("g1", "u" * 33)  # over 32 bytes: refused by the request model
    assert tencent.calls == []


def test_service_with_group_membership_asks_once_per_ttl(
    store: MergerStore, clock: FakeClock, tencent: FakeTencent
) -> None:
    tencent.groups["@TGS#g"] = {"M1": "Member"}
    service = MergerService(
        store,
        RETENTION_DAYS,
        is_member=GroupMembership(lambda: tencent, ttl=60, clock=clock),
        clock=clock,
        new_key=Keys(),
    )
    key = upload(service, "A", upload_doc(CONVERSATION, kind="group", to="@TGS#g"))
    for _ in range(5):
        downloaded(service, "M1", key)
    assert tencent.calls == [("@TGS#g", ["M1"])]
    clock.advance(61)
    downloaded(service, "M1", key)
    assert tencent.calls == [("@TGS#g", ["M1"])] * 2


def test_download_when_tencent_cannot_tell_is_unavailable_not_found_or_served(
    store: MergerStore, clock: FakeClock, tencent: FakeTencent
) -> None:
    service = MergerService(
        store, RETENTION_DAYS, is_member=GroupMembership(lambda: tencent, clock=clock), clock=clock, new_key=Keys()
    )
    key = upload(service, "A", upload_doc(CONVERSATION, kind="group", to="g1"))
    tencent.fail = TimTransportError("group_open_http_svc/get_role_in_group", "timed out")
    with pytest.raises(MembershipUnavailable):
        service.download("c", key)
    assert downloaded(service, "A", key) == expected(upload_doc(CONVERSATION, kind="group", to="g1"))
    assert len(tencent.calls) == 1  # the uploader is never asked about


# ----------------------------------------------------------------------------- expiry, one answer


def test_expired_merger_is_not_found_though_the_item_exists(service: MergerService, clock: FakeClock) -> None:
    key = upload(service, "A", upload_doc(CONVERSATION))
    clock.advance(RETENTION_DAYS * DAY - 1)
    downloaded(service, "B", key)
    clock.advance(1)  # exactly at expires_at
    for caller in ("A", "B"):
        with pytest.raises(MergerNotFound):
            service.download(caller, key)
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": key}})
    assert "Item" in item  # DynamoDB TTL has not deleted it yet
    assert boto3.client("s3").get_object(Bucket=BUCKET, Key=MergerStore.object_key(key))["ContentLength"] > 0


def test_unknown_forbidden_and_expired_look_the_same(service: MergerService, clock: FakeClock) -> None:
    forbidden = upload(service, "A", upload_doc(CONVERSATION))
    expired = upload(service, "A", upload_doc(CONVERSATION))
    unknown = "k9999"
    answers = []
    with pytest.raises(MergerNotFound) as info:
        service.download("C", forbidden)
    answers.append((type(info.value), not_found_message(info, forbidden), info.value.args[1:]))
    with pytest.raises(MergerNotFound) as info:
        service.download("C", unknown)
    answers.append((type(info.value), not_found_message(info, unknown), info.value.args[1:]))
    clock.advance(RETENTION_DAYS * DAY)
    with pytest.raises(MergerNotFound) as info:
        service.download("A", expired)
    answers.append((type(info.value), not_found_message(info, expired), info.value.args[1:]))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] is MergerNotFound


def test_forbidden_key_is_decided_from_metadata_without_reading_the_list(
    service: MergerService, s3: SpyS3, calls: Calls
) -> None:
    key = upload(service, "A", upload_doc(CONVERSATION))
    calls.clear()
    with pytest.raises(MergerNotFound):
        service.download("C", key)
    forbidden_calls = calls.names()
    (body,) = s3.bodies
    assert (body.reads, body.closed) == (0, True)
    calls.clear()
    with pytest.raises(MergerNotFound):
        service.download("C", "k9999")
    # The same store work for a key that is not there: one GET, nothing else.
    assert forbidden_calls == calls.names() == ["GetObject"]
    downloaded(service, "B", key)
    assert s3.bodies[-1].reads > 0 and s3.bodies[-1].closed


def test_group_merger_of_a_non_member_is_refused_before_its_list_is_read(
    service: MergerService, s3: SpyS3, members: Members
) -> None:
    key = upload(service, "M1", upload_doc(CONVERSATION, kind="group", to="@TGS#team"))
    with pytest.raises(MergerNotFound):
        service.download("outsider", key)
    assert ("@TGS#team", "outsider") in members.calls
    assert (s3.bodies[-1].reads, s3.bodies[-1].closed) == (0, True)


# ----------------------------------------------------------------------------- keys


def test_default_download_keys_are_unguessable(store: MergerStore, clock: FakeClock) -> None:
    service = MergerService(store, RETENTION_DAYS, clock=clock)
    doc = upload_doc([wire_message("A", [text("x")])])
    model = MergerUpload.model_validate(doc)
    keys = [service.upload("A", model).downloadKey for _ in range(200)]
    assert len(set(keys)) == len(keys)
    for key in keys:
        # url-safe base64 of >= 16 random bytes: >= 22 characters of [A-Za-z0-9_-]
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", key), key
    # Every position takes many values: the characters are not a counter or a timestamp.
    shortest = min(len(k) for k in keys)
    for position in range(shortest):
        assert len({k[position] for k in keys}) > 20, position


# ----------------------------------------------------------------------------- large documents


def test_large_document_comes_back_as_a_presigned_url(store: MergerStore, clock: FakeClock) -> None:
    doc = upload_doc([wire_message("A", [text(f"line {i} " + "x" * 200)], seq=i) for i in range(50)])
    big = MergerService(store, RETENTION_DAYS, inline_max_bytes=1024, clock=clock, new_key=Keys())
    key = upload(big, "A", doc)
    link = big.download("B", key)
    assert isinstance(link, DownloadLink)
    assert link.expiresIn == DOWNLOAD_URL_SECONDS
    assert f"/mergers/{key}.json.gz" in link.downloadUrl
    assert "Signature=" in link.downloadUrl or "X-Amz-Signature=" in link.downloadUrl
    # A plain HTTP GET (moto answers requests' call in-process): requests inflates the gzip body
    # because S3 serves it with Content-Encoding: gzip.
    response = requests.get(link.downloadUrl, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert json.loads(response.content) == expected(doc)
    # The same object through boto3: gzip inflated by hand gives the same document.
    obj = boto3.client("s3").get_object(Bucket=BUCKET, Key=MergerStore.object_key(key))
    assert json.loads(gzip.decompress(obj["Body"].read())) == expected(doc)
    # The link is also refused to a stranger: the check happens before any URL is made.
    with pytest.raises(MergerNotFound):
        big.download("C", key)


def test_inline_threshold_is_inclusive(store: MergerStore, clock: FakeClock) -> None:
    doc = upload_doc(CONVERSATION)
    key = upload(MergerService(store, RETENTION_DAYS, clock=clock, new_key=lambda: "edge"), "A", doc)
    size = store.meta(key).size_bytes
    at_limit = MergerService(store, RETENTION_DAYS, inline_max_bytes=size, clock=clock)
    below = MergerService(store, RETENTION_DAYS, inline_max_bytes=size - 1, clock=clock)
    assert json.loads(at_limit.download("A", key).json) == expected(doc)
    assert isinstance(below.download("A", key), DownloadLink)


# ----------------------------------------------------------------------------- nesting by key


def test_nesting_by_key_across_three_levels(service: MergerService, store: MergerStore) -> None:
    l1_doc = upload_doc(CONVERSATION, title="level 1")
    l1 = upload(service, "A", l1_doc)
    l2_doc = upload_doc([wire_message("A", [text("see this"), key_relay(l1, "level 1")])], title="level 2")
    l2 = upload(service, "A", l2_doc)
    l3_doc = upload_doc([wire_message("B", [key_relay(l2, "level 2")], peer="A")], title="level 3")
    l3 = upload(service, "A", l3_doc)
    for key, doc, levels in ((l1, l1_doc, 1), (l2, l2_doc, 2), (l3, l3_doc, 3)):
        for caller in ("A", "B"):
            assert downloaded(service, caller, key) == expected(doc)
        assert store.meta(key).levels == levels
    # The client follows the keys: each level's relay names the next key down.
    top = downloaded(service, "B", l3)
    assert top["messageList"][0]["MsgBody"][0]["MsgContent"]["JsonMsgKey"] == l2
    middle = downloaded(service, "B", top["messageList"][0]["MsgBody"][0]["MsgContent"]["JsonMsgKey"])
    assert middle["messageList"][0]["MsgBody"][1]["MsgContent"]["JsonMsgKey"] == l1


def test_nested_key_must_exist_and_be_readable(service: MergerService, clock: FakeClock) -> None:
    others = upload(service, "C", upload_doc(CONVERSATION, to="D"))
    for bad in (others, "k9999"):
        for placement in ("top", "inline"):
            relay = key_relay(bad)
            body = [relay] if placement == "top" else [inline_relay([wire_message("A", [relay])])]
            with pytest.raises(UnknownNestedKey) as info:
                upload(service, "A", upload_doc([wire_message("A", body)]))
            assert bad in str(info.value)
            assert isinstance(info.value, ValueError)
    # A key the uploader may read as the C2C peer is fine; once expired it is not.
    theirs = upload(service, "C", upload_doc(CONVERSATION, to="A"))
    upload(service, "A", upload_doc([wire_message("A", [key_relay(theirs)])]))
    clock.advance(RETENTION_DAYS * DAY)
    with pytest.raises(UnknownNestedKey):
        upload(service, "A", upload_doc([wire_message("A", [key_relay(theirs)])]))


def stored_keys(service: MergerService, count: int) -> list[str]:
    return [upload(service, "A", upload_doc([wire_message("A", [text(f"stored {i}")])])) for i in range(count)]


def batch_gets(calls: Calls) -> list[int]:
    """How many keys each BatchGetItem asked for."""
    return [len(params["RequestItems"][TABLE]["Keys"]) for name, params in calls.made if name == "BatchGetItem"]


def test_nested_keys_are_looked_up_once_each_in_batches_of_100(
    service: MergerService, store: MergerStore, calls: Calls
) -> None:
    keys = stored_keys(service, 250)
    # Every key twice in its message, and again inside an inline merger one level down.
    messages = [wire_message("A", [key_relay(k), key_relay(k)], seq=i) for i, k in enumerate(keys)]
    messages.append(wire_message("A", [inline_relay([wire_message("A", [key_relay(k) for k in keys[:50]])])]))
    calls.clear()
    key = upload(service, "A", upload_doc(messages))
    assert batch_gets(calls) == [BATCH_GET_KEYS, BATCH_GET_KEYS, 50]
    assert "GetItem" not in calls.names()
    assert store.meta(key).levels == 3  # a stored level-1 merger referenced from level 2


def test_nested_keys_over_the_cap_are_refused_by_name_before_any_lookup(service: MergerService, calls: Calls) -> None:
    def referencing(count: int) -> dict[str, Any]:
        relays = [key_relay(f"never-stored-{i}") for i in range(count)]
        return upload_doc([wire_message("A", relays[i : i + 2], seq=i) for i in range(0, count, 2)])

    with pytest.raises(LimitExceeded) as info:
        upload(service, "A", referencing(MAX_NESTED_KEYS + 1))
    assert info.value.limit == "nested_keys" and str(MAX_NESTED_KEYS) in str(info.value)
    assert calls.names() == []
    with pytest.raises(UnknownNestedKey):  # at the cap: looked up, and not there
        upload(service, "A", referencing(MAX_NESTED_KEYS))
    assert batch_gets(calls) == [100, 100, 100]


class Unprocessing:
    """The DynamoDB client, leaving the second half of a BatchGetItem's keys unprocessed ``times``
    times, as DynamoDB does when throttled."""

    def __init__(self, client: Any, times: int) -> None:
        self._client = client
        self.times = times
        self.asked: list[int] = []  # keys per call

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.asked += [len(request["Keys"]) for request in RequestItems.values()]
        if self.times <= 0:
            return self._client.batch_get_item(RequestItems=RequestItems)
        self.times -= 1
        ((table, request),) = RequestItems.items()
        served, held = request["Keys"][: len(request["Keys"]) // 2], request["Keys"][len(request["Keys"]) // 2 :]
        reply = {"Responses": {table: []}}
        if served:
            reply = self._client.batch_get_item(RequestItems={table: {**request, "Keys": served}})
        return {**reply, "UnprocessedKeys": {table: {**request, "Keys": held}}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_unprocessed_nested_keys_are_asked_for_again_after_a_backoff(
    service: MergerService, s3: SpyS3, dynamodb: Any
) -> None:
    keys = stored_keys(service, 4)
    sleeps: list[float] = []
    dynamodb = Unprocessing(dynamodb, times=2)
    store = MergerStore(BUCKET, TABLE, s3=s3, dynamodb=dynamodb, sleep=sleeps.append)
    assert set(store.metas(keys)) == set(keys)
    assert dynamodb.asked == [4, 2, 1]
    assert len(sleeps) == 2 and 0 < sleeps[0] < sleeps[1]
    throttled = Unprocessing(dynamodb, times=99)
    with pytest.raises(StoreBusy):
        MergerStore(BUCKET, TABLE, s3=s3, dynamodb=throttled, sleep=sleeps.append).metas(keys)
    assert len(throttled.asked) == BATCH_GET_ATTEMPTS


def test_group_member_may_nest_a_group_merger_by_key(service: MergerService) -> None:
    group_key = upload(service, "M1", upload_doc(CONVERSATION, kind="group", to="@TGS#team"))
    upload(service, "M2", upload_doc([wire_message("M2", [key_relay(group_key)])]))
    with pytest.raises(UnknownNestedKey):
        upload(service, "outsider", upload_doc([wire_message("outsider", [key_relay(group_key)])]))


def test_chain_deeper_than_100_levels_by_key_flags_layers_over_limit(
    service: MergerService, store: MergerStore
) -> None:
    key = upload(service, "A", upload_doc([wire_message("A", [text("bottom")])], title="level 1"))
    keys = [key]
    for level in range(2, MAX_LEVELS + 2):
        doc = upload_doc([wire_message("A", [key_relay(key)])], title=f"level {level}", abstractList=["a"])
        key = upload(service, "A", doc)
        keys.append(key)
    assert len(keys) == MAX_LEVELS + 1
    at_limit, over = keys[MAX_LEVELS - 1], keys[MAX_LEVELS]
    assert store.meta(at_limit).levels == MAX_LEVELS and not store.meta(at_limit).layers_over_limit
    got = downloaded(service, "B", at_limit)
    assert got["layersOverLimit"] is False and got["title"] == f"level {MAX_LEVELS}"
    assert store.meta(over).levels == MAX_LEVELS + 1 and store.meta(over).layers_over_limit
    for caller in ("A", "B"):
        top = downloaded(service, caller, over)
        assert top["layersOverLimit"] is True
        assert top["title"] == "" and top["abstractList"] == [] and top["messageList"] == []
    with pytest.raises(MergerNotFound):
        service.download("C", over)


def test_inline_nesting_over_100_levels_is_refused(service: MergerService) -> None:
    messages = [wire_message("A", [text("leaf")])]
    for _ in range(MAX_LEVELS):
        messages = [wire_message("A", [inline_relay(messages)])]
    with pytest.raises(LimitExceeded) as info:
        upload(service, "A", upload_doc(messages))
    assert info.value.limit == "levels"


def test_inner_level_with_301_messages_is_refused(service: MergerService) -> None:
    inner = [wire_message("A", [text(str(i))], seq=i) for i in range(301)]
    with pytest.raises(LimitExceeded) as info:
        upload(service, "A", upload_doc([wire_message("A", [inline_relay(inner)])]))
    assert info.value.limit == "messages"


def test_levels_count_the_key_at_its_own_depth(service: MergerService, store: MergerStore) -> None:
    flat = upload(service, "A", upload_doc(CONVERSATION))
    three_inline = inline_relay([wire_message("A", [inline_relay([wire_message("A", [text("deep")])])])])
    key = upload(service, "A", upload_doc([wire_message("A", [key_relay(flat)]), wire_message("A", [three_inline])]))
    # max(1 + levels(flat) = 2, 3 inline) = 3
    assert store.meta(key).levels == 3


def test_lone_surrogate_in_a_message_is_refused_as_invalid(service: MergerService) -> None:
    raw = json.dumps(upload_doc([wire_message("A", [text("\udfff")])]))
    assert '"\\udfff"' in raw
    with pytest.raises((ValidationError, LimitExceeded)):
        service.upload("A", parse(raw))


def nested_inline(levels: int, leaf_text: str) -> list[dict[str, Any]]:
    messages = [wire_message("A", [text(leaf_text)])]
    for _ in range(levels - 1):
        messages = [wire_message("A", [inline_relay(messages)])]
    return messages


@pytest.mark.parametrize("as_received", [True, False], ids=["as-received", "from-models"])
@pytest.mark.parametrize("levels", [2, 50, MAX_LEVELS])
def test_inline_nesting_up_to_100_levels_downloads_back_equal(
    service: MergerService, store: MergerStore, levels: int, as_received: bool
) -> None:
    # Past ~45 levels the document is too deep for pydantic-core's encoder: stored all the same.
    doc = upload_doc(nested_inline(levels, "leaf ✓"))
    raw = json.dumps(doc)
    received = json.loads(raw)["messageList"] if as_received else None
    key = service.upload("A", parse(raw), received).downloadKey
    assert downloaded(service, "B", key) == expected(doc)
    assert store.meta(key).levels == levels


@pytest.mark.parametrize("levels", [1, MAX_LEVELS])
def test_lone_surrogate_as_received_is_refused_naming_text(service: MergerService, levels: int) -> None:
    raw = json.dumps(upload_doc(nested_inline(levels, "ok")))
    document = json.loads(raw)
    deepest = document["messageList"]
    for _ in range(levels - 1):
        deepest = deepest[0]["MsgBody"][0]["MsgContent"]["MsgList"]
    deepest[0]["MsgBody"][0]["MsgContent"]["Text"] = "\udfff"
    with pytest.raises(LimitExceeded) as info:
        service.upload("A", parse(raw), document["messageList"])
    assert info.value.limit == "text"


# ----------------------------------------------------------------------------- what is stored


def test_metadata_item_and_gzip_object(aws: dict[str, Any], service: MergerService, clock: FakeClock) -> None:
    doc = upload_doc(CONVERSATION, kind="group", to="@TGS#team")
    clock.advance(12.7)
    key = upload(service, "M1", doc)
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]
    obj = boto3.client("s3").get_object(Bucket=BUCKET, Key=MergerStore.object_key(key))
    packed = obj["Body"].read()
    plain = gzip.decompress(packed)
    created = int(T0 + 12.7)
    assert item == {
        "pk": {"S": key},
        "uploader": {"S": "M1"},
        "kind": {"S": "group"},
        "conversation": {"S": "@TGS#team"},
        "msg_count": {"N": "3"},
        "levels": {"N": "1"},
        "layers_over_limit": {"BOOL": False},
        "size_bytes": {"N": str(len(plain))},
        "stored_bytes": {"N": str(len(packed))},
        "created_at": {"N": str(created)},
        "expires_at": {"N": str(created + RETENTION_DAYS * DAY)},
        "source": {"S": "upload"},
    }
    # DynamoDB's TTL attribute in the template is the one the store writes.
    assert aws["TimeToLiveSpecification"]["AttributeName"] in item
    assert packed[:2] == b"\x1f\x8b"
    assert obj["ContentEncoding"] == "gzip"
    assert obj["ContentType"] == "application/json"
    assert json.loads(plain) == expected(doc)
    # The access fields travel with the object too (a download is one S3 GET).
    assert obj["Metadata"] == {
        "key": key,
        "uploader": "M1",
        "kind": "group",
        "conversation": "%40TGS%23team",
        "msg_count": "3",
        "levels": "1",
        "layers_over_limit": "0",
        "size_bytes": str(len(plain)),
        "created_at": str(created),
        "expires_at": str(created + RETENTION_DAYS * DAY),
        "source": "upload",
    }


# ----------------------------------------------------------------------------- capture


C2C_AFTER = {
    "CallbackCommand": "C2C.CallbackAfterSendMsg",
    "From_Account": "A",
    "To_Account": "B",
    "MsgSeq": 7311,
    "MsgRandom": 3088123456,
    "MsgTime": 1730000000,
    "MsgKey": "7311_3088123456_1730000000",
    "OnlineOnlyFlag": 0,
    "SendMsgResult": 0,
    "ErrorInfo": "send msg succeed",
    "UnreadMsgNum": 1,
    "CloudCustomData": "",
}
GROUP_AFTER = {
    "CallbackCommand": "Group.CallbackAfterSendMsg",
    "GroupId": "@TGS#team",
    "Type": "Public",
    "From_Account": "M1",
    "Operator_Account": "M1",
    "Random": 123456,
    "OnlineOnlyFlag": 0,
    "MsgSeq": 123,
    "MsgTime": 1490686222,
    "CloudCustomData": "",
}


def captured_relay(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "MsgType": "TIMRelayElem",
        "MsgContent": {
            "Title": "Chat history",
            "MsgNum": len(messages),
            "CompatibleText": "upgrade",
            "AbstractList": ["A: hi"],
            "MsgList": messages,
        },
    }


SECRET = b"capture-secret-for-tests"


def secret() -> bytes:
    return SECRET


def key_of(identity: str, index: int, element: dict[str, Any], key_secret: bytes = SECRET) -> str:
    return captured_key(key_secret, identity, index, RelayElem.model_validate(element))


def test_capture_c2c_inline_relay(service: MergerService, clock: FakeClock) -> None:
    relay = captured_relay(CONVERSATION)
    message = C2CAfterSend.model_validate(dict(C2C_AFTER, MsgBody=[text("look"), relay]))
    keys = service.capture(message, secret)
    key = key_of(f"c2c:{C2C_AFTER['MsgKey']}", 1, relay)
    assert keys == {1: key}
    want = {
        "title": "Chat history",
        "abstractList": ["A: hi"],
        "compatibleText": "upgrade",
        "messageList": CONVERSATION,
        "layersOverLimit": False,
    }
    assert downloaded(service, "A", key) == want
    assert downloaded(service, "B", key) == want
    with pytest.raises(MergerNotFound):
        service.download("C", key)
    meta = service.store.meta(key)
    assert (meta.source, meta.uploader, meta.kind, meta.conversation, meta.msg_count) == (
        "callback",
        "A",
        "c2c",
        "B",
        3,
    )
    # Delivered again (Tencent retries callbacks): same key, one item, first created_at kept.
    clock.advance(30)
    assert service.capture(message, secret) == {1: key}
    assert service.store.meta(key) == meta
    assert downloaded(service, "B", key) == want


def test_repeated_capture_does_not_extend_the_merger_life(service: MergerService, clock: FakeClock) -> None:
    message = C2CAfterSend.model_validate(dict(C2C_AFTER, MsgBody=[captured_relay(CONVERSATION)]))
    (key,) = service.capture(message, secret).values()
    clock.advance(6 * DAY)
    assert service.capture(message, secret) == {0: key}
    clock.advance(DAY + 1)
    assert service.store.meta(key).expires_at < clock.now
    with pytest.raises(MergerNotFound):
        service.download("B", key)


def test_capture_group_inline_relay(service: MergerService) -> None:
    inner = [wire_message("M2", [text("x")], group="@TGS#team")]
    nested = captured_relay([wire_message("M1", [captured_relay(inner)], group="@TGS#team")])
    message = GroupAfterSend.model_validate(dict(GROUP_AFTER, MsgBody=[nested, text("and"), captured_relay(inner)]))
    keys = service.capture(message, secret)
    assert keys == {
        0: key_of("group:@TGS#team:123", 0, nested),
        2: key_of("group:@TGS#team:123", 2, captured_relay(inner)),
    }
    for key in keys.values():
        downloaded(service, "M1", key)
        downloaded(service, "M2", key)
        with pytest.raises(MergerNotFound):
            service.download("outsider", key)
    # The captured list is level 1, the merger inside it level 2.
    assert service.store.meta(keys[0]).levels == 2
    assert downloaded(service, "A", keys[2])["messageList"] == inner
    assert service.capture(message, secret) == keys


def test_another_body_under_one_identity_captures_under_other_keys(service: MergerService) -> None:
    first = captured_relay(CONVERSATION)
    forged = captured_relay([wire_message("A", [text("send the money to 666")])])
    keys = service.capture(C2CAfterSend.model_validate(dict(C2C_AFTER, MsgBody=[first])), secret)
    other = service.capture(C2CAfterSend.model_validate(dict(C2C_AFTER, MsgBody=[forged])), secret)
    assert keys[0] != other[0]
    # Both kept, each as it came.
    assert downloaded(service, "B", keys[0])["messageList"] == CONVERSATION
    assert downloaded(service, "B", other[0])["messageList"] == forged["MsgContent"]["MsgList"]


def test_capture_asks_for_the_secret_only_for_a_merger(service: MergerService) -> None:
    def no_secret() -> bytes:
        raise AssertionError("the secret was asked for")

    message = C2CAfterSend.model_validate(dict(C2C_AFTER, MsgBody=[key_relay("tencent-json-key"), text("x")]))
    assert service.capture(message, no_secret) == {}


def test_capture_ignores_messages_not_delivered(service: MergerService, store: MergerStore) -> None:
    relay = captured_relay(CONVERSATION)
    before = dict(C2C_AFTER, CallbackCommand="C2C.CallbackBeforeSendMsg", MsgBody=[relay])
    before.pop("SendMsgResult", None)
    before.pop("ErrorInfo", None)
    message = C2CBeforeSend.model_validate(before)
    assert service.capture(message, secret) == {}
    assert store.meta(key_of(f"c2c:{C2C_AFTER['MsgKey']}", 0, relay)) is None


def test_captured_key_is_stable_and_distinct() -> None:
    relay = captured_relay(CONVERSATION)
    a = key_of("c2c:1_2_3", 0, relay)
    assert a == key_of("c2c:1_2_3", 0, relay)
    assert (
        len(
            {
                a,
                key_of("c2c:1_2_3", 1, relay),
                key_of("c2c:1_2_4", 0, relay),
                key_of("group:g:1", 0, relay),
                key_of("c2c:1_2_3", 0, captured_relay(CONVERSATION[:1])),
            }
        )
        == 5
    )
    assert re.fullmatch(r"m[0-9a-f]{40}", a)


def test_captured_key_cannot_be_made_without_the_secret() -> None:
    # The key used to be sha256("<identity>#<index>"): anyone knowing a group id and a seq had it.
    relay = captured_relay(CONVERSATION)
    key = key_of("group:@TGS#team:123", 0, relay)
    assert key != "m" + hashlib.sha256(b"group:@TGS#team:123#0").hexdigest()[:40]
    assert key != key_of("group:@TGS#team:123", 0, relay, key_secret=b"another secret")
    assert key_of("group:@TGS#team:123", 0, relay, key_secret=b"") != key


def test_a_missing_key_on_the_membership_lookup_is_its_own_error_not_a_retry_later(tencent: FakeTencent) -> None:
    tencent.fail = KeyNotConfigured("it is empty")
    with pytest.raises(KeyNotConfigured):
        GroupMembership(lambda: tencent, clock=FakeClock())("g1", "a")


@pytest.mark.parametrize("key", ["\ud800k", "a" * 65, "key with spaces", "ÿ", "", "../etc"])
def test_keys_this_service_never_makes_are_unknown_without_asking_aws(
    service: MergerService, calls: Calls, key: str
) -> None:
    calls.clear()
    with pytest.raises(MergerNotFound):
        service.download("A", key)
    if key:
        with pytest.raises(UnknownNestedKey):
            upload(service, "A", upload_doc([wire_message("A", [key_relay(key)])]))
    assert calls.names() == []


def test_an_upload_holding_a_blocked_word_anywhere_is_refused_and_nothing_stored(
    store: MergerStore, clock: FakeClock, calls: Calls
) -> None:
    # The before-send callback sees only the TIMRelayElem with the key, never the messages behind it.
    policy = Policy.from_json('{"blocked_words": ["scam"]}')
    service = MergerService(store, 30, clock=clock, policy=lambda: policy)
    deep = wire_message("A", [inline_relay([wire_message("A", [text("a ｓｃａｍ here")])])])
    for doc in (
        upload_doc([wire_message("A", [text("plain scam")])]),
        upload_doc([deep]),
        upload_doc([wire_message("A", [text("hi")])], title="scam inside"),
        upload_doc([wire_message("A", [text("hi")])], abstractList=["A: scam"]),
    ):
        calls.clear()
        with pytest.raises(BlockedContent):
            upload(service, "A", doc)
        assert not {"PutObject", "PutItem"} & set(calls.names())
    assert upload(service, "A", upload_doc([wire_message("A", [text("all fine")])]))
