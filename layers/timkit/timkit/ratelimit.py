"""A rate limiter shared by every concurrent Lambda: calls per one-second window, in DynamoDB.

Each REST call takes a slot in its API's window of the current second (and a group message also
in its group's window) before it goes out, retries included. A full window means waiting for the
next second. Slots are only taken while enough of the second is left for the call to reach
Tencent within it, so that a call does not land in the next second's count; a slot that took so
long to get that the second is nearly over is given up (it is counted, unused) for the next one.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable
from typing import Any

from timkit.config import RestSettings
from timkit.stores.rates import RateBuckets
from timkit.tim.rest import TimRestClient

SEND_GROUP_MSG = "group_open_http_svc/send_group_msg"
# Every API that puts a message in a group counts against the group's 40 messages/s (docs/protocol.md §6.1).
GROUP_MESSAGE_APIS = frozenset({SEND_GROUP_MSG, "stream_msg/send_group_stream_msg"})
# Slots are not used in the last part of a second: a call sent then could arrive in the next one.
TAIL_SECONDS = 0.1


class RateLimiter:
    def __init__(
        self,
        buckets: RateBuckets,
        calls_per_second: int,
        group_messages_per_second: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._buckets = buckets
        self.calls_per_second = calls_per_second
        self.group_messages_per_second = group_messages_per_second
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    def acquire(self, api: str, body: dict[str, Any]) -> None:
        """Blocks until ``api`` may be called with ``body``; the REST client calls it before every attempt."""
        windows = [(f"api#{api}", self.calls_per_second)]
        if api in GROUP_MESSAGE_APIS and body.get("GroupId"):
            # The group's window first: it is rarely full, and a slot taken in the API's window
            # while the group's is full would be wasted.
            windows.insert(0, (f"group#{body['GroupId']}", self.group_messages_per_second))
        while True:
            now = self._clock()
            second = math.floor(now)
            # Every window of this second, while it is not nearly over; a slot taken in one window
            # while the next is full, or taken too late, is of no use in the next second.
            if (
                now - second <= 1 - TAIL_SECONDS
                and all(self._buckets.take(name, second, budget) for name, budget in windows)
                and self._clock() - second <= 1 - TAIL_SECONDS
            ):
                return
            wake = second + 1 + self._rng.uniform(0, 0.01)  # spread the waiters a little
            self._sleep(max(0.0, wake - self._clock()))


def paced_client(settings: RestSettings, secret_key: Callable[[], str]) -> Callable[[], TimRestClient]:
    """The admin side's REST client, paced by the limiter every Lambda shares; made on first use.
    It asks ``secret_key`` for the app's key before every call (a rotated key is picked up)."""
    limiter = RateLimiter(
        RateBuckets(settings.RATE_TABLE), settings.REST_CALLS_PER_SECOND, settings.BROADCAST_GROUP_MESSAGES_PER_SECOND
    )

    @functools.cache
    def client() -> TimRestClient:
        return TimRestClient.from_settings(settings, secret_key, pace=limiter.acquire)

    return client
