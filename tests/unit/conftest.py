"""Shared fixtures for the unit tests: example callback payloads (docs/protocol.md §2), fake
clocks, and fakes for what the callback service talks to (config, events queue, interrupts)."""

from __future__ import annotations

import copy
import itertools
import json
import sys
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from timkit.policy import ALLOW_ALL, Policy
from timkit.stores.config import CallbackSecret

APP_ID = 1400000001
# What CallbackSettings requires: the callback's tests use fakes for the secret, queue and table.
CALLBACK_SETTINGS = {
    "TIM_SDKAPPID": APP_ID,
    "CALLBACK_SECRET_ID": "callback",
    "EVENTS_QUEUE_URL": "events",
    "BOT_STATE_TABLE": "bot-state",
}
TOKEN = "unit-test-callback-token-4f1c9a"
NOW = 1_730_000_100

# docs/protocol.md §2.1 example, verbatim.
C2C_BEFORE_SEND: dict[str, Any] = {
    "CallbackCommand": "C2C.CallbackBeforeSendMsg",
    "From_Account": "u_1001",
    "To_Account": "@RBT#assistant",
    "MsgSeq": 7311,
    "MsgRandom": 3088123456,
    "MsgTime": 1730000000,
    "MsgKey": "7311_3088123456_1730000000",
    "MsgId": "144115233406643804-1730000000-3088123456",
    "OnlineOnlyFlag": 0,
    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}],
    "CloudCustomData": "",
    "EventTime": 1730000000123,
}

# docs/protocol.md §2.2: the fields of §2.1 plus the delivery result.
C2C_AFTER_SEND: dict[str, Any] = {
    **C2C_BEFORE_SEND,
    "CallbackCommand": "C2C.CallbackAfterSendMsg",
    "SendMsgResult": 0,
    "ErrorInfo": "send msg succeed",
    "UnreadMsgNum": 3,
}

# docs/protocol.md §2.3 field table; EventTime as the intl example shows it (a string).
GROUP_BEFORE_SEND: dict[str, Any] = {
    "CallbackCommand": "Group.CallbackBeforeSendMsg",
    "GroupId": "@TGS#2J4SZEAEL",
    "Type": "Public",
    "From_Account": "leckie",
    "Operator_Account": "leckie",
    "Random": 123456,
    "OnlineOnlyFlag": 0,
    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi all"}}],
    "CloudCustomData": "your cloud custom data",
    "EventTime": "1670574414123",
}

# docs/protocol.md §2.4: §2.3 plus MsgSeq / MsgTime. (GroupAtInfo, as modelled by C-DOOCS, is tested on its own:
# see GROUP_AT_INFO.)
GROUP_AFTER_SEND: dict[str, Any] = {
    **GROUP_BEFORE_SEND,
    "CallbackCommand": "Group.CallbackAfterSendMsg",
    "MsgSeq": 123,
    "MsgTime": 1490686222,
    "EventTime": 1670574414123,
}
GROUP_AT_INFO = [{"GroupAtAllFlag": 0, "GroupAt_Account": "@RBT#001"}, {"GroupAtAllFlag": 1}]

# docs/protocol.md §2.6
BOT_C2C: dict[str, Any] = {**C2C_AFTER_SEND, "CallbackCommand": "Bot.OnC2CMessage"}
BOT_GROUP: dict[str, Any] = {
    **GROUP_AFTER_SEND,
    "CallbackCommand": "Bot.OnGroupMessage",
    "AtRobots_Account": ["@RBT#001", "@RBT#002"],
}

# docs/protocol.md §2.7
C2C_MODIFY: dict[str, Any] = {
    "CallbackCommand": "C2C.CallbackAfterModifyMsg",
    "Operator_Account": "u_1001",
    "From_Account": "u_1001",
    "To_Account": "u_2002",
    "MsgSeq": 7311,
    "MsgRandom": 3088123456,
    "MsgTime": 1730000000,
    "MsgKey": "7311_3088123456_1730000000",
    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello (edited)"}}],
    "CloudCustomData": "",
    "EventTime": 1730000005000,
}
GROUP_MODIFY: dict[str, Any] = {
    "CallbackCommand": "Group.CallbackAfterModifyMsg",
    "Operator_Account": "leckie",
    "GroupId": "@TGS#2J4SZEAEL",
    "TopicId": "",
    "MsgSeq": 123,
    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi all (edited)"}}],
    "EventTime": 1670574419000,
}
C2C_RECALL: dict[str, Any] = {
    "CallbackCommand": "C2C.CallbackAfterMsgWithDraw",
    "From_Account": "u_1001",
    "To_Account": "u_2002",
    "MsgKey": "7311_3088123456_1730000000",
    "UnreadMsgNum": 0,
}
GROUP_RECALL: dict[str, Any] = {
    "CallbackCommand": "Group.CallbackAfterRecallMsg",
    "Operator_Account": "leckie",
    "Type": "Public",
    "GroupId": "@TGS#2J4SZEAEL",
    "MsgSeqList": [{"MsgSeq": 121}, {"MsgSeq": 122}, {"MsgSeq": 123}],
    "TopicId": "",
    "EventTime": 1670574420000,
}
C2C_READ_REPORT: dict[str, Any] = {
    "CallbackCommand": "C2C.CallbackAfterMsgReport",
    "Report_Account": "u_2002",
    "Peer_Account": "u_1001",
    "LastReadTime": 1730000010,
    "UnreadMsgNum": 0,
}

# docs/protocol.md §13.1-13.5, the examples of the pages named there.
CREATED = {
    "CallbackCommand": "Group.CallbackAfterCreateGroup",
    "GroupId": "@TGS#2J4SZEAEL",
    "Operator_Account": "group_root",
    "Owner_Account": "leckie",
    "Type": "Public",
    "Name": "MyFirstGroup",
    "MemberList": [{"Member_Account": "bob"}, {"Member_Account": "peter"}],
    "UserDefinedDataList": [{"Key": "UserDefined1", "Value": "hello"}, {"Key": "UserDefined2", "Value": "world"}],
    "EventTime": "1670574414123",
}
JOINED = {
    "CallbackCommand": "Group.CallbackAfterNewMemberJoin",
    "GroupId": "@TGS#2J4SZEAEL",
    "Type": "Public",
    "JoinType": "Apply",
    "Operator_Account": "leckie",
    "NewMemberList": [{"Member_Account": "jared"}, {"Member_Account": "tommy"}],
    "EventTime": "1670574414123",
}
EXITED = {
    "CallbackCommand": "Group.CallbackAfterMemberExit",
    "GroupId": "@TGS#2J4SZEAEL",
    "Type": "Public",
    "ExitType": "Kicked",
    "Operator_Account": "leckie",
    "ExitMemberList": [{"Member_Account": "jared"}, {"Member_Account": "tommy"}],
    "EventTime": "1670574414123",
}
CHANGED = {
    "CallbackCommand": "Group.CallbackAfterGroupInfoChanged",
    "GroupId": "@TGS#2J4SZEAEL",
    "Type": "Public",
    "Operator_Account": "leckie",
    "Notification": "NewNotification",
    "EventTime": "1670574414123",
}
DESTROYED = {
    "CallbackCommand": "Group.CallbackAfterGroupDestroyed",
    "GroupId": "@TGS#2J4SZEAEL",
    "Type": "Public",
    "Owner_Account": "leckie",
    "Name": "MyFirstGroup",
    "MemberList": [{"Member_Account": "leckie"}, {"Member_Account": "peter"}, {"Member_Account": "bob"}],
    "EventTime": "1670574414123",
}
# docs/protocol.md §13.8, §13.10-13.12: published to the event bus, not archived.
READ_RECEIPT = {
    "CallbackCommand": "Group.CallbackAfterReadReceipt",
    "GroupId": "@TGS#2J4SZEAEL",
    "Type": "Public",
    "GroupMsgReceiptList": [
        {"MsgSeq": 121, "ReadNum": 2, "UnreadNum": 1, "ReadReceiptMembers": [{"Member_Account": "bob"}]},
        {"MsgSeq": 123, "ReadNum": 1, "UnreadNum": 2},
    ],
    "EventTime": 1670574414123,
}
FULL = {"CallbackCommand": "Group.CallbackAfterGroupFull", "GroupId": "@TGS#2J4SZEAEL", "EventTime": "1670574414123"}
MEMBER_STATE = {
    "CallbackCommand": "Group.CallbackOnMemberStateChange",
    "GroupId": "@TGS#2J4SZEAEL",
    "EventType": "Offline",
    "MemberList": [{"Member_Account": "jared"}, {"Member_Account": "tommy"}],
}
STATE_CHANGE = {
    "CallbackCommand": "State.StateChange",
    "EventTime": 1629883332497,
    "Info": {"Action": "Login", "To_Account": "testuser316", "Reason": "Register"},
    "KickedDevice": [{"Platform": "Windows"}, {"Platform": "Android"}],
}
PAYLOADS: dict[str, dict[str, Any]] = {
    p["CallbackCommand"]: p
    for p in (
        C2C_BEFORE_SEND,
        C2C_AFTER_SEND,
        GROUP_BEFORE_SEND,
        GROUP_AFTER_SEND,
        BOT_C2C,
        BOT_GROUP,
        C2C_MODIFY,
        GROUP_MODIFY,
        C2C_RECALL,
        GROUP_RECALL,
        C2C_READ_REPORT,
        CREATED,
        JOINED,
        EXITED,
        CHANGED,
        DESTROYED,
        READ_RECEIPT,
        FULL,
        MEMBER_STATE,
        STATE_CHANGE,
    )
}


def payload(command: str, **changes: Any) -> dict[str, Any]:
    """A deep copy of the example payload for ``command`` with ``changes`` applied."""
    doc = copy.deepcopy(PAYLOADS[command])
    doc.update(changes)
    return doc


def text_body(*texts: str) -> list[dict[str, Any]]:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}} for t in texts]


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeConfig:
    """Stands in for ConfigStore: a fixed secret and policy; can fail or take (fake) time."""

    def __init__(self, token: str = TOKEN, policy: Policy = ALLOW_ALL) -> None:
        self.token = token
        self.policy_value = policy
        self.secret_error: Exception | None = None
        self.policy_error: Exception | None = None
        self.policy_delay = 0.0
        self.monotonic: FakeClock | None = None
        self.secret_calls = 0
        self.policy_timeouts: list[float] = []

    def secret(self, timeout: float = 1.0) -> CallbackSecret:
        self.secret_calls += 1
        if self.secret_error is not None:
            raise self.secret_error
        return CallbackSecret(callback_token=self.token)

    def policy(self, timeout: float = 1.0) -> Policy:
        self.policy_timeouts.append(timeout)
        if self.monotonic is not None and self.policy_delay:
            self.monotonic.advance(self.policy_delay)
        if self.policy_error is not None:
            raise self.policy_error
        return self.policy_value


APP_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"


class FixedKey:
    """Stands in for AppKeyStore: one configured app key."""

    def current(self) -> str:
        return APP_KEY


class FakeEvents:
    def __init__(self) -> None:
        self.queued: list[tuple[str, str, int]] = []
        self.error: Exception | None = None

    def put(self, command: str, raw_body: str, received_at: int, timeout: float = 2.0) -> str:
        if self.error is not None:
            raise self.error
        self.queued.append((command, raw_body, received_at))
        return f"msg-{len(self.queued)}"


class FakeInterrupts:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str, int | None]] = []
        self.error: Exception | None = None

    def record(self, bot: str, user: str, msg_key: str, at: int | None = None, timeout: float = 2.0) -> None:
        if self.error is not None:
            raise self.error
        self.recorded.append((bot, user, msg_key, at))


class MemoryStore:
    """The archive store in memory: ``put_once`` writes an item unless (pk, sk) exists, and
    answers with the item that exists."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_once(self, pk: str, sk: str, attributes: dict[str, Any]) -> dict[str, Any] | None:
        if (pk, sk) in self.items:
            return {"pk": pk, "sk": sk, **self.items[(pk, sk)]}
        self.items[(pk, sk)] = dict(attributes)
        return None

    def history(self, pk: str) -> list[dict[str, Any]]:
        return [{"pk": p, "sk": sk, **item} for (p, sk), item in sorted(self.items.items()) if p == pk]

    def set_summary(self, pk: str, summary: dict[str, Any], events: int) -> bool:
        from timkit.stores.archive import SUMMARY_FIELDS

        item = self.items.get((pk, "MSG"))
        if item is None or item.get("events", -1) >= events:
            return False
        for field in SUMMARY_FIELDS:
            item.pop(field, None)
        item.update(summary, events=events)
        return True

    def untimed_messages(self, start: Any, limit: int) -> tuple[list[dict[str, Any]], Any]:
        keys = [key for key in sorted(self.items) if key[1] == "MSG" and "timeline" not in self.items[key]]
        keys = [key for key in keys if start is None or key > (start["pk"]["S"], start["sk"]["S"])]
        page = keys[:limit]
        last = {"pk": {"S": page[-1][0]}, "sk": {"S": page[-1][1]}} if len(keys) > limit else None
        return [{"pk": pk, "sk": sk, **self.items[(pk, sk)]} for pk, sk in page], last

    def set_timeline(self, pk: str, conversation: str, timeline: str) -> bool:
        item = self.items.get((pk, "MSG"))
        if item is None or "timeline" in item:
            return False
        item.update(conversation=conversation, timeline=timeline)
        return True


_service_names = itertools.count()


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at the time: capsys swaps it between test phases."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def logger() -> Logger:
    """A powertools Logger writing JSON lines to stdout (read them with capsys); a fresh service
    name per test so that no handler is shared between tests."""
    return Logger(service=f"timkit-unit-{next(_service_names)}", level="DEBUG", stream=_CurrentStdout())


def json_log_lines(out: str) -> list[dict[str, Any]]:
    """The JSON records in captured stdout."""
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]
