"""timctl against the local stack (`python -m local`), as an operator runs it: a subprocess over HTTP."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import requests

from local.cfn_yaml import load_template
from tests.e2e.conftest import ROOT, StackState


def timctl(stack: StackState, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "timctl", "--api", stack.api_url, *argv], capture_output=True, text=True, timeout=60
    )


def test_robots_list_shows_a_created_robot(local_stack: StackState) -> None:
    robot = f"@RBT#timctl-{uuid.uuid4().hex[:8]}"
    created = timctl(local_stack, "robots", "create", robot, "--nick", "timctl e2e")
    assert created.returncode == 0, created.stderr
    listed = timctl(local_stack, "--json", "robots", "list")
    assert listed.returncode == 0, listed.stderr
    assert robot in json.loads(listed.stdout)["robots"]


def test_callback_sign_send_is_accepted(local_stack: StackState) -> None:
    token = local_stack.callback_token
    sent = timctl(
        local_stack,
        "callback",
        "sign",
        "--send",
        "--sdkappid",
        str(local_stack.sdkappid),
        "--token",
        token,
        "--command",
        "C2C.CallbackBeforeSendMsg",
        "--text",
        "hello from the timctl e2e test",
    )
    assert sent.returncode == 0, sent.stderr
    answer = json.loads(sent.stdout)
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("OK", 0)
    assert token not in sent.stdout + sent.stderr

    refused = timctl(
        local_stack, "callback", "sign", "--send", "--sdkappid", str(local_stack.sdkappid), "--token", "not-the-token"
    )
    assert refused.returncode == 2
    assert "HTTP 401: Sign does not match" in refused.stderr


def test_threads_create_send_and_messages(local_stack: StackState) -> None:
    created = timctl(local_stack, "threads", "create", "timctl e2e", "alice", "bob")
    assert created.returncode == 0, created.stderr
    thread = created.stdout.splitlines()[0]
    sent = timctl(local_stack, "threads", "send", thread, "--from", "alice", "hello from timctl", "--meta", "k=v")
    assert sent.returncode == 0, sent.stderr
    listed = timctl(local_stack, "threads", "messages", thread)
    assert listed.returncode == 0, listed.stderr
    assert "hello from timctl" in listed.stdout and sent.stdout.strip() in listed.stdout
    assert timctl(local_stack, "threads", "delete", thread).returncode == 0


def test_the_admin_api_url_outputs_path_works_as_api(local_stack: StackState) -> None:
    # The local API stands in for the deployed host; the path is the output's, as template.yaml gives it.
    output = load_template(ROOT / "template.yaml")["Outputs"]["AdminApiUrl"]["Value"]["Fn::Sub"]
    api = local_stack.api_url + urlsplit(output).path
    assert api.endswith("/admin")
    listed = subprocess.run(
        [sys.executable, "-m", "timctl", "--api", api, "--json", "robots", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout)["robots"], list)


def test_docs_serves_the_ui_and_forwards_calls(local_stack: StackState) -> None:
    docs = subprocess.Popen(
        [sys.executable, "-m", "timctl", "--api", local_stack.api_url, "docs"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert docs.stdout is not None
        first = docs.stdout.readline()  # printed once it serves
        match = re.search(r"(http://127\.0\.0\.1:\d+/\S+/)", first)
        assert match, first + (docs.stderr.read() if docs.poll() is not None and docs.stderr else "")
        url = match.group(1)
        page = requests.get(url, timeout=30)
        assert page.status_code == 200 and "SwaggerUIBundle(" in page.text
        document = requests.get(url + "openapi.json", timeout=30).json()
        assert "/admin/robots" in document["paths"]  # the API's own document
        assert document["servers"] == [{"url": url.rstrip("/")}]
        robot = f"@RBT#docs-{uuid.uuid4().hex[:8]}"
        created = requests.post(url + "admin/robots", json={"robotId": robot, "nick": "docs e2e"}, timeout=30)
        assert created.status_code == 201, created.text
        assert robot in requests.get(url + "admin/robots", timeout=30).json()["robots"]
    finally:
        docs.send_signal(signal.SIGINT)
        assert docs.wait(timeout=30) == 0
