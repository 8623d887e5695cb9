"""Local functions in worker processes, as Lambda runs them in execution environments: concurrency up to a
limit, isolated environments, handler errors, enforced timeouts, crashes, and no process left behind.

Handlers report what they saw in their return value or in files under a temporary folder: they run in
other processes, so nothing is read from their module globals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from local.functions import FunctionCrashed, FunctionError, FunctionTimeout, LocalFunction
from local.template import FunctionSpec, SqsSource
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]

HANDLER = """
    import decimal, json, os, sys, time
    from pathlib import Path

    CALLS = 0

    def wait_for(predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.01)
        return predicate()

    def handler(event, context):
        global CALLS
        CALLS += 1
        action = event.get("action")
        if action == "raise":
            raise KeyError("no such thing")
        if action == "exit":
            os._exit(7)
        if action == "sleep":
            time.sleep(event["seconds"])
        if action == "unserializable":
            return {1, 2}
        if action == "decimal":
            return {"n": decimal.Decimal("1.5")}
        if action == "barrier":
            # Returns once `parties` invocations have arrived: only invocations running at once can all pass.
            folder = Path(event["folder"])
            (folder / str(os.getpid())).touch()
            passed = wait_for(lambda: len(list(folder.iterdir())) >= event["parties"])
            return {"pid": os.getpid(), "passed": passed}
        if action == "overlap":
            # Counts the invocations under way while this one runs.
            folder = Path(event["folder"])
            mine = folder / f"{os.getpid()}-{context.aws_request_id}"
            mine.touch()
            seen = 0
            for _ in range(20):
                seen = max(seen, len(list(folder.iterdir())))
                time.sleep(0.01)
            mine.unlink()
            return {"seen": seen}
        if action == "block":
            Path(event["started"]).write_text(str(os.getpid()))
            time.sleep(60)
        return {
            "pid": os.getpid(),
            "calls": CALLS,
            "module": __name__,
            "env": {k: os.environ.get(k) for k in event.get("env", [])},
            "context": {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "aws_request_id": context.aws_request_id,
                "invoked_function_arn": context.invoked_function_arn,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining_ms": context.get_remaining_time_in_millis(),
            },
        }
"""


def blocked_invocation(function: LocalFunction, marker: Path) -> tuple[threading.Thread, dict[str, BaseException]]:
    """An invocation that blocks in its handler, on a thread of its own, started once ``marker``
    exists (it holds the worker's pid); what it raised lands in the dictionary under "error"."""
    outcome: dict[str, BaseException] = {}

    def invoke() -> None:
        try:
            function.invoke({"action": "block", "started": str(marker)})
        except BaseException as exc:
            outcome["error"] = exc

    invocation = threading.Thread(target=invoke)
    invocation.start()
    wait_for(marker.exists, "the handler to start")
    return invocation, outcome


def gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped by its parent counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def make_function(
    folder: Path,
    logical_id: str = "Fn",
    source: str = HANDLER,
    environment: dict[str, str] | None = None,
    timeout: int = 10,
    **spec: Any,
) -> LocalFunction:
    code = folder / logical_id
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(textwrap.dedent(source))
    function_spec = FunctionSpec(
        logical_id=logical_id,
        code_dir=code,
        handler="app.handler",
        environment={},
        function_name=None,
        timeout=timeout,
        memory=256,
        logging_config={},
        **spec,
    )
    return LocalFunction(function_spec, f"local-{logical_id}", dict(environment or {}))


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., LocalFunction]]:
    functions: list[LocalFunction] = []

    def start(logical_id: str = "Fn", **options: Any) -> LocalFunction:
        function = make_function(tmp_path, logical_id, **options)
        functions.append(function)
        function.start()
        return function

    yield start
    for function in functions:
        function.stop()


def in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def test_invocations_of_one_function_run_at_once_in_separate_processes(
    started: Callable[..., LocalFunction], tmp_path: Path
) -> None:
    function = started()
    (tmp_path / "barrier").mkdir()
    event = {"action": "barrier", "folder": str(tmp_path / "barrier"), "parties": 2}
    first, second = in_parallel([lambda: function.invoke(event)] * 2)
    assert first["passed"] and second["passed"], "each invocation must have seen the other one running"
    assert first["pid"] != second["pid"]


def test_a_worker_serves_one_invocation_after_another_keeping_module_globals(
    started: Callable[..., LocalFunction],
) -> None:
    function = started()
    first, second = function.invoke({}), function.invoke({})
    assert first["pid"] == second["pid"]
    assert (first["calls"], second["calls"]) == (1, 2)
    # Under a name of its own, as in the stack's process before: handler modules are all called app.
    assert first["module"] == "fn_Fn_app"
    assert function.status() == {
        "name": "local-Fn",
        "concurrency": 4,
        "workers": [{"pid": first["pid"], "busy": False, "invocations": 2}],
    }


def test_the_context_object_is_lambdas(started: Callable[..., LocalFunction]) -> None:
    context = started(timeout=7).invoke({})["context"]
    assert context["function_name"] == "local-Fn"
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:local-Fn"
    assert context["log_group_name"] == "/aws/lambda/local-Fn"
    assert context["log_stream_name"].endswith(tuple("0123456789abcdef"))
    assert len(context["aws_request_id"]) == 36
    assert 0 < context["remaining_ms"] <= 7000


def test_environments_are_the_functions_own(
    started: Callable[..., LocalFunction], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "developer-account")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3.example")
    monkeypatch.setenv("FROM_THE_SHELL", "kept")
    before = dict(os.environ)
    one = started("One", environment={"ONLY_ONE": "1", "SHARED": "one"})
    two = started("Two", environment={"SHARED": "two"})
    names = ["ONLY_ONE", "SHARED", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "FROM_THE_SHELL", "AWS_LAMBDA_FUNCTION_NAME"]
    seen_one, seen_two = in_parallel([lambda: one.invoke({"env": names}), lambda: two.invoke({"env": names})])
    assert seen_one["env"] == {
        "ONLY_ONE": "1",
        "SHARED": "one",
        "AWS_PROFILE": None,
        "AWS_ENDPOINT_URL_S3": None,
        "FROM_THE_SHELL": "kept",
        "AWS_LAMBDA_FUNCTION_NAME": "local-One",
    }
    two_only = {"ONLY_ONE": None, "SHARED": "two", "AWS_LAMBDA_FUNCTION_NAME": "local-Two"}
    assert seen_two["env"] == {**seen_one["env"], **two_only}
    assert dict(os.environ) == before, "the stack's own environment must not change"


def test_a_raising_handler_is_a_function_error_with_its_traceback(started: Callable[..., LocalFunction]) -> None:
    function = started()
    with pytest.raises(FunctionError) as info:
        function.invoke({"action": "raise"})
    error = info.value
    assert (error.error_type, error.error_message) == ("KeyError", "'no such thing'")
    assert 'app.py", line' in error.traceback and "KeyError: 'no such thing'" in error.traceback
    assert str(error) == "Fn: KeyError: 'no such thing'"
    # Logging the exception (logging.exception, traceback.format_exc) shows the handler's traceback.
    assert error.__cause__ is not None and error.traceback in str(error.__cause__)
    assert function.invoke({})["calls"] == 2, "the worker lives on after a function error"


def test_a_result_lambda_cannot_serialize_is_a_function_error(started: Callable[..., LocalFunction]) -> None:
    function = started()
    with pytest.raises(FunctionError, match="Unable to marshal response") as info:
        function.invoke({"action": "unserializable"})
    assert info.value.error_type == "Runtime.MarshalError"
    assert function.invoke({"action": "decimal"}) == {"n": 1.5}


def test_a_timeout_kills_the_worker(started: Callable[..., LocalFunction], caplog: pytest.LogCaptureFixture) -> None:
    function = started(timeout=1)
    pid = function.invoke({})["pid"]
    with pytest.raises(FunctionTimeout, match="Task timed out after 1.00 seconds"):
        function.invoke({"action": "sleep", "seconds": 30})
    assert gone(pid)
    assert "Task timed out after 1.00 seconds" in caplog.text
    assert function.status()["workers"] == []
    assert function.invoke({})["pid"] != pid, "a new worker takes over"


def test_a_killed_busy_worker_crashes_its_invocation_and_the_next_one_works(
    started: Callable[..., LocalFunction], tmp_path: Path
) -> None:
    function = started()
    marker = tmp_path / "started"
    invocation, outcome = blocked_invocation(function, marker)
    pid = function.kill_busy_worker()
    invocation.join(timeout=20)
    assert pid == int(marker.read_text())
    assert isinstance(outcome.get("error"), FunctionCrashed)
    assert f"its worker process {pid} was killed by SIGKILL" in str(outcome["error"])
    assert function.kill_busy_worker() is None, "no worker is busy any more"
    assert function.invoke({})["pid"] != pid


def test_os_exit_in_the_handler_is_a_crash(started: Callable[..., LocalFunction]) -> None:
    function = started()
    with pytest.raises(FunctionCrashed, match="exited with code 7"):
        function.invoke({"action": "exit"})
    assert function.invoke({})["calls"] == 1, "a fresh worker imported the handler again"


def test_a_worker_killed_while_idle_is_replaced(started: Callable[..., LocalFunction]) -> None:
    function = started()
    pid = function.invoke({})["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: gone(pid), "the worker to die")
    assert function.invoke({})["pid"] != pid


@pytest.mark.parametrize(
    "spec",
    [
        {"reserved_concurrency": 2},
        {"sqs_sources": (SqsSource("Queue", 10, False, maximum_concurrency=2),), "reserved_concurrency": 5},
    ],
    ids=["reserved", "maximum-concurrency"],
)
def test_no_more_invocations_run_at_once_than_the_concurrency(
    started: Callable[..., LocalFunction], tmp_path: Path, spec: dict[str, Any]
) -> None:
    function = started(**spec)
    assert function.concurrency == 2
    (tmp_path / "running").mkdir()
    event = {"action": "overlap", "folder": str(tmp_path / "running")}
    results = in_parallel([lambda: function.invoke(event)] * 6)
    assert max(result["seen"] for result in results) <= 2
    assert len(function.status()["workers"]) == 2


def test_a_handler_that_cannot_be_imported_fails_the_start_clearly(tmp_path: Path) -> None:
    function = make_function(tmp_path, source="import os\nSETTING = os.environ['NOT_SET']\n")
    with pytest.raises(FunctionError) as info:
        function.start()
    assert str(info.value) == "Fn: cannot import its handler: KeyError: 'NOT_SET'"
    assert "SETTING = os.environ['NOT_SET']" in info.value.traceback
    assert function.status()["workers"] == []


def test_a_missing_handler_function_fails_the_start(tmp_path: Path) -> None:
    function = make_function(tmp_path, source="def other(event, context):\n    return 1\n")
    with pytest.raises(FunctionError, match="handler app.handler is missing from"):
        function.start()


def test_stop_ends_idle_and_busy_workers(started: Callable[..., LocalFunction], tmp_path: Path) -> None:
    function = started()
    marker = tmp_path / "started"
    invocation, outcome = blocked_invocation(function, marker)
    idle = function.invoke({})["pid"]  # a second worker, idle once it answered
    busy = int(marker.read_text())
    function.stop()
    invocation.join(timeout=20)
    assert isinstance(outcome.get("error"), FunctionCrashed)
    wait_for(lambda: gone(idle) and gone(busy), "both workers to end")


STACK_PROCESS = """
import json, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from local.functions import LocalFunction
from local.template import FunctionSpec
code, marker = Path(sys.argv[2]), Path(sys.argv[3])
function = LocalFunction(FunctionSpec("Fn", code, "app.handler", {}, None, 60, 128, {}), "local-Fn", {})
function.start()
threading.Thread(target=function.invoke, args=({"action": "block", "started": str(marker)},), daemon=True).start()
while not marker.exists():
    time.sleep(0.01)
function.invoke({})
print(json.dumps(function.status()), flush=True)
threading.Event().wait()
"""


def test_workers_end_when_the_stack_process_dies(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent(HANDLER))
    marker = tmp_path / "started"
    stack = subprocess.Popen(
        [sys.executable, "-c", STACK_PROCESS, str(ROOT), str(tmp_path), str(marker)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert stack.stdout is not None
        workers = json.loads(stack.stdout.readline())["workers"]
    finally:
        stack.kill()
        stack.wait()
    assert sorted(w["busy"] for w in workers) == [False, True]
    # The idle worker sees its pipe close, the busy one the stack gone: neither is left behind.
    wait_for(lambda: all(gone(w["pid"]) for w in workers), "the workers to exit")
