"""The event processor against moto: archive exactly once, events recorded against the message,
partial batch failures reported for the records that failed only."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest

from tests.handlers import load_handler
from tests.moto_env import offline_aws, template_table
from timkit.merger import captured_key
from timkit.stores.archive import ArchiveStore

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "events/event_processor/sqs_batch.json").read_text())
CONTEXT = SimpleNamespace(
    function_name="tim-event-processor", memory_limit_in_mb=256, aws_request_id="test",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tim-event-processor",
)


@pytest.fixture
def processor(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TIM_SDKAPPID", "1400000001")
    monkeypatch.setenv("ARCHIVE_TABLE", "archive")
    monkeypatch.setenv("MERGER_BUCKET", "mergers")
    monkeypatch.setenv("MERGER_TABLE", "merger-meta")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tim-event-processor")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TimKit")
    with offline_aws(monkeypatch):
        template_table("ArchiveTable", "archive")
        template_table("MergerTable", "merger-meta")
        boto3.client("s3").create_bucket(Bucket="mergers")
        with load_handler("event_processor", "it_event_processor_app") as module:
            yield module, ArchiveStore("archive")


def record(command: str, body: dict, message_id: str) -> dict:
    rec = copy.deepcopy(SAMPLE["Records"][0])
    rec["messageId"] = message_id
    rec["body"] = json.dumps(body)
    rec["messageAttributes"]["command"]["stringValue"] = command
    return rec


def test_repeated_delivery_archives_each_message_once(processor) -> None:  # type: ignore[no-untyped-def]
    module, store = processor
    for _ in range(3):
        assert module.lambda_handler(copy.deepcopy(SAMPLE), CONTEXT) == {"batchItemFailures": []}
    c2c = json.loads(SAMPLE["Records"][0]["body"])
    group = json.loads(SAMPLE["Records"][1]["body"])
    c2c_items = store.history(f"c2c:{c2c['MsgKey']}")
    group_items = store.history(f"group:{group['GroupId']}:{group['MsgSeq']}")
    assert [i["sk"] for i in c2c_items] == ["MSG"]
    assert [i["sk"] for i in group_items] == ["MSG"]
    assert json.loads(c2c_items[0]["body"]) == c2c
    # The inline merger's message list is kept with the message.
    assert group_items[0]["inline_mergers"] == 1
    assert json.loads(group_items[0]["body"])["MsgBody"][0]["MsgContent"]["MsgList"][0]["MsgBody"][0] == {
        "MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}
    # ... and captured as a merger the group's members can download by the message's key.
    key = captured_key(f"group:{group['GroupId']}:{group['MsgSeq']}", 0)
    downloaded = json.loads(module.mergers.download(group["From_Account"], key).json)
    relay = group["MsgBody"][0]["MsgContent"]
    assert (downloaded["title"], downloaded["messageList"]) == (relay["Title"], relay["MsgList"])


def test_bot_callback_for_an_archived_message_changes_nothing(processor) -> None:  # type: ignore[no-untyped-def]
    module, store = processor
    after = json.loads(SAMPLE["Records"][0]["body"])
    bot = dict(after, CallbackCommand="Bot.OnC2CMessage")
    event = {"Records": [record("C2C.CallbackAfterSendMsg", after, "a"), record("Bot.OnC2CMessage", bot, "b")]}
    assert module.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}
    items = store.history(f"c2c:{after['MsgKey']}")
    assert len(items) == 1 and items[0]["command"] == "C2C.CallbackAfterSendMsg"


def test_modifications_and_recalls_are_recorded_once_against_the_message(processor) -> None:  # type: ignore[no-untyped-def]
    module, store = processor
    group = json.loads(SAMPLE["Records"][1]["body"])
    modify = {"CallbackCommand": "Group.CallbackAfterModifyMsg", "Operator_Account": "u_1001",
              "GroupId": group["GroupId"], "MsgSeq": group["MsgSeq"], "EventTime": 1730000100000,
              "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "edited"}}]}
    recall = {"CallbackCommand": "Group.CallbackAfterRecallMsg", "Operator_Account": "u_1001", "Type": "Public",
              "GroupId": group["GroupId"], "MsgSeqList": [{"MsgSeq": group["MsgSeq"]}, {"MsgSeq": 43}],
              "EventTime": 1730000200000}
    event = {"Records": [
        SAMPLE["Records"][1],
        record(modify["CallbackCommand"], modify, "m1"),
        record(recall["CallbackCommand"], recall, "r1"),
    ]}
    for _ in range(2):
        assert module.lambda_handler(copy.deepcopy(event), CONTEXT) == {"batchItemFailures": []}
    kinds = [i["sk"].split("#")[0] for i in store.history(f"group:{group['GroupId']}:{group['MsgSeq']}")]
    assert kinds == ["MODIFY", "MSG", "RECALL"]
    assert [i["sk"].split("#")[0] for i in store.history(f"group:{group['GroupId']}:43")] == ["RECALL"]


def test_only_the_failed_record_is_reported(processor) -> None:  # type: ignore[no-untyped-def]
    module, store = processor
    good = SAMPLE["Records"][0]
    broken = record("C2C.CallbackAfterSendMsg", {"CallbackCommand": "C2C.CallbackAfterSendMsg"}, "bad-1")
    result = module.lambda_handler({"Records": [good, broken]}, CONTEXT)
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert len(store.history(f"c2c:{json.loads(good['body'])['MsgKey']}")) == 1
