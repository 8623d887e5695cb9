"""End-to-end fixtures: the real local stack (`python -m local`) in a subprocess, over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.tim_emulator.control import EmulatorControl
from timkit.tim.rest import TimRestClient

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60
# The admin side's REST budget per API and second (the template's RestCallsPerSecond, 100, is more
# than the local stack's workers reach on 2 cores: a lower one is what the tests can check).
REST_BUDGET = 25
# A safety net, not a measure: a clean stop takes a second or two, but a loaded 2-core runner has
# been seen to take more than 15 s to act on the signal.
STOP_TIMEOUT_S = 60


class StackState(dict):
    """The state file of `python -m local`, readable as ``state["api_url"]`` or ``state.api_url``
    (``tim_api_base`` is the Tencent IM emulator's URL)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    work = tmp_path_factory.mktemp("local-stack")
    state_file, log_file = work / "state.json", work / "stack.log"
    # Tests may rewrite the policy: they get a copy, and re-read it on every call.
    policy = work / "policy.json"
    shutil.copy(ROOT / "local" / "policy.json", policy)
    env = {**os.environ, "TIM_POLICY_FILE": str(policy), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "local",
        "--api-port",
        "0",
        "--aws-port",
        "0",
        "--tim-port",
        "0",
        "--model-port",
        "0",
        "--ws-port",
        "0",
        "--state-file",
        str(state_file),
        "--env",
        "CONFIG_CACHE_SECONDS=0",
        "--env",
        f"REST_CALLS_PER_SECOND={REST_BUDGET}",
    ]
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not state_file.exists():
            if process.poll() is not None:
                pytest.fail(f"`python -m local` exited with {process.returncode}:\n{log_file.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"`python -m local` not ready after {START_TIMEOUT_S} s:\n{log_file.read_text()}")
            time.sleep(0.1)
        # The stack's output too: the functions' logs, where the example event consumer says what it got.
        yield StackState(json.loads(state_file.read_text()), log_file=str(log_file))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            returncode = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"`python -m local` did not stop within {STOP_TIMEOUT_S} s:\n{log_file.read_text()}")
    assert returncode == 0, f"`python -m local` exited with {returncode}:\n{log_file.read_text()}"
    assert not state_file.exists(), "the state file should be removed at exit"


@pytest.fixture(scope="session")
def aws(local_stack: StackState) -> Callable[[str], Any]:
    """``aws("sqs")``: a boto3 client for the local stack's moto."""
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = boto3.client(
                service,
                endpoint_url=local_stack["aws_endpoint"],
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return clients[service]

    return client


@pytest.fixture(scope="session")
def tim(local_stack: StackState) -> Iterator[EmulatorControl]:
    """The local stack's Tencent IM emulator, through its control API."""
    control = EmulatorControl(local_stack["tim_api_base"])
    yield control
    control.close()


@pytest.fixture
def rest(local_stack: StackState) -> TimRestClient:
    """The test's own calls (setting up groups and users), kept under the emulator's 200/s per API."""
    return TimRestClient(
        int(local_stack["sdkappid"]),
        local_stack["secret_key"],
        base_url=local_stack["tim_api_base"],
        pace=lambda api, body: time.sleep(1 / 150),
    )
