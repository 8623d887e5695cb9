"""`timctl policy validate | push | show`: the callback's own model decides, errors name the path, and a
document reaches the place the stack reads it from (SSM or the callback secret, in moto) only when valid."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.moto_env import offline_aws
from tests.unit.test_timctl import environment  # noqa: F401 - fixture
from tests.unit.test_timctl_deployed import STACK_TEMPLATE
from timctl.__main__ import main
from timkit.policy import Policy
from timkit.stores.config import CallbackSecret, ConfigStore
from timkit.stores.parameters import PowertoolsSource

ROOT = Path(__file__).resolve().parents[2]
LOCAL_POLICY = ROOT / "local" / "policy.json"
PARAMETER = "timkit-policy"  # STACK_TEMPLATE's
TOKEN = "policy-test-callback-token"  # noqa: S105
NO_SECRET = "arn:aws:secretsmanager:::secret:none"  # noqa: S105 - no secret


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with offline_aws(monkeypatch):
        yield


def write(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "policy.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2))
    return str(path)


def stack(name: str, source: str | None, secret_arn: str = NO_SECRET) -> None:
    outputs = dict(STACK_TEMPLATE["Outputs"])
    if source is None:  # a stack from before the PolicySource output
        outputs.pop("PolicySource")
    else:
        outputs["PolicySource"] = {"Value": source}
    boto3.client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps({**STACK_TEMPLATE, "Outputs": outputs}),
        Parameters=[
            {"ParameterKey": "AdminApiUrl", "ParameterValue": "http://127.0.0.1:9/admin"},
            {"ParameterKey": "CallbackSecretArn", "ParameterValue": secret_arn},
        ],
    )


def parameter_value() -> str:
    return str(boto3.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"])


def secret_value(arn: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    return value


# ----------------------------------------------------------------------------- validate


def test_validate_accepts_the_local_stacks_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", str(LOCAL_POLICY)]) == 0
    assert "valid: 2 blocked words (reject), 2 masked words" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"blocked_words": ["ok", ""]}, "blocked_words[1]: String should have at least 1 character"),
        ({"blocked_words": "spam"}, "blocked_words: Input should be a valid array"),
        ({"blocked_words": [["nested"]]}, "blocked_words[0]: Input should be a valid string"),
        ({"reject_code": {"c2c": 5}}, "reject_code.c2c: Value error, must be 1 or in 120001-"),
        ({"reject_code": {"group": "10100x"}}, "reject_code.group: Input should be a valid integer"),
        ({"allowed_elements": {"c2c": ["TIMPictureElem"]}}, "unknown element types for c2c: ['TIMPictureElem']"),
        ({"version": 2}, "version: Input should be 1"),
        ({"blocked_action": "drop"}, "blocked_action: Input should be 'reject' or 'discard'"),
        ({"max_body_bytes": 0}, "max_body_bytes: Input should be greater than or equal to 1"),
        ({"masked_word": ["typo"]}, "masked_word: Extra inputs are not permitted"),
        ([{"version": 1}], "(the document): Input should be an object"),
        ('{"version": 1,', "(the document): Invalid JSON: EOF while parsing"),
        ("", "(the document): Invalid JSON"),
    ],
)
def test_validate_names_the_path_of_each_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any, problem: str
) -> None:
    path = write(tmp_path, document)
    assert main(["policy", "validate", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"timctl: error: {path} is not a valid policy document:\n")
    assert problem in err
    assert "Traceback" not in err


def test_validate_lists_every_problem_and_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"blocked_words": [""], "mask_char": "**"})))
    assert main(["policy", "validate", "-"]) == 2
    err = capsys.readouterr().err
    assert "stdin is not a valid policy document" in err
    assert "blocked_words[0]:" in err and "mask_char:" in err


def test_validate_agrees_with_the_callbacks_loader(tmp_path: Path) -> None:
    # What validate accepts, the callback's Policy loads, and the reverse.
    good = {"masked_words": ["darn"], "allowed_elements": {"group": ["TIMTextElem"]}}
    bad = {"masked_words": ["darn"], "mask_char": ""}
    assert main(["policy", "validate", write(tmp_path, good)]) == 0
    Policy.from_json(json.dumps(good))
    assert main(["policy", "validate", write(tmp_path, bad)]) == 2
    with pytest.raises(ValueError, match="mask_char"):
        Policy.from_json(json.dumps(bad))


def test_validate_of_a_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", "/nonexistent/policy.json"]) == 2
    assert "cannot read /nonexistent/policy.json: No such file or directory" in capsys.readouterr().err


# ----------------------------------------------------------------------------- push and show: SSM


def test_push_to_the_stacks_parameter_then_the_callback_loads_it(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack("timkit", f"ssm:{PARAMETER}")
    document = {"blocked_words": ["spam-link.example"], "masked_words": ["darn"]}
    assert main(["--stack", "timkit", "policy", "push", write(tmp_path, document)]) == 0
    assert f"stored in SSM parameter {PARAMETER}: 1 blocked words" in capsys.readouterr().out
    assert json.loads(parameter_value()) == document
    # As the functions read it (POLICY_SOURCE=ssm:...).
    store = ConfigStore("", f"ssm:{PARAMETER}", 60, logger=_quiet(), source=PowertoolsSource())
    policy = store.policy()
    assert policy.blocked_anywhere({"Text": "see SPAM-link.example"})
    assert not policy.blocked_anywhere({"Text": "see the example"})

    assert main(["--stack", "timkit", "--json", "policy", "show"]) == 0
    assert json.loads(capsys.readouterr().out) == document


def test_an_invalid_document_is_not_pushed(aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack("timkit", f"ssm:{PARAMETER}")
    before = parameter_value()
    assert main(["--stack", "timkit", "policy", "push", write(tmp_path, {"blocked_words": [1]})]) == 2
    assert "blocked_words[0]: Input should be a valid string" in capsys.readouterr().err
    assert parameter_value() == before


def test_push_to_a_named_parameter_and_a_stack_without_the_policy_source_output(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("ssm").put_parameter(Name="other", Type="String", Value="{}")
    path = write(tmp_path, {"masked_words": ["heck"]})
    assert main(["policy", "push", path, "--parameter", "other", "--region", "us-east-1"]) == 0
    assert json.loads(boto3.client("ssm").get_parameter(Name="other")["Parameter"]["Value"]) == {
        "masked_words": ["heck"]
    }
    stack("older", None)  # its PolicyParameterName output is where its functions read
    assert main(["--stack", "older", "policy", "push", path]) == 0
    assert json.loads(parameter_value()) == {"masked_words": ["heck"]}


def test_push_needs_to_know_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "push", write(tmp_path, {})]) == 2
    assert "where is the policy? give --stack NAME, --parameter NAME or --secret ID" in capsys.readouterr().err


def test_a_policy_too_large_for_a_standard_parameter_is_explained(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack("timkit", f"ssm:{PARAMETER}")
    before = parameter_value()
    words = [f"blocked-word-{i:05d}" for i in range(400)]
    assert main(["--stack", "timkit", "policy", "push", write(tmp_path, {"blocked_words": words})]) == 2
    err = capsys.readouterr().err
    assert "more than the 4096 a Standard SSM parameter holds" in err
    assert "Advanced tier" in err and "POLICY_SOURCE=secret:" in err
    assert parameter_value() == before


def test_show_says_when_the_stored_policy_is_invalid(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    stack("timkit", f"ssm:{PARAMETER}")
    boto3.client("ssm").put_parameter(Name=PARAMETER, Value='{"blocked_words": "x"}', Overwrite=True)
    assert main(["--stack", "timkit", "policy", "show"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"blocked_words": "x"}
    assert "blocked_words: Input should be a valid array" in captured.err


def test_show_of_a_missing_parameter(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "show", "--parameter", "nope", "--region", "us-east-1"]) == 2
    assert "timctl: error: SSM parameter nope: ParameterNotFound" in capsys.readouterr().err


# ----------------------------------------------------------------------------- push and show: the callback secret


@pytest.fixture
def callback_secret(aws: None) -> str:
    arn: str = boto3.client("secretsmanager").create_secret(
        Name="timkit-callback", SecretString=json.dumps({"callback_token": TOKEN})
    )["ARN"]
    return arn


def test_push_to_the_callback_secret_keeps_the_token(
    callback_secret: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack("timkit", "secret:", callback_secret)
    document = {"masked_words": ["darn"], "mask_char": "#"}
    assert main(["--stack", "timkit", "policy", "push", write(tmp_path, document)]) == 0
    out = capsys.readouterr().out
    assert f"stored in the policy key of secret {callback_secret}" in out
    assert secret_value(callback_secret) == {"callback_token": TOKEN, "policy": document}
    # As the callback reads it (POLICY_SOURCE=secret:).
    assert CallbackSecret.model_validate(secret_value(callback_secret)).policy == document
    store = ConfigStore(callback_secret, "secret:", 60, logger=_quiet(), source=PowertoolsSource())
    assert store.policy().document.mask_char == "#"

    assert main(["--stack", "timkit", "policy", "show"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == document
    assert TOKEN not in captured.out + captured.err


def test_show_of_a_secret_without_a_policy(callback_secret: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "show", "--secret", callback_secret, "--region", "us-east-1"]) == 0
    captured = capsys.readouterr()
    assert "no policy (every message is allowed)" in captured.err
    assert TOKEN not in captured.out + captured.err


def test_a_secret_that_is_not_a_json_object_is_left_alone(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="plain", SecretString=TOKEN)["ARN"]
    assert main(["policy", "push", write(tmp_path, {}), "--secret", arn, "--region", "us-east-1"]) == 2
    err = capsys.readouterr().err
    assert "the secret is not a JSON object; timctl leaves it as it is" in err
    assert TOKEN not in err
    assert boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"] == TOKEN


def _quiet() -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service="test", level="CRITICAL")


def test_validate_and_completion_look_nothing_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # No region or credentials here: a stack lookup would fail.
    monkeypatch.setenv("TIMCTL_STACK", "timkit")
    assert main(["policy", "validate", str(LOCAL_POLICY)]) == 0
    assert main(["completion", "bash"]) == 0
    assert main(["robots", "list"]) == 2  # a command that calls the API does look it up
