"""The merger API over HTTP through the local stack: the UserSig authorizer (refusals answered by
the gateway, never reaching the function), upload, download inline and by presigned URL, group
membership from the emulator (one role lookup, 503 when Tencent cannot tell), nesting by key,
limits, expiry, and capture of an inline merger from an after-send callback."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zlib
from typing import Any

import pytest
import requests

from tests.e2e.test_callback import wait_for
from timkit.tim.usersig import gen_usersig

TIMEOUT = 30


def sig(stack: dict, user: str, expire: int = 3600, now: int | None = None) -> str:
    return gen_usersig(int(stack["sdkappid"]), stack["secret_key"], user, expire, now)


def call(stack: dict, method: str, path: str, user: str | None, body: Any = None, token: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None or user is not None:
        headers["Authorization"] = f"Bearer {token if token is not None else sig(stack, user)}"
    data = body if isinstance(body, str | bytes) or body is None else json.dumps(body, ensure_ascii=False).encode()
    return requests.request(method, f"{stack['api_url']}{path}", data=data, headers=headers, timeout=TIMEOUT)


def message(i: int, text: str = "hello", body: list | None = None) -> dict:
    return {
        "From_Account": "alice",
        "To_Account": "bob",
        "MsgSeq": i,
        "MsgRandom": 1000 + i,
        "MsgTimeStamp": 1730000000 + i,
        "CloudCustomData": "",
        "MsgBody": body or [{"MsgType": "TIMTextElem", "MsgContent": {"Text": f"{text} {i}"}}],
    }


def upload(kind: str = "c2c", to: str = "bob", messages: list | None = None, **extra: Any) -> dict:
    return {
        "conversation": {"kind": kind, "id": to},
        "title": "Chat history",
        "abstractList": ["alice: hi"],
        "compatibleText": "Upgrade to view",
        "messageList": messages or [message(i) for i in range(3)],
        **extra,
    }


def by_key(key: str) -> dict:
    return {
        "MsgType": "TIMRelayElem",
        "MsgContent": {"Title": "inner", "MsgNum": 1, "CompatibleText": "x", "AbstractList": [], "JsonMsgKey": key},
    }


def test_upload_and_download_by_the_conversation_only(local_stack) -> None:
    doc = upload()
    created = call(local_stack, "POST", "/mergers", "alice", doc)
    assert created.status_code == 201, created.text
    result = created.json()
    key = result["downloadKey"]
    assert len(key) >= 22
    relay = result["relayElem"]
    assert relay["MsgType"] == "TIMRelayElem" and relay["MsgContent"]["JsonMsgKey"] == key
    assert "MsgList" not in relay["MsgContent"] and relay["MsgContent"]["MsgNum"] == 3
    assert len(json.dumps(relay, ensure_ascii=False).encode()) <= 12 * 1024
    for reader in ("alice", "bob"):
        got = call(local_stack, "GET", f"/mergers/{key}", reader)
        assert got.status_code == 200, got.text
        assert got.json() == {
            "title": doc["title"],
            "abstractList": doc["abstractList"],
            "compatibleText": doc["compatibleText"],
            "messageList": doc["messageList"],
            "layersOverLimit": False,
        }
    stranger = call(local_stack, "GET", f"/mergers/{key}", "carol")
    unknown = call(local_stack, "GET", "/mergers/no-such-key-000000000000000", "alice")
    assert stranger.status_code == unknown.status_code == 404
    assert stranger.json() == unknown.json()


def merger_invocations(stack: dict) -> int:
    """How many times the merger API function has run (its workers' counts, from the gateway)."""
    listing = requests.get(f"{stack['api_url']}/_local/functions", timeout=TIMEOUT).json()
    return sum(worker["invocations"] for worker in listing["functions"]["MergerApiFunction"]["workers"])


def test_bad_or_missing_sig_is_refused_at_the_gateway(local_stack) -> None:
    assert call(local_stack, "GET", "/mergers/x", "alice").status_code == 404  # the function is up
    before = merger_invocations(local_stack)
    missing = call(local_stack, "GET", "/mergers/x", None)  # no Authorization header
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    lone_surrogate = base64.b64encode(
        zlib.compress(
            json.dumps(
                {
                    "TLS.ver": "2.0",
                    "TLS.identifier": "\ud800",
                    "TLS.sdkappid": int(local_stack["sdkappid"]),
                    "TLS.expire": 3600,
                    "TLS.time": int(time.time()),
                    "TLS.sig": "x",
                }
            ).encode()
        )
    ).decode()
    refused = [
        "not-a-sig",
        sig(local_stack, "alice", now=int(time.time()) - 7200, expire=60),  # expired
        gen_usersig(1400009999, local_stack["secret_key"], "alice", 3600),  # another app
        gen_usersig(int(local_stack["sdkappid"]), "some-other-key", "alice", 3600),  # another key
        lone_surrogate.replace("+", "*").replace("/", "-").replace("=", "_"),
    ]
    for token in refused:
        for method, path, body in (("POST", "/mergers", upload()), ("GET", "/mergers/some-key", None)):
            answer = call(local_stack, method, path, None, body, token=token)
            assert (answer.status_code, answer.json()) == (403, {"message": "Forbidden"}), answer.text
    basic = requests.get(
        f"{local_stack['api_url']}/mergers/x", headers={"Authorization": "Basic YWxpY2U6eA=="}, timeout=TIMEOUT
    )
    assert (basic.status_code, basic.json()) == (403, {"message": "Forbidden"})
    assert merger_invocations(local_stack) == before  # none of them reached the merger function


def test_large_merger_comes_back_by_presigned_url(local_stack) -> None:
    big = "字" * 4000  # 12 KB of UTF-8 per message
    doc = upload(messages=[message(i, big) for i in range(280)])
    key = call(local_stack, "POST", "/mergers", "alice", doc).json()["downloadKey"]
    link = call(local_stack, "GET", f"/mergers/{key}", "bob").json()
    assert set(link) == {"downloadUrl", "expiresIn"}
    fetched = requests.get(link["downloadUrl"], timeout=TIMEOUT)  # a plain GET, no credentials
    assert fetched.status_code == 200 and fetched.json()["messageList"] == doc["messageList"]


ROLES = "group_open_http_svc/get_role_in_group"


def test_group_merger_is_for_members_only(local_stack, tim) -> None:
    key = call(local_stack, "POST", "/mergers", "alice", upload("group", "@TGS#demo")).json()["downloadKey"]
    lookups, listings = len(tim.calls(api=ROLES)), len(tim.calls(api="group_open_http_svc/get_group_member_info"))
    assert call(local_stack, "GET", f"/mergers/{key}", "carol").status_code == 200  # a member (emulator)
    assert call(local_stack, "GET", f"/mergers/{key}", "mallory").status_code == 404
    # One role lookup for the caller alone each, never a member listing; the uploader needs none.
    assert call(local_stack, "GET", f"/mergers/{key}", "alice").status_code == 200
    asked = [c["request"] for c in tim.calls(api=ROLES)[lookups:]]
    assert asked == [
        {"GroupId": "@TGS#demo", "User_Account": ["carol"]},
        {"GroupId": "@TGS#demo", "User_Account": ["mallory"]},
    ]
    assert len(tim.calls(api="group_open_http_svc/get_group_member_info")) == listings


def test_group_merger_when_tencent_cannot_tell_is_503(local_stack, tim) -> None:
    key = call(local_stack, "POST", "/mergers", "alice", upload("group", "@TGS#demo")).json()["downloadKey"]
    tim.configure(faults=[{"api": ROLES, "error_share": 1.0, "codes": [10002]}])
    try:
        busy = call(local_stack, "GET", f"/mergers/{key}", "bob")
        assert (busy.status_code, busy.headers["Retry-After"]) == (503, "1"), busy.text
        assert "try again" in busy.json()["message"]
        assert call(local_stack, "GET", f"/mergers/{key}", "alice").status_code == 200  # no lookup needed
    finally:
        tim.configure(faults=[])
    assert call(local_stack, "GET", f"/mergers/{key}", "bob").status_code == 200


def test_nesting_by_key_across_three_levels(local_stack) -> None:
    first = call(local_stack, "POST", "/mergers", "alice", upload()).json()["downloadKey"]
    second = call(local_stack, "POST", "/mergers", "alice", upload(messages=[message(1, body=[by_key(first)])])).json()[
        "downloadKey"
    ]
    third = call(local_stack, "POST", "/mergers", "alice", upload(messages=[message(1, body=[by_key(second)])])).json()[
        "downloadKey"
    ]
    top = call(local_stack, "GET", f"/mergers/{third}", "bob").json()
    middle_key = top["messageList"][0]["MsgBody"][0]["MsgContent"]["JsonMsgKey"]
    middle = call(local_stack, "GET", f"/mergers/{middle_key}", "bob").json()
    inner_key = middle["messageList"][0]["MsgBody"][0]["MsgContent"]["JsonMsgKey"]
    assert inner_key == first
    assert call(local_stack, "GET", f"/mergers/{inner_key}", "bob").json()["messageList"][0]["From_Account"] == "alice"
    # A key the uploader may not read cannot be forwarded.
    carols = call(local_stack, "POST", "/mergers", "carol", upload(to="dave")).json()["downloadKey"]
    refused = call(local_stack, "POST", "/mergers", "alice", upload(messages=[message(1, body=[by_key(carols)])]))
    assert refused.status_code == 404 and refused.json()["limit"] == "nested_key"


def test_a_chain_past_100_levels_is_flagged(local_stack) -> None:
    key = call(local_stack, "POST", "/mergers", "alice", upload()).json()["downloadKey"]
    for _ in range(100):
        key = call(local_stack, "POST", "/mergers", "alice", upload(messages=[message(1, body=[by_key(key)])])).json()[
            "downloadKey"
        ]
    top = call(local_stack, "GET", f"/mergers/{key}", "bob").json()
    assert top["layersOverLimit"] is True and top["messageList"] == [] and top["title"] == ""


@pytest.mark.parametrize(
    ("doc", "status", "limit"),
    [
        (upload(messages=[message(i) for i in range(301)]), 422, "messageList"),
        (upload(abstractList=["x" * 101]), 422, "abstractList"),
        (upload(abstractList=["a"] * 11), 422, "abstractList"),
        ({k: v for k, v in upload().items() if k != "compatibleText"}, 422, "compatibleText"),
        (upload(messages=[message(1, "y" * (5 * 1024 * 1024))]), 413, "size"),
    ],
    ids=["301-messages", "long-abstract", "many-abstracts", "no-compatible-text", "too-big"],
)
def test_limits_are_refused_by_name(local_stack, doc, status, limit) -> None:
    refused = call(local_stack, "POST", "/mergers", "alice", doc)
    assert refused.status_code == status, refused.text
    assert limit in refused.text


def test_too_deep_inline_nesting_is_refused(local_stack) -> None:
    body: list = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "bottom"}}]
    for _ in range(100):
        body = [
            {
                "MsgType": "TIMRelayElem",
                "MsgContent": {"Title": "t", "MsgNum": 1, "CompatibleText": "c", "MsgList": [message(1, body=body)]},
            }
        ]
    refused = call(local_stack, "POST", "/mergers", "alice", upload(messages=[message(1, body=body)]))
    assert refused.status_code == 422 and ("levels" in refused.text or "recursion" in refused.text.lower())


def test_an_expired_merger_is_gone(local_stack, aws) -> None:
    key = call(local_stack, "POST", "/mergers", "alice", upload()).json()["downloadKey"]
    assert call(local_stack, "GET", f"/mergers/{key}", "bob").status_code == 200
    # Time passes: the stored expiry is now in the past (TTL and lifecycle have not run yet).
    s3, bucket = aws("s3"), local_stack["resources"]["MergerBucket"]
    obj = f"mergers/{key}.json.gz"
    head = s3.head_object(Bucket=bucket, Key=obj)
    s3.copy_object(
        Bucket=bucket,
        Key=obj,
        CopySource={"Bucket": bucket, "Key": obj},
        Metadata=head["Metadata"] | {"expires_at": str(int(time.time()) - 1)},
        MetadataDirective="REPLACE",
        ContentType="application/json",
        ContentEncoding="gzip",
    )
    assert call(local_stack, "GET", f"/mergers/{key}", "bob").status_code == 404


def test_inline_merger_from_a_callback_is_downloadable_by_the_conversation(local_stack, tim, aws) -> None:
    relay = {
        "MsgType": "TIMRelayElem",
        "MsgContent": {
            "Title": "Forwarded",
            "MsgNum": 1,
            "CompatibleText": "upgrade",
            "AbstractList": ["alice: hi"],
            "MsgList": [message(7, "forwarded text")],
        },
    }
    sent = tim.send_c2c("alice", "bob", [relay])
    assert sent["ErrorCode"] == 0, sent
    dynamodb, table = aws("dynamodb"), local_stack["resources"]["ArchiveTable"]

    def captured():
        # The key is derived with the stack's capture secret: the archived message records it.
        item = dynamodb.get_item(
            TableName=table, Key={"pk": {"S": f"c2c:{sent['MsgKey']}"}, "sk": {"S": "MSG"}}, ConsistentRead=True
        ).get("Item")
        return item["captured_mergers"]["M"]["0"]["S"] if item else None

    key = wait_for(captured, timeout=30, what="the archived message")
    assert key != "m" + hashlib.sha256(f"c2c:{sent['MsgKey']}#0".encode()).hexdigest()[:40]

    def downloaded():
        got = call(local_stack, "GET", f"/mergers/{key}", "bob")
        return got.json() if got.status_code == 200 else None

    doc = wait_for(downloaded, timeout=30, what="the captured merger")
    assert doc["messageList"] == relay["MsgContent"]["MsgList"]
    assert call(local_stack, "GET", f"/mergers/{key}", "carol").status_code == 404


def test_an_absurdly_long_key_is_just_not_found(local_stack) -> None:
    assert call(local_stack, "GET", "/mergers/" + "k" * 3000, "alice").status_code == 404
    refused = call(local_stack, "POST", "/mergers", "alice", upload(messages=[message(1, body=[by_key("k" * 3000)])]))
    assert refused.status_code == 404 and refused.json()["limit"] == "nested_key"
