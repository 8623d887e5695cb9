"""Broadcast pacing: 2,000 groups at a configured REST budget, through the whole local stack.

The local stack runs here (moto, the gateway, the Tencent IM emulator) with its broadcast worker
function in four processes, as four concurrent Lambdas; the admin API takes the broadcast over
HTTP. The emulator's record of every ``send_group_msg`` call is the measure:

``broadcast_rate_vs_budget``: sends per second over the full seconds between the first and the
last send, over the budget (target ≥ 0.95); ``broadcast_seconds_over_budget``: seconds in which
more calls than the budget arrived (target 0); ``broadcast_first_send_ms``: from the POST to the
first send's arrival, with all four worker processes warm (``broadcast_first_send_cold_ms``: the same
for the first broadcast of a fresh stack, which has one worker started and starts the others, as
Lambda scales out with cold starts). ``broadcast_budget_per_s`` is the run's budget
(BENCH_BROADCAST_BUDGET, 30 by default: on two cores the local stack itself, moto above all,
sustains about 50 sends a second, and pacing can only be shown below what the rig can do; the
template's default is 100). Callbacks are switched off for these sends: the local stack would run
them on the same two cores and measure its own capacity, not the pacing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "timkit"), str(ROOT)]

import requests  # noqa: E402

from local.stack import LocalStack  # noqa: E402
from local.tim_emulator import Seed, SeedGroup  # noqa: E402

GROUPS = int(os.environ.get("BENCH_BROADCAST_GROUPS", "2000"))
BUDGET = int(os.environ.get("BENCH_BROADCAST_BUDGET", "30"))
SEND = "group_open_http_svc/send_group_msg"


def broadcast(stack: LocalStack, groups: list[str]) -> tuple[float, dict]:
    """Sends one broadcast and waits until it is done: when it was posted, and the job."""
    started = time.time()
    created = requests.post(
        f"{stack.api_url}/admin/broadcasts",
        timeout=30,
        json={
            "groupIds": groups,
            "options": {"priority": "Low", "forbidCallbacks": True},
            "msgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "maintenance at 22:00"}}],
        },
    )
    assert created.status_code == 202, created.text
    job_url = f"{stack.api_url}/admin/broadcasts/{created.json()['jobId']}?limit=1"
    while (job := requests.get(job_url, timeout=30).json())["state"] != "done":
        time.sleep(2)  # the progress query reads the whole job on moto: not too often
    return started, job


def first_send(sends: list[dict], groups: list[str], started: float) -> float:
    wanted = set(groups)
    return round((min(c["time"] for c in sends if c["request"]["GroupId"] in wanted) - started) * 1000, 1)


def main() -> None:
    # Enough for every worker to take a batch of 10 while another plans: all of them started.
    warmup = [f"warm-{i:02d}" for i in range(60)]
    groups = [f"bench-{i:04d}" for i in range(GROUPS)]
    with LocalStack(api_port=0, aws_port=0, extra_env={"REST_CALLS_PER_SECOND": str(BUDGET)}) as stack:
        assert stack.tim is not None
        seeded = (*warmup, *groups)
        stack.tim.service.apply_seed(Seed(groups=tuple(SeedGroup(g, g, "Public", "alice", ("alice",)) for g in seeded)))
        cold_started, _ = broadcast(stack, warmup)
        worker = stack.functions["BroadcastWorkerFunction"].status()
        assert len(worker["workers"]) == worker["concurrency"], worker
        started, job = broadcast(stack, groups)
        sends = [c for c in stack.tim.service.read("calls") if c["api"] == SEND]
        delivered = Counter(m["GroupId"] for m in stack.tim.service.read("messages"))
    measured = [c for c in sends if c["time"] >= started]
    per_second = Counter(int(c["time"]) for c in measured)
    first, last = min(per_second), max(per_second)
    full = [per_second.get(s, 0) for s in range(first + 1, last)]
    print(f"{len(measured)} sends in {last - first + 1} s, progress {job['progress']}", file=sys.stderr)
    assert job["progress"]["sent"] == GROUPS and delivered == dict.fromkeys(seeded, 1)
    print(
        json.dumps(
            {
                "broadcast_budget_per_s": BUDGET,
                "broadcast_rate_vs_budget": round(sum(full) / len(full) / BUDGET, 3),
                "broadcast_seconds_over_budget": sum(n > BUDGET for n in per_second.values()),
                "broadcast_first_send_ms": first_send(sends, groups, started),
                "broadcast_first_send_cold_ms": first_send(sends, warmup, cold_started),
            }
        )
    )


if __name__ == "__main__":
    main()
