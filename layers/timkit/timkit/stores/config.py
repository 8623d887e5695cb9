"""The callback's configuration from AWS: the callback secret and the policy document, cached.

Both are read on the before-send fast path, so they are cached for ``CONFIG_CACHE_SECONDS`` and a
failed refresh keeps serving the last good value (logged) instead of failing every callback. A policy
document that cannot be read or does not validate is an error, not only a warning: it is logged as one
and counted in the ``PolicyLoadFailed`` metric (through the ``count`` the function passes), for an
alarm; the last good policy stays in force meanwhile.

They are read through a :class:`ConfigSource`: the callback function's is :class:`AwsJsonSource`
(the standard-library client, for its cold start: see :mod:`timkit.aws_json`); every other function
passes :class:`timkit.stores.parameters.PowertoolsSource` (boto3).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from timkit.aws_json import AwsJsonClient
from timkit.metrics import POLICY_LOAD_FAILED
from timkit.policy import ALLOW_ALL, Policy

T = TypeVar("T")
# After a failed refresh, try again this much later rather than on every request.
RETRY_AFTER_FAILURE_SECONDS = 5.0


class ConfigUnavailable(Exception):
    """Configuration could not be loaded and there is no earlier value to fall back on."""


class CallbackSecret(BaseModel):
    """The JSON in the callback secret (CALLBACK_SECRET_ID). Never logged: repr hides every value.
    The app's SDKAppID key is not in it: the callback function has no use for the key, and cannot
    read the secret that holds it (see timkit.stores.appkey)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    callback_token: str = Field(default="", repr=False)
    policy: dict[str, Any] | str | None = Field(default=None, repr=False)


class Cached(Generic[T]):
    """A value fetched at most once per ``ttl``; a failed refresh keeps the last good one."""

    def __init__(self, ttl: float, clock: Callable[[], float], logger: Logger) -> None:
        self._log = logger
        self._ttl = ttl
        self._clock = clock
        self._value: T | None = None
        self._fresh_until = float("-inf")

    def get(self, fetch: Callable[[], T], what: str) -> T:
        now = self._clock()
        if now < self._fresh_until and self._value is not None:
            return self._value
        try:
            self._value = fetch()
            self._fresh_until = now + self._ttl
        except Exception as exc:
            if self._value is None:
                # Not chained: the cause may quote what it failed to parse, and that may be a secret.
                raise ConfigUnavailable(f"{what} could not be loaded: {type(exc).__name__}") from None
            self._fresh_until = now + RETRY_AFTER_FAILURE_SECONDS
            self._log.warning(f"{what} refresh failed, keeping the last good value", error=type(exc).__name__)
        return self._value


class ConfigSource(Protocol):
    """Where a secret's string and a parameter's (decrypted) value are read from; ``timeout`` in seconds."""

    def secret_string(self, secret_id: str, timeout: float) -> str: ...

    def parameter(self, name: str, timeout: float) -> str: ...


class AwsJsonSource:
    """Through the standard-library client: the callback function's, for its cold start. Each
    client is made on first use, so a function starts without building one it may not need."""

    def __init__(self, secrets: AwsJsonClient | None = None, ssm: AwsJsonClient | None = None) -> None:
        self._secrets = secrets
        self._ssm = ssm

    def secret_string(self, secret_id: str, timeout: float) -> str:
        if self._secrets is None:
            self._secrets = AwsJsonClient("secretsmanager")
        return str(self._secrets.call("GetSecretValue", {"SecretId": secret_id}, timeout=timeout)["SecretString"])

    def parameter(self, name: str, timeout: float) -> str:
        if self._ssm is None:
            self._ssm = AwsJsonClient("ssm")
        reply = self._ssm.call("GetParameter", {"Name": name, "WithDecryption": True}, timeout=timeout)
        return str(reply["Parameter"]["Value"])


class ConfigStore:
    def __init__(
        self,
        secret_id: str,
        policy_source: str,
        ttl: float,
        logger: Logger,
        clock: Callable[[], float] = time.monotonic,
        source: ConfigSource | None = None,
        count: Callable[[str], None] = lambda name: None,
    ) -> None:
        self._secret_id = secret_id
        self._policy_source = policy_source
        self._source = source or AwsJsonSource()
        self._log = logger
        # Records a metric by name (the function's Powertools Metrics): POLICY_LOAD_FAILED.
        self._count = count
        self._secret = Cached[CallbackSecret](ttl, clock, logger)
        self._policy = Cached[Policy](ttl, clock, logger)
        # The text the current policy was compiled from: building the automata again is only
        # worth it when the document changed.
        self._compiled: tuple[str | None, Policy] = (None, ALLOW_ALL)

    def secret(self, timeout: float = 1.0) -> CallbackSecret:
        return self._secret.get(lambda: self._fetch_secret(timeout), "callback secret")

    def policy(self, timeout: float = 1.0) -> Policy:
        return self._policy.get(lambda: self._load_policy(timeout), "policy document")

    def _load_policy(self, timeout: float) -> Policy:
        try:
            raw = self._fetch_policy(timeout)
            if raw != self._compiled[0]:
                # An invalid document raises here and the last good policy stays in force.
                self._compiled = (raw, ALLOW_ALL if raw is None else Policy.from_json(raw))
        except Exception as exc:
            # At most once per RETRY_AFTER_FAILURE_SECONDS (Cached): an edit that broke the document
            # must reach an operator, who otherwise sees moderation quietly running on an old policy.
            self._log.error(
                "policy document could not be loaded; the last good one (if any) stays in force",
                source=self._policy_source,
                error=type(exc).__name__,
                problem=_policy_problem(exc),
            )
            self._count(POLICY_LOAD_FAILED)
            raise
        return self._compiled[1]

    def _fetch_secret(self, timeout: float) -> CallbackSecret:
        if not self._secret_id:
            return CallbackSecret()
        raw = self._source.secret_string(self._secret_id, timeout)
        try:
            return CallbackSecret.model_validate_json(raw)
        except ValidationError as exc:
            # Name the fields only: a validation error quotes its input, which here is the secret.
            fields = ", ".join(sorted({".".join(map(str, e["loc"])) or "secret" for e in exc.errors()}))
            raise ValueError(f"the callback secret is not the expected JSON ({fields})") from None

    def _fetch_policy(self, timeout: float) -> str | None:
        scheme, _, where = self._policy_source.partition(":")
        if not self._policy_source:
            return None
        if scheme == "file":
            return Path(where).read_text(encoding="utf-8")
        if scheme == "ssm":
            return self._source.parameter(where, timeout)
        if scheme == "secret":
            policy = self.secret(timeout).policy
            return policy if policy is None or isinstance(policy, str) else json.dumps(policy)
        raise ValueError(f"POLICY_SOURCE must start with file:, ssm: or secret:, not {scheme!r}")


def _policy_problem(exc: Exception) -> str:
    """What is wrong with the document, without quoting it (it may come from the callback secret)."""
    if isinstance(exc, ValidationError):
        return "invalid fields: " + ", ".join(
            sorted({".".join(map(str, e["loc"])) or "document" for e in exc.errors(include_input=False)})
        )
    return "could not be read"
