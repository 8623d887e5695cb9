"""WebSocket gateway through the local stack: a frame from one socket to another, and one group
message to 1,000 sockets.

``ws_frame_latency_ms`` (p50/p99 over 100 frames): from alice's socket sending a text frame to bob's
socket receiving it, through the gateway, the ws function, the emulator (before-send callback,
delivery, after-send callback), the events queue and processor, the bus and the fan-out. Next to
it, ``ws_direct_send_ms``: the same message sent straight to the emulator by an SDK user (the
emulator's control API), answered once Tencent accepted it (before-send callback included): what
Tencent's part costs on its own. ``ws_group_fanout_ms`` (p50 over 5 messages): from a group frame
sent to the last of 1,000 members' sockets (one each) receiving it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "timkit"), str(ROOT)]

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from local.stack import LocalStack  # noqa: E402
from local.tim_emulator import Seed, SeedGroup  # noqa: E402
from local.tim_emulator.control import EmulatorControl  # noqa: E402

FRAMES = 100
MEMBERS = 1000
GROUP_MESSAGES = 5
GROUP = "ws-bench-room"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 1)


async def open_socket(stack: LocalStack, user: str) -> ClientConnection:
    assert stack.ws_url is not None
    return await connect(f"{stack.ws_url}?token={quote(stack.usersig(user))}", open_timeout=60, ping_interval=None)


async def wait_message(socket: ClientConnection, msg_id: str) -> None:
    async for message in socket:
        frame = json.loads(message)
        if frame.get("type") != "ack" and frame.get("msg", {}).get("msgId") == msg_id:
            return


def frame(kind: str, source: str, target: str, msg_id: str) -> str:
    msg = {"msgId": msg_id, "timestamp": int(time.time()), "content": f"bench {msg_id}"}
    return json.dumps({"type": kind, "source": source, "target": target, "msg": msg})


async def frame_latencies(stack: LocalStack) -> list[float]:
    alice, bob = await open_socket(stack, "alice"), await open_socket(stack, "bob")
    latencies = []
    for i in range(FRAMES + 5):  # the first five warm the functions' workers
        msg_id = f"lat-{i}"
        started = time.perf_counter()
        await alice.send(frame("single", "alice", "bob", msg_id))
        await asyncio.wait_for(wait_message(bob, msg_id), 60)
        if i >= 5:
            latencies.append((time.perf_counter() - started) * 1000)
    await alice.close()
    await bob.close()
    return latencies


def direct_sends(stack: LocalStack) -> list[float]:
    tim = EmulatorControl(stack.tim_api_base)
    times = []
    for i in range(FRAMES):
        started = time.perf_counter()
        tim.send_c2c("alice", "bob", f"bench direct {i}")
        times.append((time.perf_counter() - started) * 1000)
    tim.close()
    return times


async def fanout_times(stack: LocalStack, members: list[str]) -> list[float]:
    sockets = []
    for start in range(0, len(members), 50):
        sockets += await asyncio.gather(*(open_socket(stack, m) for m in members[start : start + 50]))
    print(f"{len(sockets)} sockets open", file=sys.stderr, flush=True)
    sender = await open_socket(stack, "alice")
    times = []
    for i in range(GROUP_MESSAGES + 1):  # the first warms the member cache's reads and the posters
        msg_id = f"fan-{i}"
        started = time.perf_counter()
        await sender.send(frame("group", "alice", GROUP, msg_id))
        await asyncio.wait_for(asyncio.gather(*(wait_message(s, msg_id) for s in sockets)), 300)
        if i:
            times.append((time.perf_counter() - started) * 1000)
    await asyncio.gather(*(s.close() for s in [*sockets, sender]))
    return times


def main() -> None:
    members = [f"ws-member-{i:04d}" for i in range(MEMBERS)]
    # Frames go one after the other as fast as they are delivered: more than a connection's default
    # 10 per second, which is not what is measured.
    with LocalStack(api_port=0, aws_port=0, tim_port=0, extra_env={"WS_FRAMES_PER_SECOND": "100"}) as stack:
        assert stack.tim is not None
        stack.tim.service.apply_seed(
            Seed(accounts=tuple(members), groups=(SeedGroup(GROUP, GROUP, "Public", "alice", ("alice", *members)),))
        )
        latencies = asyncio.run(frame_latencies(stack))
        direct = direct_sends(stack)
        fanout = asyncio.run(fanout_times(stack, members))
    print(
        json.dumps(
            {
                "ws_frame_latency_ms_p50": percentile(latencies, 50),
                "ws_frame_latency_ms_p99": percentile(latencies, 99),
                "ws_direct_send_ms_p50": percentile(direct, 50),
                "ws_direct_send_ms_p99": percentile(direct, 99),
                "ws_group_fanout_ms": round(statistics.median(fanout), 1),
                "ws_group_fanout_sockets": MEMBERS,
            }
        )
    )


if __name__ == "__main__":
    main()
