"""The event processor against moto: archive exactly once, events recorded against the message,
every callback published to the event bus once after it was archived, partial batch failures
reported for the records that failed only."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from local.pollers import sqs_record
from tests.handlers import load_handler
from tests.moto_env import offline_aws, template_table
from tests.unit.conftest import FULL, MEMBER_STATE, READ_RECEIPT, STATE_CHANGE
from tests.unit.test_event_queue import sqs_accepts
from timkit.aws_json import AwsJsonClient
from timkit.merger import captured_key
from timkit.models.elements import RelayElem
from timkit.stores.archive import ArchiveStore
from timkit.stores.fastpath import EventQueue

ROOT = Path(__file__).resolve().parents[2]
CAPTURE_KEY = "capture-key-for-the-event-processor-tests"
SAMPLE = json.loads((ROOT / "events/event_processor/sqs_batch.json").read_text())
CONTEXT = SimpleNamespace(
    function_name="tim-event-processor",
    memory_limit_in_mb=256,
    aws_request_id="test",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tim-event-processor",
    get_remaining_time_in_millis=lambda: 30_000,
)
BUS = "timkit-events"


@pytest.fixture
def processor(monkeypatch):
    monkeypatch.setenv("TIM_SDKAPPID", "1400000001")
    monkeypatch.setenv("ARCHIVE_TABLE", "archive")
    monkeypatch.setenv("MERGER_BUCKET", "mergers")
    monkeypatch.setenv("MERGER_TABLE", "merger-meta")
    monkeypatch.setenv("CAPTURE_SECRET_ID", "capture-key")
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tim-event-processor")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TimKit")
    with offline_aws(monkeypatch):
        template_table("ArchiveTable", "archive")
        template_table("MergerTable", "merger-meta")
        template_table("IdempotencyTable", "idempotency")
        bus_tap()
        boto3.client("s3").create_bucket(Bucket="mergers")
        boto3.client("secretsmanager").create_secret(
            Name="capture-key", SecretString=json.dumps({"capture_key": CAPTURE_KEY})
        )
        with load_handler("event_processor", "it_event_processor_app") as module:
            yield module, ArchiveStore("archive")


def bus_tap() -> None:
    """The bus, with a rule sending every event on it to a queue the tests read (moto delivers to SQS)."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name=BUS)
    url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": ["timkit"]}))
    events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "tap", "Arn": arn}])


def published() -> list[dict]:
    """The events on the bus since the last call, in the order they came."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="bus-tap")["QueueUrl"]
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def emitted(out: str) -> list[dict]:
    """The EMF metric documents a handler printed."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def metric_counts(documents: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for doc in documents:
        for definition in doc["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                values = doc[metric["Name"]]
                counts[metric["Name"]] = counts.get(metric["Name"], 0) + (
                    sum(values) if isinstance(values, list) else values
                )
    return counts


def record(command: str, body: dict, message_id: str) -> dict:
    rec = copy.deepcopy(SAMPLE["Records"][0])
    rec["messageId"] = message_id
    rec["body"] = json.dumps(body)
    rec["messageAttributes"]["command"]["stringValue"] = command
    return rec


def test_repeated_delivery_archives_each_message_once(processor) -> None:
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
        "MsgType": "TIMTextElem",
        "MsgContent": {"Text": "hi"},
    }
    # ... and captured as a merger the group's members can download by the key the archive records,
    # derived with the capture secret.
    key = group_items[0]["captured_mergers"]["0"]
    relay_elem = RelayElem.model_validate(group["MsgBody"][0])
    assert key == captured_key(CAPTURE_KEY.encode(), f"group:{group['GroupId']}:{group['MsgSeq']}", 0, relay_elem)
    downloaded = json.loads(module.mergers.download(group["From_Account"], key).json)
    relay = group["MsgBody"][0]["MsgContent"]
    assert (downloaded["title"], downloaded["messageList"]) == (relay["Title"], relay["MsgList"])


def test_bot_callback_for_an_archived_message_changes_nothing(processor) -> None:
    module, store = processor
    after = json.loads(SAMPLE["Records"][0]["body"])
    bot = dict(after, CallbackCommand="Bot.OnC2CMessage")
    event = {"Records": [record("C2C.CallbackAfterSendMsg", after, "a"), record("Bot.OnC2CMessage", bot, "b")]}
    assert module.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}
    items = store.history(f"c2c:{after['MsgKey']}")
    assert len(items) == 1 and items[0]["command"] == "C2C.CallbackAfterSendMsg"


def test_modifications_and_recalls_are_recorded_once_against_the_message(processor) -> None:
    module, store = processor
    group = json.loads(SAMPLE["Records"][1]["body"])
    modify = {
        "CallbackCommand": "Group.CallbackAfterModifyMsg",
        "Operator_Account": "u_1001",
        "GroupId": group["GroupId"],
        "MsgSeq": group["MsgSeq"],
        "EventTime": 1730000100000,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "edited"}}],
    }
    recall = {
        "CallbackCommand": "Group.CallbackAfterRecallMsg",
        "Operator_Account": "u_1001",
        "Type": "Public",
        "GroupId": group["GroupId"],
        "MsgSeqList": [{"MsgSeq": group["MsgSeq"]}, {"MsgSeq": 43}],
        "EventTime": 1730000200000,
    }
    event = {
        "Records": [
            SAMPLE["Records"][1],
            record(modify["CallbackCommand"], modify, "m1"),
            record(recall["CallbackCommand"], recall, "r1"),
        ]
    }
    for _ in range(2):
        assert module.lambda_handler(copy.deepcopy(event), CONTEXT) == {"batchItemFailures": []}
    kinds = [i["sk"].split("#")[0] for i in store.history(f"group:{group['GroupId']}:{group['MsgSeq']}")]
    assert kinds == ["MODIFY", "MSG", "RECALL"]
    assert [i["sk"].split("#")[0] for i in store.history(f"group:{group['GroupId']}:43")] == ["RECALL"]


def test_only_the_failed_record_is_reported(processor) -> None:
    module, store = processor
    good = SAMPLE["Records"][0]
    broken = record("C2C.CallbackAfterSendMsg", {"CallbackCommand": "C2C.CallbackAfterSendMsg"}, "bad-1")
    result = module.lambda_handler({"Records": [good, broken]}, CONTEXT)
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert len(store.history(f"c2c:{json.loads(good['body'])['MsgKey']}")) == 1


def test_a_record_without_its_command_fails_saying_so(processor) -> None:
    module, store = processor
    nameless = record("C2C.CallbackAfterSendMsg", json.loads(SAMPLE["Records"][0]["body"]), "nameless-1")
    del nameless["messageAttributes"]["command"]
    result = module.lambda_handler({"Records": [SAMPLE["Records"][0], nameless]}, CONTEXT)
    assert result == {"batchItemFailures": [{"itemIdentifier": "nameless-1"}]}
    (failure,) = module.processor.exceptions
    assert "command attribute" in str(failure[1])


def test_another_body_for_an_archived_message_is_kept_and_flagged(processor, capsys, caplog) -> None:
    module, store = processor
    first = json.loads(SAMPLE["Records"][0]["body"])
    forged = dict(first, MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "pay account 666"}}])
    command = first["CallbackCommand"]
    assert module.lambda_handler({"Records": [SAMPLE["Records"][0]]}, CONTEXT) == {"batchItemFailures": []}
    capsys.readouterr()
    caplog.clear()

    assert module.lambda_handler({"Records": [record(command, forged, "f1")]}, CONTEXT) == {"batchItemFailures": []}
    assert metric_counts(emitted(capsys.readouterr().out)) == {"ConflictingBody": 1}
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.identity == f"c2c:{first['MsgKey']}"
    assert not [r for r in caplog.records if "pay account 666" in json.dumps(r.__dict__, default=str)]
    caplog.clear()
    items = store.history(f"c2c:{first['MsgKey']}")
    assert [i["sk"].split("#")[:2] for i in items] == [["MSG"], ["MSG", "CONFLICT"]]
    assert json.loads(items[0]["body"]) == first
    assert json.loads(items[1]["body"]) == forged

    # Redelivered, either body is a plain duplicate: no flag, nothing written.
    again = {"Records": [SAMPLE["Records"][0], record(command, forged, "f2")]}
    assert module.lambda_handler(again, CONTEXT) == {"batchItemFailures": []}
    assert metric_counts(emitted(capsys.readouterr().out)) == {"DuplicateIgnored": 2}
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(store.history(f"c2c:{first['MsgKey']}")) == 2


def test_two_topics_messages_with_one_seq_are_archived_apart(processor) -> None:
    module, store = processor
    group = json.loads(SAMPLE["Records"][1]["body"])
    topics = [f"{group['GroupId']}@TOPIC#_{name}" for name in ("news", "chat")]
    bodies = [
        dict(group, TopicId=topic, MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": topic}}])
        for topic in topics
    ]
    event = {"Records": [record(b["CallbackCommand"], b, f"t{n}") for n, b in enumerate(bodies)]}
    assert module.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}
    for topic, body in zip(topics, bodies, strict=True):
        (item,) = store.history(f"topic:{group['GroupId']}:{topic}:{group['MsgSeq']}")
        assert json.loads(item["body"]) == body
        assert item["conversation"] == f"topic:{group['GroupId']}:{topic}"
    assert store.history(f"group:{group['GroupId']}:{group['MsgSeq']}") == []


@pytest.fixture
def sqs_server():
    """moto as a server in this process, sharing the in-process mock's state: the callback's
    EventQueue signs and sends HTTP requests itself, as it does to SQS."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    server._server.server_close()


# A raw control character cannot be in valid JSON text (the callback refuses such a body), so only
# the characters SQS refuses that JSON may carry unescaped are sent here.
@pytest.mark.parametrize("text", ["\uffff", "a\ufffeb", "ok \U0001f600 \ufffd \ud7ff"])
def test_body_sqs_would_refuse_is_archived_unchanged(processor, sqs_server, text: str) -> None:
    module, store = processor
    queue_url = boto3.client("sqs").create_queue(QueueName="events")["QueueUrl"]
    queue_arn = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    elements = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]
    c2c = dict(json.loads(SAMPLE["Records"][0]["body"]), MsgBody=elements)
    # As Tencent sends it: UTF-8, characters unescaped.
    raw = json.dumps(c2c, ensure_ascii=False)
    queue = EventQueue(queue_url, AwsJsonClient("sqs", endpoint=sqs_server))
    queue.put(c2c["CallbackCommand"], raw, 1730000000)
    (message,) = boto3.client("sqs").receive_message(
        QueueUrl=queue_url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    # moto takes any body; SQS itself refuses one with a character outside its documented set.
    assert sqs_accepts(message["Body"])
    event = {"Records": [sqs_record(message, queue_arn["Attributes"]["QueueArn"])]}
    assert module.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}
    (item,) = store.history(f"c2c:{c2c['MsgKey']}")
    assert item["body"] == raw
    assert json.loads(item["body"])["MsgBody"][0]["MsgContent"]["Text"] == text


def test_a_capture_secret_nobody_set_is_never_used(processor) -> None:
    # A merger captured under a key made with "" could be worked out by anyone: the record waits
    # (retried, then the dead-letter queue, which alarms) until the secret holds a real key.
    module, store = processor
    boto3.client("secretsmanager").put_secret_value(SecretId="capture-key", SecretString='{"capture_key": ""}')
    group_record = SAMPLE["Records"][1]  # the one with an inline merger; the other is archived
    result = module.lambda_handler(copy.deepcopy(SAMPLE), CONTEXT)
    assert result == {"batchItemFailures": [{"itemIdentifier": group_record["messageId"]}]}
    group = json.loads(group_record["body"])
    assert store.history(f"group:{group['GroupId']}:{group['MsgSeq']}") == []


def test_a_groups_system_event_and_a_messages_edit_reach_its_history(processor) -> None:
    from timkit.history import HistoryService

    module, store = processor
    group = json.loads(SAMPLE["Records"][1]["body"])
    joined = {
        "CallbackCommand": "Group.CallbackAfterNewMemberJoin",
        "GroupId": group["GroupId"],
        "Type": "Public",
        "JoinType": "Invited",
        "Operator_Account": "admin",
        "NewMemberList": [{"Member_Account": "bob"}],
        "EventTime": "1730000100000",
    }
    modify = {
        "CallbackCommand": "Group.CallbackAfterModifyMsg",
        "Operator_Account": "u_1001",
        "GroupId": group["GroupId"],
        "MsgSeq": group["MsgSeq"],
        "EventTime": 1730000200000,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "edited"}}],
    }
    # The edit before its message: SQS keeps no order.
    event = {
        "Records": [
            record(modify["CallbackCommand"], modify, "m"),
            record(joined["CallbackCommand"], joined, "j"),
            SAMPLE["Records"][1],
        ]
    }
    for _ in range(2):
        assert module.lambda_handler(copy.deepcopy(event), CONTEXT) == {"batchItemFailures": []}
    entries = HistoryService(store).page(f"group:{group['GroupId']}").entries
    assert [(e.kind, e.edited_at) for e in entries] == [("system", None), ("message", 1730000200)]
    assert entries[0].system is not None and entries[0].system.participants == ["bob"]
    assert entries[1].body[0].MsgContent.Text == "edited"


# ----------------------------------------------------------------------------- the event bus


def schema_validator(detail_type: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "docs" / "events" / f"{detail_type}.v1.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def test_each_callback_is_published_once_after_it_is_archived(processor) -> None:
    module, store = processor
    for _ in range(3):  # the batch retried whole, twice
        assert module.lambda_handler(copy.deepcopy(SAMPLE), CONTEXT) == {"batchItemFailures": []}
    events = published()
    assert [(e["source"], e["detail-type"]) for e in events] == [
        ("timkit", "C2C.CallbackAfterSendMsg"),
        ("timkit", "Group.CallbackAfterSendMsg"),
    ]
    for event, rec in zip(events, SAMPLE["Records"], strict=True):
        schema_validator(event["detail-type"]).validate(event["detail"])
        body = json.loads(rec["body"])
        assert event["detail"]["callback"]["MsgBody"] == body["MsgBody"]
        assert event["detail"]["sdkAppId"] == 1400000001
        # The message the event names is in the archive.
        [message_id] = event["detail"]["messageIds"]
        assert [i["sk"] for i in store.history(message_id)] == ["MSG"]


def test_after_send_and_bot_callbacks_of_one_message_are_two_events(processor) -> None:
    module, _ = processor
    after = json.loads(SAMPLE["Records"][0]["body"])
    bot = dict(after, CallbackCommand="Bot.OnC2CMessage", EventTime=after["EventTime"] + 5)
    redelivered = dict(after, EventTime=after["EventTime"] + 9)  # Tencent's retry: same message, new envelope
    event = {
        "Records": [
            record("C2C.CallbackAfterSendMsg", after, "a"),
            record("Bot.OnC2CMessage", bot, "b"),
            record("C2C.CallbackAfterSendMsg", redelivered, "c"),
        ]
    }
    assert module.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}
    events = published()
    assert sorted(e["detail-type"] for e in events) == ["Bot.OnC2CMessage", "C2C.CallbackAfterSendMsg"]
    assert len({e["detail"]["eventId"] for e in events}) == 2


class RefusingBus:
    """EventBridge refusing one-to-one messages' events, with a refused entry (FailedEntryCount) or
    a failed call; taking the rest."""

    def __init__(self, real: Any, fail_call: bool) -> None:
        self.real = real
        self.fail_call = fail_call

    def put_events(self, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's name
        if Entries[0]["DetailType"] != "C2C.CallbackAfterSendMsg":
            return self.real.put_events(Entries=Entries)
        if self.fail_call:
            raise ClientError({"Error": {"Code": "InternalException", "Message": "down"}}, "PutEvents")
        return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}


@pytest.mark.parametrize("fail_call", [False, True], ids=["failed-entry", "failed-call"])
def test_an_event_the_bus_did_not_take_fails_its_record_and_its_retry_publishes_it(
    processor, monkeypatch, fail_call: bool
) -> None:
    module, store = processor
    bus = module.publisher._bus
    real = bus._client
    monkeypatch.setattr(bus, "_client", RefusingBus(real, fail_call))
    c2c, group = SAMPLE["Records"]
    # Both archived; the group message published, the one-to-one message handed back to SQS.
    assert module.lambda_handler({"Records": [c2c, group]}, CONTEXT) == {
        "batchItemFailures": [{"itemIdentifier": c2c["messageId"]}]
    }
    assert store.history(f"c2c:{json.loads(c2c['body'])['MsgKey']}")
    assert [e["detail-type"] for e in published()] == ["Group.CallbackAfterSendMsg"]
    # The retry finds it archived ("duplicate") and publishes it, once.
    monkeypatch.setattr(bus, "_client", real)
    for _ in range(2):
        assert module.lambda_handler({"Records": [c2c, group]}, CONTEXT) == {"batchItemFailures": []}
    assert [e["detail-type"] for e in published()] == ["C2C.CallbackAfterSendMsg"]


def test_refusal_names_the_error_never_the_message(processor, monkeypatch) -> None:
    module, _ = processor
    bus = module.publisher._bus
    monkeypatch.setattr(bus, "_client", RefusingBus(bus._client, fail_call=False))
    module.lambda_handler({"Records": SAMPLE["Records"]}, CONTEXT)
    (failure,) = module.processor.exceptions
    assert "InternalFailure" in str(failure[1])
    assert "well darn it" not in str(failure[1])


def test_another_body_under_an_archived_message_is_never_published(processor) -> None:
    module, _ = processor
    first = json.loads(SAMPLE["Records"][0]["body"])
    forged = dict(first, MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "pay account 666"}}])
    command = first["CallbackCommand"]
    assert module.lambda_handler({"Records": [SAMPLE["Records"][0]]}, CONTEXT) == {"batchItemFailures": []}
    for n in range(2):  # the forged body, and its redelivery
        assert module.lambda_handler({"Records": [record(command, forged, f"f{n}")]}, CONTEXT) == {
            "batchItemFailures": []
        }
    [event] = published()
    assert event["detail"]["callback"]["MsgBody"] == first["MsgBody"]


@pytest.mark.parametrize("doc", [STATE_CHANGE, FULL, MEMBER_STATE, READ_RECEIPT], ids=lambda d: d["CallbackCommand"])
def test_callbacks_nothing_archives_are_published(processor, capsys, doc: dict) -> None:
    module, _ = processor
    command = doc["CallbackCommand"]
    counts = []
    for _ in range(2):
        assert module.lambda_handler({"Records": [record(command, doc, "s")]}, CONTEXT) == {"batchItemFailures": []}
        counts.append(metric_counts(emitted(capsys.readouterr().out)))
    assert counts == [{"Published": 1}, {"DuplicateIgnored": 1}]
    [event] = published()
    assert event["detail-type"] == command
    schema_validator(command).validate(event["detail"])
    assert boto3.client("dynamodb").scan(TableName="archive")["Count"] == 0
