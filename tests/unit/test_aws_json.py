"""The small SigV4 JSON client: same signature as botocore, same endpoint selection as boto3,
AWS errors surfaced with their code."""

from __future__ import annotations

import datetime as real_dt
import http.server
import json
import threading
import types
from collections.abc import Iterator

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.credentials import Credentials

import timkit.aws_json as aws_json
from timkit.aws_json import AwsError, AwsJsonClient

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//token+with/odd=chars"
FIXED = real_dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=real_dt.UTC)

SERVICES = {
    # service: (X-Amz-Target prefix, content type, example action)
    "dynamodb": ("DynamoDB_20120810", "application/x-amz-json-1.0", "PutItem"),
    "sqs": ("AmazonSQS", "application/x-amz-json-1.0", "SendMessage"),
    "ssm": ("AmazonSSM", "application/x-amz-json-1.1", "GetParameter"),
    "secretsmanager": ("secretsmanager", "application/x-amz-json-1.1", "GetSecretValue"),
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for service in SERVICES:
        monkeypatch.delenv(f"AWS_ENDPOINT_URL_{service.upper()}", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


@pytest.fixture
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    def now(tz=None):
        return FIXED.astimezone(tz) if tz else FIXED.replace(tzinfo=None)

    fake_datetime = types.SimpleNamespace(now=now)
    monkeypatch.setattr(aws_json, "dt", types.SimpleNamespace(datetime=fake_datetime, UTC=real_dt.UTC))
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: FIXED.replace(tzinfo=None))


def botocore_headers(service: str, region: str, url: str, body: bytes, token: str | None) -> dict[str, str]:
    prefix, content_type, action = SERVICES[service]
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": content_type, "X-Amz-Target": f"{prefix}.{action}"},
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), service, region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.mark.usefixtures("fixed_time")
@pytest.mark.parametrize("token", [None, SESSION_TOKEN], ids=["no-token", "session-token"])
@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize(
    "endpoint",
    [None, "http://127.0.0.1:4566", "https://vpce-0abc.sqs.eu-west-1.vpce.amazonaws.com"],
    ids=["default", "local-port", "vpc-endpoint"],
)
def test_signature_equals_botocore(
    monkeypatch: pytest.MonkeyPatch, service: str, token: str | None, endpoint: str | None
) -> None:
    if token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    region = "eu-west-1"
    client = AwsJsonClient(service, region=region, endpoint=endpoint)
    body = json.dumps({"TableName": "t", "Item": {"pk": {"S": "中文 ✓"}}}, separators=(",", ":")).encode()
    ours = client._signed_headers(SERVICES[service][2], body)

    url = (endpoint or f"https://{service}.{region}.amazonaws.com") + "/"
    theirs = botocore_headers(service, region, url, body, token)

    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"] == "20240506T070809Z"
    assert ours["x-amz-target"] == theirs["x-amz-target"]
    assert ours["content-type"] == theirs["content-type"]
    if token:
        assert ours["x-amz-security-token"] == theirs["x-amz-security-token"] == token
        assert "x-amz-security-token" in ours["authorization"]
    else:
        assert "x-amz-security-token" not in ours


@pytest.mark.usefixtures("fixed_time")
def test_signature_changes_with_the_body_and_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    client = AwsJsonClient("sqs", region="us-east-1")
    first = client._signed_headers("SendMessage", b"{}")["authorization"]
    assert client._signed_headers("SendMessage", b'{"a":1}')["authorization"] != first
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "other")
    assert client._signed_headers("SendMessage", b"{}")["authorization"] != first


# ----------------------------------------------------------------------------- endpoints


def test_default_endpoint_from_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-southeast-1")
    client = AwsJsonClient("dynamodb")
    assert client.region == "ap-southeast-1"
    assert client._signed_headers("GetItem", b"{}")["host"] == "dynamodb.ap-southeast-1.amazonaws.com"
    assert client._https


def test_region_falls_back_to_default_region_then_us_east_1(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AwsJsonClient("sqs").region == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert AwsJsonClient("sqs").region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    assert AwsJsonClient("sqs").region == "eu-north-1"


def test_generic_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    client = AwsJsonClient("ssm", region="us-east-1")
    assert client._signed_headers("GetParameter", b"{}")["host"] == "localhost:4566"
    assert not client._https


def test_service_endpoint_wins_over_generic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://sqs.local:9324")
    assert AwsJsonClient("sqs")._signed_headers("SendMessage", b"{}")["host"] == "sqs.local:9324"
    # Other services still use the generic one.
    assert AwsJsonClient("dynamodb")._signed_headers("GetItem", b"{}")["host"] == "localhost:4566"


def test_explicit_endpoint_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://sqs.local:9324")
    client = AwsJsonClient("sqs", endpoint="https://explicit.example:8443")
    assert client._signed_headers("SendMessage", b"{}")["host"] == "explicit.example:8443"
    assert client._https


def boto3_env_var(service: str) -> str:
    return ConfiguredEndpointProvider(full_config={}, scoped_config={}, client_name=service)._get_service_env_var_name()


@pytest.mark.parametrize(
    "service",
    [
        "dynamodb",
        "sqs",
        "ssm",
        "secretsmanager",
    ],
)
def test_service_endpoint_variable_is_the_one_boto3_reads(monkeypatch: pytest.MonkeyPatch, service: str) -> None:
    monkeypatch.setenv(boto3_env_var(service), "http://service.local:1234")
    client = AwsJsonClient(service, region="us-east-1")
    assert client._signed_headers("X", b"{}")["host"] == "service.local:1234"


# ----------------------------------------------------------------------------- calls against a local server


class _Handler(http.server.BaseHTTPRequestHandler):
    replies: list[tuple[int, bytes]]
    seen: list[dict]

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.server.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status, reply = self.server.replies.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.HTTPServer]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    httpd.replies = []
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def endpoint_of(httpd: http.server.HTTPServer) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host}:{port}"


def test_error_reply_raises_aws_error_with_the_code(server) -> None:
    server.replies.append((400, b'{"__type":"com.amazon#ConditionalCheckFailedException","message":"x"}'))
    client = AwsJsonClient("dynamodb", region="us-east-1", endpoint=endpoint_of(server))
    with pytest.raises(AwsError) as exc:
        client.call("PutItem", {"TableName": "t"}, timeout=5)
    assert exc.value.code == "ConditionalCheckFailedException"
    assert exc.value.status == 400
    assert "PutItem" in str(exc.value) and "x" in str(exc.value)


def test_error_reply_with_capitalised_message_and_plain_type(server) -> None:
    server.replies.append((400, b'{"__type":"ResourceNotFoundException","Message":"no such secret"}'))
    client = AwsJsonClient("secretsmanager", region="us-east-1", endpoint=endpoint_of(server))
    with pytest.raises(AwsError) as exc:
        client.call("GetSecretValue", {"SecretId": "s"}, timeout=5)
    assert exc.value.code == "ResourceNotFoundException"
    assert "no such secret" in str(exc.value)


def test_non_json_error_reply(server) -> None:
    server.replies.append((503, b"<html>Service Unavailable</html>"))
    client = AwsJsonClient("sqs", region="us-east-1", endpoint=endpoint_of(server))
    with pytest.raises(AwsError) as exc:
        client.call("SendMessage", {}, timeout=5)
    assert exc.value.status == 503
    assert exc.value.code == "Unknown"


def test_successful_call_sends_a_signed_compact_json_request(server, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", endpoint_of(server))
    server.replies.append((200, b'{"MessageId":"m-1","MD5OfMessageBody":"abc"}'))
    server.replies.append((200, b""))
    client = AwsJsonClient("sqs", region="us-east-1")
    assert client.call("SendMessage", {"QueueUrl": "q", "MessageBody": "中文"}, timeout=5) == {
        "MessageId": "m-1",
        "MD5OfMessageBody": "abc",
    }
    # An empty 200 reply is an empty result; the second call reuses or reopens the connection.
    assert client.call("SendMessage", {"QueueUrl": "q"}, timeout=5) == {}
    first = server.seen[0]
    assert first["path"] == "/"
    assert json.loads(first["body"]) == {"QueueUrl": "q", "MessageBody": "中文"}
    assert b" " not in first["body"]
    headers = {k.lower(): v for k, v in first["headers"].items()}
    assert headers["x-amz-target"] == "AmazonSQS.SendMessage"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert headers["host"] == endpoint_of(server).removeprefix("http://")
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-east-1/sqs/aws4_request" in headers["authorization"]
    assert SECRET_KEY not in json.dumps(server.seen[0]["headers"])
