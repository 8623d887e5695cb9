"""The local stack's own machinery, with throwaway handlers: HttpApi payload 2.0 events and responses,
SQS pollers (partial batch failures, redrive), resources created from template.yaml, clean stop."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local import template as tpl
from local.aws import MotoAws, create_resources
from local.cfn_yaml import load_template
from local.pollers import batch_failures, sqs_record
from local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
MAX_RECEIVE_COUNT = 2

# Two functions whose handler modules are both app.py, as in functions/<name>/.
TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Transform": "AWS::Serverless-2016-10-31",
    "Parameters": {"Greeting": {"Type": "String", "Default": "hello"}},
    "Conditions": {"Never": {"Fn::Equals": [{"Ref": "Greeting"}, "never"]}},
    "Globals": {"Function": {"Runtime": "python3.13", "Timeout": 7}},
    "Resources": {
        "Api": {"Type": "AWS::Serverless::HttpApi"},
        "DeadLetters": {"Type": "AWS::SQS::Queue"},
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
        "TimSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"secret_key": "REPLACE_ME"}',
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
    },
}

WEB_HANDLER = """
    import base64, json, os

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
        env = {k: os.environ.get(k) for k in ("WORK_QUEUE", "WORK_ARN", "GREETING", "AWS_ENDPOINT_URL")}
        return {"statusCode": 201, "headers": {"x-echo": "yes", "content-type": "application/json"},
                "body": json.dumps({"event": event, "env": env, "function_name": context.function_name,
                                    "remaining_ms": context.get_remaining_time_in_millis()})}
"""

# Records every delivery; the body's "mode" says how to fail.
WORKER_HANDLER = """
    import json

    DELIVERIES = []  # (message id, body, ApproximateReceiveCount, batch size)

    def handler(event, context):
        failures = []
        for record in event["Records"]:
            body = json.loads(record["body"])
            DELIVERIES.append((record["messageId"], body, record["attributes"]["ApproximateReceiveCount"],
                               len(event["Records"])))
            if body["mode"] == "raise":
                raise RuntimeError("poison message")
            if body["mode"] == "fail-once" and record["attributes"]["ApproximateReceiveCount"] == "1":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}
"""


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


@pytest.fixture(scope="class")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("stack")
    (root / "template.yaml").write_text(json.dumps(TEMPLATE))
    for folder, source in (("web", WEB_HANDLER), ("worker", WORKER_HANDLER)):
        (root / folder).mkdir()
        (root / folder / "app.py").write_text(textwrap.dedent(source))
    with LocalStack(root / "template.yaml", api_port=0, aws_port=0) as local:
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
    return stack.functions["WorkerFunction"].module.DELIVERIES  # type: ignore[union-attr]


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

    @pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("GET", "/boom"), ("POST", "/echo")])
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
        web, worker = stack.functions["WebFunction"].module, stack.functions["WorkerFunction"].module
        assert web is not None and worker is not None
        assert {web.__name__, worker.__name__} == {"fn_WebFunction_app", "fn_WorkerFunction_app"}
        assert "app" not in sys.modules or sys.modules["app"] not in (web, worker)

    def test_secret_is_seeded_with_the_local_key_and_token(self, stack: LocalStack) -> None:
        sm = stack.boto3_client("secretsmanager")
        secret = json.loads(sm.get_secret_value(SecretId=stack.resources["TimSecret"])["SecretString"])
        assert secret == {"secret_key": stack.secret_key, "callback_token": stack.callback_token}

    def test_false_condition_resources_are_not_created(self, stack: LocalStack) -> None:
        assert "Skipped" not in stack.resources
        assert {"Work", "DeadLetters"} <= set(stack.resources)


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


def test_stop_closes_ports_and_ends_threads(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "app.py").write_text(textwrap.dedent(WEB_HANDLER))
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "app.py").write_text(textwrap.dedent(WORKER_HANDLER))
    (tmp_path / "template.yaml").write_text(json.dumps(TEMPLATE))
    before = set(threading.enumerate())
    local = LocalStack(tmp_path / "template.yaml", api_port=0, aws_port=0).start()
    idle = http.client.HTTPConnection(local.api_url.removeprefix("http://"), timeout=10)
    idle.request("GET", "/plain")
    idle.getresponse().read()  # leaves an idle keep-alive connection open
    api, aws = local.api_url, local.aws_endpoint
    local.stop()
    idle.close()
    assert not port_open(api) and not port_open(aws)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.daemon]
    assert leftover == []
    assert not any(t.name.startswith(("sqs-poller", "local-gateway")) for t in threading.enumerate())
