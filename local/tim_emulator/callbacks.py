"""The emulator's side of the callbacks: it calls the app's callback URL as Tencent does (docs/protocol.md §1)
and reads the before-send answer as Tencent does (docs/protocol.md §2.5).

Before-send callbacks are made on the sending request's thread, because Tencent waits for them
(2 s). Everything else (after-send, bot, modify) goes to one worker thread, in order, and only
after the send's own answer has been written: the REST caller never waits for them.

A function of the local stack that sends over REST waits, in its own worker process, while the
callback function answers the before-send in another, as in AWS: it only waits longer when every
worker of the callback function is busy. Sends that must not be moderated (a bot's replies) carry
``ForbidCallbackControl: ["ForbidBeforeSendMsgCallback"]``, as they would against Tencent.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from local.tim_emulator import codes
from local.tim_emulator.config import Identity, Settings
from local.tim_emulator.elements import MAX_BODY_BYTES, BodyError, body_size, validate_body

log = logging.getLogger("local.tim_emulator")

MAX_RECORDS = 10_000
# A job waits this long at most for its request's answer to be written (it always is, at once).
_RELEASE_TIMEOUT_S = 10
_RAW_ANSWER_CHARS = 500


@dataclass
class Job:
    """An asynchronous callback, queued once the triggering request has been answered."""

    command: str
    body: dict[str, Any]
    platform: str
    client_ip: str
    send_id: int | None
    generation: int = 0
    # Set once the triggering request's answer has been written: only then may this go out.
    released: threading.Event = field(default_factory=threading.Event)


@dataclass
class Decision:
    """What a before-send callback decided (docs/protocol.md §2.5), or that it failed (docs/protocol.md §1.4)."""

    action: Literal["deliver", "reject", "discard", "failed", "skipped"]
    code: int = codes.OK
    info: str = ""
    body: list[dict[str, Any]] | None = None  # replacement MsgBody, when rewritten
    cloud_custom_data: str | None = None  # replacement CloudCustomData, when rewritten
    reason: str = ""

    @property
    def rewritten(self) -> bool:
        return self.body is not None or self.cloud_custom_data is not None


@dataclass
class Delivery:
    status: int | None = None
    answer: Any = None
    error: str | None = None
    record: dict[str, Any] = field(default_factory=dict)


class CallbackClient:
    def __init__(self, identity: Identity, settings: Callable[[], Settings], now: Callable[[], float]) -> None:
        self._identity = identity
        self._settings = settings
        self._now = now
        self._session = requests.Session()
        self._records: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDS)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._pending = 0
        self._generation = 0
        self._thread = threading.Thread(target=self._work, name="tim-emulator-callbacks", daemon=True)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._generation += 1  # what is still queued is skipped, not sent
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._session.close()

    def reset(self) -> None:
        """Forget the record; callbacks still queued belong to the old state and are skipped."""
        with self._lock:
            self._generation += 1
            self._records.clear()

    # ------------------------------------------------------------------ what the service uses

    def enabled(self, command: str) -> bool:
        settings = self._settings()
        return bool(settings.callback_url) and (
            settings.callback_commands is None or command in settings.callback_commands
        )

    def call(self, command: str, body: dict[str, Any], platform: str, client_ip: str, send_id: int | None) -> Delivery:
        """POST one callback and wait for the answer (at most the callback timeout)."""
        settings = self._settings()
        request_time = int(self._now())
        query = {
            "SdkAppid": str(self._identity.sdkappid),
            "CallbackCommand": command,
            "contenttype": "json",
            "ClientIP": client_ip,
            "OptPlatform": platform,
        }
        if settings.callback_token:
            query["RequestTime"] = str(request_time)
            query["Sign"] = callback_sign(settings.callback_token, request_time)
        payload = {"CallbackCommand": command, **body}
        delivery = Delivery()
        started = time.monotonic()
        timeout = settings.callback_timeout_s
        try:
            response = self._session.post(
                settings.callback_url or "",
                params=query,
                data=json.dumps(payload, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
                timeout=timeout,
            )
            delivery.status = response.status_code
            try:
                delivery.answer = response.json()
            except ValueError:
                delivery.answer = response.text[:_RAW_ANSWER_CHARS]
                delivery.error = "answer is not JSON"
            if response.status_code != 200:
                delivery.error = f"HTTP {response.status_code}"
            elif delivery.error is None and not isinstance(delivery.answer, dict):
                delivery.error = "answer is not a JSON object"
        except requests.Timeout:
            delivery.error = f"timed out after {timeout:g} s"
        except requests.RequestException as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        duration = time.monotonic() - started
        # Tencent's budget is for the whole exchange, not per socket operation.
        if delivery.error is None and duration > timeout:
            delivery.error = f"answered after {duration:.2f} s, over the {timeout:g} s timeout"
        delivery.record = {
            "time": request_time,
            "command": command,
            "send_id": send_id,
            "query": query,
            "body": payload,
            "status": delivery.status,
            "answer": delivery.answer,
            "error": delivery.error,
            "duration_ms": round(duration * 1000, 1),
        }
        if delivery.error:
            log.info("callback %s failed: %s", command, delivery.error)
        return delivery

    @property
    def generation(self) -> int:
        """The state's generation: a reset starts a new one. Taken before a callback, so that what it
        yields is recorded only if no reset came in between."""
        with self._lock:
            return self._generation

    def record(self, record: dict[str, Any], generation: int) -> None:
        """Keeps ``record`` unless the state was reset since ``generation``: then it belongs to the old state."""
        with self._lock:
            if generation == self._generation:
                record["id"] = next(self._ids)
                self._records.append(record)

    def submit(self, jobs: list[Job]) -> Callable[[], None]:
        """Queue ``jobs`` (counted as pending at once, so a caller that has its answer never sees
        them missing); they go out after the returned function is called, once the triggering
        request has been answered."""
        with self._lock:
            for job in jobs:
                job.generation = self._generation
                self._pending += 1
                self._queue.put(job)

        def release() -> None:
            for job in jobs:
                job.released.set()

        return release

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    # ------------------------------------------------------------------ the worker

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                job.released.wait(_RELEASE_TIMEOUT_S)
                with self._lock:
                    current = job.generation == self._generation
                if current and self.enabled(job.command):
                    delivery = self.call(job.command, job.body, job.platform, job.client_ip, job.send_id)
                    self.record(delivery.record, job.generation)
            except Exception:
                log.exception("callback %s could not be sent", job.command)
            finally:
                with self._lock:
                    self._pending -= 1


def interpret_before_send(kind: Literal["c2c", "group"], delivery: Delivery) -> Decision:
    """Read a before-send answer the way Tencent does (docs/protocol.md §2.5); anything unreadable
    is a failure (docs/protocol.md §1.4).

    Where the protocol document is silent: the decision is read from ``ErrorCode`` whatever
    ``ActionStatus`` says (docs/protocol.md §9 item 7); a missing or out-of-range ``ErrorCode``, or a replacement
    ``MsgBody`` that is not a valid body within 12 KB, counts as a failed callback.
    """
    if delivery.error:
        return Decision("failed", reason=delivery.error)
    answer: dict[str, Any] = delivery.answer
    code = answer.get("ErrorCode")
    if not isinstance(code, int) or isinstance(code, bool):
        return Decision("failed", reason="answer has no integer ErrorCode")
    info = answer.get("ErrorInfo") if isinstance(answer.get("ErrorInfo"), str) else ""
    custom = codes.C2C_CUSTOM_CODES if kind == "c2c" else codes.GROUP_CUSTOM_CODES
    if code == 1:
        rejected = codes.C2C_REJECTED if kind == "c2c" else codes.GROUP_REJECTED
        return Decision("reject", rejected, info or "rejected by the before-send callback", reason="callback")
    if code == 2:
        return Decision("discard", reason="callback")
    if code in custom:
        return Decision("reject", code, info, reason="callback")
    if code != 0:
        return Decision("failed", reason=f"ErrorCode {code} is not 0, 1, 2 or in {custom.start}-{custom.stop - 1}")
    decision = Decision("deliver")
    if "MsgBody" in answer:
        raw = answer["MsgBody"]
        try:
            validate_body(raw)
        except BodyError:
            return Decision("failed", reason="replacement MsgBody is not a valid message body")
        if not raw:
            return Decision("failed", reason="replacement MsgBody is empty")
        if body_size(raw) > MAX_BODY_BYTES:
            return Decision("failed", reason=f"replacement MsgBody is over {MAX_BODY_BYTES} bytes")
        decision.body = raw
    if "CloudCustomData" in answer:
        if not isinstance(answer["CloudCustomData"], str):
            return Decision("failed", reason="replacement CloudCustomData is not a string")
        decision.cloud_custom_data = answer["CloudCustomData"]
    return decision


def callback_sign(token: str, request_time: int) -> str:
    """docs/protocol.md §1.2: the lowercase hex SHA-256 of the token followed by the decimal RequestTime."""
    return hashlib.sha256(f"{token}{request_time}".encode()).hexdigest()
