"""The EventBridge bus the bundle publishes its events to (timkit.bus)."""

from __future__ import annotations

from typing import Any

import boto3


class PublishFailed(RuntimeError):
    """EventBridge did not take the event: the call failed, or it refused the entry
    (``FailedEntryCount``): a processed callback whose event is not on the bus is not done."""


class EventBusStore:
    def __init__(self, bus_name: str, client: Any | None = None) -> None:
        self._bus = bus_name
        self._client = client or boto3.client("events")

    def put(self, entry: dict[str, Any]) -> str:
        """Puts one event (a PutEvents entry without its bus); the id EventBridge gave it."""
        answer = self._client.put_events(Entries=[{**entry, "EventBusName": self._bus}])
        [result] = answer["Entries"]
        if answer.get("FailedEntryCount") or "EventId" not in result:
            # Only the code and EventBridge's message: never the entry, which holds someone's message.
            code, message = result.get("ErrorCode", "no EventId"), result.get("ErrorMessage", "")
            raise PublishFailed(f"EventBridge refused the event: {code}: {message}")
        event_id: str = result["EventId"]
        return event_id
