"""The callback endpoint's logic: verify, dispatch, decide (before-send) or enqueue (the rest).

Never raises and never answers 500 for anything a caller sends: a bad query is a 400 naming the
parameter, a failed check a 401/403, and a before-send callback that cannot be decided in time
gets the configured failure policy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from timkit.config import CallbackSettings
from timkit.models.callbacks import (
    ANSWER_MODELS,
    ASYNC_COMMANDS,
    BEFORE_SEND_COMMANDS,
    BeforeSendAnswer,
    BotC2CMessage,
    C2CBeforeSend,
    C2CMessage,
    CallbackAck,
    CallbackQuery,
    ConversationKind,
    GroupBeforeSend,
    decode_json,
    parse_callback,
)
from timkit.models.chatbot import InterruptPayload, bot_turns, chatbot_payloads, is_robot
from timkit.policy import DeadlineExceeded
from timkit.stores.config import ConfigStore
from timkit.stores.fastpath import EventQueue, InterruptStore, TurnQueue
from timkit.tim.callback_auth import sign_matches

Outcome = Literal[
    "allowed",
    "rewritten",
    "rejected",
    "discarded",
    "failed_policy",
    "auth_rejected",
    "bad_request",
    "queued",
    "unavailable",
    "ignored",
]
_ACK = CallbackAck().model_dump_json()


@dataclass(frozen=True, slots=True)
class CallbackResult:
    status: int
    body: str
    outcome: Outcome
    identity: str | None = None


def _error(status: int, outcome: Outcome, message: str) -> CallbackResult:
    return CallbackResult(status, json.dumps({"message": message}), outcome)


def error_fields(exc: ValidationError) -> str:
    """The fields a validation error is about, never their values (they may be secrets)."""
    return ", ".join(sorted({".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors()}))


class Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(self._end - self._clock(), 0.0)

    def expired(self) -> bool:
        return self._clock() >= self._end


class CallbackService:
    def __init__(
        self,
        settings: CallbackSettings,
        config: ConfigStore,
        events: EventQueue,
        interrupts: InterruptStore,
        logger: Logger,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        turns: TurnQueue | None = None,
    ) -> None:
        self.settings = settings
        self.log = logger
        self.config = config
        self.events = events
        self.interrupts = interrupts
        # The chatbot's queue; None where no chatbot is deployed (no CHATBOT_QUEUE_URL).
        self.turns = turns
        self._now = wall_clock
        self._monotonic = monotonic

    @classmethod
    def from_settings(
        cls, settings: CallbackSettings, logger: Logger, count: Callable[[str], None] = lambda name: None
    ) -> CallbackService:
        """``count`` records a metric by name (the policy document failing to load)."""
        return cls(
            settings,
            ConfigStore(
                settings.CALLBACK_SECRET_ID,
                settings.POLICY_SOURCE,
                settings.CONFIG_CACHE_SECONDS,
                logger,
                count=count,
            ),
            EventQueue(settings.EVENTS_QUEUE_URL),
            InterruptStore(settings.BOT_STATE_TABLE, settings.INTERRUPT_TTL_SECONDS),
            logger,
            turns=TurnQueue(settings.CHATBOT_QUEUE_URL) if settings.CHATBOT_QUEUE_URL else None,
        )

    # ------------------------------------------------------------------ entry point

    def handle(self, query: Mapping[str, str], body: str) -> CallbackResult:
        try:
            params = CallbackQuery.model_validate(query)
        except ValidationError as exc:
            return _error(400, "bad_request", f"invalid or missing query parameters: {error_fields(exc)}")

        command = params.CallbackCommand
        before_send = command in BEFORE_SEND_COMMANDS
        deadline = Deadline(self.settings.BEFORE_SEND_DEADLINE_MS / 1000, self._monotonic)
        try:
            refusal = self._authenticate(params, deadline)
        except Exception:
            self.log.exception("callback authentication could not be completed", command=command)
            if before_send:
                return self._failure(command, "authentication unavailable")
            return _error(503, "unavailable", "callback configuration unavailable, retry later")
        if refusal is not None:
            self.log.warning("callback refused", command=command, reason=refusal.body, status=refusal.status)
            return refusal

        if before_send:
            return self._before_send(command, body, deadline)
        if command in ASYNC_COMMANDS:
            return self._enqueue(command, body)
        return CallbackResult(200, _ACK, "ignored")

    # ------------------------------------------------------------------ steps

    def _authenticate(self, params: CallbackQuery, deadline: Deadline) -> CallbackResult | None:
        if params.SdkAppid != self.settings.TIM_SDKAPPID:
            return _error(403, "auth_rejected", "SdkAppid does not match this deployment")
        if self.settings.CALLBACK_AUTH == "disabled":
            return None
        if not params.RequestTime:
            return _error(401, "auth_rejected", "RequestTime is missing")
        try:
            request_time = int(params.RequestTime)
        except ValueError:
            return _error(401, "auth_rejected", "RequestTime is not an integer")
        skew = self.settings.CALLBACK_MAX_SKEW_SECONDS
        if abs(self._now() - request_time) > skew:
            return _error(401, "auth_rejected", f"RequestTime is more than {skew} s from now")
        if not params.Sign:
            return _error(401, "auth_rejected", "Sign is missing")
        token = self.config.secret(deadline.remaining()).callback_token
        if not token:
            self.log.error("callback authentication is required but no callback_token is configured")
            return _error(401, "auth_rejected", "callback authentication is not configured")
        if not sign_matches(token, params.RequestTime, params.Sign):
            return _error(401, "auth_rejected", "Sign does not match")
        return None

    def _before_send(self, command: str, body: str, deadline: Deadline) -> CallbackResult:
        try:
            message = parse_callback(command, body)
        except ValidationError as exc:
            return self._unreadable(command, body, exc, deadline)
        assert isinstance(message, C2CBeforeSend | GroupBeforeSend)
        identity = message.identity
        self.log.set_correlation_id(identity)
        try:
            answer = self._decide(message, deadline)
        except DeadlineExceeded:
            return self._failure(command, "deadline exceeded", identity)
        except Exception:
            self.log.exception("before-send policy failed", command=command)
            return self._failure(command, "internal error", identity)
        if deadline.expired():
            return self._failure(command, "deadline exceeded", identity)
        return CallbackResult(200, json.dumps(answer.to_wire(), ensure_ascii=False), answer.outcome, identity)

    def _unreadable(self, command: str, body: str, exc: ValidationError, deadline: Deadline) -> CallbackResult:
        """A before-send body the models refuse gets the failure policy, unless it holds a blocked
        word anywhere: an unexpected value in one field must not get text past the policy."""
        kind: ConversationKind = "c2c" if command.startswith("C2C.") else "group"
        try:
            document = decode_json(body)
            policy = self.config.policy(deadline.remaining())
            if policy.blocked_anywhere(document) and not deadline.expired():
                answer = policy.blocked_answer(kind)
                return CallbackResult(200, json.dumps(answer.to_wire()), answer.outcome)
        except (ValueError, RecursionError):
            pass  # not JSON Tencent could have sent
        except Exception:
            self.log.exception("before-send policy failed on an unreadable body", command=command)
        return self._failure(command, f"unparseable body: {error_fields(exc)}")

    def _decide(self, message: C2CBeforeSend | GroupBeforeSend, deadline: Deadline) -> BeforeSendAnswer:
        if isinstance(message, C2CBeforeSend) and is_robot(message.To_Account):
            interrupts = self._record_interrupts(message, deadline.remaining())
            # A bare interrupt is always delivered; anything sent along with it is checked as usual.
            if interrupts and interrupts == len(message.MsgBody):
                return ANSWER_MODELS["c2c"].allow()
        return self.config.policy(deadline.remaining()).decide(message, deadline)

    def _record_interrupts(self, message: C2CMessage, timeout: float) -> int:
        """Records the chatbot interrupts (``src`` 22) a user sent a bot; how many. The bot worker
        reads them while it streams, and stops. Recorded from the before-send callback (as early
        as Tencent tells) and again from the bot callback (for an app that only enables that one):
        the record is the same, written twice."""
        if not is_robot(message.To_Account):
            return 0
        interrupts = [p for p in chatbot_payloads(message.MsgBody) if isinstance(p, InterruptPayload)]
        for payload in interrupts:
            self.interrupts.record(
                message.To_Account, message.From_Account, payload.msgKey, message.MsgTime or None, timeout=timeout
            )
            self.log.info("chatbot interrupt recorded", bot=message.To_Account, msg_key=payload.msgKey)
        return len(interrupts)

    def _failure(self, command: str, reason: str, identity: str | None = None) -> CallbackResult:
        kind: ConversationKind = "c2c" if command.startswith("C2C.") else "group"
        model = ANSWER_MODELS[kind]
        policy = self.settings.BEFORE_SEND_FAILURE_POLICY
        if policy == "allow":
            answer = model.allow()
        elif policy == "discard":
            answer = model.discard()
        else:
            answer = model.reject(info="message could not be checked")
        self.log.warning("before-send failure policy applied", command=command, reason=reason, policy=policy)
        return CallbackResult(200, json.dumps(answer.to_wire()), "failed_policy", identity)

    def _enqueue(self, command: str, body: str) -> CallbackResult:
        try:
            event = parse_callback(command, body)
        except ValidationError as exc:
            return _error(400, "bad_request", f"invalid {command} body: {error_fields(exc)}")
        self.log.set_correlation_id(event.identity)
        try:
            self.events.put(command, body, int(self._now()))
            if isinstance(event, BotC2CMessage):
                self._record_interrupts(event, timeout=2.0)
            # A bot's turn goes straight to the chatbot's queue, not through the event processor's
            # batches: the user waits for the answer's first words.
            if self.turns is not None:
                for turn in bot_turns(event):
                    self.turns.put(turn)
        except Exception:
            # Acknowledging would lose the event: say so, so that Tencent's retry (if on) redelivers
            # (the archive and the chatbot's claim make a redelivery change nothing twice).
            self.log.exception("could not queue callback", command=command)
            return _error(503, "unavailable", "events queue unavailable, retry later")
        return CallbackResult(200, _ACK, "queued", event.identity)
