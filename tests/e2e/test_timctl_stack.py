"""timctl against the local stack (`python -m local`), as an operator runs it: a subprocess over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from tests.e2e.conftest import StackState


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
