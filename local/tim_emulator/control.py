"""A Python client of the emulator's control API (``/_emulator/``), for tests and for people.

    tim = EmulatorControl("http://127.0.0.1:3001")
    answer = tim.send_c2c("alice", "bob", "well darn it")     # a simulated user sends
    tim.wait_idle()                                           # the after-send callbacks are out
    tim.callbacks(send_id=answer["send_id"])

Message fields are passed with Tencent's names (``CloudCustomData=...``, ``MsgPriority="High"``,
``GroupAtInfo=[...]``, ``Random=...``); a ``str`` body is a single text element.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

POLL_INTERVAL_S = 0.02


class EmulatorControlError(RuntimeError):
    """The control API refused a request (an unknown route, invalid settings, a bad body)."""


def text_body(text: str) -> list[dict[str, Any]]:
    return [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]


class EmulatorControl:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ transport

    def _request(self, method: str, route: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        response = self._session.request(
            method,
            f"{self.base_url}/_emulator/{route}",
            json=body if method == "POST" else None,
            params={k: str(v) for k, v in params.items() if v is not None},
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise EmulatorControlError(f"{method} /_emulator/{route}: HTTP {response.status_code}: {response.text}")
        return response.json()

    # ------------------------------------------------------------------ state and settings

    def reset(self, config: bool = False, seed: bool = True) -> None:
        """Forget messages, records, counters and state (back to the seed data unless ``seed`` is
        false); the settings too when ``config`` is true."""
        self._request("POST", "reset", {"config": config, "seed": seed})

    def config(self) -> dict[str, Any]:
        return self._request("GET", "config")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change some settings, e.g. ``configure(faults=[{"api": "*", "error_share": 0.5}])``."""
        return self._request("POST", "config", settings)

    def state(self) -> dict[str, Any]:
        return self._request("GET", "state")

    # ------------------------------------------------------------------ simulated users

    def send_c2c(self, user: str, to: str, body: str | list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        request = {"To_Account": to, "MsgBody": text_body(body) if isinstance(body, str) else body, **fields}
        return self._request("POST", f"users/{quote(user, safe='')}/send_c2c", request)

    def send_group(self, user: str, group: str, body: str | list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        request = {"GroupId": group, "MsgBody": text_body(body) if isinstance(body, str) else body, **fields}
        return self._request("POST", f"users/{quote(user, safe='')}/send_group", request)

    # ------------------------------------------------------------------ read-back

    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Delivered messages (final bodies, ``sent`` when a callback rewrote them, ``history`` of
        modifications); filter on any field, e.g. ``messages(GroupId="@TGS#demo")``."""
        return self._request("GET", "messages", **filters)["messages"]

    def dropped(self, **filters: Any) -> list[dict[str, Any]]:
        return self._request("GET", "dropped", **filters)["dropped"]

    def rejected(self, **filters: Any) -> list[dict[str, Any]]:
        return self._request("GET", "rejected", **filters)["rejected"]

    def calls(self, **filters: Any) -> list[dict[str, Any]]:
        """Every REST call: time, api, ErrorCode, http_status, fault, request; filter e.g. ``api=``."""
        return self._request("GET", "calls", **filters)["calls"]

    def calls_per_second(self, api: str | None = None) -> dict[int, int]:
        """Calls admitted or not, per whole second of the emulator's clock."""
        calls = self.calls(api=api) if api else self.calls()
        return dict(sorted(Counter(int(c["time"]) for c in calls).items()))

    def callbacks(self, **filters: Any) -> list[dict[str, Any]]:
        """Every callback made: command, query, body, status, answer, error, duration_ms."""
        return self._request("GET", "callbacks", **filters)["callbacks"]

    # ------------------------------------------------------------------ waiting

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no asynchronous callback is queued or under way."""
        self.wait_until(lambda: self._request("GET", "callbacks")["pending"] == 0, timeout, "callbacks to be sent")

    def wait_callbacks(self, count: int, timeout: float = 10.0, **filters: Any) -> list[dict[str, Any]]:
        """Until at least ``count`` callbacks match ``filters``; returns them."""
        found: list[dict[str, Any]] = []

        def enough() -> bool:
            found[:] = self.callbacks(**filters)
            return len(found) >= count

        self.wait_until(enough, timeout, f"{count} callbacks matching {filters}")
        return found

    @staticmethod
    def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "a condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(POLL_INTERVAL_S)
