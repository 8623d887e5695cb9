"""The WebSocket gateway's functions in-process, against moto and the Tencent IM emulator: $connect
verifies the UserSig before it writes anything and counts connections; frames become Tencent
messages and group memberships, once per msgId, answered with acks; the fan-out posts delivered
messages to the recipients' open connections and forgets the gone ones."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest

from local.tim_emulator import FakeClock, FaultRule, Identity, Seed, SeedGroup, Settings, TimEmulator
from tests.handlers import ROOT, load_handler
from tests.moto_env import offline_aws, template_table
from timkit.models.rest import CreateGroupRequest
from timkit.stores.connections import ConnectionGone
from timkit.tim.rest import RetryPolicy, TimRestClient
from timkit.tim.usersig import gen_usersig

APP = 1400000001
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
NOW = 1_730_000_000
CONTEXT = SimpleNamespace(
    function_name="test",
    memory_limit_in_mb=256,
    aws_request_id="test",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:test",
)
WORLD = Seed(
    accounts=("alice", "bob", "carol", "1001"),
    groups=(SeedGroup("room", "Room", "Public", "alice", ("alice", "bob", "carol")),),
)
TABLE = "ws-connections"


# The emulator's time: real time, moved on by tests that need Tencent to see time pass.
CLOCK = FakeClock(time.time())


@pytest.fixture(scope="module")
def emulator() -> Iterator[TimEmulator]:
    # Set when the emulator starts, not when the module is imported (minutes earlier in a full run):
    # the gateway and its idempotency records read real time, and a lost answer is looked for in
    # Tencent's history from the record's time on.
    CLOCK.set(time.time())
    with TimEmulator(Identity(APP, KEY), Settings(), port=0, seed=WORLD, clock=CLOCK) as running:
        yield running


@pytest.fixture
def functions(emulator: TimEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    emulator.reset()
    env = {
        "TIM_SDKAPPID": str(APP),
        "TIM_API_BASE": emulator.url,
        "RATE_TABLE": "rates",
        "IDEMPOTENCY_TABLE": "idempotency",
        "WS_CONNECTIONS_TABLE": TABLE,
        "WS_CONNECTIONS_PER_USER": "2",
        "WS_FRAMES_PER_SECOND": "50",
        "WS_MANAGEMENT_ENDPOINT": "https://ws.example/live",
        "WS_MEMBER_CACHE_SECONDS": "0",
        "POWERTOOLS_SERVICE_NAME": "tim-ws",
        "CONFIG_CACHE_SECONDS": "0",
    }
    with offline_aws(monkeypatch):
        secret = boto3.client("secretsmanager").create_secret(Name="key", SecretString=json.dumps({"secret_key": KEY}))
        monkeypatch.setenv("TIM_SECRET_ID", secret["ARN"])
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for logical_id, name in [
            ("RateTable", "rates"),
            ("IdempotencyTable", "idempotency"),
            ("WsConnectionsTable", TABLE),
        ]:
            template_table(logical_id, name)
        with load_handler("ws_api", "it_ws_api_app") as api, load_handler("ws_fanout", "it_ws_fanout_app") as fanout:
            sockets = Sockets()
            fanout.fanout._api = sockets
            yield SimpleNamespace(api=api, fanout=fanout, sockets=sockets, emulator=emulator, secret=secret["ARN"])


class Sockets:
    """The management API's part: frames posted per connection; closed connections are gone."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.closed: set[str] = set()

    def post(self, connection_id: str, data: bytes) -> None:
        if connection_id in self.closed:
            raise ConnectionGone(connection_id)
        self.received.setdefault(connection_id, []).append(json.loads(data))


def route(api: ModuleType, key: str, connection_id: str, **extra: Any) -> dict[str, Any]:
    event = {"requestContext": {"routeKey": key, "connectionId": connection_id, "eventType": key}, **extra}
    result: dict[str, Any] = api.lambda_handler(event, CONTEXT)
    return result


def connect(api: ModuleType, connection_id: str, user: str, **sig: Any) -> dict[str, Any]:
    token = gen_usersig(APP, sig.pop("key", KEY), user, sig.pop("expire", 3600))
    return route(api, "$connect", connection_id, queryStringParameters={"token": token})


def send(api: ModuleType, connection_id: str, frame: Any) -> dict[str, Any]:
    body = frame if isinstance(frame, str) else json.dumps(frame)
    answer = route(api, "$default", connection_id, body=body)
    assert answer["statusCode"] == 200
    ack: dict[str, Any] = json.loads(answer["body"])
    return ack


def text(kind: str, source: Any, target: Any, msg_id: Any, content: str = "hi") -> dict[str, Any]:
    return {
        "type": kind,
        "source": source,
        "target": target,
        "msg": {"msgId": msg_id, "timestamp": NOW, "content": content},
    }


def items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=TABLE)["Items"]


def c2c_history(emulator: TimEmulator, a: str, b: str) -> list[dict[str, Any]]:
    rest = TimRestClient(APP, KEY, base_url=emulator.url)
    reply = rest.call(
        "openim",
        "admin_getroammsg",
        {"Operator_Account": a, "Peer_Account": b, "MaxCnt": 100, "MinTime": 0, "MaxTime": 2**31 - 1},
    )
    messages: list[dict[str, Any]] = reply.get("MsgList", [])
    return messages


# ----------------------------------------------------------------------------- connecting


def test_a_bad_token_is_refused_before_anything_is_written(functions: SimpleNamespace) -> None:
    wrong_key = gen_usersig(APP, "f" * 64, "alice", 3600)
    for query in (None, {}, {"token": ""}, {"token": "not-a-sig"}, {"token": wrong_key}):
        extra = {} if query is None else {"queryStringParameters": query}
        refused = route(functions.api, "$connect", "c0", **extra)
        assert refused["statusCode"] == 401
        assert wrong_key not in refused["body"]
    assert connect(functions.api, "c0", "alice", expire=-10)["statusCode"] == 401
    assert items() == []


def test_connections_per_user_are_limited(functions: SimpleNamespace) -> None:
    assert connect(functions.api, "c1", "alice")["statusCode"] == 200
    assert connect(functions.api, "c2", "alice")["statusCode"] == 200
    third = connect(functions.api, "c3", "alice")
    assert third["statusCode"] == 429
    assert connect(functions.api, "c4", "bob")["statusCode"] == 200
    # A closed one makes room again.
    route(functions.api, "$disconnect", "c1")
    assert connect(functions.api, "c3", "alice")["statusCode"] == 200


def test_without_the_apps_key_connections_and_frames_are_unavailable(functions: SimpleNamespace) -> None:
    connect(functions.api, "a1", "alice")
    boto3.client("secretsmanager").put_secret_value(SecretId=functions.secret, SecretString='{"secret_key": ""}')
    refused = connect(functions.api, "a2", "alice")
    assert refused["statusCode"] == 503
    ack = send(functions.api, "a1", text("single", "alice", "bob", 1))
    assert (ack["ok"], ack["code"], ack["msgId"]) == (False, "unavailable", 1)
    assert c2c_history(functions.emulator, "alice", "bob") == []


# ----------------------------------------------------------------------------- frames in


def test_a_message_is_sent_once_per_msg_id(functions: SimpleNamespace) -> None:
    connect(functions.api, "a1", "alice")
    first = send(functions.api, "a1", text("single", "alice", "bob", 7))
    assert first["ok"] and first["msgId"] == 7 and first["messageId"].startswith("c2c:")
    # Resent (a dropped socket, a new connection): the same answer, nothing sent again.
    route(functions.api, "$disconnect", "a1")
    connect(functions.api, "a2", "alice")
    assert send(functions.api, "a2", text("single", "alice", "bob", 7)) == first
    history = c2c_history(functions.emulator, "alice", "bob")
    assert [m["MsgBody"][0]["MsgContent"]["Text"] for m in history] == ["hi"]
    # Another frame under the same msgId is a conflict; the same text under "7" is another msgId.
    assert send(functions.api, "a2", text("single", "alice", "bob", 7, "other"))["code"] == "conflict"
    assert send(functions.api, "a2", text("single", "alice", "bob", "7"))["ok"]


def test_numeric_ids_name_tencent_accounts(functions: SimpleNamespace) -> None:
    connect(functions.api, "n1", "1001")
    ack = send(functions.api, "n1", text("single", 1001, "bob", 1))
    assert ack["ok"], ack
    assert c2c_history(functions.emulator, "1001", "bob")[0]["From_Account"] == "1001"


def test_a_frame_claiming_another_source_is_refused_and_sends_nothing(functions: SimpleNamespace) -> None:
    connect(functions.api, "a1", "alice")
    ack = send(functions.api, "a1", text("single", "bob", "carol", 1))
    assert (ack["ok"], ack["code"], ack["msgId"]) == (False, "forbidden", 1)
    assert c2c_history(functions.emulator, "bob", "carol") == []


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "not_json"),
        ("[]", "not_json"),
        ({"type": "broadcast", "source": "alice", "target": "bob", "msg": {"msgId": 1}}, "unknown_type"),
        ({"type": "single", "source": "alice", "msg": {"msgId": 1, "timestamp": NOW, "content": "x"}}, "malformed"),
        ({"type": "single", "source": "alice", "target": "bob", "msg": {"msgId": 1, "timestamp": NOW}}, "malformed"),
        (json.dumps(text("single", "alice", "bob", 1, "x" * 13_000)), "too_large"),
    ],
)
def test_malformed_frames_get_an_error_ack_and_change_nothing(
    functions: SimpleNamespace, frame: Any, code: str
) -> None:
    connect(functions.api, "a1", "alice")
    before = items()
    ack = send(functions.api, "a1", frame)
    assert (ack["ok"], ack["code"]) == (False, code)
    assert c2c_history(functions.emulator, "alice", "bob") == []
    assert items() == before  # no idempotency record either (another table: it would not show here)
    assert boto3.client("dynamodb").scan(TableName="idempotency")["Items"] == []


def test_group_messages_are_for_members(functions: SimpleNamespace) -> None:
    connect(functions.api, "a1", "alice")
    connect(functions.api, "d1", "1001")
    ack = send(functions.api, "a1", text("group", "alice", "room", "g-1"))
    assert ack["ok"] and ack["messageId"].startswith("group:room:")
    outsider = send(functions.api, "d1", text("group", 1001, "room", "g-1"))
    assert outsider["code"] == "forbidden"


@pytest.mark.parametrize("kind", ["single", "group"])
def test_a_resend_after_an_unknown_outcome_is_delivered_once(
    functions: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Tencent stored the message but its answer was lost: a resend seconds later finds the
    one-to-one message in the history, and carries the group message's Random, which Tencent drops
    as the repeat it is (docs/protocol.md §6.4)."""
    rest = TimRestClient(APP, KEY, base_url=functions.emulator.url)
    # One attempt per send: the REST client's own retries are not what is tested here.
    once = TimRestClient(APP, KEY, base_url=functions.emulator.url, retry=RetryPolicy(attempts=1))
    monkeypatch.setattr(functions.api.gateway, "_rest", lambda: once)
    connect(functions.api, "a1", "alice")
    frame = text(kind, "alice", "bob" if kind == "single" else "room", "lost-answer")
    api = "openim/sendmsg" if kind == "single" else "group_open_http_svc/send_group_msg"
    functions.emulator.configure(faults=[FaultRule(api=api, error_share=1.0, codes=[502], fault_after_commit=1.0)])
    try:
        assert send(functions.api, "a1", frame)["code"] == "unavailable"
    finally:
        functions.emulator.configure(faults=[])
    # Later than Tencent's one-second window for a one-to-one repeat.
    CLOCK.advance(5)
    monkeypatch.setattr(functions.api.gateway, "_clock", CLOCK.now)
    again = send(functions.api, "a1", frame)
    assert again["ok"]
    if kind == "single":
        history = c2c_history(functions.emulator, "alice", "bob")
        assert [m["MsgBody"][0]["MsgContent"]["Text"] for m in history] == ["hi"]
        assert again["messageId"] == f"c2c:{history[0]['MsgKey']}"
    else:
        texts = [m.MsgBody[0].MsgContent.Text for m in rest.group_msg_get_simple("room").RspMsgList]
        assert texts == ["hi"]


def test_join_only_groups_open_to_anyone_and_leave(functions: SimpleNamespace) -> None:
    rest = TimRestClient(APP, KEY, base_url=functions.emulator.url)
    rest.create_group(CreateGroupRequest(Type="Public", Name="Open", GroupId="open", ApplyJoinOption="FreeAccess"))
    connect(functions.api, "b1", "bob")
    join = {"type": "join", "source": "bob", "target": "open", "msg": {"msgId": "j1"}}
    assert send(functions.api, "b1", join) == {"type": "ack", "msgId": "j1", "ok": True}
    assert rest.roles_in_group("open", ["bob"]) == {"bob": "Member"}
    refused = send(functions.api, "b1", {**join, "target": "room-closed", "msg": {"msgId": "j2"}})
    assert refused["ok"] is False and refused["code"] == "rejected"  # no such group
    rest.create_group(
        CreateGroupRequest(Type="Public", Name="Closed", GroupId="closed", ApplyJoinOption="NeedPermission")
    )
    assert send(functions.api, "b1", {**join, "target": "closed", "msg": {"msgId": "j3"}})["code"] == "forbidden"
    leave = {"type": "leave", "source": "bob", "target": "open", "msg": {"msgId": "l1"}}
    assert send(functions.api, "b1", leave)["ok"]
    assert rest.roles_in_group("open", ["bob"]) == {"bob": "NotMember"}


def test_frames_per_second_are_limited(functions: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    # One second for every frame: the 50 of WS_FRAMES_PER_SECOND, then refusals.
    monkeypatch.setattr(functions.api.gateway, "_clock", lambda: float(NOW))
    connect(functions.api, "a1", "alice")
    answers = [send(functions.api, "a1", "not json")["code"] for _ in range(51)]
    assert answers == ["not_json"] * 50 + ["rate_limited"]
    # Not sent, and answered under its msgId.
    limited = send(functions.api, "a1", text("single", "alice", "bob", "late"))
    assert (limited["code"], limited["msgId"]) == ("rate_limited", "late")
    assert c2c_history(functions.emulator, "alice", "bob") == []


# ----------------------------------------------------------------------------- frames out


def after_send_c2c(sender: str, to: str, body: list[dict[str, Any]], custom: str = "") -> dict[str, Any]:
    return {
        "version": 1,
        "eventId": "e1",
        "sdkAppId": APP,
        "callback": {
            "CallbackCommand": "C2C.CallbackAfterSendMsg",
            "From_Account": sender,
            "To_Account": to,
            "MsgSeq": 1,
            "MsgRandom": 2,
            "MsgTime": NOW,
            "MsgKey": f"1_2_{NOW}",
            "MsgBody": body,
            "CloudCustomData": custom,
        },
    }


def after_send_group(sender: str, group: str, body: list[dict[str, Any]], seq: int = 9) -> dict[str, Any]:
    return {
        "version": 1,
        "eventId": "e2",
        "sdkAppId": APP,
        "callback": {
            "CallbackCommand": "Group.CallbackAfterSendMsg",
            "GroupId": group,
            "From_Account": sender,
            "MsgSeq": seq,
            "MsgTime": NOW,
            "Random": 5,
            "MsgBody": body,
        },
    }


TEXT = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}]


def deliver(functions: SimpleNamespace, detail_type: str, detail: dict[str, Any]) -> dict[str, int]:
    result: dict[str, int] = functions.fanout.lambda_handler({"detail-type": detail_type, "detail": detail}, CONTEXT)
    return result


def test_a_c2c_message_reaches_every_connection_of_the_recipient(functions: SimpleNamespace) -> None:
    connect(functions.api, "b1", "bob")
    connect(functions.api, "b2", "bob")
    connect(functions.api, "a1", "alice")
    assert deliver(functions, "C2C.CallbackAfterSendMsg", after_send_c2c("alice", "bob", TEXT)) == {
        "posted": 2,
        "gone": 0,
    }
    for connection in ("b1", "b2"):
        assert functions.sockets.received[connection] == [
            {
                "type": "single",
                "source": "alice",
                "target": "bob",
                "msgType": "text",
                "msg": {"content": "hello", "msgId": f"c2c:1_2_{NOW}", "timestamp": NOW},
                "messageId": f"c2c:1_2_{NOW}",
            }
        ]
    assert "a1" not in functions.sockets.received  # the sender has its ack


def test_a_group_message_reaches_the_members_but_the_sender(functions: SimpleNamespace) -> None:
    for connection, user in [("a1", "alice"), ("b1", "bob"), ("c1", "carol"), ("d1", "1001")]:
        connect(functions.api, connection, user)
    assert deliver(functions, "Group.CallbackAfterSendMsg", after_send_group("carol", "room", TEXT))["posted"] == 2
    assert set(functions.sockets.received) == {"a1", "b1"}
    assert functions.sockets.received["a1"][0]["target"] == "room"


def test_gone_connections_are_removed_on_the_first_failed_post(functions: SimpleNamespace) -> None:
    connect(functions.api, "b1", "bob")
    connect(functions.api, "b2", "bob")
    functions.sockets.closed.add("b1")
    assert deliver(functions, "C2C.CallbackAfterSendMsg", after_send_c2c("alice", "bob", TEXT)) == {
        "posted": 1,
        "gone": 1,
    }
    assert functions.api.gateway._connections.open_connections("bob") == ["b2"]
    assert functions.api.gateway._connections.user_of("b1") is None
    assert deliver(functions, "C2C.CallbackAfterSendMsg", after_send_c2c("alice", "bob", TEXT)) == {
        "posted": 1,
        "gone": 0,
    }


def test_undelivered_and_topic_messages_are_not_posted(functions: SimpleNamespace) -> None:
    connect(functions.api, "b1", "bob")
    failed = after_send_c2c("alice", "bob", TEXT)
    failed["callback"]["SendMsgResult"] = 20006
    assert deliver(functions, "C2C.CallbackAfterSendMsg", failed) == {"posted": 0, "gone": 0}
    topic = after_send_group("alice", "room", TEXT)
    topic["callback"]["TopicId"] = "room@TOPIC#_1"
    assert deliver(functions, "Group.CallbackAfterSendMsg", topic) == {"posted": 0, "gone": 0}
    assert functions.sockets.received == {}


def test_a_socket_frame_arrives_as_it_was_sent(functions: SimpleNamespace) -> None:
    """Through Tencent for real: the message the emulator stored is what its after-send callback carries."""
    connect(functions.api, "a1", "alice")
    connect(functions.api, "b1", "bob")
    frame = {
        "type": "single",
        "source": "alice",
        "target": "bob",
        "msgType": "map",
        "extra": {"zoom": 3},
        "msg": {"msgId": "m-1", "timestamp": NOW, "lat": 22.5, "lng": 114.1},
    }
    assert send(functions.api, "a1", frame)["ok"]
    stored = c2c_history(functions.emulator, "alice", "bob")[0]
    detail = after_send_c2c("alice", "bob", stored["MsgBody"], stored.get("CloudCustomData", ""))
    deliver(functions, "C2C.CallbackAfterSendMsg", detail)
    got = functions.sockets.received["b1"][0]
    assert got.pop("messageId")
    assert got == frame


# ----------------------------------------------------------------------------- sample events


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    return event


def test_the_sample_events_run(functions: SimpleNamespace) -> None:
    connect_event = sample("ws_api/connect.json")
    user_sig = gen_usersig(APP, KEY, "alice", 3600)
    connect_event["queryStringParameters"]["token"] = user_sig
    assert functions.api.lambda_handler(connect_event, CONTEXT) == {"statusCode": 200}
    ack = json.loads(functions.api.lambda_handler(sample("ws_api/message.json"), CONTEXT)["body"])
    assert ack["ok"] and ack["msgId"] == 1
    connect(functions.api, "b1", "bob")
    assert functions.fanout.lambda_handler(sample("ws_fanout/c2c_after_send.json"), CONTEXT) == {"posted": 1, "gone": 0}
    assert functions.sockets.received["b1"][0]["msg"] == {"content": "hi", "msgId": 1, "timestamp": 1730000001}
    assert functions.api.lambda_handler(sample("ws_api/disconnect.json"), CONTEXT) == {"statusCode": 200}
    assert functions.api.gateway._connections.user_of(connect_event["requestContext"]["connectionId"]) is None
