"""events/: a sample event for every function in the template, each accepted by its handler (in
process, against moto and the Tencent IM emulator), as `sam local invoke -e` and `sam remote
invoke --event-file` would hand it over. A callback sample is signed first, with `timctl callback
sign --event`'s own code, as `make event` signs it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.cfn_yaml import load_template
from local.tim_emulator import Identity, Seed, Settings, TimEmulator
from tests.handlers import SCHEDULER, lambda_context, load_handler
from tests.moto_env import offline_aws, template_table
from timctl.callback import signed_event
from timkit.stores.jobs import Job, JobStore
from timkit.tim.usersig import gen_usersig

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "events").glob("*/*.json"))
APP = 1400000001
TOKEN = "sample-callback-token"  # noqa: S105 - a test value
# The key events/merger_authorizer/bearer_usersig.json's UserSig was made with (valid until 2044).
SAMPLE_KEY = "sample-sdkappid-key-0123456789abcdef0123456789abcdef0123456789ab"
BOT = "@RBT#assistant"


def template_functions() -> dict[str, str]:
    """Each function's folder under functions/ and its logical id."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {
        Path(r["Properties"]["CodeUri"]).name: name
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    with offline_aws(monkeypatch):
        monkeypatch.setenv("TIM_SDKAPPID", str(APP))
        monkeypatch.setenv("LOG_LEVEL", "WARNING")
        yield monkeypatch


def secret(name: str, **values: str) -> str:
    return boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(values))["ARN"]


def queue(name: str) -> str:
    fifo = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
    return boto3.client("sqs").create_queue(QueueName=name, Attributes=fifo)["QueueUrl"]


def invoke(function: str, event: dict[str, Any]) -> Any:
    with load_handler(function, f"sample_{function}_app") as module:
        return module.lambda_handler(event, lambda_context(function, remaining_ms=600_000))


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# --- one harness per function -----------------------------------------------------------------


@pytest.fixture
def moto_server() -> Iterator[str]:
    """moto as a server sharing the in-process mock's state: the callback function signs and sends
    its requests itself (timkit.aws_json), as it does to AWS."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    server._server.server_close()


def tim_callback(path: Path, aws: pytest.MonkeyPatch, moto_server: str, **_: Any) -> None:
    events = queue("events")
    template_table("BotStateTable", "bot-state")
    for name, value in {
        "CALLBACK_SECRET_ID": secret("callback", callback_token=TOKEN),
        "EVENTS_QUEUE_URL": events,
        "CHATBOT_QUEUE_URL": queue("turns.fifo"),
        "BOT_STATE_TABLE": "bot-state",
    }.items():
        aws.setenv(name, value)
    event = signed_event(read(path), APP, TOKEN, None, int(time.time()))
    with pytest.MonkeyPatch.context() as endpoints:
        for service in ("SQS", "SECRETS_MANAGER", "DYNAMODB"):
            endpoints.setenv(f"AWS_ENDPOINT_URL_{service}", moto_server)
        answer = invoke("tim_callback", event)
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["ActionStatus"] == "OK"
    command = event["queryStringParameters"]["CallbackCommand"]
    if "Before" not in command:
        (queued,) = boto3.client("sqs").receive_message(QueueUrl=events, MessageAttributeNames=["All"])["Messages"]
        assert queued["MessageAttributes"]["command"]["StringValue"] == command


def event_processor(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    template_table("ArchiveTable", "archive")
    template_table("MergerTable", "mergers")
    template_table("IdempotencyTable", "idempotency")
    boto3.client("s3").create_bucket(Bucket="mergers")
    boto3.client("events").create_event_bus(Name="timkit")
    for name, value in {
        "ARCHIVE_TABLE": "archive",
        "EVENT_BUS_NAME": "timkit",
        "IDEMPOTENCY_TABLE": "idempotency",
        "MERGER_BUCKET": "mergers",
        "MERGER_TABLE": "mergers",
        "CAPTURE_SECRET_ID": secret("capture", capture_key="sample-capture-key-" + "0" * 40),
    }.items():
        aws.setenv(name, value)
    assert invoke("event_processor", read(path)) == {"batchItemFailures": []}


def event_example(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    # It reads the detail with the models that published it: a sample they refuse would raise.
    assert invoke("event_example", read(path)) is None


def merger_authorizer(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    aws.setenv("TIM_SECRET_ID", secret("key", secret_key=SAMPLE_KEY))
    assert invoke("merger_authorizer", read(path)) == {"isAuthorized": True, "context": {"identifier": "u_1001"}}


def merger_api(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    template_table("MergerTable", "mergers")
    template_table("RateTable", "rates")
    boto3.client("s3").create_bucket(Bucket="mergers")
    for name, value in {"MERGER_BUCKET": "mergers", "MERGER_TABLE": "mergers", "RATE_TABLE": "rates"}.items():
        aws.setenv(name, value)
    answer = invoke("merger_api", read(path))
    assert answer["statusCode"] == 201, answer
    assert json.loads(answer["body"])["downloadKey"]


def admin_api(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    tables = {
        "JOBS_TABLE": ("JobsTable", "jobs"),
        "RATE_TABLE": ("RateTable", "rates"),
        "IDEMPOTENCY_TABLE": ("IdempotencyTable", "idempotency"),
        "BOT_STATE_TABLE": ("BotStateTable", "bot-state"),
        "ARCHIVE_TABLE": ("ArchiveTable", "archive"),
    }
    for variable, (logical_id, name) in tables.items():
        template_table(logical_id, name)
        aws.setenv(variable, name)
    for name, value in {"BROADCAST_QUEUE_URL": queue("broadcast"), **SCHEDULER}.items():
        aws.setenv(name, value)
    answer = invoke("admin_api", read(path))
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"]) == {"jobs": []}


def broadcast_store(aws: pytest.MonkeyPatch) -> str:
    template_table("JobsTable", "jobs")
    broadcast = queue("broadcast")
    aws.setenv("JOBS_TABLE", "jobs")
    aws.setenv("BROADCAST_QUEUE_URL", broadcast)
    return broadcast


def broadcast_scheduler(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    broadcast = broadcast_store(aws)
    event = read(path)
    # The job the schedule was made for, as the admin API stores a scheduled broadcast.
    job = Job(
        job_id=event["jobId"],
        kind="once",
        created_at=1730000000000,
        message=json.dumps({"text": "hello"}),
        all_groups=True,
        status="scheduled",
    )
    assert JobStore("jobs").create(job, None)
    assert invoke("broadcast_scheduler", event) == {"started": event["jobId"]}
    (planned,) = boto3.client("sqs").receive_message(QueueUrl=broadcast)["Messages"]
    assert json.loads(planned["Body"])["jobId"] == event["jobId"]


def broadcast_worker(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    broadcast_store(aws)
    template_table("RateTable", "rates")
    aws.setenv("RATE_TABLE", "rates")
    # Read and dropped (their job is not in this table): a sample the worker could not read would fail.
    assert invoke("broadcast_worker", read(path)) == {"batchItemFailures": []}


def chatbot_worker(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    template_table("BotStateTable", "bot-state")
    template_table("RateTable", "rates")
    with TimEmulator(Identity(APP, SAMPLE_KEY), Settings(), port=0, seed=Seed(robots=(BOT,))) as emulator:
        for name, value in {
            "BOT_STATE_TABLE": "bot-state",
            "RATE_TABLE": "rates",
            "CHATBOT_QUEUE_URL": queue("turns.fifo"),
            "TIM_SECRET_ID": secret("key", secret_key=SAMPLE_KEY),
            "TIM_API_BASE": emulator.url,
        }.items():
            aws.setenv(name, value)
        # The bot has no configuration here: the user is told so (through the emulator), and the
        # turn is done.
        assert invoke("chatbot_worker", read(path)) == {"batchItemFailures": []}


def _ws_environment(aws: pytest.MonkeyPatch, emulator: TimEmulator) -> None:
    for logical_id, name in [("RateTable", "rates"), ("IdempotencyTable", "idempotency"), ("WsConnectionsTable", "ws")]:
        template_table(logical_id, name)
    for name, value in {
        "RATE_TABLE": "rates",
        "IDEMPOTENCY_TABLE": "idempotency",
        "WS_CONNECTIONS_TABLE": "ws",
        "WS_MANAGEMENT_ENDPOINT": "https://abc123.execute-api.us-east-1.amazonaws.com/live",
        "TIM_SECRET_ID": secret("key", secret_key=SAMPLE_KEY),
        "TIM_API_BASE": emulator.url,
    }.items():
        aws.setenv(name, value)


def ws_api(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    """Every sample on a connection alice opened with her UserSig (what the connect sample's
    placeholder stands for): connected, her frame to bob acknowledged with Tencent's id, gone."""
    sample = read(path)
    connect = read(path.parent / "connect.json")
    connect["queryStringParameters"]["token"] = gen_usersig(APP, SAMPLE_KEY, "alice")
    with TimEmulator(Identity(APP, SAMPLE_KEY), Settings(), port=0, seed=Seed(accounts=("alice", "bob"))) as emulator:
        _ws_environment(aws, emulator)
        with load_handler("ws_api", f"samples_ws_api_{path.stem}") as module:
            assert module.lambda_handler(connect, lambda_context("ws_api"))["statusCode"] == 200
            if path.stem == "connect":
                return
            answer = module.lambda_handler(sample, lambda_context("ws_api"))
            assert answer["statusCode"] == 200
            if path.stem == "message":
                ack = json.loads(answer["body"])
                assert (ack["type"], ack["ok"], ack["msgId"]) == ("ack", True, 1) and ack["messageId"]


def ws_fanout(path: Path, aws: pytest.MonkeyPatch, **_: Any) -> None:
    # No socket is open: the event is read and nothing is posted.
    with TimEmulator(Identity(APP, SAMPLE_KEY), Settings(), port=0, seed=Seed(accounts=("alice", "bob"))) as emulator:
        _ws_environment(aws, emulator)
        assert isinstance(invoke("ws_fanout", read(path)), dict)


HARNESS: dict[str, Callable[..., None]] = {
    "tim_callback": tim_callback,
    "event_processor": event_processor,
    "event_example": event_example,
    "merger_authorizer": merger_authorizer,
    "merger_api": merger_api,
    "admin_api": admin_api,
    "broadcast_scheduler": broadcast_scheduler,
    "broadcast_worker": broadcast_worker,
    "chatbot_worker": chatbot_worker,
    "ws_api": ws_api,
    "ws_fanout": ws_fanout,
}


def test_every_function_has_a_harness_here() -> None:
    assert set(HARNESS) == set(template_functions())


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_sample_is_accepted_by_its_handler(path: Path, aws: pytest.MonkeyPatch, request) -> None:
    server = request.getfixturevalue("moto_server") if path.parent.name == "tim_callback" else None
    HARNESS[path.parent.name](path, aws, moto_server=server)
