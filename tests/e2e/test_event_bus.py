"""The event bus through `make run`'s stack: a group message's after-send callback, posted to the
callback URL, is archived, published to the template's bus and delivered by the template's example
rule (EventBusExample, on locally) to its Lambda target, with the documented detail."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema

from tests.e2e.test_callback import post, signed_query
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
COMMAND = "Group.CallbackAfterSendMsg"


def consumer_logs(stack: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """What the example consumer (EventExampleFunction) logged it received."""
    for line in Path(stack["log_file"]).read_text(errors="replace").splitlines():
        if '"service":"tim-event-example"' in line and line.startswith("{"):
            try:
                document = json.loads(line)
            except ValueError:
                continue  # a line still being written (or two processes' lines run together)
            if document.get("message") == "timkit event":
                yield document


def received(stack: dict[str, Any], group_id: str) -> list[dict[str, Any]]:
    return [log for log in consumer_logs(stack) if log["detail"]["callback"].get("GroupId") == group_id]


def drained(sqs: Any, url: str) -> bool:
    counts = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_group_message_reaches_the_rules_lambda_target_with_the_documented_detail(local_stack, aws) -> None:
    group_id = f"@TGS#bus{uuid.uuid4().hex[:8]}"
    now = int(time.time())
    body = {
        "CallbackCommand": COMMAND,
        "GroupId": group_id,
        "Type": "Public",
        "From_Account": "u_1001",
        "Operator_Account": "u_1001",
        "Random": 81723,
        "MsgSeq": 5,
        "MsgTime": now,
        "OnlineOnlyFlag": 0,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "to the bus"}}],
        "CloudCustomData": "",
        "EventTime": str(now * 1000),
    }
    query = signed_query(local_stack, COMMAND)
    assert post(local_stack, query, body).status_code == 200
    [log] = wait_for(lambda: received(local_stack, group_id), "the example consumer's log of the event")
    assert log["detail_type"] == COMMAND
    detail = log["detail"]
    schema = json.loads((ROOT / "docs" / "events" / f"{COMMAND}.v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(detail)
    assert detail["version"] == 1
    assert detail["sdkAppId"] == local_stack["sdkappid"]
    assert detail["conversation"] == f"group:{group_id}"
    assert detail["messageIds"] == [f"group:{group_id}:5"]
    # The callback as it came (EventTime, quoted, read as the number it is).
    assert detail["callback"] == {**body, "EventTime": now * 1000}

    # Tencent's retry of the same callback is the same event: not delivered again.
    assert post(local_stack, query, body).status_code == 200
    sqs = aws("sqs")
    [target_queue] = sqs.list_queues(QueueNamePrefix="timkit-local-EventExampleFunctionGroupMessages")["QueueUrls"]
    wait_for(lambda: drained(sqs, local_stack["resources"]["EventsQueue"]), "the events queue to drain")
    wait_for(lambda: drained(sqs, target_queue), "the rule's deliveries to be done")
    assert len(received(local_stack, group_id)) == 1
