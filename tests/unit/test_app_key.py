"""The app's key: what counts as not configured, and AppKeyStore's reading of it (cache time,
rotation, a warning and a metric once per read that finds it unusable, the last good key through
an outage, never the value in a message)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from tests.unit.conftest import FakeClock, json_log_lines
from timkit.keys import MIN_KEY_LENGTH, KeyNotConfigured, key_problem, usable_key
from timkit.stores.appkey import METRIC, AppKeyStore
from timkit.stores.config import RETRY_AFTER_FAILURE_SECONDS, ConfigUnavailable
from timkit.tim.errors import TimError

TENCENT_SHAPED = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
SECRET_ID = "tim/key"
OTHER_KEY = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "it is empty"),
        ("  \t\n", "it is empty"),
        ("REPLACE_ME", "it is a placeholder"),
        (" changeme ", "it is a placeholder"),
        ("Your-Secret-Key", "it is a placeholder"),
        ("local-demo-key-not-secret-0000000000000000000000000000000000000000", "it is a placeholder"),
        ("bench-key", f"it is shorter than {MIN_KEY_LENGTH} characters; Tencent's keys have 64"),
        ("x" * (MIN_KEY_LENGTH - 1), f"it is shorter than {MIN_KEY_LENGTH} characters; Tencent's keys have 64"),
    ],
)
def test_keys_nobody_set_are_not_configured(key: str, problem: str) -> None:
    assert key_problem(key) == problem
    with pytest.raises(KeyNotConfigured) as err:
        usable_key(key)
    assert err.value.reason == problem
    assert str(err.value).startswith("secret_key in the TIM_SECRET_ID secret is not configured")
    assert not key.strip() or key.strip() not in str(err.value).replace(problem, "")


@pytest.mark.parametrize("key", [TENCENT_SHAPED, "k" * MIN_KEY_LENGTH])
def test_a_plausible_key_is_usable(key: str) -> None:
    assert key_problem(key) is None and usable_key(key) == key


def test_not_configured_is_a_retryable_rest_error() -> None:
    # The broadcast worker retries a retryable TimError and fails it, naming why, once retries run out.
    err = KeyNotConfigured("it is empty")
    assert isinstance(err, TimError) and err.retryable and err.error_code is None


class FakeSecrets:
    """Stands in for Powertools' SecretsProvider: answers each get from ``replies`` (text or an
    exception), the last one for ever."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.reads = 0

    def get(self, name: str, max_age: int | None = None) -> str:
        self.reads += 1
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply


def secret(**values: Any) -> str:
    return json.dumps(values)


def store(logger, secrets: FakeSecrets, clock: FakeClock, secret_id: str = SECRET_ID) -> AppKeyStore:
    return AppKeyStore(secret_id, 60, logger, clock=clock, secrets=secrets)


def reports(out: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The warnings and the KeyNotConfigured metrics in captured stdout."""
    lines = json_log_lines(out)
    warnings = [r for r in lines if r.get("level") == "WARNING" and "not configured" in r.get("message", "")]
    metrics = [r for r in lines if METRIC in r and "_aws" in r]
    return warnings, metrics


def test_the_key_is_read_again_after_the_cache_time(logger) -> None:
    clock = FakeClock()
    secrets = FakeSecrets(secret(secret_key=TENCENT_SHAPED), secret(secret_key=OTHER_KEY))
    keys = store(logger, secrets, clock)
    assert keys.current() == TENCENT_SHAPED
    clock.now += 60 - 0.001
    assert keys.current() == TENCENT_SHAPED and secrets.reads == 1
    clock.now += 0.001
    assert keys.current() == OTHER_KEY and secrets.reads == 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (secret(secret_key=""), "it is empty"),
        (secret(secret_key="REPLACE_ME"), "it is a placeholder"),
        (secret(secret_key="short"), "it is shorter than"),
        (secret(callback_token="x" * 40), "it is empty"),  # the key missing altogether
        (secret(secret_key=12345678901234567890123456789012345), "not a JSON object with a string secret_key"),
        (json.dumps([TENCENT_SHAPED]), "not a JSON object with a string secret_key"),
        ('{"secret_key": "' + TENCENT_SHAPED + '",}', "not a JSON object with a string secret_key"),
    ],
)
def test_a_key_nobody_set_is_refused_with_one_warning_and_metric_per_read(
    logger, capsys, text: str, reason: str
) -> None:
    clock = FakeClock()
    keys = store(logger, FakeSecrets(text), clock)
    for _ in range(3):
        with pytest.raises(KeyNotConfigured, match=reason):
            keys.current()
    clock.now += 61
    with pytest.raises(KeyNotConfigured):
        keys.current()
    out = capsys.readouterr().out
    warnings, metrics = reports(out)
    # Once per read (two reads: before and after the cache time), not once per use.
    assert len(warnings) == 2 and len(metrics) == 2, out
    assert all(r[METRIC] == [1.0] and r["_aws"]["CloudWatchMetrics"][0]["Namespace"] for r in metrics)
    assert "TIM_SECRET_ID" in warnings[0]["message"] and TENCENT_SHAPED not in out


def test_no_secret_id_is_not_configured_and_reads_nothing(logger) -> None:
    secrets = FakeSecrets(secret(secret_key=TENCENT_SHAPED))
    with pytest.raises(KeyNotConfigured, match="TIM_SECRET_ID is not set"):
        store(logger, secrets, FakeClock(), secret_id="").current()
    assert secrets.reads == 0


def test_a_key_set_later_is_used_after_the_cache_time(logger) -> None:
    clock = FakeClock()
    keys = store(logger, FakeSecrets(secret(secret_key=""), secret(secret_key=TENCENT_SHAPED)), clock)
    with pytest.raises(KeyNotConfigured):
        keys.current()
    clock.now += 61
    assert keys.current() == TENCENT_SHAPED


def test_an_outage_keeps_the_last_key_read(logger, capsys) -> None:
    clock = FakeClock()
    down = GetParameterError("An error occurred (InternalServiceError) when calling GetSecretValue")
    secrets = FakeSecrets(secret(secret_key=TENCENT_SHAPED), down, down, secret(secret_key=OTHER_KEY))
    keys = store(logger, secrets, clock)
    assert keys.current() == TENCENT_SHAPED
    clock.now += 61
    assert keys.current() == TENCENT_SHAPED  # refresh failed: the last key read
    clock.now += RETRY_AFTER_FAILURE_SECONDS
    assert keys.current() == TENCENT_SHAPED  # failed again
    clock.now += RETRY_AFTER_FAILURE_SECONDS
    assert keys.current() == OTHER_KEY
    assert TENCENT_SHAPED not in capsys.readouterr().out


def test_never_read_is_unavailable_not_unconfigured(logger) -> None:
    keys = store(logger, FakeSecrets(GetParameterError("ResourceNotFoundException")), FakeClock())
    with pytest.raises(ConfigUnavailable):
        keys.current()
