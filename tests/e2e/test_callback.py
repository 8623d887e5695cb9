"""The callback path over HTTP through the local stack: gateway → callback function → policy /
events queue → event processor → archive, with the template's resources in moto."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from timkit.tim.callback_auth import callback_sign

SEND_TIMEOUT = 10


def signed_query(stack: dict, command: str, request_time: int | None = None, **overrides: str) -> dict:
    request_time = int(time.time()) if request_time is None else request_time
    query = {
        "SdkAppid": str(stack["sdkappid"]),
        "CallbackCommand": command,
        "contenttype": "json",
        "ClientIP": "203.0.113.7",
        "OptPlatform": "iOS",
        "RequestTime": str(request_time),
        "Sign": callback_sign(stack["callback_token"], request_time),
    }
    query.update(overrides)
    return query


def post(stack: dict, query: dict, body: str | dict) -> requests.Response:
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return requests.post(
        f"{stack['api_url']}/tim/callback",
        params=query,
        data=data.encode(),
        headers={"content-type": "application/json"},
        timeout=SEND_TIMEOUT,
    )


def c2c_before(text: str, to: str = "u_1002", **extra: object) -> dict:
    now = int(time.time())
    seq, rnd = 7311, uuid.uuid4().int % 2**32
    return {
        "CallbackCommand": "C2C.CallbackBeforeSendMsg",
        "From_Account": "u_1001",
        "To_Account": to,
        "MsgSeq": seq,
        "MsgRandom": rnd,
        "MsgTime": now,
        "MsgKey": f"{seq}_{rnd}_{now}",
        "OnlineOnlyFlag": 0,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
        "CloudCustomData": "",
        **extra,
    }


def group_before(text: str) -> dict:
    return {
        "CallbackCommand": "Group.CallbackBeforeSendMsg",
        "GroupId": "@TGS#2J4SZEAEL",
        "Type": "Public",
        "From_Account": "u_1001",
        "Operator_Account": "u_1001",
        "Random": uuid.uuid4().int % 2**32,
        "OnlineOnlyFlag": 0,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}],
        "CloudCustomData": "",
        "EventTime": str(int(time.time() * 1000)),
    }


def answer(stack: dict, body: dict, **overrides: str) -> tuple[int, dict]:
    response = post(stack, signed_query(stack, body["CallbackCommand"], **overrides), body)
    return response.status_code, response.json()


# The stack is shared by the session: the events queue may still hold a backlog from earlier tests
# (the admin tests' broadcasts make hundreds of after-send callbacks, each archived and published).
def wait_for(predicate, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def policy(local_stack) -> Iterator:
    """Swap the local policy document for one test (the stack caches it for 0 s in tests)."""
    path = Path(local_stack["policy_file"])
    original = path.read_text()

    def use(doc: dict) -> None:
        path.write_text(json.dumps(doc))

    yield use
    path.write_text(original)


# ---------------------------------------------------------------- before-send


def test_clean_c2c_message_is_allowed_unchanged(local_stack) -> None:
    status, body = answer(local_stack, c2c_before("see you at ten"))
    assert status == 200
    assert body == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}


def test_masked_word_is_rewritten(local_stack) -> None:
    status, body = answer(local_stack, c2c_before("well DARN it"))
    assert status == 200 and body["ErrorCode"] == 0
    assert body["MsgBody"] == [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "well **** it"}}]


def test_blocked_word_is_rejected_with_the_custom_code(local_stack) -> None:
    c2c_status, c2c = answer(local_stack, c2c_before("click spam-link.example now"))
    group_status, group = answer(local_stack, group_before("a badword here"))
    assert (c2c_status, c2c["ErrorCode"], c2c["ErrorInfo"]) == (200, 120001, "Message blocked by policy")
    assert (group_status, group["ErrorCode"]) == (200, 10100)
    assert "MsgBody" not in c2c and "MsgBody" not in group


def test_blocked_word_is_discarded_when_the_policy_says_so(local_stack, policy) -> None:
    policy({"blocked_words": ["badword"], "blocked_action": "discard"})
    for body in (c2c_before("badword"), group_before("BADWORD!")):
        status, reply = answer(local_stack, body)
        assert (status, reply["ErrorCode"]) == (200, 2)


def test_group_masking_and_element_types(local_stack, policy) -> None:
    policy({"masked_words": ["heck"], "allowed_elements": {"group": ["TIMTextElem"]}})
    status, reply = answer(local_stack, group_before("what the heck"))
    assert reply["MsgBody"][0]["MsgContent"]["Text"] == "what the ****"
    image = group_before("look")
    image["MsgBody"].append(
        {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": 1, "ImageInfoArray": []}}
    )
    status, reply = answer(local_stack, image)
    assert reply["ErrorCode"] == 10100 and "TIMImageElem" in reply["ErrorInfo"]


def test_oversize_body_is_rejected_naming_the_limit(local_stack) -> None:
    status, reply = answer(local_stack, c2c_before("x" * 13000))
    assert reply["ErrorCode"] == 120001 and "12288-byte limit" in reply["ErrorInfo"]


def test_interrupt_to_a_bot_is_recorded_and_allowed(local_stack, aws) -> None:
    interrupt = c2c_before("", to="@RBT#assistant")
    interrupt["MsgBody"] = [
        {
            "MsgType": "TIMCustomElem",
            "MsgContent": {"Data": json.dumps({"chatbotPlugin": 2, "src": 22, "msgKey": "12_345_1730000000"})},
        }
    ]
    interrupt["OnlineOnlyFlag"] = 1
    status, reply = answer(local_stack, interrupt)
    assert (status, reply["ErrorCode"]) == (200, 0)
    item = (
        aws("dynamodb")
        .get_item(
            TableName=local_stack["resources"]["BotStateTable"],
            Key={"pk": {"S": "interrupt#@RBT#assistant#12_345_1730000000"}},
        )
        .get("Item")
    )
    assert item and item["user"]["S"] == "u_1001"


def test_unparseable_before_send_gets_the_failure_policy(local_stack) -> None:
    query = signed_query(local_stack, "C2C.CallbackBeforeSendMsg")
    for body in ("{not json", json.dumps({"CallbackCommand": "C2C.CallbackBeforeSendMsg"})):
        response = post(local_stack, query, body)
        assert response.status_code == 200
        assert response.json() == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"Sign": "0" * 64}, 401, "Sign does not match"),
        # Seconds from now, counted when the test runs (not when it is collected).
        ({"RequestTime": -120}, 401, "RequestTime"),
        ({"RequestTime": 120}, 401, "RequestTime"),
        ({"RequestTime": "soon"}, 401, "RequestTime"),
        ({"SdkAppid": "1400000999"}, 403, "SdkAppid"),
    ],
    ids=["bad-sign", "stale", "future", "not-a-number", "wrong-app"],
)
def test_failed_checks_are_refused(local_stack, overrides, status, message) -> None:
    body = c2c_before("hello")
    query = signed_query(local_stack, body["CallbackCommand"])
    if isinstance(overrides.get("RequestTime"), int):
        request_time = str(int(time.time()) + overrides["RequestTime"])
        # A correct Sign for the wrong time: only the window can refuse it.
        overrides = {"RequestTime": request_time, "Sign": callback_sign(local_stack["callback_token"], request_time)}
    query.update(overrides)
    response = post(local_stack, query, body)
    assert response.status_code == status
    assert message in response.json()["message"]
    assert local_stack["callback_token"] not in response.text


@pytest.mark.parametrize("missing", ["SdkAppid", "CallbackCommand", "Sign", "RequestTime"])
def test_missing_parameters_are_named(local_stack, missing) -> None:
    body = c2c_before("hello")
    query = signed_query(local_stack, body["CallbackCommand"])
    del query[missing]
    response = post(local_stack, query, body)
    assert response.status_code in (400, 401)
    assert missing in response.json()["message"]


def test_unknown_command_is_acknowledged(local_stack) -> None:
    response = post(local_stack, signed_query(local_stack, "Sns.CallbackFriendAdd"), {"x": 1})
    assert response.status_code == 200
    assert response.json() == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}


# ---------------------------------------------------------------- after-send → archive


def queue_drained(local_stack, aws) -> bool:
    attrs = aws("sqs").get_queue_attributes(
        QueueUrl=local_stack["resources"]["EventsQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def archived(local_stack, aws, pk: str) -> list[dict]:
    return aws("dynamodb").query(
        TableName=local_stack["resources"]["ArchiveTable"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )["Items"]


def test_same_after_send_three_times_archives_one_message(local_stack, aws) -> None:
    after = dict(
        c2c_before("hello archive"),
        CallbackCommand="C2C.CallbackAfterSendMsg",
        SendMsgResult=0,
        ErrorInfo="send msg succeed",
        UnreadMsgNum=1,
    )
    for _ in range(3):
        status, reply = answer(local_stack, after)
        assert (status, reply) == (200, {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0})
    pk = f"c2c:{after['MsgKey']}"
    wait_for(lambda: archived(local_stack, aws, pk), what="the archived message")
    wait_for(lambda: queue_drained(local_stack, aws), what="the events queue to drain")
    items = archived(local_stack, aws, pk)
    assert len(items) == 1
    assert json.loads(items[0]["body"]["S"]) == after


def test_group_merger_modify_and_recall_are_archived_together(local_stack, aws) -> None:
    seq = uuid.uuid4().int % 10**6
    group_id = "@TGS#ARCHIVE"
    relay = {
        "MsgType": "TIMRelayElem",
        "MsgContent": {
            "Title": "Chat history of A and B",
            "MsgNum": 1,
            "CompatibleText": "upgrade",
            "AbstractList": ["A: hi"],
            "MsgList": [
                {
                    "From_Account": "A",
                    "To_Account": "B",
                    "MsgSeq": 85,
                    "MsgRandom": 1,
                    "MsgTimeStamp": 1,
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}],
                }
            ],
        },
    }
    after = dict(
        group_before("x"),
        CallbackCommand="Group.CallbackAfterSendMsg",
        GroupId=group_id,
        MsgSeq=seq,
        MsgTime=int(time.time()),
        MsgBody=[relay],
    )
    modify = {
        "CallbackCommand": "Group.CallbackAfterModifyMsg",
        "Operator_Account": "u_1001",
        "GroupId": group_id,
        "MsgSeq": seq,
        "EventTime": int(time.time() * 1000),
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "edited"}}],
    }
    recall = {
        "CallbackCommand": "Group.CallbackAfterRecallMsg",
        "Operator_Account": "u_1001",
        "Type": "Public",
        "GroupId": group_id,
        "MsgSeqList": [{"MsgSeq": seq}],
        "EventTime": int(time.time() * 1000) + 1,
    }
    for body in (after, modify, recall, modify):
        assert answer(local_stack, body)[0] == 200
    pk = f"group:{group_id}:{seq}"
    wait_for(lambda: len(archived(local_stack, aws, pk)) >= 3, what="message, modification and recall")
    wait_for(lambda: queue_drained(local_stack, aws), what="the events queue to drain")
    items = archived(local_stack, aws, pk)
    assert sorted(i["sk"]["S"].split("#")[0] for i in items) == ["MODIFY", "MSG", "RECALL"]
    message = next(i for i in items if i["sk"]["S"] == "MSG")
    assert message["inline_mergers"]["N"] == "1"
    assert json.loads(message["body"]["S"])["MsgBody"] == [relay]


def test_body_with_characters_sqs_refuses_is_archived_as_it_came(local_stack, aws) -> None:
    after = dict(
        c2c_before("odd \uffff and \ufffe"),
        CallbackCommand="C2C.CallbackAfterSendMsg",
        SendMsgResult=0,
        ErrorInfo="send msg succeed",
        UnreadMsgNum=1,
    )
    raw = json.dumps(after, ensure_ascii=False)
    assert post(local_stack, signed_query(local_stack, after["CallbackCommand"]), raw).status_code == 200
    pk = f"c2c:{after['MsgKey']}"
    (item,) = wait_for(lambda: archived(local_stack, aws, pk), what="the archived message")
    assert item["body"]["S"] == raw


def test_another_body_for_an_archived_message_is_kept_beside_it(local_stack, aws) -> None:
    after = dict(
        c2c_before("the real one"),
        CallbackCommand="C2C.CallbackAfterSendMsg",
        SendMsgResult=0,
        ErrorInfo="send msg succeed",
        UnreadMsgNum=1,
    )
    forged = dict(after, MsgBody=[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "a forged one"}}])
    pk = f"c2c:{after['MsgKey']}"
    assert answer(local_stack, after)[0] == 200
    wait_for(lambda: archived(local_stack, aws, pk), what="the archived message")
    assert answer(local_stack, forged)[0] == 200
    items = wait_for(
        lambda: len(archived(local_stack, aws, pk)) == 2 and archived(local_stack, aws, pk),
        what="the second body beside the first",
    )
    assert {
        i["sk"]["S"].split("#")[0] + ":" + json.loads(i["body"]["S"])["MsgBody"][0]["MsgContent"]["Text"] for i in items
    } == {"MSG:the real one", "MSG:a forged one"}
    assert next(i for i in items if i["sk"]["S"] == "MSG")["body"]["S"] == json.dumps(after, ensure_ascii=False)


def test_bad_after_send_body_is_refused_not_queued(local_stack) -> None:
    response = post(
        local_stack,
        signed_query(local_stack, "C2C.CallbackAfterSendMsg"),
        {"CallbackCommand": "C2C.CallbackAfterSendMsg", "From_Account": "a"},
    )
    assert response.status_code == 400
    assert "MsgKey" in response.json()["message"]


def test_a_record_that_keeps_failing_ends_in_the_dead_letter_queue(local_stack, aws) -> None:
    # Queued directly: the callback function refuses such a body, but a message the processor
    # cannot handle (a future schema, a bug) must end up in the DLQ, not be lost or loop forever.
    marker = str(uuid.uuid4())
    aws("sqs").send_message(
        QueueUrl=local_stack["resources"]["EventsQueue"],
        MessageBody=json.dumps({"poison": marker}),
        MessageAttributes={"command": {"DataType": "String", "StringValue": "C2C.CallbackAfterSendMsg"}},
    )
    dlq = local_stack["resources"]["EventsDeadLetterQueue"]

    def in_dlq() -> bool:
        messages = aws("sqs").receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1
        )
        return any(marker in m["Body"] for m in messages.get("Messages", []))

    wait_for(in_dlq, timeout=60, what="the poison message in the DLQ")


@pytest.mark.parametrize(
    "path", sorted(Path(__file__).resolve().parents[2].glob("events/tim_callback/*.json")), ids=lambda p: p.stem
)
def test_sample_events_are_answered(local_stack, path) -> None:
    # The samples carry a Sign for a fixed time; sign them afresh, as Tencent would now.
    event = json.loads(path.read_text())
    query = event["queryStringParameters"]
    query.update(signed_query(local_stack, query["CallbackCommand"]))
    response = post(local_stack, query, event["body"])
    assert response.status_code == 200
    assert response.json()["ActionStatus"] == "OK"
