"""RateLimiter with a fake clock and sleep over an in-memory RateBuckets: budgets per one-second
window for the API and for each group, the group's window first, no slot in a second's tail,
waiting for the next second. Then RateBuckets itself against moto: concurrent
takers never overshoot a window's budget."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from tests.moto_env import offline_aws, template_table
from tests.unit.conftest import FakeClock
from timkit.ratelimit import SEND_GROUP_MSG, TAIL_SECONDS, RateLimiter
from timkit.stores.rates import KEEP_SECONDS, RateBuckets

ROOT = Path(__file__).resolve().parents[2]
SENDMSG = "openim/sendmsg"
T0 = 1_730_000_000.0


class Clock(FakeClock):
    """Fake time: moves only when slept on, or by ``step`` on every bucket take (a store call)."""

    def __init__(self, start: float = T0) -> None:
        super().__init__(start)
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


class MemoryBuckets:
    """RateBuckets in memory; records every take (name, second, clock at the take, granted)."""

    def __init__(self, clock: Clock, step: float = 0.0) -> None:
        self.clock = clock
        self.step = step
        self.counts: Counter[tuple[str, int]] = Counter()
        self.takes: list[tuple[str, int, float, bool]] = []

    def take(self, name: str, second: int, budget: int) -> bool:
        granted = self.counts[(name, second)] < budget
        if granted:
            self.counts[(name, second)] += 1
        self.takes.append((name, second, self.clock(), granted))
        self.clock.now += self.step
        return granted


def limiter(buckets: MemoryBuckets, calls: int, group: int) -> RateLimiter:
    clock = buckets.clock
    return RateLimiter(buckets, calls, group, clock=clock, sleep=clock.sleep, rng=random.Random(7))


def group_body(group: str) -> dict[str, object]:
    return {"GroupId": group, "Random": 1, "MsgBody": []}


# ----------------------------------------------------------------------------- budgets


def test_calls_never_exceed_the_api_budget_in_any_second() -> None:
    clock = Clock()
    buckets = MemoryBuckets(clock, step=0.002)
    rl = limiter(buckets, calls=10, group=40)
    released = []
    for _ in range(35):
        rl.acquire(SENDMSG, {"To_Account": "u"})
        released.append(clock())
    per_second = Counter(math.floor(t) for t in released)
    assert max(per_second.values()) == 10
    assert sum(per_second.values()) == 35
    # Four windows for 35 calls: the limiter used each second's budget before waiting.
    assert sorted(per_second) == [int(T0), int(T0) + 1, int(T0) + 2, int(T0) + 3]
    assert [per_second[s] for s in sorted(per_second)] == [10, 10, 10, 5]


def test_each_group_has_its_own_budget_within_the_api_budget() -> None:
    clock = Clock()
    buckets = MemoryBuckets(clock, step=0.001)
    rl = limiter(buckets, calls=8, group=3)
    released: list[tuple[str, float]] = []
    for i in range(24):
        group = ("g1", "g2", "g3")[i % 3] if i < 12 else "g1"
        rl.acquire(SEND_GROUP_MSG, group_body(group))
        released.append((group, clock()))
    per_group = Counter((g, math.floor(t)) for g, t in released)
    per_api = Counter(math.floor(t) for _, t in released)
    assert max(per_group.values()) == 3
    assert max(per_api.values()) <= 8
    assert len(released) == 24


def test_other_apis_and_bodies_without_a_group_take_only_the_api_window() -> None:
    clock = Clock()
    buckets = MemoryBuckets(clock)
    rl = limiter(buckets, calls=5, group=1)
    rl.acquire("openim/batchsendmsg", {"GroupId": "not-a-group-send"})
    rl.acquire(SEND_GROUP_MSG, {"Random": 1})
    assert [name for name, *_ in buckets.takes] == ["api#openim/batchsendmsg", f"api#{SEND_GROUP_MSG}"]


def test_the_group_window_is_taken_first_and_a_full_one_takes_no_api_slot() -> None:
    clock = Clock()
    buckets = MemoryBuckets(clock)
    rl = limiter(buckets, calls=100, group=1)
    rl.acquire(SEND_GROUP_MSG, group_body("g"))
    assert [name for name, *_ in buckets.takes] == ["group#g", f"api#{SEND_GROUP_MSG}"]
    second = int(T0)
    rl.acquire(SEND_GROUP_MSG, group_body("g"))  # the group is full this second: waits
    # The refused group take cost the API window nothing in that second.
    assert buckets.counts[(f"api#{SEND_GROUP_MSG}", second)] == 1
    assert buckets.takes[2] == ("group#g", second, T0, False)
    assert [(n, s, granted) for n, s, _, granted in buckets.takes[3:]] == [
        ("group#g", second + 1, True),
        (f"api#{SEND_GROUP_MSG}", second + 1, True),
    ]


def test_a_full_api_window_waits_for_the_next_second_with_the_group_slot_taken_again() -> None:
    clock = Clock()
    buckets = MemoryBuckets(clock)
    rl = limiter(buckets, calls=1, group=5)
    rl.acquire(SEND_GROUP_MSG, group_body("a"))
    rl.acquire(SEND_GROUP_MSG, group_body("b"))
    second = int(T0)
    assert math.floor(clock()) == second + 1
    # b's group slot of the first second was taken in vain; the call went out under the next
    # second's slots, both of them taken then.
    assert [(n, s, granted) for n, s, _, granted in buckets.takes[2:]] == [
        ("group#b", second, True),
        (f"api#{SEND_GROUP_MSG}", second, False),
        ("group#b", second + 1, True),
        (f"api#{SEND_GROUP_MSG}", second + 1, True),
    ]


# ----------------------------------------------------------------------------- timing


def test_no_slot_is_taken_in_the_tail_of_a_second() -> None:
    clock = Clock(T0 + 1 - TAIL_SECONDS / 2)
    buckets = MemoryBuckets(clock)
    rl = limiter(buckets, calls=10, group=10)
    rl.acquire(SENDMSG, {})
    ((name, second, at, granted),) = buckets.takes
    assert (name, second, granted) == (f"api#{SENDMSG}", int(T0) + 1, True)
    assert int(T0) + 1 <= at < int(T0) + 1.02
    assert sum(clock.slept) == pytest.approx(at - (T0 + 1 - TAIL_SECONDS / 2))


def test_a_slot_is_taken_just_before_the_tail() -> None:
    clock = Clock(T0 + 1 - TAIL_SECONDS - 0.001)
    buckets = MemoryBuckets(clock)
    rl = limiter(buckets, calls=10, group=10)
    rl.acquire(SENDMSG, {})
    assert buckets.takes[0][1] == int(T0)
    assert clock.slept == []


def test_a_full_window_waits_until_the_next_second() -> None:
    clock = Clock(T0 + 0.25)
    buckets = MemoryBuckets(clock)
    rl = limiter(buckets, calls=2, group=10)
    rl.acquire(SENDMSG, {})
    rl.acquire(SENDMSG, {})
    assert clock.slept == []
    rl.acquire(SENDMSG, {})
    # Slept once, to just after the next second began (a little jitter spreads the waiters).
    assert len(clock.slept) == 1
    assert int(T0) + 1 <= clock() <= int(T0) + 1.01
    assert buckets.takes[-1][1:4:2] == (int(T0) + 1, True)


# ----------------------------------------------------------------------------- RateBuckets (moto)

RATE_TABLE = "timkit-rates-test"


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> Iterator[RateBuckets]:
    with offline_aws(monkeypatch):  # with atomic item requests, as DynamoDB's
        template_table("RateTable", RATE_TABLE)
        yield RateBuckets(RATE_TABLE)


def test_buckets_count_per_name_and_second_and_expire(rates: RateBuckets) -> None:
    second = int(T0)
    assert [rates.take("api#x", second, 2) for _ in range(3)] == [True, True, False]
    assert rates.take("api#x", second + 1, 2)
    assert rates.take("api#y", second, 2)
    item = boto3.client("dynamodb").get_item(TableName=RATE_TABLE, Key={"pk": {"S": f"api#x#{second}"}})["Item"]
    assert item["n"] == {"N": "2"}
    assert item["expires_at"] == {"N": str(second + KEEP_SECONDS)}


def test_concurrent_takers_never_exceed_the_budget(rates: RateBuckets) -> None:
    second, budget, threads, tries = int(T0), 25, 8, 10
    start = threading.Barrier(threads)

    def taker() -> int:
        start.wait()
        return sum(rates.take("api#shared", second, budget) for _ in range(tries))

    with ThreadPoolExecutor(threads) as pool:
        granted = sum(pool.map(lambda _: taker(), range(threads)))
    assert granted == budget
    item = boto3.client("dynamodb").get_item(TableName=RATE_TABLE, Key={"pk": {"S": f"api#shared#{second}"}})["Item"]
    assert item["n"] == {"N": str(budget)}


def test_a_slot_got_too_late_in_its_second_is_given_up_for_the_next() -> None:
    clock = Clock()
    clock.now = math.floor(T0) + 0.85  # a take that lasts until the tail of the second
    buckets = MemoryBuckets(clock, step=0.1)
    rl = limiter(buckets, calls=10, group=40)
    rl.acquire(SENDMSG, {"To_Account": "u"})
    second = math.floor(T0)
    assert [(s, granted) for _, s, _, granted in buckets.takes] == [(second, True), (second + 1, True)]
    assert clock() - (second + 1) <= 1 - TAIL_SECONDS
