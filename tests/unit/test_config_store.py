"""ConfigStore: the callback secret and the policy document, cached with a TTL, stale on error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.conftest import FakeClock, json_log_lines, payload, text_body
from timkit.aws_json import AwsError
from timkit.metrics import POLICY_LOAD_FAILED
from timkit.models.callbacks import C2CBeforeSend
from timkit.policy import ALLOW_ALL
from timkit.stores.config import (
    RETRY_AFTER_FAILURE_SECONDS,
    AwsJsonSource,
    CallbackSecret,
    ConfigStore,
    ConfigUnavailable,
)

TOKEN = "cb-token-0123456789"


class FakeAws:
    """Stands in for AwsJsonClient: answers each call from ``replies`` (a value or an exception)."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[str, dict, float]] = []

    def call(self, action: str, payload: dict, timeout: float = 2.0) -> dict:
        self.calls.append((action, payload, timeout))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply


def secret_reply(**values: Any) -> dict:
    return {"ARN": "arn:aws:secretsmanager:...", "SecretString": json.dumps(values)}


def ssm_reply(value: str) -> dict:
    return {"Parameter": {"Name": "/tim/policy", "Value": value, "Version": 1}}


def blocked(word: str) -> str:
    return json.dumps({"blocked_words": [word]})


def decides(policy, text: str) -> str:
    msg = C2CBeforeSend.model_validate(payload("C2C.CallbackBeforeSendMsg", MsgBody=text_body(text)))
    return policy.decide(msg).outcome


SECRET_ID = "tim/secret"


def store(
    logger,
    clock: FakeClock,
    *,
    source: str = "",
    secret_id: str = SECRET_ID,
    ttl: float = 60,
    secrets: FakeAws | None = None,
    ssm: FakeAws | None = None,
    counted: list[str] | None = None,
) -> ConfigStore:
    return ConfigStore(
        secret_id=secret_id,
        policy_source=source,
        ttl=ttl,
        logger=logger,
        clock=clock,
        source=AwsJsonSource(secrets, ssm),
        count=(counted if counted is not None else []).append,
    )


AWS_DOWN = AwsError("ssm", "GetParameter", "InternalServerError", "boom", 500)


# ----------------------------------------------------------------------------- the secret


def test_secret_is_fetched_and_cached_for_the_ttl(logger) -> None:
    clock = FakeClock()
    secrets = FakeAws(secret_reply(callback_token=TOKEN), secret_reply(callback_token="v2"))
    s = store(logger, clock, secrets=secrets)
    assert s.secret(timeout=0.5).callback_token == TOKEN
    assert secrets.calls == [("GetSecretValue", {"SecretId": "tim/secret"}, 0.5)]
    clock.advance(59.9)
    assert s.secret().callback_token == TOKEN
    assert len(secrets.calls) == 1
    clock.advance(0.1)
    assert s.secret().callback_token == "v2"
    assert len(secrets.calls) == 2


def test_ttl_zero_fetches_every_time(logger) -> None:
    secrets = FakeAws(secret_reply(callback_token="a"), secret_reply(callback_token="b"))
    s = store(logger, FakeClock(), secrets=secrets, ttl=0)
    assert s.secret().callback_token == "a"
    assert s.secret().callback_token == "b"


def test_secret_stale_on_error_then_retried_later(logger) -> None:
    clock = FakeClock()
    secrets = FakeAws(secret_reply(callback_token=TOKEN), AWS_DOWN, AWS_DOWN, secret_reply(callback_token="new"))
    s = store(logger, clock, secrets=secrets)
    assert s.secret().callback_token == TOKEN
    clock.advance(61)
    assert s.secret().callback_token == TOKEN  # refresh failed: last good value
    assert len(secrets.calls) == 2
    clock.advance(RETRY_AFTER_FAILURE_SECONDS - 0.1)
    assert s.secret().callback_token == TOKEN  # not retried on every request
    assert len(secrets.calls) == 2
    clock.advance(0.1)
    assert s.secret().callback_token == TOKEN  # retried, failed again
    assert len(secrets.calls) == 3
    clock.advance(RETRY_AFTER_FAILURE_SECONDS)
    assert s.secret().callback_token == "new"


def test_secret_unavailable_when_nothing_was_ever_loaded(logger) -> None:
    clock = FakeClock()
    secrets = FakeAws(AWS_DOWN, secret_reply(callback_token=TOKEN))
    s = store(logger, clock, secrets=secrets)
    with pytest.raises(ConfigUnavailable):
        s.secret()
    # No value to fall back on: the next request tries again at once.
    assert s.secret().callback_token == TOKEN


def test_malformed_secret_is_unavailable_and_the_error_names_no_value(logger) -> None:
    secrets = FakeAws({"SecretString": '{"callback_token": "' + TOKEN + '",}'})
    with pytest.raises(ConfigUnavailable) as exc:
        store(logger, FakeClock(), secrets=secrets).secret()
    assert TOKEN not in str(exc.value)


def test_no_secret_id_means_an_empty_secret(logger) -> None:
    secrets = FakeAws(AWS_DOWN)
    secret = store(logger, FakeClock(), secret_id="", secrets=secrets).secret()
    assert secret == CallbackSecret()
    assert secret.callback_token == ""
    assert secrets.calls == []


def test_secret_ignores_unknown_keys_and_hides_values() -> None:
    secret = CallbackSecret.model_validate_json(json.dumps({"callback_token": TOKEN, "policy": {"x": 1}, "other": "y"}))
    assert secret.callback_token == TOKEN and secret.policy == {"x": 1}
    assert TOKEN not in repr(secret) and TOKEN not in str(secret) and "'x'" not in repr(secret)


# ----------------------------------------------------------------------------- the policy


def test_no_policy_source_allows_everything(logger) -> None:
    assert store(logger, FakeClock(), source="").policy() is ALLOW_ALL


def test_file_source(logger, tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(blocked("诈骗"), encoding="utf-8")
    clock = FakeClock()
    s = store(logger, clock, source=f"file:{path}")
    assert decides(s.policy(), "这是诈骗") == "rejected"
    path.write_text(blocked("other"), encoding="utf-8")
    clock.advance(30)
    assert decides(s.policy(), "这是诈骗") == "rejected"  # cached
    clock.advance(30)
    assert decides(s.policy(), "这是诈骗") == "allowed"  # reloaded after the TTL
    assert decides(s.policy(), "other") == "rejected"


def test_ssm_source(logger) -> None:
    ssm = FakeAws(ssm_reply(blocked("scam")))
    s = store(logger, FakeClock(), source="ssm:/tim/policy", ssm=ssm)
    assert decides(s.policy(timeout=0.25), "a scam") == "rejected"
    assert ssm.calls == [("GetParameter", {"Name": "/tim/policy", "WithDecryption": True}, 0.25)]


@pytest.mark.parametrize("as_text", [False, True], ids=["object", "string"])
def test_secret_source(logger, as_text: bool) -> None:
    doc = {"blocked_words": ["scam"]}
    secrets = FakeAws(secret_reply(callback_token=TOKEN, policy=json.dumps(doc) if as_text else doc))
    s = store(logger, FakeClock(), source="secret:", secrets=secrets)
    assert decides(s.policy(), "scam") == "rejected"
    assert s.secret().callback_token == TOKEN
    assert len(secrets.calls) == 1  # the secret is fetched once for both


def test_secret_source_without_policy_key_allows_everything(logger) -> None:
    s = store(logger, FakeClock(), source="secret:", secrets=FakeAws(secret_reply(callback_token=TOKEN)))
    assert s.policy() is ALLOW_ALL


def test_policy_stale_on_fetch_error(logger) -> None:
    clock = FakeClock()
    ssm = FakeAws(ssm_reply(blocked("scam")), AWS_DOWN)
    s = store(logger, clock, source="ssm:/p", ssm=ssm)
    first = s.policy()
    clock.advance(120)
    assert s.policy() is first
    assert decides(s.policy(), "scam") == "rejected"


def test_invalid_policy_document_keeps_the_last_good_one(logger) -> None:
    clock = FakeClock()
    ssm = FakeAws(
        ssm_reply(blocked("scam")),
        ssm_reply(json.dumps({"reject_code": {"c2c": 10100}})),  # c2c code out of range
        ssm_reply("{not json"),
        ssm_reply(blocked("fraud")),
    )
    s = store(logger, clock, source="ssm:/p", ssm=ssm)
    assert decides(s.policy(), "scam") == "rejected"
    clock.advance(61)
    assert decides(s.policy(), "scam") == "rejected"  # invalid document: last good policy
    clock.advance(RETRY_AFTER_FAILURE_SECONDS)
    assert decides(s.policy(), "scam") == "rejected"  # broken JSON: still the last good policy
    clock.advance(RETRY_AFTER_FAILURE_SECONDS)
    assert decides(s.policy(), "fraud") == "rejected"  # a valid document replaces it
    assert decides(s.policy(), "scam") == "allowed"
    assert len(ssm.calls) == 4


def test_invalid_first_policy_is_unavailable(logger) -> None:
    ssm = FakeAws(ssm_reply('{"unknown_key": 1}'))
    with pytest.raises(ConfigUnavailable):
        store(logger, FakeClock(), source="ssm:/p", ssm=ssm).policy()


def test_missing_policy_file_is_unavailable(logger, tmp_path: Path) -> None:
    with pytest.raises(ConfigUnavailable):
        store(logger, FakeClock(), source=f"file:{tmp_path / 'missing.json'}").policy()


def test_unknown_policy_source_scheme_is_unavailable(logger) -> None:
    with pytest.raises(ConfigUnavailable):
        store(logger, FakeClock(), source="s3://bucket/policy.json").policy()


def test_unchanged_document_is_not_compiled_again(logger) -> None:
    clock = FakeClock()
    ssm = FakeAws(ssm_reply(blocked("scam")))
    s = store(logger, clock, source="ssm:/p", ssm=ssm)
    first = s.policy()
    clock.advance(61)
    assert s.policy() is first
    assert len(ssm.calls) == 2


def test_refresh_failure_is_logged_without_values(logger, capsys) -> None:
    clock = FakeClock()
    secrets = FakeAws(secret_reply(callback_token=TOKEN), AWS_DOWN)
    s = store(logger, clock, secrets=secrets)
    s.secret()
    clock.advance(61)
    s.secret()
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any("refresh failed" in r["message"] for r in records), out
    assert TOKEN not in out


# ----------------------------------------------------------------------------- policy load failures
# Kept quiet before (a warning, the last good policy in force): now an error and a metric to alarm on.


def load_failures(out: str) -> list[dict[str, Any]]:
    return [r for r in json_log_lines(out) if r["message"].startswith("policy document could not be loaded")]


def test_an_invalid_policy_document_is_an_error_and_a_metric_and_the_last_good_one_stays(logger, capsys) -> None:
    clock, counted = FakeClock(), []
    # The document's values must not reach the log: the policy may live in the callback secret.
    invalid = json.dumps({"blocked_words": ["codeword-17"], "reject_code": {"c2c": 10100}})
    ssm = FakeAws(ssm_reply(blocked("scam")), ssm_reply(invalid))
    s = store(logger, clock, source="ssm:/p", ssm=ssm, counted=counted)
    assert decides(s.policy(), "scam") == "rejected"
    assert counted == []
    clock.advance(61)
    assert decides(s.policy(), "scam") == "rejected"
    assert counted == [POLICY_LOAD_FAILED]
    out = capsys.readouterr().out
    (failure,) = load_failures(out)
    assert failure["level"] == "ERROR"
    assert failure["source"] == "ssm:/p"
    assert failure["problem"] == "invalid fields: reject_code.c2c"
    assert "codeword-17" not in out


@pytest.mark.parametrize(
    ("source", "reply", "problem"),
    [
        ("ssm:/p", AWS_DOWN, "could not be read"),
        ("ssm:/p", ssm_reply("{not json"), "invalid fields: document"),
        ("ssm:/p", ssm_reply("[1, 2]"), "invalid fields: document"),
        ("ssm:/p", ssm_reply(json.dumps({"blocked_words": "scam"})), "invalid fields: blocked_words"),
        ("s3://bucket/policy.json", ssm_reply(blocked("scam")), "could not be read"),
    ],
)
def test_a_first_policy_that_fails_to_load_is_counted_too(
    logger, capsys, source: str, reply: Any, problem: str
) -> None:
    counted: list[str] = []
    s = store(logger, FakeClock(), source=source, ssm=FakeAws(reply), counted=counted)
    with pytest.raises(ConfigUnavailable):
        s.policy()
    assert counted == [POLICY_LOAD_FAILED]
    (failure,) = load_failures(capsys.readouterr().out)
    assert failure["problem"] == problem


def test_a_broken_policy_is_counted_once_per_retry_not_per_callback(logger) -> None:
    clock, counted = FakeClock(), []
    ssm = FakeAws(ssm_reply(blocked("scam")), AWS_DOWN)
    s = store(logger, clock, source="ssm:/p", ssm=ssm, counted=counted)
    s.policy()
    clock.advance(61)
    for _ in range(5):
        s.policy()
    assert counted == [POLICY_LOAD_FAILED]
    clock.advance(RETRY_AFTER_FAILURE_SECONDS)
    s.policy()
    assert counted == [POLICY_LOAD_FAILED] * 2


def test_a_secret_that_fails_to_load_is_not_a_policy_failure(logger) -> None:
    counted: list[str] = []
    s = store(logger, FakeClock(), secrets=FakeAws(AWS_DOWN), counted=counted)
    with pytest.raises(ConfigUnavailable):
        s.secret()
    assert counted == []
