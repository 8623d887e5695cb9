"""Publishing processed callbacks to the team's EventBridge bus, once each (timkit.models.bus says
what an event holds).

"Once" has two enemies: SQS delivers a record again (a batch retried after a crash or a timeout,
a record retried after a failure further on) and Tencent delivers a callback again (two records
of one callback). The archive's conditional write cannot tell alone: a record archived before its
event was published (PutEvents failed, the Lambda died) must still be published when it comes
back, and then the archive says "duplicate". So an idempotency record (Powertools idempotency, in
the idempotency table) is kept per event, under an id derived from the callback: in progress while
PutEvents runs, completed after it, deleted when it failed so the retry publishes. A repeat finds
it completed and publishes nothing; a repeat while another Lambda is publishing fails (its record
is retried later). The one window left is a Lambda dying after PutEvents and before the record is
completed: its retry publishes again (at least once, never lost); detail.eventId stays the same,
so a consumer can tell.

A message is one event per command: its after-send and bot callbacks are two events, two
deliveries of either one event. Another body under an archived message's identity is not
published at all: the archive keeps it aside as a conflict (timkit.archive), it is not the message.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.archive import conversation_of, system_id
from timkit.models.bus import SOURCE, detail_model
from timkit.models.callbacks import (
    C2CModify,
    C2CReadReport,
    C2CRecall,
    CallbackRequest,
    GroupEvent,
    GroupFull,
    GroupMemberState,
    GroupModify,
    GroupReadReceipt,
    GroupRecall,
    group_identity,
)
from timkit.models.conversations import c2c_conversation, group_conversation
from timkit.stores.archive import MessageEvent
from timkit.stores.bus import EventBusStore

# As long as a record can come back: the events queue keeps a record up to its dead-letter queue's
# retention (14 days, counted from when it was first queued), from where an operator may redrive it.
KEPT_SECONDS = 14 * 24 * 3600


def event_id(event: CallbackRequest, raw_body: str) -> str:
    """The same for every delivery of one callback: a message's command and identity (what the
    archive knows it by), else the command and the callback's content however its JSON is laid out."""
    basis = event.identity if isinstance(event, MessageEvent) else system_id(raw_body)
    return hashlib.sha256(f"{event.CallbackCommand}\n{basis}".encode()).hexdigest()[:32]


def conversation(event: CallbackRequest) -> str | None:
    if isinstance(event, MessageEvent | GroupEvent):
        return conversation_of(event)
    if isinstance(event, C2CModify | C2CRecall):
        return c2c_conversation(event.From_Account, event.To_Account)
    if isinstance(event, C2CReadReport):
        return c2c_conversation(event.Report_Account, event.Peer_Account)
    if isinstance(event, GroupModify | GroupRecall | GroupFull):
        return group_conversation(event.GroupId, event.TopicId)
    if isinstance(event, GroupReadReceipt | GroupMemberState):
        return group_conversation(event.GroupId)
    return None  # a user's state: no conversation


def message_ids(event: CallbackRequest) -> list[str]:
    if isinstance(event, MessageEvent | C2CModify | GroupModify | C2CRecall):
        return [event.identity]
    if isinstance(event, GroupRecall):
        return event.identities
    if isinstance(event, GroupReadReceipt):
        return [group_identity(event.GroupId, receipt.MsgSeq) for receipt in event.GroupMsgReceiptList]
    return []


def entry(event: CallbackRequest, eid: str, sdkappid: int) -> dict[str, Any]:
    """The PutEvents entry of a callback (without its bus); ``eid``: its :func:`event_id`."""
    detail = detail_model(event.CallbackCommand)(
        eventId=eid,
        sdkAppId=sdkappid,
        conversation=conversation(event),
        messageIds=message_ids(event),
        callback=event,
    )
    document = detail.model_dump(mode="json", exclude={"callback"})
    # The fields Tencent sent (in the models' types: an EventTime sent as a string is a number),
    # none that only the models' defaults would add.
    document["callback"] = event.model_dump(mode="json", exclude_unset=True)
    # Through the standard encoder: pydantic-core's stops near 250 levels of nesting, and Tencent
    # nests mergers deeper (docs/protocol.md §7.4).
    return {
        "Source": SOURCE,
        "DetailType": event.CallbackCommand,
        "Detail": json.dumps(document, ensure_ascii=False, separators=(",", ":")),
    }


class EventPublisher:
    def __init__(self, bus: EventBusStore, idempotency_table: str, sdkappid: int) -> None:
        self._bus = bus
        self._sdkappid = sdkappid
        self._config = IdempotencyConfig(
            event_key_jmespath="eventId", raise_on_no_idempotency_key=True, expires_after_seconds=KEPT_SECONDS
        )
        self._once = idempotent_function(
            data_keyword_argument="publication",
            persistence_store=DynamoDBPersistenceLayer(table_name=idempotency_table),
            config=self._config,
        )(self._put)
        # Powertools answers a repeat with the first call's result: only a call that ran _put published.
        self._put_now = False

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Call at the start of every invocation: a record in progress expires with the invocation."""
        self._config.register_lambda_context(context)

    def publish(self, event: CallbackRequest, raw_body: str) -> bool:
        """Publishes the callback's event unless it was published before: True if this call did.
        Raises (PublishFailed, or the idempotency table's errors) when it is not on the bus."""
        eid = event_id(event, raw_body)
        self._put_now = False
        self._once(publication={"eventId": eid}, entry=entry(event, eid, self._sdkappid))
        return self._put_now

    def _put(self, publication: dict[str, str], entry: dict[str, Any]) -> dict[str, str]:
        bus_event_id = self._bus.put(entry)
        self._put_now = True
        return {"eventId": publication["eventId"], "busEventId": bus_event_id}
