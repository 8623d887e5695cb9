"""The template's functions, run as Lambda runs them: in execution environments of their own.

Each environment is a worker process. It applies its function's environment variables (never the
developer's AWS profile or per-service endpoints), imports the handler once and then serves one invocation
at a time, keeping module globals between invocations. A function gets another worker when all of its
workers are busy, up to its concurrency limit; past that, an invocation waits for a free worker. Events and
results travel over a pipe of their own: stdout and stderr are the handler's log, shared with the stack.

Workers are forked from multiprocessing's fork server, which imported the libraries most handlers use once
for all of them: a worker costs its handler's own imports only. As with any multiprocessing program, a
script that starts the stack needs the ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import decimal
import importlib.util
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from local.template import ACCOUNT_ID, REGION, FunctionSpec

log = logging.getLogger("local")

# Never inherited from the developer's shell: they could send a function to real AWS.
_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
# Lambda allows 10 s for the import. Locally every function imports at once when the stack starts, so
# more; a handler module that hangs still fails the start instead of hanging it.
INIT_TIMEOUT_S = 30
# An idle worker exits when the stack closes its pipe; one that has not within this is killed.
_EXIT_GRACE_S = 5
# What the fork server imports for every worker. None of these libraries reads at import time an environment
# variable the local stack sets for a function (each worker applies its function's after the fork).
# __main__ is the stack's main script, which multiprocessing runs again in every worker (pytest's, under the
# tests; it leaves `python -m local` alone): preloaded, its imports are done once.
_PRELOAD = [
    "__main__",
    "local.functions",
    "boto3",
    "pydantic",
    "requests",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.batch",
]
_CONTEXT = multiprocessing.get_context("forkserver")


def start_fork_server() -> None:
    """Starts the fork server if it does not run yet, and returns before it has imported the libraries:
    called early, it does so while the stack still starts."""
    multiprocessing.forkserver.set_forkserver_preload(_PRELOAD)
    multiprocessing.forkserver.ensure_running()


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


class InvocationError(Exception):
    """An invocation that returned no result."""

    def __init__(self, function: str, message: str) -> None:
        super().__init__(f"{function}: {message}")
        self.function = function


class FunctionError(InvocationError):
    """The handler raised, or its module failed to import: Lambda's function error.

    Raised from the worker's traceback, so that logging the exception shows where the handler failed.
    """

    def __init__(
        self, function: str, error_type: str, error_message: str, traceback: str, importing: bool = False
    ) -> None:
        super().__init__(function, f"{'cannot import its handler: ' if importing else ''}{error_type}: {error_message}")
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback


class FunctionTimeout(InvocationError):
    """The invocation ran past the function's Timeout, and its worker was killed."""


class FunctionCrashed(InvocationError):
    """The worker process died during the invocation (killed, os._exit, a crash in native code)."""


class _Undelivered(FunctionCrashed):
    """The worker was found dead as it was handed the event: another worker can take it."""


class _WorkerTraceback(Exception):
    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


class LocalFunction:
    def __init__(self, spec: FunctionSpec, name: str, environment: dict[str, str]) -> None:
        self.spec = spec
        self.name = name
        self.arn = function_arn(name)
        self.concurrency = spec.concurrency
        self.environment = {
            **environment,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "_HANDLER": spec.handler,
        }
        if "LogFormat" in spec.logging_config:
            self.environment["AWS_LAMBDA_LOG_FORMAT"] = spec.logging_config["LogFormat"]
        if "ApplicationLogLevel" in spec.logging_config:
            self.environment["AWS_LAMBDA_LOG_LEVEL"] = spec.logging_config["ApplicationLogLevel"]
        module_path = spec.handler.rpartition(".")[0]
        self._source = spec.code_dir / (module_path.replace(".", "/") + ".py")
        self._setup = {
            "source": str(self._source),
            "code_dir": str(spec.code_dir),
            # functions/<x>/app.py all share the module name "app": each gets a name of its own.
            "module": f"fn_{spec.logical_id}_{module_path.replace('.', '_')}",
            "handler": spec.handler,
            "function_name": name,
            "memory": spec.memory,
            "arn": self.arn,
        }
        self._workers: list[_Worker] = []
        self._starting = 0
        self._stopped = False
        self._changed = threading.Condition()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Starts the first worker. Raises FunctionError (or FunctionTimeout) if the handler cannot be imported."""
        if not self._source.is_file():
            raise FileNotFoundError(f"{self.spec.logical_id}: handler module {self._source} does not exist")
        self._release(self._acquire())

    def stop(self) -> None:
        """Ends every worker: idle ones exit, busy ones are killed (their invocations raise FunctionCrashed)."""
        with self._changed:
            self._stopped = True
            idle = [w for w in self._workers if not w.busy]
            self._workers = [w for w in self._workers if w.busy]
            for worker in self._workers:
                worker.signal_kill()  # its invoking thread reaps it
            self._changed.notify_all()
        for worker in idle:
            worker.close()

    # ------------------------------------------------------------------ what callers use

    def invoke(self, event: Any) -> Any:
        """Runs the handler on ``event`` in a free worker and returns its result (JSON-decoded, as Lambda
        returns it), like Lambda's synchronous invoke.

        A worker is started when none is free and the function is below its concurrency; otherwise the call
        waits for one. Raises FunctionError when the handler raises, FunctionTimeout when it runs past the
        function's Timeout, FunctionCrashed when its worker dies meanwhile.
        """
        request_id = str(uuid.uuid4())
        while True:
            worker = self._acquire()
            try:
                # The Timeout runs from here: waiting for a free worker does not count, as in Lambda.
                deadline_ms = int((time.time() + self.spec.timeout) * 1000)
                message = json.dumps({"event": event, "request_id": request_id, "deadline_ms": deadline_ms})
                worker.invocations += 1
                reply = self._exchange(worker, message, self.spec.timeout, acknowledged=True)
                break
            except _Undelivered:
                continue
            finally:
                self._release(worker)
        if reply is None:
            log.error("%s: %s Task timed out after %.2f seconds", self.spec.logical_id, request_id, self.spec.timeout)
            raise FunctionTimeout(self.spec.logical_id, f"Task timed out after {self.spec.timeout:.2f} seconds")
        if "errorType" in reply:
            raise self._error(reply)
        return reply.get("result")

    def kill_busy_worker(self) -> int | None:
        """SIGKILLs one worker that is running an invocation, as a crash would; returns its pid, or None
        when no worker is busy."""
        with self._changed:
            worker = next((w for w in self._workers if w.busy and not w.killed), None)
            if worker is None:
                return None
            worker.signal_kill()
            return worker.pid

    def status(self) -> dict[str, Any]:
        with self._changed:
            return {
                "name": self.name,
                "concurrency": self.concurrency,
                "workers": [{"pid": w.pid, "busy": w.busy, "invocations": w.invocations} for w in self._workers],
            }

    # ------------------------------------------------------------------ workers

    def _acquire(self) -> _Worker:
        with self._changed:
            while True:
                if self._stopped:
                    raise InvocationError(self.spec.logical_id, "the local stack is stopping")
                for dead in [w for w in self._workers if not w.busy and not w.alive]:
                    # Killed or crashed while idle: Lambda would just use another environment.
                    self._workers.remove(dead)
                    dead.close()
                worker = next((w for w in self._workers if not w.busy), None)
                if worker is not None:
                    worker.busy = True
                    return worker
                if len(self._workers) + self._starting < self.concurrency:
                    self._starting += 1
                    break
                self._changed.wait()
        try:
            worker = self._start_worker()
        except BaseException:
            with self._changed:
                self._starting -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._starting -= 1
            if not self._stopped:
                worker.busy = True
                self._workers.append(worker)
                return worker
        worker.close()
        raise InvocationError(self.spec.logical_id, "the local stack is stopping")

    def _release(self, worker: _Worker) -> None:
        with self._changed:
            worker.busy = False
            keep = worker.alive and not self._stopped
            if not keep and worker in self._workers:
                self._workers.remove(worker)
            self._changed.notify()
        if not keep:
            worker.close()

    def _start_worker(self) -> _Worker:
        inherited = {
            # AWS_ENDPOINT_URL_<SERVICE> would win over AWS_ENDPOINT_URL for that service.
            k: v
            for k, v in os.environ.items()
            if k not in _UNSET and not k.startswith("AWS_ENDPOINT_URL_")
        }
        # The worker applies it: the stack's own environment is never modified.
        setup = {**self._setup, "environment": {**inherited, **self.environment}}
        worker = _Worker()
        try:
            reply = self._exchange(worker, json.dumps(setup), INIT_TIMEOUT_S)
        except BaseException:
            worker.close()
            raise
        if reply is None:
            raise FunctionTimeout(self.spec.logical_id, f"importing its handler took over {INIT_TIMEOUT_S} s")
        if "errorType" in reply:
            worker.close()
            raise self._error(reply, importing=True)
        return worker

    def _exchange(
        self, worker: _Worker, message: str, timeout: float, acknowledged: bool = False
    ) -> dict[str, Any] | None:
        """The worker's reply to ``message``; None when none came within ``timeout`` (the worker is killed)."""
        try:
            worker.send(message)
        except OSError:
            # Killed while idle, and not yet seen to be dead when it was taken.
            status = worker.close()
            raise _Undelivered(self.spec.logical_id, f"its worker process {worker.pid} {status}") from None
        try:
            # A worker that died while idle can still take the message (the fork server holds its
            # pipe open a moment); only an event it acknowledged may have run.
            if acknowledged and worker.receive(timeout, raw=True) != _ACCEPTED:
                raise EOFError
        except (EOFError, OSError):
            status = worker.close()
            raise _Undelivered(self.spec.logical_id, f"its worker process {worker.pid} {status}") from None
        try:
            reply = worker.receive(timeout)
        except (EOFError, OSError):
            status = worker.close()
            raise FunctionCrashed(self.spec.logical_id, f"its worker process {worker.pid} {status}") from None
        if reply is None:
            worker.signal_kill()
            worker.close()
        return reply

    def _error(self, reply: dict[str, Any], importing: bool = False) -> FunctionError:
        error = FunctionError(
            self.spec.logical_id, reply["errorType"], reply["errorMessage"], reply["stackTrace"], importing
        )
        error.__cause__ = _WorkerTraceback(reply["stackTrace"])
        return error


# A worker's first answer to an invocation: it has the event.
_ACCEPTED = b"accepted"


class _Worker:
    """One execution environment: a process serving its function's handler over a pipe."""

    def __init__(self) -> None:
        start_fork_server()
        ours, theirs = _CONTEXT.Pipe()
        # Daemonic: should the stack exit without stopping its functions, multiprocessing still ends them.
        self.process = _CONTEXT.Process(target=_serve, args=(theirs, os.getpid()), name="lambda-worker", daemon=True)
        try:
            self.process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._conn = ours
        self.pid = self.process.pid
        self.busy = False
        self.killed = False
        self.invocations = 0

    @property
    def alive(self) -> bool:
        return not self.killed and self.process.is_alive()

    def send(self, message: str) -> None:
        self._conn.send_bytes(message.encode())

    def receive(self, timeout: float, raw: bool = False) -> Any:
        """The next reply; None if none came within ``timeout``. EOFError when the process is gone."""
        if not self._conn.poll(timeout):
            return None
        data = self._conn.recv_bytes()
        return data if raw else json.loads(data)

    def signal_kill(self) -> None:
        self.killed = True
        self.process.kill()

    def close(self) -> str:
        """Ends the process (it exits when its pipe closes; killed if it has not soon after) and describes
        how it ended."""
        self._conn.close()
        self.process.join(timeout=None if self.killed else _EXIT_GRACE_S)
        if self.process.exitcode is None:
            self.signal_kill()
            self.process.join()
        self.killed = True
        code = self.process.exitcode
        assert code is not None
        return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


# ---------------------------------------------------------------------- in the worker process


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    log_stream_name: str
    deadline_ms: int  # epoch milliseconds, as Lambda's runtime API hands it over
    function_version: str = "$LATEST"
    log_group_name: str = field(init=False)

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def _serve(conn: Connection, stack_pid: int) -> None:
    """A worker process: imports the handler, then answers invocations until the stack closes the pipe."""
    # Ctrl-C in a terminal signals the whole process group: the stack, which ends its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(stack_pid,), name="stack-watch", daemon=True).start()
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr] - log lines as they come, as in Lambda
    setup = json.loads(conn.recv_bytes())
    os.environ.clear()
    os.environ.update(setup["environment"])
    try:
        handler = _import_handler(setup)
    except Exception as exc:
        conn.send_bytes(_error(exc))
        return
    conn.send_bytes(b"{}")
    # One stream per execution environment, as in CloudWatch.
    log_stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except EOFError:
            return
        conn.send_bytes(_ACCEPTED)
        context = LambdaContext(
            function_name=setup["function_name"],
            memory_limit_in_mb=setup["memory"],
            invoked_function_arn=setup["arn"],
            aws_request_id=request["request_id"],
            log_stream_name=log_stream,
            deadline_ms=request["deadline_ms"],
        )
        conn.send_bytes(_run(handler, request["event"], context))


def _exit_with(stack_pid: int) -> None:
    # An idle worker sees its pipe close when the stack dies; a busy one would run on without this. (Its parent
    # is the fork server, which lives on as long as any of its children.)
    while True:
        time.sleep(1)
        try:
            os.kill(stack_pid, 0)
        except ProcessLookupError:
            os._exit(1)


def _import_handler(setup: dict[str, Any]) -> Any:
    # Lambda puts the code folder first on sys.path, for the handler's sibling modules.
    sys.path.insert(0, setup["code_dir"])
    spec = importlib.util.spec_from_file_location(setup["module"], setup["source"])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[setup["module"]] = module
    spec.loader.exec_module(module)
    handler = getattr(module, setup["handler"].rpartition(".")[2], None)
    if not callable(handler):
        raise AttributeError(f"handler {setup['handler']} is missing from {setup['source']}")
    return handler


def _run(handler: Any, event: Any, context: LambdaContext) -> bytes:
    try:
        result = handler(event, context)
    except Exception as exc:
        return _error(exc)
    try:
        return json.dumps({"result": result}, default=_decimal).encode()
    except (TypeError, ValueError) as exc:
        # Lambda hands the caller the result serialized to JSON, and fails the invocation when it cannot be.
        error = {"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {exc}"}
        return json.dumps({**error, "stackTrace": ""}).encode()


def _decimal(value: Any) -> Any:
    # As the Python runtime's marshaller does (DynamoDB numbers come back as Decimal).
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(exc: BaseException) -> bytes:
    stack_trace = "".join(traceback.format_exception(exc))
    return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": stack_trace}).encode()
