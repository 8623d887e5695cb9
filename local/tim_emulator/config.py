"""The emulator's identity (fixed when it starts) and its runtime settings (changed through
``POST /_emulator/config``), plus the clock every window is measured with."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from local.tim_emulator import codes

DEFAULT_ADMIN = "administrator"
DEFAULT_PORT = 3001

Share = Annotated[float, Field(ge=0.0, le=1.0)]


class Clock:
    """Wall-clock seconds. Windows (rate limits, dedupe, group frequency) and message times use
    it; real waiting (latency, timeouts) never does, so a test can move time without sleeping."""

    def now(self) -> float:
        return time.time()


class FakeClock(Clock):
    def __init__(self, start: float = 1_730_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, value: float) -> None:
        with self._lock:
            self._now = value


@dataclass(frozen=True)
class Identity:
    """What a real app has from the console: its SDKAppID, secret key and admin account."""

    sdkappid: int
    secret_key: str
    admin: str = DEFAULT_ADMIN


class FaultRule(BaseModel):
    """Faults for one API (``service/command``) or for all (``*``).

    Per matching request: ``latency_ms`` is always added; then with probability ``hang_share``
    the request hangs ``hang_seconds`` before its answer, else with probability ``error_share`` it
    gets one of ``codes`` (a Tencent ErrorCode in a 200, or below 1000 an HTTP status such as 502).
    ``fault_after_commit`` is the share of faulted requests that are carried out before the fault:
    the message is stored and its callbacks fire, yet the caller sees an error or a timeout, which
    is what makes a client's retries dangerous (and its MsgRandom/Random reuse necessary).
    """

    model_config = ConfigDict(extra="forbid")

    api: str = "*"
    error_share: Share = 0.0
    codes: list[int] = Field(default_factory=lambda: [20004])
    hang_share: Share = 0.0
    hang_seconds: Annotated[float, Field(ge=0, le=600)] = 5.0
    fault_after_commit: Share = 0.0
    latency_ms: Annotated[int, Field(ge=0, le=600_000)] = 0

    @field_validator("codes")
    @classmethod
    def _codes(cls, value: list[int]) -> list[int]:
        for code in value:
            if code < codes.HTTP_STATUS_CODES_BELOW and not 400 <= code <= 599:
                raise ValueError(f"{code}: an HTTP status fault must be 4xx or 5xx")
        return value


class Settings(BaseModel):
    """Runtime settings; ``POST /_emulator/config`` takes any subset of these fields."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # REST: calls per second per API (sliding one-second window) and per-API exceptions
    # (docs/protocol.md §6.1: 100/s for the multi-account APIs, 200/s for the rest).
    rate_limit_per_second: Annotated[int, Field(ge=1)] = 200
    rate_limits: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: {"im_open_login_svc/multiaccount_import": 100}
    )
    # Per group, all senders and APIs together (docs/protocol.md §6.1).
    group_msg_per_second: Annotated[int, Field(ge=1)] = 40
    # Group Random dedupe window (docs/protocol.md §6.4).
    group_dedupe_seconds: Annotated[float, Field(ge=0)] = 300.0
    faults: list[FaultRule] = Field(default_factory=list)
    fault_seed: int = 0
    # Callbacks (docs/protocol.md §1). No URL: no callbacks. No token: sent without Sign/RequestTime, as Tencent does
    # with callback authentication off. None for commands means every command is switched on.
    callback_url: str | None = None
    callback_token: str | None = Field(default=None, repr=False)
    callback_commands: list[str] | None = None
    callback_timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    # docs/protocol.md §1.4: what a failed or timed-out before-send callback means: deliver (Tencent's default) or
    # drop (the sender gets 80003).
    before_send_failure_policy: Literal["deliver", "drop"] = "deliver"
    # Added to the clock, to move a running emulator through time (signature expiry, windows).
    clock_offset_s: float = 0.0
    # How long a modify holds its message, so that a concurrent modify can meet it (20028).
    modify_latency_ms: Annotated[int, Field(ge=0, le=60_000)] = 0
    # The console's "check the relationship for C2C messages" switch; applies to simulated client
    # sends only (REST sendmsg never checks, docs/protocol.md §5.3; robots' own sends skip it, docs/protocol.md §8.1).
    c2c_friend_check: bool = False

    def public(self) -> dict[str, object]:
        """The settings as shown by ``GET /_emulator/config``: the token is never echoed."""
        shown = self.model_dump(mode="json")
        if self.callback_token:
            shown["callback_token"] = f"<set, {len(self.callback_token)} characters>"
        return shown

    def rate_limit(self, api: str) -> int:
        return self.rate_limits.get(api, self.rate_limit_per_second)
