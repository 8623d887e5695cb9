"""Loads the template's handler modules and invokes them in this process, as Lambda would."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from local.template import ACCOUNT_ID, REGION, FunctionSpec

log = logging.getLogger("local")

# Local limit: all functions share this process and os.environ, and each function's code reads
# its configuration from the environment (at import and per call). So an invocation applies its
# function's environment and holds this lock until it returns: invocations run one at a time
# across the whole local stack. A handler that synchronously waits for another local invocation
# (e.g. an HTTP call back into the local API) would block until its own one finishes.
_ENV_LOCK = threading.RLock()

# Never inherited from the developer's shell: they could send a function to real AWS.
_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


@contextmanager
def function_environment(env: Mapping[str, str]) -> Iterator[None]:
    with _ENV_LOCK:
        # AWS_ENDPOINT_URL_<SERVICE> would win over AWS_ENDPOINT_URL for that service.
        unset = [k for k in os.environ if k in _UNSET or k.startswith("AWS_ENDPOINT_URL_")]
        saved = {k: os.environ.get(k) for k in [*env, *unset]}
        for k in unset:
            del os.environ[k]
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    def __init__(self, spec: FunctionSpec, name: str, environment: Mapping[str, str]) -> None:
        self.spec = spec
        self.name = name
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
        self.module: ModuleType | None = None
        self._handler: Any = None

    def load(self) -> None:
        module_path, _, attr = self.spec.handler.rpartition(".")
        source = self.spec.code_dir / (module_path.replace(".", "/") + ".py")
        if not source.is_file():
            raise FileNotFoundError(f"{self.spec.logical_id}: handler module {source} does not exist")
        # functions/<x>/app.py all share the module name "app": each gets a name of its own.
        unique = f"fn_{self.spec.logical_id}_{module_path.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(unique, source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        code_dir = str(self.spec.code_dir)
        with function_environment(self.environment):
            # Lambda puts the code folder on sys.path, for the handler's sibling modules. Those keep
            # their plain names in sys.modules: two functions must not ship different modules of one name.
            sys.path.insert(0, code_dir)
            sys.modules[unique] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[unique]
                raise
            finally:
                sys.path.remove(code_dir)
        self.module = module
        self._handler = getattr(module, attr)

    def invoke(self, event: Any) -> Any:
        """Calls the handler; its exceptions propagate, as Lambda reports them to the caller."""
        context = LambdaContext(self.name, self.spec.memory, self.spec.timeout)
        with function_environment(self.environment):
            started = time.monotonic()
            try:
                return self._handler(event, context)
            finally:
                elapsed = time.monotonic() - started
                if elapsed > self.spec.timeout:
                    # Lambda would have killed the invocation; a thread cannot be, so say so loudly.
                    log.warning(
                        "%s ran %.1f s, over its %d s timeout: it would have timed out in AWS",
                        self.spec.logical_id,
                        elapsed,
                        self.spec.timeout,
                    )
