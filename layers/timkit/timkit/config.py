"""Settings: the environment variables each function reads, one model per function, validated at
cold start (``from_env``): a function whose required variable is missing or empty does not start,
and says which.

The template sets these on the functions (tests/infra checks it gives each function every variable
its model requires); the local stack sets them to the local resources. Secrets are not here: the
app's key comes from the secret named by ``TIM_SECRET_ID`` (see :mod:`timkit.stores.appkey`), the
callback token and policy from the one named by ``CALLBACK_SECRET_ID`` (see
:mod:`timkit.stores.config`).
"""

from __future__ import annotations

import os
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FailurePolicy = Literal["allow", "reject", "discard"]
# What CALLBACK_AUTH_DISABLED_ACK must say for CALLBACK_AUTH=disabled to be accepted.
AUTH_DISABLED_ACK = "anyone-can-post-callbacks"
# A resource the function cannot work without (a table, a queue, a bucket): set, and not empty.
Required = Annotated[str, Field(min_length=1)]


# Origins as a browser sends them (no path, no trailing /), comma-separated; or *.
_ORIGIN = r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?"
CORS_ORIGINS_PATTERN = rf"^(\*|({_ORIGIN}(,{_ORIGIN})*)?)$"


class SettingsError(ValueError):
    """The function's environment lacks or mistypes what its settings require; names each variable."""


class FunctionSettings(BaseModel):
    """Base of every function's settings."""

    # Built when a function validates its own settings, not for all at import (a cold-start cost).
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    @classmethod
    def from_env(cls) -> Self:
        # Read once per function, at cold start: the environment is the function's own. Only the
        # model's own variables are read, so an error never quotes anything else from it.
        environ = {name: value for name, value in os.environ.items() if name in cls.model_fields}
        try:
            return cls.model_validate(environ)
        except ValidationError as exc:
            raise SettingsError(f"{cls.__name__}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        name = ".".join(map(str, err["loc"])) or "settings"
        if err["type"] == "missing":
            problems.append(f"{name} is not set")
        elif err["type"] == "string_too_short" and err["ctx"].get("min_length") == 1:
            problems.append(f"{name} is empty")
        else:
            problems.append(f"{name}: {err['msg']}")
    return "; ".join(problems)


class AppSettings(FunctionSettings):
    # The app's SDKAppID; callbacks naming another app are refused.
    TIM_SDKAPPID: Annotated[int, Field(gt=0)]
    # How long the secrets and the policy document are cached: a rotated key or token, or an edited
    # policy, is in use everywhere within this time.
    CONFIG_CACHE_SECONDS: Annotated[int, Field(ge=0, le=3600)] = 60


class KeySettings(AppSettings):
    # Secrets Manager secret (ARN or name) holding {"secret_key": the SDKAppID key}; read by the
    # functions that sign or verify UserSigs, never by the callback function. Until it holds a
    # plausible key (see timkit.keys) they refuse to sign or verify anything: unset, it is
    # "not configured" like an empty key (503s naming it, the KeyNotConfigured metric).
    TIM_SECRET_ID: str = ""


class RestSettings(KeySettings):
    """Functions that call Tencent's REST API."""

    # REST API: the regional domain (see timkit.tim.endpoints), or TIM_API_BASE to point elsewhere
    # (the local emulator); calls are made as TIM_ADMIN_IDENTIFIER, an app admin account.
    TIM_REGION: str = "singapore"
    TIM_API_BASE: str = ""
    TIM_ADMIN_IDENTIFIER: Annotated[str, Field(min_length=1, max_length=32)] = "administrator"
    # Every REST call is paced per API by a limiter shared through RATE_TABLE: at most
    # REST_CALLS_PER_SECOND per one-second window, leaving the rest of Tencent's 200/s per API to
    # the app's live traffic; a group message adds at most BROADCAST_GROUP_MESSAGES_PER_SECOND to a
    # group, of the 40/s all its members share.
    RATE_TABLE: Required
    REST_CALLS_PER_SECOND: Annotated[int, Field(ge=1, le=200)] = 100
    BROADCAST_GROUP_MESSAGES_PER_SECOND: Annotated[int, Field(ge=1, le=40)] = 5


class _MergerStorage(FunctionSettings):
    # Merger storage: the bucket and table, and how long a merger lives.
    MERGER_BUCKET: Required
    MERGER_TABLE: Required
    MERGER_RETENTION_DAYS: Annotated[int, Field(ge=1, le=3650)] = 30


class CallbackSettings(AppSettings):
    """functions/tim_callback."""

    # Secrets Manager secret holding {"callback_token": ..., "policy": optional}: the callback's only.
    CALLBACK_SECRET_ID: Required
    # "required" (default) or "disabled": running without callback authentication is an explicit choice,
    # made twice: "disabled" also needs CALLBACK_AUTH_DISABLED_ACK to name the risk.
    CALLBACK_AUTH: Literal["required", "disabled"] = "required"
    CALLBACK_AUTH_DISABLED_ACK: Literal["", "anyone-can-post-callbacks"] = ""
    # Anti-replay window for RequestTime (Tencent recommends one minute).
    CALLBACK_MAX_SKEW_SECONDS: Annotated[int, Field(ge=1, le=600)] = 60
    # Where the before-send policy document lives: "ssm:<parameter name>", "secret:" (the "policy"
    # key of the callback secret), "file:<path>" or "" (no policy: allow everything).
    POLICY_SOURCE: str = ""
    # The before-send answer is due by this deadline, well inside Tencent's 2 s.
    BEFORE_SEND_DEADLINE_MS: Annotated[int, Field(ge=50, le=1900)] = 1000
    # What a before-send callback answers when the policy cannot decide in time.
    BEFORE_SEND_FAILURE_POLICY: FailurePolicy = "allow"
    EVENTS_QUEUE_URL: Required
    # Bot turns' FIFO queue (empty: bot callbacks are archived, not answered), and where a user's
    # interrupt is recorded, for how long.
    CHATBOT_QUEUE_URL: str = ""
    BOT_STATE_TABLE: Required
    INTERRUPT_TTL_SECONDS: Annotated[int, Field(ge=60)] = 86400

    @model_validator(mode="after")
    def _unauthenticated_callbacks_are_acknowledged(self) -> Self:
        if self.CALLBACK_AUTH == "disabled" and self.CALLBACK_AUTH_DISABLED_ACK != AUTH_DISABLED_ACK:
            raise ValueError(
                "CALLBACK_AUTH=disabled lets anyone who finds the URL post callbacks: it also needs "
                f"CALLBACK_AUTH_DISABLED_ACK={AUTH_DISABLED_ACK}"
            )
        return self


class EventProcessorSettings(AppSettings, _MergerStorage):
    """functions/event_processor (TIM_SDKAPPID: the events it publishes name the app)."""

    ARCHIVE_TABLE: Required
    # The EventBridge bus every processed callback is published to, and where the records that
    # publish each once are kept (timkit.bus).
    EVENT_BUS_NAME: Required
    IDEMPOTENCY_TABLE: Required
    # Secrets Manager secret (ARN or name) holding capture_key, which captured merger keys are
    # derived with; unset, a merger cannot be captured ("not configured", as TIM_SECRET_ID).
    CAPTURE_SECRET_ID: str = ""


class MergerAuthorizerSettings(KeySettings):
    """functions/merger_authorizer."""


class MergerApiSettings(RestSettings, _MergerStorage):
    """functions/merger_api."""

    # Up to what size a download is returned inline (larger ones get a presigned S3 URL: Lambda
    # answers ≤ 6 MB).
    MERGER_INLINE_MAX_BYTES: Annotated[int, Field(ge=1, le=5 * 1024 * 1024)] = 3 * 1024 * 1024
    # The before-send policy (as CallbackSettings.POLICY_SOURCE; "secret:" does not reach this function).
    POLICY_SOURCE: str = ""
    # The web origins whose pages may call the merger API (CORS), comma-separated: each
    # scheme://host[:port], or * for any. Empty: none (no CORS headers, preflights answered 404).
    MERGER_CORS_ORIGINS: Annotated[str, Field(pattern=CORS_ORIGINS_PATTERN)] = ""

    @property
    def cors_origins(self) -> list[str]:
        return [origin for origin in self.MERGER_CORS_ORIGINS.split(",") if origin]


class _Broadcasts(FunctionSettings):
    JOBS_TABLE: Required
    BROADCAST_QUEUE_URL: Required


class AdminApiSettings(RestSettings, _Broadcasts):
    """functions/admin_api."""

    IDEMPOTENCY_TABLE: Required
    BOT_STATE_TABLE: Required
    ARCHIVE_TABLE: Required
    # EventBridge Scheduler: where scheduled broadcasts' schedules go, what they invoke and as whom.
    SCHEDULE_GROUP: str = "default"
    SCHEDULER_TARGET_ARN: Required
    SCHEDULER_ROLE_ARN: Required


class BroadcastWorkerSettings(RestSettings, _Broadcasts):
    """functions/broadcast_worker."""


class BroadcastSchedulerSettings(_Broadcasts):
    """functions/broadcast_scheduler."""


class ChatbotWorkerSettings(RestSettings):
    """functions/chatbot_worker."""

    BOT_STATE_TABLE: Required
    # Where a failed turn is handed back early.
    CHATBOT_QUEUE_URL: Required
    # The secret of its providers' API keys by name (unset: providers without a key only).
    CHATBOT_SECRET_ID: str = ""


class _WsConnections(RestSettings):
    # The WebSocket gateway's open connections (timkit.stores.connections).
    WS_CONNECTIONS_TABLE: Required


class WsApiSettings(_WsConnections):
    """functions/ws_api (the WebSocket API's $connect, $disconnect and $default routes)."""

    # Where a message frame's idempotency record is kept (msgId + user), with the thread API's.
    IDEMPOTENCY_TABLE: Required
    # Frames a connection may send per second (each one-second window, shared by every Lambda
    # through RATE_TABLE); more are answered rate_limited and not sent.
    WS_FRAMES_PER_SECOND: Annotated[int, Field(ge=1, le=100)] = 10
    # Open connections per user; one more is refused at $connect (429).
    WS_CONNECTIONS_PER_USER: Annotated[int, Field(ge=1, le=100)] = 5


class WsFanoutSettings(_WsConnections):
    """functions/ws_fanout (frames out, from the event bus)."""

    # The WebSocket API's management endpoint: https://{api}.execute-api.{region}.amazonaws.com/{stage}.
    WS_MANAGEMENT_ENDPOINT: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
    # How long a group's members are kept per Lambda before they are read again.
    WS_MEMBER_CACHE_SECONDS: Annotated[int, Field(ge=0, le=3600)] = 10
