"""The local stack's own machinery, with throwaway handlers: HttpApi payload 2.0 events and responses,
SQS pollers (partial batch failures, redrive, concurrency, crashed batches), the /_local/ controls,
resources created from template.yaml, clean start and stop.

The handlers run in worker processes: they record what they got in files under RECORD_DIR."""

from __future__ import annotations

import base64
import copy
import http.client
import json
import logging
import os
import re
import socket
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.sqs.models import sqs_backends

from local import template as tpl
from local.aws import MotoAws, create_resources
from local.cfn_yaml import load_template
from local.config import LocalConfig
from local.functions import FunctionError
from local.pollers import SqsPoller, batch_failures, sqs_record
from local.stack import LocalStack
from tests.waiting import wait_for
from timkit.keys import key_problem

ROOT = Path(__file__).resolve().parents[2]
MAX_RECEIVE_COUNT = 2
FANOUT_CONCURRENCY = 2

# Two functions whose handler modules are both app.py, as in functions/<name>/.
TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Transform": "AWS::Serverless-2016-10-31",
    "Parameters": {"Greeting": {"Type": "String", "Default": "hello"}},
    "Conditions": {"Never": {"Fn::Equals": [{"Ref": "Greeting"}, "never"]}},
    "Globals": {
        "Function": {
            "Runtime": "python3.13",
            "Timeout": 7,
            "Environment": {"Variables": {"RECORD_DIR": "set by write_stack"}},
        }
    },
    "Resources": {
        "Api": {"Type": "AWS::Serverless::HttpApi", "Properties": {"Auth": {"EnableIamAuthorizer": True}}},
        "DeadLetters": {"Type": "AWS::SQS::Queue"},
        "Fanout": {"Type": "AWS::SQS::Queue"},
        "Manual": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 60}},  # no event source
        "Slow": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 60}},
        "Work": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": 60,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetters", "Arn"]},
                    "maxReceiveCount": MAX_RECEIVE_COUNT,
                },
            },
        },
        "Skipped": {"Type": "AWS::SQS::Queue", "Condition": "Never"},
        "TimSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": '{"secret_key": ""}'}},
        "CallbackSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"policy": {"version": 1}}',
                    "GenerateStringKey": "callback_token",
                }
            },
        },
        "WebFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "web/",
                "Handler": "app.handler",
                "Environment": {
                    "Variables": {
                        "WORK_QUEUE": {"Ref": "Work"},
                        "WORK_ARN": {"Fn::GetAtt": ["Work", "Arn"]},
                        "GREETING": {"Fn::Sub": "${Greeting} from ${AWS::Region}"},
                    }
                },
                "Events": {
                    "Echo": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "Api"}, "Method": "ANY", "Path": "/echo/{name}"},
                    },
                    "Boom": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "Api"}, "Method": "POST", "Path": "/boom"},
                    },
                    "Plain": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "Api"}, "Method": "GET", "Path": "/plain"},
                    },
                    "Binary": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "Api"}, "Method": "GET", "Path": "/binary"},
                    },
                    "Module": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "Api"}, "Method": "GET", "Path": "/module"},
                    },
                    "Admin": {
                        "Type": "HttpApi",
                        "Properties": {
                            "ApiId": {"Ref": "Api"},
                            "Method": "GET",
                            "Path": "/admin/things",
                            "Auth": {"Authorizer": "AWS_IAM"},
                        },
                    },
                },
            },
        },
        "WorkerFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "worker/",
                "Handler": "app.handler",
                "Events": {
                    "Work": {
                        "Type": "SQS",
                        "Properties": {
                            "Queue": {"Fn::GetAtt": ["Work", "Arn"]},
                            "BatchSize": 10,
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        },
                    }
                },
            },
        },
        "FanoutFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "fanout/",
                "Handler": "app.handler",
                "Timeout": 30,
                "Events": {
                    "Fanout": {
                        "Type": "SQS",
                        "Properties": {
                            "Queue": {"Fn::GetAtt": ["Fanout", "Arn"]},
                            "BatchSize": 1,
                            "ScalingConfig": {"MaximumConcurrency": FANOUT_CONCURRENCY},
                        },
                    }
                },
            },
        },
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-bus"}}},
        # A rule of SAM's (an EventBridgeRule event), and one declared as a resource.
        "ListenerFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "listener/",
                "Handler": "app.handler",
                "Events": {
                    "Wanted": {
                        "Type": "EventBridgeRule",
                        "Properties": {
                            "EventBusName": {"Ref": "Bus"},
                            "Pattern": {
                                "source": ["tests"],
                                "detail-type": ["wanted"],
                                "detail": {"n": [{"numeric": [">", 0]}]},
                            },
                        },
                    }
                },
            },
        },
        "FailingRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventBusName": {"Fn::GetAtt": ["Bus", "Arn"]},
                "EventPattern": {"source": ["tests"], "detail-type": ["failing"]},
                "Targets": [
                    {"Id": "listener", "Arn": {"Fn::GetAtt": ["ListenerFunction", "Arn"]}},
                    {"Id": "elsewhere", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:not-in-the-template"},
                ],
            },
        },
        "SlowFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "slow/",
                "Handler": "app.handler",
                "Timeout": 60,
                "Events": {
                    "Slow": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Slow", "Arn"]}, "BatchSize": 1}},
                    "Hang": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "Api"}, "Method": "GET", "Path": "/hang"},
                    },
                },
            },
        },
    },
}

# Every handler records what it did: record("deliveries", ...) appends a JSON line to RECORD_DIR/deliveries.
RECORD = """
    import json, os

    def record(name, **fields):
        with open(os.path.join(os.environ["RECORD_DIR"], name), "a") as f:
            f.write(json.dumps({"pid": os.getpid(), **fields}) + "\\n")
"""

WEB_HANDLER = """
    import base64, json, os, sys

    def handler(event, context):
        route = event["routeKey"]
        if route == "POST /boom":
            raise RuntimeError("boom")
        if route == "GET /plain":
            return {"greeting": os.environ["GREETING"]}
        if route == "GET /binary":
            return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                    "cookies": ["a=1", "b=2"], "isBase64Encoded": True,
                    "body": base64.b64encode(bytes(range(256))).decode()}
        if route == "GET /module":
            return {"module": __name__, "plain_app_imported": "app" in sys.modules}
        env = {k: os.environ.get(k) for k in ("WORK_QUEUE", "WORK_ARN", "GREETING", "AWS_ENDPOINT_URL")}
        return {"statusCode": 201, "headers": {"x-echo": "yes", "content-type": "application/json"},
                "body": json.dumps({"event": event, "env": env, "function_name": context.function_name,
                                    "remaining_ms": context.get_remaining_time_in_millis()})}
"""

# Records every delivery; the body's "mode" says how to fail ("later": in an hour, as the handler sets).
WORKER_HANDLER = (
    RECORD
    + """
    import boto3

    def handler(event, context):
        failures = []
        for message in event["Records"]:
            body = json.loads(message["body"])
            count = message["attributes"]["ApproximateReceiveCount"]
            record("deliveries", id=message["messageId"], body=body, count=count, batch=len(event["Records"]),
                   module=__name__)
            if body["mode"] == "raise":
                raise RuntimeError("poison message")
            if body["mode"] == "fail-once" and count == "1":
                failures.append({"itemIdentifier": message["messageId"]})
            if body["mode"] == "later":
                sqs = boto3.client("sqs")
                url = sqs.get_queue_url(QueueName=message["eventSourceARN"].rsplit(":", 1)[1])["QueueUrl"]
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["receiptHandle"],
                                              VisibilityTimeout=3600)
                failures.append({"itemIdentifier": message["messageId"]})
        return {"batchItemFailures": failures}
"""
)

# A barrier: each message of {"barrier": name, "parties": n} waits (a while at most) until n have arrived,
# so all pass only if they were handled at once; it records how many had arrived.
FANOUT_HANDLER = (
    RECORD
    + """
    import time
    from pathlib import Path

    def handler(event, context):
        (message,) = event["Records"]
        body = json.loads(message["body"])
        arrived = Path(os.environ["RECORD_DIR"]) / body["barrier"]
        arrived.mkdir(exist_ok=True)
        (arrived / message["messageId"]).touch()
        deadline = time.monotonic() + 20
        while len(list(arrived.iterdir())) < body["parties"] and time.monotonic() < deadline:
            time.sleep(0.01)
        record("fanout", id=message["messageId"], arrived=len(list(arrived.iterdir())))
"""
)

# Blocks the first time it gets a message (or a request), until its worker is killed.
SLOW_HANDLER = (
    RECORD
    + """
    import time

    def handler(event, context):
        key = event["Records"][0]["messageId"] if "Records" in event else event["requestContext"]["requestId"]
        count = event["Records"][0]["attributes"]["ApproximateReceiveCount"] if "Records" in event else "1"
        record("slow", key=key, count=count, stage="started")
        if count == "1":
            time.sleep(50)
        record("slow", key=key, count=count, stage="done")
        return {"statusCode": 200, "body": "done"}
"""
)

# Records every event a rule delivers; fails on the "failing" ones.
LISTENER_HANDLER = (
    RECORD
    + """
    def handler(event, context):
        record("events", event=event)
        if event["detail-type"] == "failing":
            raise RuntimeError("cannot take it")
"""
)

HANDLERS = {
    "web": WEB_HANDLER,
    "worker": WORKER_HANDLER,
    "fanout": FANOUT_HANDLER,
    "slow": SLOW_HANDLER,
    "listener": LISTENER_HANDLER,
}


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def write_stack(root: Path, template: dict[str, Any] = TEMPLATE, handlers: dict[str, str] = HANDLERS) -> Path:
    """The template and its handlers under ``root``; the handlers record into root/records."""
    template = copy.deepcopy(template)
    (root / "records").mkdir()
    template["Globals"]["Function"]["Environment"]["Variables"]["RECORD_DIR"] = str(root / "records")
    (root / "template.yaml").write_text(json.dumps(template))
    for folder, source in handlers.items():
        (root / folder).mkdir()
        (root / folder / "app.py").write_text(textwrap.dedent(source))
    return root / "template.yaml"


def records(stack: LocalStack, name: str) -> list[dict[str, Any]]:
    path = stack.template_path.parent / "records" / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="class")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(write_stack(tmp_path_factory.mktemp("stack")), api_port=0, aws_port=0) as local:
        yield local


def request(
    stack: LocalStack, method: str, path: str, body: bytes | None = None, headers: list[tuple[str, str]] = ()
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection(stack.api_url.removeprefix("http://"), timeout=10)
    try:
        conn.putrequest(method, path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("content-length", str(len(body or b"")))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def deliveries(stack: LocalStack) -> list[tuple[str, dict, str, int]]:
    """(message id, body, ApproximateReceiveCount, batch size) of every delivery to WorkerFunction."""
    return [(d["id"], d["body"], d["count"], d["batch"]) for d in records(stack, "deliveries")]


def control(stack: LocalStack, method: str, path: str) -> tuple[int, dict[str, Any]]:
    status, _, body = request(stack, method, path)
    return status, json.loads(body)


def request_from(stack: LocalStack, address: str, method: str, path: str, headers: str = "") -> int:
    """The status of a request the gateway takes for one from ``address``: the connection is a loopback
    one, handed to the gateway's server under that client address."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2], timeout=10)
        accepted, _ = listener.accept()
    with client:
        stack._gateway._server.process_request(accepted, (address, 40000))
        client.sendall(f"{method} {path} HTTP/1.1\r\nHost: local\r\n{headers}Connection: close\r\n\r\n".encode())
        response = b""
        while chunk := client.recv(65536):
            response += chunk
    return int(response.split(b" ", 2)[1])


def worker_processes() -> set[int]:
    """Live function workers: the children of the fork server this process started."""

    def children(parent: int) -> dict[int, str]:
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[1]) == parent:
                found[int(stat.parent.name)] = cmdline
        return found

    servers = [pid for pid, cmdline in children(os.getpid()).items() if "multiprocessing.forkserver" in cmdline]
    return {pid for server in servers for pid in children(server)}


class TestRunningStack:
    """Against one stack started from TEMPLATE (moto allows one per process)."""

    # HttpApi

    def test_payload_2_event_carries_the_request(self, stack: LocalStack) -> None:
        status, headers, body = request(
            stack,
            "PUT",
            "/echo/some%20one?a=1&a=2&b=x%20y&empty=",
            body=b'{"hello": "world"}',
            headers=[
                ("Content-Type", "application/json"),
                ("X-Multi", "one"),
                ("X-Multi", "two"),
                ("Cookie", "c1=v1; c2=v2"),
                ("User-Agent", "tests/1.0"),
            ],
        )
        assert status == 201
        assert headers["x-echo"] == "yes"
        assert headers["apigw-requestid"]
        reply = json.loads(body)
        event = reply["event"]
        assert event["version"] == "2.0"
        assert event["routeKey"] == "ANY /echo/{name}"
        assert event["rawPath"] == "/echo/some one"
        assert event["rawQueryString"] == "a=1&a=2&b=x%20y&empty="
        assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "empty": ""}
        assert event["pathParameters"] == {"name": "some one"}
        assert event["cookies"] == ["c1=v1", "c2=v2"]
        assert event["headers"]["x-multi"] == "one,two"
        assert event["headers"]["content-type"] == "application/json"
        assert "cookie" not in event["headers"]
        assert all(name == name.lower() for name in event["headers"])
        assert event["body"] == '{"hello": "world"}'
        assert event["isBase64Encoded"] is False
        context = event["requestContext"]
        assert context["http"] == {
            "method": "PUT",
            "path": "/echo/some one",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "tests/1.0",
        }
        assert context["stage"] == "$default"
        assert context["routeKey"] == "ANY /echo/{name}"
        assert context["requestId"] == headers["apigw-requestid"]
        assert abs(context["timeEpoch"] / 1000 - time.time()) < 60
        assert reply["function_name"] == "timkit-local-WebFunction"
        assert 0 < reply["remaining_ms"] <= 7000  # the template's Globals Timeout

    def test_function_environment_resolves_to_the_local_resources(self, stack: LocalStack) -> None:
        env = json.loads(request(stack, "GET", "/echo/x")[2])["env"]
        assert env["WORK_QUEUE"] == stack.resources["Work"]
        assert env["WORK_ARN"] == "arn:aws:sqs:us-east-1:123456789012:" + stack.resources["Work"].rsplit("/", 1)[1]
        assert env["GREETING"] == "hello from us-east-1"
        assert env["AWS_ENDPOINT_URL"] == stack.aws_endpoint

    def test_binary_body_is_base64_encoded_both_ways(self, stack: LocalStack) -> None:
        payload = bytes(range(256))
        status, _, body = request(stack, "POST", "/echo/bin", payload, [("Content-Type", "application/octet-stream")])
        event = json.loads(body)["event"]
        assert event["isBase64Encoded"] is True
        assert base64.b64decode(event["body"]) == payload

        status, headers, body = request(stack, "GET", "/binary")
        assert (status, body) == (200, payload)
        assert headers.get_all("set-cookie") == ["a=1", "b=2"]

    def test_result_without_status_code_is_a_json_200(self, stack: LocalStack) -> None:
        status, headers, body = request(stack, "GET", "/plain")
        assert (status, headers["content-type"]) == (200, "application/json")
        assert json.loads(body) == {"greeting": "hello from us-east-1"}

    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/nowhere"), ("GET", "/boom"), ("POST", "/echo"), ("TRACE", "/plain"), ("QUERY", "/plain")],
    )
    def test_unknown_route_is_404_like_api_gateway(self, stack: LocalStack, method: str, path: str) -> None:
        status, _, body = request(stack, method, path)
        assert (status, json.loads(body)) == (404, {"message": "Not Found"})

    def test_raising_handler_is_500_and_logged(self, stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
        status, _, body = request(stack, "POST", "/boom", b"{}")
        assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
        assert "RuntimeError: boom" in caplog.text

    def test_connection_is_kept_alive(self, stack: LocalStack) -> None:
        conn = http.client.HTTPConnection(stack.api_url.removeprefix("http://"), timeout=10)
        try:
            for _ in range(3):
                conn.request("GET", "/plain")
                response = conn.getresponse()
                assert response.status == 200 and not response.will_close
                response.read()
            assert conn.sock is not None  # the same socket served all three
        finally:
            conn.close()

    def test_chunked_body_reaches_the_function_and_keeps_the_connection(self, stack: LocalStack) -> None:
        conn = http.client.HTTPConnection(stack.api_url.removeprefix("http://"), timeout=10)
        try:
            chunks = iter([b'{"hel', b'lo": 1}'])
            conn.request("POST", "/echo/chunked", body=chunks, headers={"Content-Type": "application/json"})
            assert json.loads(json.loads(conn.getresponse().read())["event"]["body"]) == {"hello": 1}
            conn.request("GET", "/plain")
            assert conn.getresponse().status == 200
        finally:
            conn.close()

    # EventBridge rules

    def test_bus_events_reach_the_rules_lambda_targets_that_match(self, stack: LocalStack) -> None:
        events = stack.boto3_client("events")
        bus = stack.resources["Bus"]
        assert bus == "timkit-local-bus"
        for detail_type, n in (("unwanted", 1), ("wanted", 0), ("wanted", 7)):
            answer = events.put_events(
                Entries=[
                    {"Source": "tests", "DetailType": detail_type, "Detail": json.dumps({"n": n}), "EventBusName": bus}
                ]
            )
            assert answer["FailedEntryCount"] == 0
        [delivered] = wait_for(lambda: records(stack, "events"), "the wanted event")
        event = delivered["event"]
        assert (event["source"], event["detail-type"], event["detail"]) == ("tests", "wanted", {"n": 7})
        assert {"id", "time", "account", "region", "resources", "version"} <= set(event)

    def test_a_target_that_fails_is_retried_twice_then_the_event_is_dropped(
        self, stack: LocalStack, caplog: pytest.LogCaptureFixture
    ) -> None:
        events = stack.boto3_client("events")
        entry = {
            "Source": "tests",
            "DetailType": "failing",
            "Detail": json.dumps({"run": str(uuid.uuid4())}),
            "EventBusName": stack.resources["Bus"],
        }
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

        def attempts() -> list[dict[str, Any]]:
            return [r for r in records(stack, "events") if r["event"]["detail"] == json.loads(entry["Detail"])]

        with caplog.at_level(logging.ERROR, logger="local"):
            wait_for(lambda: "dropped" in caplog.text, "the event to be dropped")
        assert len(attempts()) == 3

    # SQS pollers

    def test_partial_batch_failure_retries_only_the_failed_record(self, stack: LocalStack) -> None:
        sqs = stack.boto3_client("sqs")
        queue = stack.resources["Work"]
        sent = sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[
                {"Id": "ok", "MessageBody": json.dumps({"mode": "ok", "test": "partial"})},
                {"Id": "flaky", "MessageBody": json.dumps({"mode": "fail-once", "test": "partial"})},
            ],
        )["Successful"]
        ids = {entry["Id"]: entry["MessageId"] for entry in sent}

        def seen(message_id: str) -> list[str]:
            return [count for mid, _, count, _ in deliveries(stack) if mid == message_id]

        wait_for(lambda: seen(ids["flaky"]) == ["1", "2"], "the failed record to be retried once")
        assert seen(ids["ok"]) == ["1"], "the record that succeeded must not be delivered again"
        wait_for(lambda: _queue_empty(sqs, queue), "the queue to be emptied")
        assert seen(ids["ok"]) == ["1"]

    def test_failing_message_moves_to_the_dead_letter_queue(self, stack: LocalStack) -> None:
        sqs = stack.boto3_client("sqs")
        message_id = sqs.send_message(
            QueueUrl=stack.resources["Work"],
            MessageBody=json.dumps({"mode": "raise", "test": "redrive"}),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "poison"}},
        )["MessageId"]

        def dead_letters() -> list[dict]:
            return sqs.receive_message(
                QueueUrl=stack.resources["DeadLetters"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=1,
            ).get("Messages", [])

        dead = wait_for(dead_letters, "the message to reach the dead-letter queue")
        assert [m["MessageId"] for m in dead] == [message_id]
        assert dead[0]["MessageAttributes"]["kind"]["StringValue"] == "poison"
        attempts = [count for mid, _, count, _ in deliveries(stack) if mid == message_id]
        assert attempts == [str(n) for n in range(1, MAX_RECEIVE_COUNT + 1)]
        assert _queue_empty(sqs, stack.resources["Work"])

    def test_handler_modules_load_under_unique_names(self, stack: LocalStack) -> None:
        web = json.loads(request(stack, "GET", "/module")[2])
        assert web == {"module": "fn_WebFunction_app", "plain_app_imported": False}
        sqs = stack.boto3_client("sqs")
        message_id = sqs.send_message(QueueUrl=stack.resources["Work"], MessageBody='{"mode": "ok"}')["MessageId"]
        (worker,) = wait_for(
            lambda: [d for d in records(stack, "deliveries") if d["id"] == message_id], "the message to be delivered"
        )
        assert worker["module"] == "fn_WorkerFunction_app"

    def test_a_failed_message_keeps_the_visibility_its_function_gave_it(self, stack: LocalStack) -> None:
        sqs = stack.boto3_client("sqs")
        queue = stack.resources["Manual"]
        sent = {
            mode: sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"mode": mode}))["MessageId"]
            for mode in ("later", "fail-once")
        }
        received: list[dict[str, Any]] = []
        wait_for(
            lambda: (
                received.extend(
                    sqs.receive_message(
                        QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
                    ).get("Messages", [])
                )
                or len(received) == 2
            ),
            "both messages",
        )
        arn = "arn:aws:sqs:us-east-1:123456789012:" + queue.rsplit("/", 1)[1]
        SqsPoller(stack.functions["WorkerFunction"], tpl.SqsSource("Manual", 10, True), queue, arn, sqs).process(
            received
        )
        # The message the function left alone is back after the retry delay...
        again = wait_for(lambda: sqs.receive_message(QueueUrl=queue).get("Messages"), "a message to be visible")
        assert [m["MessageId"] for m in again] == [sent["fail-once"]]
        # ... the one it set to come back in an hour is still hidden, for the hour.
        (later,) = [
            m
            for m in sqs_backends["123456789012"]["us-east-1"].get_queue(queue.rsplit("/", 1)[1])._messages
            if m.id == sent["later"]
        ]
        assert later.visible_at > (time.time() + 3000) * 1000

    def test_sqs_source_is_worked_by_as_many_invocations_as_its_maximum_concurrency(self, stack: LocalStack) -> None:
        sqs = stack.boto3_client("sqs")
        body = json.dumps({"barrier": "fanout-barrier", "parties": FANOUT_CONCURRENCY})
        sent = sqs.send_message_batch(
            QueueUrl=stack.resources["Fanout"],
            Entries=[{"Id": str(n), "MessageBody": body} for n in range(FANOUT_CONCURRENCY)],
        )["Successful"]
        ids = {entry["MessageId"] for entry in sent}

        def handled() -> list[dict[str, Any]]:
            return [r for r in records(stack, "fanout") if r["id"] in ids]

        wait_for(lambda: len(handled()) == len(ids), "every message to be handled")
        # None passed the barrier before all had arrived: they ran at once, in as many workers.
        assert [r["arrived"] for r in handled()] == [FANOUT_CONCURRENCY] * FANOUT_CONCURRENCY
        assert len({r["pid"] for r in handled()}) == FANOUT_CONCURRENCY
        fanout = control(stack, "GET", "/_local/functions")[1]["functions"]["FanoutFunction"]
        assert fanout["concurrency"] == FANOUT_CONCURRENCY
        assert len(fanout["workers"]) == FANOUT_CONCURRENCY

    def test_batch_whose_worker_is_killed_is_delivered_again(
        self, stack: LocalStack, caplog: pytest.LogCaptureFixture
    ) -> None:
        sqs = stack.boto3_client("sqs")
        message_id = sqs.send_message(QueueUrl=stack.resources["Slow"], MessageBody="{}")["MessageId"]

        def stages() -> list[tuple[str, str]]:
            return [(r["count"], r["stage"]) for r in records(stack, "slow") if r["key"] == message_id]

        wait_for(lambda: stages() == [("1", "started")], "the first delivery to be handled")
        (busy,) = [r["pid"] for r in records(stack, "slow") if r["key"] == message_id]
        assert stack.kill_busy_worker("SlowFunction") == busy
        # Visible again after the retry delay, as after Lambda's visibility timeout.
        wait_for(lambda: ("2", "done") in stages(), "the batch to be delivered again and handled")
        assert stages() == [("1", "started"), ("2", "started"), ("2", "done")]
        assert f"SlowFunction: its worker process {busy} was killed by SIGKILL" in caplog.text
        wait_for(lambda: _queue_empty(sqs, stack.resources["Slow"]), "the queue to be emptied")

    def test_control_routes_list_workers_and_kill_a_busy_one(self, stack: LocalStack) -> None:
        status, listing = control(stack, "GET", "/_local/functions")
        assert status == 200
        assert set(listing["functions"]) == set(stack.functions)
        web = listing["functions"]["WebFunction"]
        assert (web["name"], web["concurrency"]) == ("timkit-local-WebFunction", 4)
        assert web["workers"] and all(set(w) == {"pid", "busy", "invocations"} for w in web["workers"])
        assert control(stack, "POST", "/_local/functions/SlowFunction/kill") == (
            409,
            {"message": "SlowFunction has no busy worker"},
        )

        answers: list[int] = []
        hanging = threading.Thread(target=lambda: answers.append(request(stack, "GET", "/hang")[0]))
        before = len(records(stack, "slow"))
        hanging.start()
        (started,) = wait_for(lambda: records(stack, "slow")[before:], "the request's invocation to start")
        status, killed = control(stack, "POST", "/_local/functions/SlowFunction/kill")
        hanging.join(timeout=20)
        assert (status, killed) == (200, {"killed": started["pid"]})
        assert answers == [500]
        workers = control(stack, "GET", "/_local/functions")[1]["functions"]["SlowFunction"]["workers"]
        assert killed["killed"] not in [w["pid"] for w in workers]
        assert control(stack, "POST", "/_local/functions/NoSuchFunction/kill")[0] == 404
        assert control(stack, "GET", "/_local/nothing")[0] == 404

    def test_iam_routes_are_admitted_from_loopback_signed_or_not(self, stack: LocalStack) -> None:
        assert request(stack, "GET", "/admin/things")[0] == 201
        signed = AWSRequest(method="GET", url=stack.api_url + "/admin/things")
        SigV4Auth(Credentials("AKIDEXAMPLE", "not-checked"), "execute-api", "us-east-1").add_auth(signed)
        status, _, body = request(stack, "GET", "/admin/things", headers=list(signed.headers.items()))
        assert status == 201
        event = json.loads(body)["event"]
        assert event["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert event["requestContext"]["authorizer"]["iam"]["userArn"] == "arn:aws:iam::123456789012:user/local"

    def test_from_another_address_iam_routes_are_forbidden_and_controls_absent(self, stack: LocalStack) -> None:
        assert request_from(stack, "127.0.0.2", "GET", "/admin/things") == 201
        assert request_from(stack, "::1", "GET", "/admin/things") == 201
        assert request_from(stack, "192.0.2.10", "GET", "/admin/things") == 403
        assert request_from(stack, "192.0.2.10", "GET", "/admin/things", "Authorization: AWS4-HMAC-SHA256 x\r\n") == 403
        assert request_from(stack, "192.0.2.10", "GET", "/_local/functions") == 404
        assert request_from(stack, "192.0.2.10", "GET", "/plain") == 200

    def test_secrets_are_seeded_with_the_local_key_and_token(self, stack: LocalStack) -> None:
        sm = stack.boto3_client("secretsmanager")

        def secret(logical_id: str) -> dict[str, Any]:
            return json.loads(sm.get_secret_value(SecretId=stack.resources[logical_id])["SecretString"])

        assert secret("TimSecret") == {"secret_key": stack.secret_key}
        assert secret("CallbackSecret") == {"callback_token": stack.callback_token, "policy": {"version": 1}}
        # Not a key anyone else knows: generated for the run, shaped as Tencent's.
        assert re.fullmatch(r"[0-9a-f]{64}", stack.secret_key)

    def test_false_condition_resources_are_not_created(self, stack: LocalStack) -> None:
        assert "Skipped" not in stack.resources
        assert {"Work", "DeadLetters"} <= set(stack.resources)


def test_without_tim_secret_key_every_run_has_a_fresh_usable_key() -> None:
    first, second = LocalConfig.from_env({}), LocalConfig.from_env({})
    assert first.secret_key != second.secret_key
    assert key_problem(first.secret_key) is None and not first.secret_key_from_env
    given = "ab" * 32
    mine = LocalConfig.from_env({"TIM_SECRET_KEY": given})
    assert (mine.secret_key, mine.secret_key_from_env) == (given, True)


def test_sqs_event_has_the_lambda_record_shape() -> None:
    record = sqs_record(
        {
            "MessageId": "m1",
            "ReceiptHandle": "r1",
            "Body": "{}",
            "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
            "MD5OfMessageAttributes": "x",
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
            "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
        },
        "arn:aws:sqs:us-east-1:123456789012:q",
    )
    assert record == {
        "messageId": "m1",
        "receiptHandle": "r1",
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "messageAttributes": {
            "b": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}
        },
        "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "md5OfMessageAttributes": "x",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "nope"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"id": "b"}]}, None),
        ("not an event response", None),
    ],
)
def test_batch_item_failures_are_read_as_lambda_does(result: Any, failed: set[str] | None) -> None:
    assert batch_failures(result, {"a", "b"}) == failed


def _queue_empty(sqs: Any, queue: str) -> bool:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return attrs["ApproximateNumberOfMessages"] == attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


# ------------------------------------------------------------------ template and lifecycle


def test_resources_from_template_yaml_exist_in_moto() -> None:
    original = load_template(ROOT / "template.yaml")["Resources"]
    template = tpl.load(ROOT / "template.yaml")
    aws = MotoAws(port=0)
    aws.start()
    try:
        physical = create_resources(aws, template)
        ddb, sqs, sm, ssm = (aws.client(s) for s in ("dynamodb", "sqs", "secretsmanager", "ssm"))
        by_type: dict[str, list[str]] = {}
        for lid, res in original.items():
            by_type.setdefault(res["Type"], []).append(lid)
        for lid in by_type.get("AWS::DynamoDB::Table", []):
            props = original[lid]["Properties"]
            table = ddb.describe_table(TableName=physical[lid])["Table"]
            assert table["KeySchema"] == props["KeySchema"], lid
            assert table["AttributeDefinitions"] == props["AttributeDefinitions"], lid
            if "TimeToLiveSpecification" in props:
                ttl = ddb.describe_time_to_live(TableName=physical[lid])["TimeToLiveDescription"]
                assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"], lid
        for lid in by_type.get("AWS::SQS::Queue", []):
            props = original[lid].get("Properties", {})
            attrs = sqs.get_queue_attributes(QueueUrl=physical[lid], AttributeNames=["All"])["Attributes"]
            if "VisibilityTimeout" in props:
                assert attrs["VisibilityTimeout"] == str(props["VisibilityTimeout"]), lid
            if "RedrivePolicy" in props:
                redrive = json.loads(attrs["RedrivePolicy"])
                target = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                assert redrive["maxReceiveCount"] == props["RedrivePolicy"]["maxReceiveCount"], lid
                assert redrive["deadLetterTargetArn"].endswith(":" + physical[target].rsplit("/", 1)[1]), lid
        for lid in by_type.get("AWS::SecretsManager::Secret", []):
            assert sm.describe_secret(SecretId=physical[lid])["ARN"] == physical[lid]
        for lid in by_type.get("AWS::SSM::Parameter", []):
            parameter = ssm.get_parameter(Name=physical[lid])["Parameter"]
            assert parameter["Value"] == original[lid]["Properties"]["Value"], lid
        assert all(lid in physical for lid in template.data_resources)
    finally:
        aws.stop()


def test_stop_closes_ports_and_ends_threads_and_workers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    before = set(threading.enumerate())
    local = LocalStack(write_stack(tmp_path), api_port=0, aws_port=0).start()
    workers = worker_processes()
    assert len(workers) == len(local.functions), "one worker per function from the start"
    assert caplog.text.count("admin routes (AWS_IAM) are not signature-checked locally") == 1
    idle = http.client.HTTPConnection(local.api_url.removeprefix("http://"), timeout=10)
    idle.request("GET", "/plain")
    idle.getresponse().read()  # leaves an idle keep-alive connection open
    api, aws = local.api_url, local.aws_endpoint
    local.stop()
    idle.close()
    assert not port_open(api) and not port_open(aws)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.daemon]
    assert leftover == []
    assert not any(t.name.startswith(("sqs-poller", "local-gateway", "schedule-")) for t in threading.enumerate())
    assert worker_processes() == set()


def test_start_fails_clearly_when_a_handler_cannot_be_imported(tmp_path: Path) -> None:
    broken = {**HANDLERS, "worker": "import no_such_module\n"}
    local = LocalStack(write_stack(tmp_path, handlers=broken), api_port=0, aws_port=0)
    with pytest.raises(FunctionError) as info:
        local.start()
    assert str(info.value) == (
        "WorkerFunction: cannot import its handler: ModuleNotFoundError: No module named 'no_such_module'"
    )
    assert worker_processes() == set(), "the functions that did start are stopped"
