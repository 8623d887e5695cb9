"""Every CloudWatch metric the functions publish, by name, and which function publishes which.

The functions publish through Powertools Metrics (or ``single_metric``) into the namespace the
template sets (POWERTOOLS_METRICS_NAMESPACE), each dimensioned by its function's ``service``
(POWERTOOLS_SERVICE_NAME); ``ColdStart`` also by ``function_name``. Code names a metric only through
this module, so :data:`PUBLISHED` is what the code can publish: the dashboard and the alarms in
template.yaml may name nothing else (tests/infra checks them against it).

Plain names only: the callback's fast path imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping

# The namespace the template gives every function (Globals: POWERTOOLS_METRICS_NAMESPACE).
NAMESPACE = "TimKit"
# Powertools' own, with capture_cold_start_metric (dimensions: function_name and service).
COLD_START = "ColdStart"
# A function that signs or verifies UserSigs (or derives merger keys) found its key unusable
# (timkit.stores.appkey).
KEY_NOT_CONFIGURED = "KeyNotConfigured"

# functions/tim_callback: one per callback, by how it was answered (timkit.callback.Outcome).
CALLBACK_OUTCOMES: Mapping[str, str] = {
    "allowed": "CallbackAllowed",
    "rewritten": "CallbackRewritten",
    "rejected": "CallbackRejected",
    "discarded": "CallbackDiscarded",
    "failed_policy": "CallbackFailedPolicy",
    "auth_rejected": "CallbackAuthRejected",
    "bad_request": "CallbackBadRequest",
    "queued": "CallbackQueued",
    "unavailable": "CallbackUnavailable",
    "ignored": "CallbackIgnored",
}
# Every callback while CALLBACK_AUTH is disabled.
CALLBACK_UNAUTHENTICATED = "CallbackUnauthenticated"
# Milliseconds a before-send callback spent in the handler (Tencent waits 2 s for the answer).
BEFORE_SEND_DURATION = "BeforeSendDuration"
# The policy document could not be read or is invalid (timkit.stores.config): the last good one
# stays in force, or none at all (then the failure policy answers).
POLICY_LOAD_FAILED = "PolicyLoadFailed"

# functions/event_processor: one per archived item (timkit.archive results), and mergers captured.
ARCHIVE_RESULTS: Mapping[str, str] = {
    "stored": "Archived",
    "duplicate": "DuplicateIgnored",
    "conflict": "ConflictingBody",
    "repeated_conflict": "ConflictRepeated",
}
MERGERS_CAPTURED = "MergerCaptured"
# Callbacks published to the event bus (timkit.bus), once each.
EVENTS_PUBLISHED = "Published"

# functions/merger_api and its authorizer.
MERGER_UPLOADED = "MergerUploaded"
MERGER_DOWNLOADED = "MergerDownloaded"
MERGER_AUTH_REJECTED = "MergerAuthRejected"

# functions/broadcast_worker: a group settled (sent, failed or cancelled) or handed back for later;
# functions/broadcast_scheduler: a schedule started a job or a run of it.
BROADCAST_ITEM_SETTLED = "BroadcastItemSettled"
BROADCAST_ITEM_RETRIED = "BroadcastItemRetried"
BROADCAST_STARTED = "BroadcastStarted"

# functions/chatbot_worker: each turn's outcome (timkit.chatbot.turn.Outcome), why it failed
# (timkit.chatbot.turn.FailureCause), and turns not answered in this batch.
CHATBOT_OUTCOMES: Mapping[str, str] = {
    "finished": "ChatbotAnswered",
    "interrupted": "ChatbotInterrupted",
    "timed_out": "ChatbotTimedOut",
    "failed": "ChatbotFailed",
}
CHATBOT_FAILURES: Mapping[str, str] = {
    cause: f"ChatbotFailure_{cause}"
    for cause in (
        "timeout",
        "throttled",
        "auth",
        "content_filter",
        "broken",
        "config",
        "unavailable",
        "empty",
        "tencent",
    )
}
CHATBOT_TURN_DEFERRED = "ChatbotTurnDeferred"
CHATBOT_TURN_RETRIED = "ChatbotTurnRetried"
CHATBOT_DUPLICATE_IGNORED = "ChatbotDuplicateIgnored"
CHATBOT_NOT_CONFIGURED = "ChatbotNotConfigured"

# By function (its folder under functions/): what it publishes.
PUBLISHED: Mapping[str, frozenset[str]] = {
    "tim_callback": frozenset(
        {COLD_START, *CALLBACK_OUTCOMES.values(), CALLBACK_UNAUTHENTICATED, BEFORE_SEND_DURATION, POLICY_LOAD_FAILED}
    ),
    "event_processor": frozenset(
        {COLD_START, KEY_NOT_CONFIGURED, *ARCHIVE_RESULTS.values(), MERGERS_CAPTURED, EVENTS_PUBLISHED}
    ),
    "merger_api": frozenset({COLD_START, KEY_NOT_CONFIGURED, MERGER_UPLOADED, MERGER_DOWNLOADED, POLICY_LOAD_FAILED}),
    "merger_authorizer": frozenset({COLD_START, KEY_NOT_CONFIGURED, MERGER_AUTH_REJECTED}),
    "admin_api": frozenset({COLD_START, KEY_NOT_CONFIGURED}),
    "broadcast_worker": frozenset({COLD_START, KEY_NOT_CONFIGURED, BROADCAST_ITEM_SETTLED, BROADCAST_ITEM_RETRIED}),
    "broadcast_scheduler": frozenset({COLD_START, BROADCAST_STARTED}),
    "event_example": frozenset({COLD_START}),
    "ws_api": frozenset({COLD_START, KEY_NOT_CONFIGURED}),
    "ws_fanout": frozenset({COLD_START, KEY_NOT_CONFIGURED}),
    "chatbot_worker": frozenset(
        {
            COLD_START,
            KEY_NOT_CONFIGURED,
            *CHATBOT_OUTCOMES.values(),
            *CHATBOT_FAILURES.values(),
            CHATBOT_TURN_DEFERRED,
            CHATBOT_TURN_RETRIED,
            CHATBOT_DUPLICATE_IGNORED,
            CHATBOT_NOT_CONFIGURED,
        }
    ),
}
