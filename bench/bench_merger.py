"""Merger upload + download against a raw S3 put + get of the same bytes, and the authorizer's
UserSig verification per request.

Both sides talk to the same moto servers over HTTP in the same run. As in AWS, where S3 and
DynamoDB are remote services on their own hosts, each runs in a moto server process of its own
(in this process, moto's work would compete with the code measured for one interpreter lock,
and the upload's two writes, which go out together, could not overlap). The merger side starts from
the request body (parse and validate, nesting checks, gzip, S3 put, DynamoDB put) and ends with
the document bytes (metadata read, S3 get, inflate; for the large one, the presigned URL fetched
with a plain GET). ``merger_300_ratio``: 300 messages; ``merger_large_ratio``: a merger near the
upload limit. Each is the median, over the runs, of a merger round over the raw round that follows
it: the two sides of a pair see the machine in the same state, however it drifts over the runs.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "timkit"), str(ROOT)]

import boto3  # noqa: E402
import requests  # noqa: E402

from local.cfn_yaml import load_template  # noqa: E402
from timkit.merger import InlineDocument, MergerService  # noqa: E402
from timkit.models.merger import MAX_UPLOAD_BYTES  # noqa: E402
from timkit.stores.mergers import MergerStore  # noqa: E402
from timkit.tim.usersig import gen_usersig, verify_usersig  # noqa: E402

RUNS = 30


def upload_body(messages: int, text_bytes: int) -> str:
    text = ("chat history line " * (text_bytes // 18 + 1))[:text_bytes]
    return json.dumps(
        {
            "conversation": {"kind": "c2c", "id": "bob"},
            "title": "Chat history of alice and bob",
            "abstractList": ["alice: hi", "bob: hello"],
            "compatibleText": "Upgrade to see this chat history",
            "messageList": [
                {
                    "From_Account": "alice",
                    "To_Account": "bob",
                    "MsgSeq": i,
                    "MsgRandom": 1000 + i,
                    "MsgTimeStamp": 1730000000 + i,
                    "CloudCustomData": "",
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": f"{i} {text}"}}],
                }
                for i in range(messages)
            ],
        }
    )


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in a process of its own; its endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    with moto_server() as s3_endpoint, moto_server() as dynamodb_endpoint:
        measure(s3_endpoint, dynamodb_endpoint)


def measure(s3_endpoint: str, dynamodb_endpoint: str) -> None:
    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")  # noqa: S106
    s3 = session.client("s3", endpoint_url=s3_endpoint)
    dynamodb = session.client("dynamodb", endpoint_url=dynamodb_endpoint)
    table = load_template(ROOT / "template.yaml")["Resources"]["MergerTable"]["Properties"]
    dynamodb.create_table(
        TableName="mergers",
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket="mergers")
    # Above the 300-message document, below the large one: the large one goes by presigned URL.
    service = MergerService(MergerStore("mergers", "mergers", s3, dynamodb), 30, inline_max_bytes=3 * 1024 * 1024)
    http = requests.Session()

    def merger_round(body: str) -> float:
        t = time.perf_counter()
        # As the API's handler does: decode, validate, store the list as received.
        result = service.upload_json("alice", body.encode())
        found = service.download("bob", result.downloadKey)
        data = found.json if isinstance(found, InlineDocument) else http.get(found.downloadUrl, timeout=30).content
        elapsed = time.perf_counter() - t
        assert json.loads(data)["messageList"][0]["From_Account"] == "alice"
        return elapsed

    def raw_round(body: str, i: int) -> float:
        data = body.encode()
        t = time.perf_counter()
        s3.put_object(Bucket="mergers", Key=f"raw/{i}", Body=data)
        back = s3.get_object(Bucket="mergers", Key=f"raw/{i}")["Body"].read()
        elapsed = time.perf_counter() - t
        assert back == data
        return elapsed

    figures: dict[str, float] = {}
    for name, body in (
        ("300", upload_body(300, 200)),
        ("large", upload_body(300, (MAX_UPLOAD_BYTES - 100_000) // 300)),
    ):
        assert len(body) < MAX_UPLOAD_BYTES
        merger_round(body)
        raw_round(body, -1)
        merger_s, raw_s = [], []
        for i in range(RUNS):
            merger_s.append(merger_round(body))
            raw_s.append(raw_round(body, i))
        figures[f"merger_{name}_ms"] = round(statistics.median(merger_s) * 1000, 1)
        figures[f"merger_{name}_raw_s3_ms"] = round(statistics.median(raw_s) * 1000, 1)
        pairs = zip(merger_s, raw_s, strict=True)
        figures[f"merger_{name}_ratio"] = round(statistics.median(m / r for m, r in pairs), 2)
        figures[f"merger_{name}_bytes"] = len(body)

    sig = gen_usersig(1400000001, "bench-key", "alice", 86400)
    verify_usersig(sig, 1400000001, "bench-key")
    samples = []
    for _ in range(5000):
        t = time.perf_counter()
        verify_usersig(sig, 1400000001, "bench-key")
        samples.append((time.perf_counter() - t) * 1e6)
    figures["authorizer_verify_us"] = round(statistics.median(samples), 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
