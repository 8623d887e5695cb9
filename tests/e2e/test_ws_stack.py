"""The WebSocket gateway end to end through `python -m local`, with a real WebSocket client: frames
from one socket reach another through Tencent (the emulator), its callbacks, the event bus and the
fan-out; SDK users (simulated through the emulator) and sockets talk to each other; refusals come
back as error acks; connections that are gone are cleaned up."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import quote

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.tim_emulator.control import EmulatorControl
from tests.e2e.conftest import StackState
from tests.waiting import wait_for
from timkit.models.rest import CreateGroupRequest, InitialMember
from timkit.tim.rest import TimRestClient
from timkit.tim.usersig import gen_usersig

TIMEOUT_S = 30


class Socket:
    """A user's connection; every frame it receives is kept in ``seen``."""

    def __init__(self, ws: ClientConnection, user: str) -> None:
        self.ws = ws
        self.user = user
        self.seen: list[dict[str, Any]] = []

    def send(self, frame: Any) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def wait(self, match: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        for frame in self.seen:
            if match(frame):
                return frame
        deadline = time.monotonic() + TIMEOUT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                break
            self.seen.append(frame)
            if match(frame):
                return frame
        raise AssertionError(f"{self.user} did not get {what}; got {self.seen}")

    def ack(self, msg_id: Any) -> dict[str, Any]:
        return self.wait(lambda f: f.get("type") == "ack" and f.get("msgId") == msg_id, f"the ack of {msg_id!r}")

    def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.send(frame)
        return self.ack(frame["msg"]["msgId"])

    def delivered(self, msg_id: Any) -> dict[str, Any]:
        return self.wait(lambda f: f.get("type") != "ack" and f["msg"].get("msgId") == msg_id, f"message {msg_id!r}")

    def close(self) -> None:
        self.ws.close()


def opened(stack: StackState, user: str, token: str | None = None) -> ClientConnection:
    sig = token if token is not None else gen_usersig(stack.sdkappid, stack.secret_key, user, 3600)
    return connect(f"{stack.ws_url}?token={quote(sig)}", open_timeout=TIMEOUT_S)


@pytest.fixture
def sockets(local_stack: StackState) -> Iterator[Callable[[str], Socket]]:
    with ExitStack() as connections:

        def open_socket(user: str) -> Socket:
            return Socket(connections.enter_context(opened(local_stack, user)), user)

        yield open_socket


@pytest.fixture
def rest(local_stack: StackState) -> TimRestClient:
    return TimRestClient(local_stack.sdkappid, local_stack.secret_key, base_url=local_stack.tim_api_base)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def text(kind: str, source: str, target: str, msg_id: Any, content: str) -> dict[str, Any]:
    return {
        "type": kind,
        "source": source,
        "target": target,
        "msgType": "text",
        "msg": {"msgId": msg_id, "timestamp": int(time.time()), "content": content},
    }


def group_of(rest: TimRestClient, *members: str, join: str | None = None) -> str:
    group = unique("ws-room")
    rest.create_group(
        CreateGroupRequest(
            Type="Public",
            Name="WebSocket room",
            GroupId=group,
            Owner_Account=members[0],
            MemberList=[InitialMember(Member_Account=m) for m in members[1:]],
            ApplyJoinOption=join,
        )
    )
    return group


def test_one_to_one_between_sockets(sockets: Callable[[str], Socket]) -> None:
    alice, bob = sockets("alice"), sockets("bob")
    msg_id = unique("m")
    frame = {**text("single", "alice", "bob", msg_id, "hello bob"), "extra": {"mood": "happy"}}
    ack = alice.request(frame)
    assert ack["ok"] and ack["messageId"].startswith("c2c:")
    got = bob.delivered(msg_id)
    assert got.pop("messageId") == ack["messageId"]
    assert got == frame


def test_a_custom_kind_arrives_unchanged(sockets: Callable[[str], Socket]) -> None:
    alice, bob = sockets("alice"), sockets("bob")
    msg_id = unique("m")
    frame = {
        "type": "single",
        "source": "alice",
        "target": "bob",
        "msgType": "map",
        "extra": None,
        "msg": {"msgId": msg_id, "timestamp": int(time.time()), "lat": 22.54, "lng": 114.06, "label": "here"},
    }
    assert alice.request(frame)["ok"]
    got = bob.delivered(msg_id)
    del got["messageId"]
    assert got == frame


def test_a_group_of_sockets_and_an_sdk_user(
    sockets: Callable[[str], Socket], rest: TimRestClient, tim: EmulatorControl
) -> None:
    group = group_of(rest, "alice", "bob", "carol")
    alice, bob = sockets("alice"), sockets("bob")
    msg_id = unique("g")
    ack = alice.request(text("group", "alice", group, msg_id, "hello room"))
    assert ack["ok"] and ack["messageId"].startswith(f"group:{group}:")
    assert bob.delivered(msg_id)["msg"]["content"] == "hello room"
    # Delivered in Tencent to the group carol (an SDK user, through the emulator) is in; she
    # answers from her SDK.
    delivered = tim.messages(GroupId=group)
    assert [m["MsgBody"] for m in delivered] == [[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello room"}}]]
    sent = tim.send_group("carol", group, "hi from carol's app")
    for socket in (alice, bob):
        got = socket.wait(lambda f, s=socket: f.get("source") == "carol" and f.get("target") == group, "carol's reply")
        assert got["msgType"] == "text" and got["msg"]["content"] == "hi from carol's app"
        assert got["messageId"] == got["msg"]["msgId"]  # no client msgId: Tencent's id stands in
    assert sent


def test_join_and_leave(sockets: Callable[[str], Socket], rest: TimRestClient) -> None:
    group = group_of(rest, "alice", join="FreeAccess")
    alice, bob = sockets("alice"), sockets("bob")
    assert bob.request({"type": "join", "source": "bob", "target": group, "msg": {"msgId": "j"}})["ok"]
    first = unique("g")
    assert alice.request(text("group", "alice", group, first, "welcome bob"))["ok"]
    bob.delivered(first)
    assert bob.request({"type": "leave", "source": "bob", "target": group, "msg": {"msgId": "l"}})["ok"]
    assert rest.roles_in_group(group, ["bob"]) == {"bob": "NotMember"}
    # No longer a member: his sends are refused, and the room's messages pass him by.
    refused = bob.request(text("group", "bob", group, unique("g"), "still here?"))
    assert refused["code"] == "forbidden"
    carol = sockets("carol")
    assert carol.request({"type": "join", "source": "carol", "target": group, "msg": {"msgId": "j"}})["ok"]
    after = unique("g")
    assert alice.request(text("group", "alice", group, after, "bye bob"))["ok"]
    carol.delivered(after)
    assert not any(f.get("msg", {}).get("msgId") == after for f in bob.seen)


def test_a_blocked_word_comes_back_as_an_error(sockets: Callable[[str], Socket]) -> None:
    alice = sockets("alice")
    ack = alice.request(text("single", "alice", "bob", unique("m"), "this has a badword in it"))
    assert (ack["ok"], ack["code"], ack["tencentCode"]) == (False, "rejected", 120001)


def test_a_resent_msg_id_is_delivered_once(sockets: Callable[[str], Socket]) -> None:
    bob = sockets("bob")
    alice = sockets("alice")
    msg_id = unique("m")
    frame = text("single", "alice", "bob", msg_id, "only once")
    first = alice.request(frame)
    # The socket dropped before the client saw the ack: it reconnects and sends the frame again.
    alice.close()
    alice = sockets("alice")
    assert alice.request(frame) == first
    later = unique("m")
    assert alice.request(text("single", "alice", "bob", later, "after"))["ok"]
    bob.delivered(later)
    assert [f["msg"]["msgId"] for f in bob.seen].count(msg_id) == 1


def test_a_bad_token_is_refused_at_connect(local_stack: StackState) -> None:
    for token in ("", "not-a-usersig", gen_usersig(local_stack.sdkappid, "f" * 64, "alice", 3600)):
        with pytest.raises(InvalidStatus) as refused, opened(local_stack, "alice", token):
            pass
        assert refused.value.response.status_code == 401


def test_a_frame_claiming_another_source_is_refused(sockets: Callable[[str], Socket]) -> None:
    alice = sockets("alice")
    ack = alice.request(text("single", "bob", "carol", unique("m"), "I am bob"))
    assert (ack["ok"], ack["code"]) == (False, "forbidden")
    # Malformed frames too get an error and leave the socket open.
    alice.send("not json")
    alice.wait(lambda f: f.get("code") == "not_json", "the not_json ack")
    assert alice.request(text("single", "alice", "bob", unique("m"), "still open"))["ok"]


def connections_of(aws: Callable[[str], Any], stack: StackState, user: str) -> list[str]:
    key = {"pk": {"S": f"user#{user}"}, "sk": {"S": "connections"}}
    item = aws("dynamodb").get_item(TableName=stack.resources["WsConnectionsTable"], Key=key).get("Item", {})
    return list(item.get("ids", {}).get("SS", []))


def test_a_closed_connection_is_cleaned_up(
    sockets: Callable[[str], Socket], aws: Callable[[str], Any], local_stack: StackState
) -> None:
    before = set(connections_of(aws, local_stack, "carol"))
    carol = sockets("carol")
    opened = wait_for(lambda: set(connections_of(aws, local_stack, "carol")) - before, "carol's connection")
    carol.close()
    wait_for(lambda: not (set(connections_of(aws, local_stack, "carol")) & opened), "the connection removed")


def test_a_connection_gone_without_disconnect_is_removed_on_the_first_failed_post(
    sockets: Callable[[str], Socket], aws: Callable[[str], Any], local_stack: StackState
) -> None:
    table = local_stack.resources["WsConnectionsTable"]
    stale = "gone-" + uuid.uuid4().hex[:8]
    expiration = {"N": str(int(time.time()) + 3600)}
    # What a connection whose $disconnect never ran leaves behind.
    aws("dynamodb").put_item(
        TableName=table,
        Item={"pk": {"S": f"conn#{stale}"}, "sk": {"S": "user"}, "user": {"S": "bob"}, "expiration": expiration},
    )
    aws("dynamodb").update_item(
        TableName=table,
        Key={"pk": {"S": "user#bob"}, "sk": {"S": "connections"}},
        UpdateExpression="ADD ids :id SET expiration = :expiration",
        ExpressionAttributeValues={":id": {"SS": [stale]}, ":expiration": expiration},
    )
    bob, alice = sockets("bob"), sockets("alice")
    msg_id = unique("m")
    assert alice.request(text("single", "alice", "bob", msg_id, "anyone there?"))["ok"]
    bob.delivered(msg_id)
    wait_for(lambda: stale not in connections_of(aws, local_stack, "bob"), "the gone connection removed")
