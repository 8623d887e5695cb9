"""Settings: every environment variable the functions read, in one model.

The template sets these on the functions; the local stack sets them to the local resources.
Secrets are not here: the app's key comes from the secret named by ``TIM_SECRET_ID`` (see
:mod:`timkit.stores.appkey`), the callback token and policy from the one named by
``CALLBACK_SECRET_ID`` (see :mod:`timkit.stores.config`).
"""

from __future__ import annotations

import os
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

FailurePolicy = Literal["allow", "reject", "discard"]
# What CALLBACK_AUTH_DISABLED_ACK must say for CALLBACK_AUTH=disabled to be accepted.
AUTH_DISABLED_ACK = "anyone-can-post-callbacks"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # The app's SDKAppID; callbacks naming another app are refused.
    TIM_SDKAPPID: Annotated[int, Field(gt=0)]
    # Secrets Manager secret (ARN or name) holding {"secret_key": the SDKAppID key}; read by the
    # functions that sign or verify UserSigs, never by the callback function. Until it holds a
    # plausible key (see timkit.keys) they refuse to sign or verify anything.
    TIM_SECRET_ID: str = ""
    # Secrets Manager secret holding {"callback_token": ..., "policy": optional}: the callback's only.
    CALLBACK_SECRET_ID: str = ""
    # "required" (default) or "disabled": running without callback authentication is an explicit choice,
    # made twice: "disabled" also needs CALLBACK_AUTH_DISABLED_ACK to name the risk.
    CALLBACK_AUTH: Literal["required", "disabled"] = "required"
    CALLBACK_AUTH_DISABLED_ACK: Literal["", "anyone-can-post-callbacks"] = ""
    # Anti-replay window for RequestTime (Tencent recommends one minute).
    CALLBACK_MAX_SKEW_SECONDS: Annotated[int, Field(ge=1, le=600)] = 60
    # Where the before-send policy document lives: "ssm:<parameter name>", "secret:" (the "policy"
    # key of the callback secret), "file:<path>" or "" (no policy: allow everything).
    POLICY_SOURCE: str = ""
    # How long the secrets and the policy document are cached: a rotated key or token, or an edited
    # policy, is in use everywhere within this time.
    CONFIG_CACHE_SECONDS: Annotated[int, Field(ge=0, le=3600)] = 60
    # The before-send answer is due by this deadline, well inside Tencent's 2 s.
    BEFORE_SEND_DEADLINE_MS: Annotated[int, Field(ge=50, le=1900)] = 1000
    # What a before-send callback answers when the policy cannot decide in time.
    BEFORE_SEND_FAILURE_POLICY: FailurePolicy = "allow"
    # REST API: the regional domain (see timkit.tim.endpoints), or TIM_API_BASE to point elsewhere
    # (the local emulator); calls are made as TIM_ADMIN_IDENTIFIER, an app admin account.
    TIM_REGION: str = "singapore"
    TIM_API_BASE: str = ""
    TIM_ADMIN_IDENTIFIER: Annotated[str, Field(min_length=1, max_length=32)] = "administrator"
    EVENTS_QUEUE_URL: str = ""
    # The chatbot: its FIFO queue of bot turns (empty: bot callbacks are archived, not answered),
    # the secret of its providers' API keys by name.
    CHATBOT_QUEUE_URL: str = ""
    CHATBOT_SECRET_ID: str = ""
    # Merger storage: the bucket and table, how long a merger lives, and up to what size a
    # download is returned inline (larger ones get a presigned S3 URL: Lambda answers ≤ 6 MB).
    MERGER_BUCKET: str = ""
    MERGER_TABLE: str = ""
    MERGER_RETENTION_DAYS: Annotated[int, Field(ge=1, le=3650)] = 30
    MERGER_INLINE_MAX_BYTES: Annotated[int, Field(ge=1, le=5 * 1024 * 1024)] = 3 * 1024 * 1024
    ARCHIVE_TABLE: str = ""
    # Secrets Manager secret (ARN or name) holding capture_key, which captured merger keys are derived with.
    CAPTURE_SECRET_ID: str = ""
    BOT_STATE_TABLE: str = ""
    # How long a recorded chatbot interrupt is kept.
    INTERRUPT_TTL_SECONDS: Annotated[int, Field(ge=60)] = 86400
    # Admin API and broadcasts. Every REST call the admin side makes is paced per API by a limiter
    # shared through RATE_TABLE: at most REST_CALLS_PER_SECOND per one-second window, leaving
    # the rest of Tencent's 200/s per API to the app's live traffic; a broadcast adds at most
    # BROADCAST_GROUP_MESSAGES_PER_SECOND to a group, of the 40/s all its members share.
    REST_CALLS_PER_SECOND: Annotated[int, Field(ge=1, le=200)] = 100
    BROADCAST_GROUP_MESSAGES_PER_SECOND: Annotated[int, Field(ge=1, le=40)] = 5
    RATE_TABLE: str = ""
    JOBS_TABLE: str = ""
    IDEMPOTENCY_TABLE: str = ""
    BROADCAST_QUEUE_URL: str = ""
    # EventBridge Scheduler: where scheduled broadcasts' schedules go and what they invoke.
    SCHEDULE_GROUP: str = "default"
    SCHEDULER_TARGET_ARN: str = ""
    SCHEDULER_ROLE_ARN: str = ""

    @model_validator(mode="after")
    def _unauthenticated_callbacks_are_acknowledged(self) -> Self:
        if self.CALLBACK_AUTH == "disabled" and self.CALLBACK_AUTH_DISABLED_ACK != AUTH_DISABLED_ACK:
            raise ValueError(
                "CALLBACK_AUTH=disabled lets anyone who finds the URL post callbacks: it also needs "
                f"CALLBACK_AUTH_DISABLED_ACK={AUTH_DISABLED_ACK}"
            )
        return self

    @classmethod
    def from_env(cls) -> Settings:
        # Read once per function, at cold start: the environment is the function's own.
        return cls.model_validate(os.environ)

