"""timctl against a deployed stack: the AdminApiUrl output as --api, --stack (CloudFormation outputs,
in moto), --version and the shell completion scripts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from local.cfn_yaml import load_template
from tests.moto_env import offline_aws
from tests.unit import test_timctl
from tests.unit.test_timctl import KEY_ID, FakeApi, verify_sigv4
from timctl.__main__ import build_parser, main
from timctl.client import AdminClient, path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")

# test_timctl's fixtures: the fake admin API, a clean environment, a remote-looking API, AWS credentials.
api = test_timctl.api
aws_credentials = test_timctl.aws_credentials
environment = test_timctl.environment
remote = test_timctl.remote


def admin_api_output(api_id: str, region: str) -> str:
    """The stack's AdminApiUrl output as CloudFormation resolves it for an API ``api_id`` in ``region``."""
    text = TEMPLATE["Outputs"]["AdminApiUrl"]["Value"]["Fn::Sub"]
    values = {"HttpApi": api_id, "AWS::Region": region}
    return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text)


def template_routes() -> set[str]:
    routes = set()
    for resource in TEMPLATE["Resources"].values():
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                routes.add(f"{event['Properties']['Method'].upper()} {event['Properties']['Path']}")
    return routes


# ----------------------------------------------------------------------------- the AdminApiUrl output as --api


def test_the_admin_api_url_output_reaches_the_templates_routes() -> None:
    output = admin_api_output("abc123", "eu-west-1")
    assert output == "https://abc123.execute-api.eu-west-1.amazonaws.com/admin"
    client = AdminClient(output)
    # Every call goes to the host and a route the template declares (it was /admin/admin/...: a 404).
    assert client.api == "https://abc123.execute-api.eu-west-1.amazonaws.com"
    url = urlsplit(client.api + path("admin", "robots"))
    assert url.path == "/admin/robots"
    assert f"GET {url.path}" in template_routes()


@pytest.mark.parametrize("suffix", ["", "/", "/admin", "/admin/"])
def test_the_api_url_with_or_without_admin_works(api: FakeApi, suffix: str) -> None:
    api.answer(200, {"robots": []})
    assert main(["--api", api.url + suffix, "robots", "list"]) == 0
    assert [r.target for r in api.requests] == ["/admin/robots"]


def test_a_path_before_admin_is_kept(api: FakeApi) -> None:
    # A custom domain's API mapping puts the API under a path of its own.
    api.answer(200, {"robots": []})
    assert main(["--api", api.url + "/chat/admin", "robots", "list"]) == 0
    assert [r.target for r in api.requests] == ["/chat/admin/robots"]


def test_the_output_signs_for_its_region(api: FakeApi, remote: str, aws_credentials: None) -> None:
    # `remote` is plain HTTP through the fake API as a proxy; the output's path and host, as deployed.
    output = "http://" + urlsplit(admin_api_output("abc123", "eu-west-1")).netloc + "/admin"
    api.answer(200, {"robots": []})
    assert main(["--api", output, "robots", "list"]) == 0
    (request,) = api.requests
    assert urlsplit(request.target).path == "/admin/robots"
    verify_sigv4(request, "eu-west-1")


# ----------------------------------------------------------------------------- --stack

STACK_TEMPLATE = {
    "Parameters": {"AdminApiUrl": {"Type": "String"}, "CallbackSecretArn": {"Type": "String"}},
    "Resources": {
        "PolicyParameter": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "timkit-policy", "Type": "String", "Value": "{}"},
        },
    },
    "Outputs": {
        "AdminApiUrl": {"Value": {"Ref": "AdminApiUrl"}},
        # As template.yaml declares them.
        "PolicySource": TEMPLATE["Outputs"]["PolicySource"],
        "PolicyParameterName": TEMPLATE["Outputs"]["PolicyParameterName"],
        "CallbackSecretArn": {"Value": {"Ref": "CallbackSecretArn"}},
    },
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with offline_aws(monkeypatch):
        yield


def create_stack(name: str, region: str, admin_api_url: str, outputs: dict[str, Any] | None = None) -> str:
    template = {**STACK_TEMPLATE, "Outputs": outputs if outputs is not None else STACK_TEMPLATE["Outputs"]}
    parameters = {"AdminApiUrl": admin_api_url, "CallbackSecretArn": "arn:aws:secretsmanager:::secret:none"}
    stack_id: str = boto3.client("cloudformation", region_name=region).create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )["StackId"]
    return stack_id


def test_stack_finds_the_api_in_its_outputs(api: FakeApi, aws: None) -> None:
    create_stack("timkit-prod", "us-east-1", api.url + "/admin")
    api.answer(200, {"robots": ["@RBT#a"]})
    assert main(["--stack", "timkit-prod", "robots", "list"]) == 0
    assert [r.target for r in api.requests] == ["/admin/robots"]


def test_stack_in_another_region_by_region_or_arn(
    api: FakeApi, aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_id = create_stack("timkit-eu", "eu-west-1", api.url + "/admin")
    api.answer(200, {"robots": []})
    api.answer(200, {"robots": []})
    assert main(["--stack", "timkit-eu", "robots", "list"]) == 2  # looked for in us-east-1, the configured one
    assert "timctl: error: --stack timkit-eu: no such stack in us-east-1" in capsys.readouterr().err
    assert main(["--stack", "timkit-eu", "--region", "eu-west-1", "robots", "list"]) == 0
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(["--stack", stack_id, "robots", "list"]) == 0  # the ARN names its region
    assert len(api.requests) == 2


def test_stack_from_the_environment_and_precedence(api: FakeApi, aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    create_stack("timkit-env", "us-east-1", api.url + "/admin")
    for _ in range(3):
        api.answer(200, {"robots": []})
    monkeypatch.setenv("TIMCTL_STACK", "timkit-env")
    assert main(["robots", "list"]) == 0
    # An explicit --api wins over TIMCTL_STACK, and --stack over TIMCTL_API.
    monkeypatch.setenv("TIMCTL_API", "http://127.0.0.1:9")
    assert main(["--stack", "timkit-env", "robots", "list"]) == 0
    assert main(["--api", api.url, "robots", "list"]) == 0
    assert len(api.requests) == 3


def test_stack_errors_are_clear(api: FakeApi, aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    create_stack("not-timkit", "us-east-1", api.url, outputs={"Other": {"Value": "x"}})
    assert main(["--stack", "not-timkit", "robots", "list"]) == 2
    err = capsys.readouterr().err
    assert "stack not-timkit (us-east-1) has no AdminApiUrl output" in err
    assert main(["--stack", "x", "--api", api.url, "robots", "list"]) == 2
    assert "give --api or --stack, not both" in capsys.readouterr().err
    assert api.requests == []


def test_stack_without_a_region_or_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "timkit", "robots", "list"]) == 2
    assert "--stack timkit: no AWS region to look for it in: pass --region" in capsys.readouterr().err
    assert main(["--stack", "timkit", "--region", "eu-west-1", "robots", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("timctl: error: --stack timkit: Unable to locate credentials") and "Traceback" not in err


def test_the_stacks_region_signs_the_calls(api: FakeApi, aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    create_stack("timkit-ap", "ap-southeast-1", "http://admin.example.test/admin")
    monkeypatch.setenv("HTTP_PROXY", api.url)  # the fake API answers for the stack's host
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "timctl-test-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "timctl-test-session-token")
    api.answer(200, {"robots": []})
    assert main(["--stack", "timkit-ap", "--region", "ap-southeast-1", "robots", "list"]) == 0
    (request,) = api.requests
    assert request.headers["Host"] == "admin.example.test"
    verify_sigv4(request, "ap-southeast-1")


# ----------------------------------------------------------------------------- --version, completion


def test_version_is_the_packages(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"timctl {version('timkit')}\n"


def every_command(parser: Any = None, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    import argparse

    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from every_command(sub, (*prefix, name))


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_bash_completion_completes_commands_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "timctl.bash"
    script.write_text(capsys.readouterr().out)

    def complete(*words: str, current: str = "") -> set[str]:
        # What bash would offer after `timctl <words> <current><TAB>`, by the function the script registered.
        line = " ".join(["timctl", *words, current])
        previous = words[-1] if words else "timctl"
        program = (
            f"source {script}; COMP_WORDS=(timctl {' '.join(words)} '{current}'); COMP_CWORD={len(words) + 1}; "
            f"COMP_LINE='{line}'; COMP_POINT={len(line)}; "
            "fn=$(complete -p timctl | sed -E 's/.*-F ([^ ]+).*/\\1/'); "
            f"$fn timctl '{current}' '{previous}'; "
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
        return set(done.stdout.split())

    top = complete()
    assert {"policy", "docs", "broadcast", "completion"} <= top
    assert {name for (name,) in (c for c in every_command() if len(c) == 1)} <= top
    assert complete("policy") >= {"validate", "push", "show"}
    assert "--interval" in complete("broadcast", "watch", current="--")


@pytest.mark.skipif(shutil.which("zsh") is None, reason="no zsh here")
def test_zsh_completion_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "zsh"]) == 0
    script = tmp_path / "_timctl"
    script.write_text(capsys.readouterr().out)
    done = subprocess.run(["zsh", "-n", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_zsh_completion_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#compdef timctl")
    for command in every_command():
        assert command[-1] in script, command
