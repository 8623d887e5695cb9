"""Broadcast pacing: 2,000 groups at a configured REST budget, against the local Tencent IM emulator.

Four workers (threads, each with its own REST client and stores, as separate Lambdas would be)
share the DynamoDB rate limiter (moto in this process) and work the queue the way the broadcast
worker function does. The emulator's record of every ``send_group_msg`` call is the measure:

``broadcast_rate_vs_budget``: sends per second over the full seconds between the first and the
last send, over the budget (target ≥ 0.95); ``broadcast_seconds_over_budget``: seconds in which
more calls than the budget arrived (target 0); ``broadcast_first_send_ms``: from the create call
to the first send's arrival. ``broadcast_budget_per_s`` is the budget of the same run (set with
BENCH_BROADCAST_BUDGET).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "timkit"), str(ROOT)]
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")  # noqa: S106 - moto
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from local.cfn_yaml import load_template  # noqa: E402
from local.moto_patches import patch_moto  # noqa: E402
from local.tim_emulator import Identity, Seed, SeedGroup, Settings, TimEmulator  # noqa: E402
from timkit.broadcast import BroadcastService  # noqa: E402
from timkit.models.admin import BroadcastRequest  # noqa: E402
from timkit.ratelimit import RateLimiter  # noqa: E402
from timkit.stores.jobs import JobStore  # noqa: E402
from timkit.stores.rates import RateBuckets  # noqa: E402
from timkit.stores.schedules import WorkQueue  # noqa: E402
from timkit.tim.rest import TimRestClient  # noqa: E402

APP = 1400000001
KEY = "bench-key-0123456789abcdef"
GROUPS = int(os.environ.get("BENCH_BROADCAST_GROUPS", "2000"))
WORKERS = 4
BUDGET = int(os.environ.get("BENCH_BROADCAST_BUDGET", "20"))
SEND = "group_open_http_svc/send_group_msg"


def tables() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    for name in ("JobsTable", "RateTable"):
        props = resources[name]["Properties"]
        extra = {"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]} if "GlobalSecondaryIndexes" in props else {}
        boto3.client("dynamodb").create_table(
            TableName=name, KeySchema=props["KeySchema"], AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST", **extra,
        )


def service(url: str, emulator: TimEmulator) -> BroadcastService:
    limiter = RateLimiter(RateBuckets("RateTable"), BUDGET, 5)
    rest = TimRestClient(APP, KEY, base_url=emulator.url, pace=limiter.acquire)
    return BroadcastService(JobStore("JobsTable"), WorkQueue(url), None, lambda: rest)


def work(url: str, emulator: TimEmulator, done: threading.Event) -> None:
    """One worker: what functions/broadcast_worker does with each received batch."""
    sqs, own = boto3.client("sqs"), service(url, emulator)
    while not done.is_set():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       MessageSystemAttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        jobs: dict[str, dict] = {}
        for message in messages:
            item = json.loads(message["Body"])
            if item["kind"] == "plan":
                own.plan(item["jobId"], item["cursor"], lambda: 30.0)
                settled = True
            else:
                job = jobs.setdefault(item["jobId"], own.store.get(item["jobId"]))
                receives = int(message["Attributes"]["ApproximateReceiveCount"])
                settled = own.send(job, item["groupId"], receives, time.time() + 30)
            if settled:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=1)


def main() -> None:
    patch_moto()
    seed = Seed(accounts=("alice",), groups=tuple(
        SeedGroup(f"@TGS#bench{i:04d}", f"bench {i}", "Public", "alice", ("alice",)) for i in range(GROUPS)))
    with mock_aws(), TimEmulator(Identity(APP, KEY), Settings(), port=0, seed=seed) as emulator:
        tables()
        url = boto3.client("sqs").create_queue(QueueName="broadcast")["QueueUrl"]
        creator = service(url, emulator)
        done = threading.Event()
        workers = [threading.Thread(target=work, args=(url, emulator, done), daemon=True) for _ in range(WORKERS)]
        for worker in workers:
            worker.start()
        request = BroadcastRequest.model_validate({
            "allGroups": True, "options": {"priority": "Low"},
            "msgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "maintenance at 22:00"}}],
        })
        started = time.time()
        job = creator.create(request)
        while (state := creator.view(job.job_id, limit=1)).state != "done":
            time.sleep(0.5)
        done.set()
        for worker in workers:
            worker.join()
        sends = [c for c in emulator.service.read("calls") if c["api"] == SEND]
        per_second = Counter(int(c["time"]) for c in sends)
        first, last = min(per_second), max(per_second)
        full = [per_second.get(s, 0) for s in range(first + 1, last)]
        delivered = Counter(m["GroupId"] for m in emulator.service.read("messages"))
        print(f"{len(sends)} sends in {last - first + 1} s, progress {state.progress}", file=sys.stderr)
        assert state.progress.sent == GROUPS and len(delivered) == GROUPS and max(delivered.values()) == 1
        print(json.dumps({
            "broadcast_budget_per_s": BUDGET,
            "broadcast_rate_vs_budget": round(sum(full) / len(full) / BUDGET, 3),
            "broadcast_seconds_over_budget": sum(n > BUDGET for n in per_second.values()),
            "broadcast_first_send_ms": round((min(c["time"] for c in sends) - started) * 1000, 1),
        }))


if __name__ == "__main__":
    main()
