"""The app's SDKAppID key from Secrets Manager (the TIM_SECRET_ID secret), for every function that
signs or verifies UserSigs: the REST clients' admin sig and the merger API's authorizer.

The key is read again once ``CONFIG_CACHE_SECONDS`` have passed, so a rotated key is in use in
every warm function within that time, without a redeploy; a refresh that fails keeps the last good
key (logged), as the callback's configuration does. A key that is not usable (see
:mod:`timkit.keys`) is never handed out: every use raises :class:`KeyNotConfigured`, and each read
that finds it so logs a warning and emits the ``KeyNotConfigured`` metric, so that is once per
cache period rather than once per request.

The caching is :class:`timkit.stores.config.Cached` rather than Powertools' own ``max_age``: it
runs on an injectable clock, and keeps the last good key through a Secrets Manager outage, where
Powertools would fail every call until the outage ends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from timkit.keys import KeyNotConfigured, key_problem
from timkit.metrics import KEY_NOT_CONFIGURED, NAMESPACE
from timkit.stores.config import Cached

METRIC = KEY_NOT_CONFIGURED


class AppKeySecret(BaseModel):
    """The JSON of the TIM_SECRET_ID secret. Never logged: repr hides the key."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    secret_key: str = Field(default="", repr=False)


class CaptureKeySecret(BaseModel):
    """The JSON of the CAPTURE_SECRET_ID secret (captured merger keys are derived with it)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    capture_key: str = Field(default="", repr=False)


@dataclass(frozen=True)
class _Read:
    key: str = field(repr=False)
    # Why the key must not be used; None when it may.
    problem: str | None


class AppKeyStore:
    def __init__(
        self,
        secret_id: str,
        ttl: float,
        logger: Logger,
        clock: Callable[[], float] = time.monotonic,
        secrets: SecretsProvider | None = None,
        shape: type[BaseModel] = AppKeySecret,
        variable: str = "TIM_SECRET_ID",
    ) -> None:
        self._secret_id = secret_id
        # The secret's JSON (its one field is the key), and where operators set it, for messages.
        self._shape = shape
        self._field = next(iter(shape.model_fields))
        self._variable = variable
        self._setting = f"{self._field} in the {variable} secret"
        self._log = logger
        # Made on first read, so that a function starts without building a client it may not need.
        self._secrets = secrets
        self._cached = Cached[_Read](ttl, clock, logger)

    def current(self) -> str:
        """The app's key as the secret holds it now (within the cache time), or
        :class:`KeyNotConfigured`; ``ConfigUnavailable`` when it has never been read."""
        read = self._cached.get(self._read, self._setting)
        if read.problem is not None:
            raise KeyNotConfigured(read.problem, self._setting)
        return read.key

    def _read(self) -> _Read:
        if not self._secret_id:
            return self._not_configured(f"{self._variable} is not set")
        if self._secrets is None:
            self._secrets = SecretsProvider()
        # max_age=0: Powertools keeps no copy; the cache is ours (see the module's docstring).
        raw = self._secrets.get(self._secret_id, max_age=0)
        try:
            key = getattr(self._shape.model_validate_json(raw if isinstance(raw, str | bytes) else ""), self._field)
        except ValidationError as exc:
            # The fields at fault, never the input: it is the secret.
            fields = ", ".join(sorted({".".join(map(str, e["loc"])) or "secret" for e in exc.errors()}))
            return self._not_configured(f"the secret is not a JSON object with a string {self._field} ({fields})")
        if (problem := key_problem(key)) is not None:
            return self._not_configured(problem)
        return _Read(key, None)

    def _not_configured(self, problem: str) -> _Read:
        self._log.warning(str(KeyNotConfigured(problem, self._setting)), reason=problem)
        # The template sets POWERTOOLS_METRICS_NAMESPACE on every function; this is for anywhere it is not.
        namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
        with single_metric(name=METRIC, unit=MetricUnit.Count, value=1, namespace=namespace):
            pass
        return _Read("", problem)
