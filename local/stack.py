"""The whole local stack: moto with the template's resources, the functions (each in worker processes of
its own), the API, the SQS pollers, the schedule ticker and the Tencent IM emulator (REST for the
functions, callbacks to the API)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from local import template as tpl
from local.aws import DUMMY_CREDENTIALS, Attributes, MotoAws, create_resources
from local.config import LocalConfig
from local.functions import LocalFunction, function_arn, start_fork_server
from local.gateway import API_ID, Gateway
from local.model_server import ModelServer
from local.pollers import RETRY_DELAY_S, EventTargetPoller, QueuePoller, SqsPoller
from local.scheduler import TICK_S, ScheduleTicker
from local.send_sample import CALLBACK_PATH
from local.tim_emulator import DEMO_SEED, Identity, Settings, TimEmulator
from local.ws_gateway import IDLE_TIMEOUT_S, MAX_CONNECTION_S, WebSocketGateway
from timkit.keys import key_problem
from timkit.models.botconfig import BotConfig
from timkit.stores.bots import BotStore
from timkit.tim.usersig import gen_usersig

log = logging.getLogger("local")

# Logical ids: the app's key, and the callback's token (and optional policy).
KEY_SECRET_ID = "TimSecret"  # noqa: S105
CALLBACK_SECRET_ID = "CallbackSecret"  # noqa: S105
BOT_STATE_TABLE = "BotStateTable"
# The demo robot answers with the local model unless a configuration says otherwise.
DEMO_BOT = "@RBT#assistant"
DEMO_MODEL = "local-echo"


class LocalStack:
    def __init__(
        self,
        template_path: Path | str = tpl.TEMPLATE_PATH,
        api_port: int = 3000,
        aws_port: int = 5001,
        config: LocalConfig | None = None,
        extra_env: Mapping[str, str] | None = None,
        retry_delay_s: int = RETRY_DELAY_S,
        tim_port: int = 0,
        schedule_tick_s: float = TICK_S,
        schedule_clock: Callable[[], datetime] | None = None,
        model_port: int = 0,
        ws_port: int = 0,
        ws_idle_timeout_s: float = IDLE_TIMEOUT_S,
        ws_max_connection_s: float = MAX_CONNECTION_S,
    ) -> None:
        self.template_path = Path(template_path)
        self.config = config or LocalConfig.from_env()
        self._api_port = api_port
        # `python -m local` asks for 3001; embedded (tests) a free port, so that a running
        # `make run` never makes them fail.
        self._tim_port = tim_port
        self.tim: TimEmulator | None = None
        # The local model the demo bot answers with (OpenAI-compatible); as for the emulator,
        # `python -m local` asks for 3002 and tests for a free port.
        self._model_port = model_port
        self.model: ModelServer | None = None
        self._extra_env = dict(extra_env or {})
        self._retry_delay_s = retry_delay_s
        self._schedule_tick_s = schedule_tick_s
        self._schedule_clock = schedule_clock
        self._aws = MotoAws(port=aws_port)
        self._gateway: Gateway | None = None
        # The template's WebSocket API (its own port: `python -m local` asks for 3003).
        self._ws_port = ws_port
        self._ws_limits = (ws_idle_timeout_s, ws_max_connection_s)
        self._ws: WebSocketGateway | None = None
        self.pollers: list[QueuePoller] = []
        self.scheduler: ScheduleTicker | None = None
        self.template: tpl.Template | None = None
        self.resources: dict[str, str] = {}
        self.functions: dict[str, LocalFunction] = {}
        self._function_names: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.template = tpl.load(self.template_path)
        # Now, so that it imports what every function's workers share while moto starts.
        start_fork_server()
        self._aws.start()
        self.resources = create_resources(self._aws, self.template)
        self._seed_secrets()
        # Bound before the functions load, so their environment can name the API's and the
        # emulator's URLs.
        self._gateway = Gateway(port=self._api_port)
        if self.template.ws_apis:
            if len(self.template.ws_apis) > 1:
                log.warning("only the first WebSocket API of the template is served locally")
            self._ws = WebSocketGateway(
                port=self._ws_port,
                idle_timeout_s=self._ws_limits[0],
                max_connection_s=self._ws_limits[1],
                signer=self.usersig,
            )
        self.tim = TimEmulator(
            Identity(self.config.sdkappid, self.config.secret_key, self.config.admin_identifier),
            Settings(callback_url=self._gateway.url + CALLBACK_PATH, callback_token=self.config.callback_token),
            port=self._tim_port,
            seed=DEMO_SEED,
        )
        attributes = Attributes(self._aws, self.template, self.resources)
        intrinsics = self.template.intrinsics(ref=self._ref, get_att=lambda i, a: self._get_att(attributes, i, a))
        # Every name first: an environment may refer to any function, by name (Ref) or ARN (GetAtt).
        for lid, spec in self.template.functions.items():
            name = intrinsics.resolve(spec.function_name) if spec.function_name else f"{tpl.STACK_NAME}-{lid}"
            self._function_names[lid] = name
        for lid, spec in self.template.functions.items():
            env = {k: _env_value(v) for k, v in intrinsics.resolve(spec.environment).items()}
            self.functions[lid] = LocalFunction(spec, self._function_names[lid], {**env, **self._local_env()})
        self._start_functions()
        self._gateway.set_routes(
            [(route, self.functions[fn.logical_id]) for route, fn in self.template.routes], self.functions
        )
        if any(route.authorizer == "AWS_IAM" for route, _ in self.template.routes):
            log.warning("admin routes (AWS_IAM) are not signature-checked locally: admitted from loopback only")
        self._gateway.start()
        if self._ws is not None:
            self._ws.set_routes(next(iter(self.template.ws_apis.values())), self.functions)
            self._ws.start()
        self.tim.start()
        self.model = ModelServer(port=self._model_port).start()
        self._configure_demo_bot()
        for function in self.functions.values():
            for source in function.spec.sqs_sources:
                poller = SqsPoller(
                    function,
                    source,
                    queue_url=self.resources[source.queue_id],
                    queue_arn=attributes(source.queue_id, "Arn"),
                    sqs=self._aws.client("sqs"),
                    retry_delay_s=self._retry_delay_s,
                )
                poller.start()
                self.pollers.append(poller)
        self._start_rules(intrinsics)
        self.scheduler = ScheduleTicker(
            self._aws.client("scheduler"),
            {function.arn: function for function in self.functions.values()},
            tick_s=self._schedule_tick_s,
            clock=self._schedule_clock,
        )
        self.scheduler.start()
        log.info("local stack ready: API %s, AWS %s, Tencent IM %s", self.api_url, self.aws_endpoint, self.tim_api_base)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.signal_stop()
        for poller in self.pollers:
            poller.signal_stop()
        # Before the functions: its queued callbacks go through the API to them.
        if self.tim is not None:
            self.tim.stop()
            self.tim = None
        if self.model is not None:
            self.model.stop()
            self.model = None
        # Before the functions: its connections' $disconnect goes to them.
        if self._ws is not None:
            self._ws.stop()
            self._ws = None
        # Busy workers are killed: the invocations that pollers and the ticker wait for end at once.
        for function in self.functions.values():
            function.stop()
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        self._aws.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ wiring

    def _start_functions(self) -> None:
        # At once: each function's first worker imports its handler from scratch.
        with ThreadPoolExecutor(max_workers=max(1, len(self.functions)), thread_name_prefix="start") as pool:
            starts = [pool.submit(function.start) for function in self.functions.values()]
        for start in starts:
            start.result()

    def _start_rules(self, intrinsics: tpl.Intrinsics) -> None:
        """The template's EventBridge rules, in moto, delivering to their targets that are functions of
        the template: moto matches the patterns and delivers to SQS, so each such target is a queue
        locally, from which an EventTargetPoller invokes the function with the event."""
        assert self.template is not None
        events, sqs = self._aws.client("events"), self._aws.client("sqs")
        functions = {function.arn: function for function in self.functions.values()}
        for rule in self.template.rules.values():
            bus = intrinsics.resolve(rule.bus) if rule.bus is not None else "default"
            name = f"{tpl.STACK_NAME}-{rule.logical_id}"[:64]
            targets = []
            for target in intrinsics.resolve(list(rule.targets)):
                function = functions.get(target.get("Arn"))
                if function is None:
                    log.warning(
                        "rule %s: target %s is not a function of the template: not delivered locally",
                        name,
                        target.get("Id"),
                    )
                    continue
                if "Input" in target or "InputPath" in target:
                    log.warning("rule %s: target %s: Input and InputPath are not applied locally", name, target["Id"])
                queue_url = sqs.create_queue(QueueName=f"{name}-{target['Id']}"[:80])["QueueUrl"]
                queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                    "QueueArn"
                ]
                local_target = {"Id": target["Id"], "Arn": queue_arn}
                if "InputTransformer" in target:
                    local_target["InputTransformer"] = target["InputTransformer"]
                targets.append(local_target)
                poller = EventTargetPoller(function, name, queue_url, sqs, self._retry_delay_s)
                poller.start()
                self.pollers.append(poller)
            events.put_rule(
                Name=name,
                EventBusName=bus,
                EventPattern=json.dumps(intrinsics.resolve(rule.pattern)),
                State="ENABLED" if rule.enabled else "DISABLED",
            )
            if targets:
                events.put_targets(Rule=name, EventBusName=bus, Targets=targets)

    def _seed_secrets(self) -> None:
        if (problem := key_problem(self.config.secret_key)) is not None:
            log.warning("TIM_SECRET_KEY is not a usable key (%s): the functions will refuse to sign or verify", problem)
        sm = self._aws.client("secretsmanager")
        for logical_id, values in (
            (KEY_SECRET_ID, {"secret_key": self.config.secret_key}),
            (CALLBACK_SECRET_ID, {"callback_token": self.config.callback_token}),
        ):
            if logical_id not in self.resources:
                continue
            secret_id = self.resources[logical_id]
            # What the template put there stays (a policy, say); the local values replace theirs.
            current = json.loads(sm.get_secret_value(SecretId=secret_id).get("SecretString") or "{}")
            sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps({**current, **values}))

    def _configure_demo_bot(self) -> None:
        """The demo robot answers with the local model (its configuration, as
        ``PUT /admin/bots/@RBT%23assistant/config`` would store it)."""
        assert self.model is not None
        if BOT_STATE_TABLE not in self.resources:
            return
        store = BotStore(self.resources[BOT_STATE_TABLE], client=self._aws.client("dynamodb"))
        config = BotConfig(
            provider="openai",
            model=DEMO_MODEL,
            baseUrl=self.model.base_url,
            systemPrompt="You are the demo assistant of the local stack.",
        )
        store.put_config(DEMO_BOT, config)

    def _local_env(self) -> dict[str, str]:
        # The WebSocket API's management endpoint, with its stage as deployed.
        ws = {} if self._ws is None else {"WS_MANAGEMENT_ENDPOINT": f"{self._ws.management_url}/{self._ws_stage}"}
        return {
            **ws,
            # Before the extra variables: `--env TIM_API_BASE=...` may point the functions elsewhere.
            "TIM_API_BASE": self.tim_api_base,
            "TIM_ADMIN_IDENTIFIER": self.config.admin_identifier,
            **self._extra_env,
            "TIM_SDKAPPID": str(self.config.sdkappid),
            "POLICY_SOURCE": f"file:{self.config.policy_file}",
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_REGION": tpl.REGION,
            "AWS_DEFAULT_REGION": tpl.REGION,
            **DUMMY_CREDENTIALS,
            "POWERTOOLS_DEV": "false",
        }

    def _ref(self, logical_id: str) -> Any:
        if logical_id in self.resources:
            return self.resources[logical_id]
        if logical_id in self._function_names:
            return self._function_names[logical_id]
        if self._resource_type(logical_id) == "AWS::ApiGatewayV2::Api":
            return API_ID
        # Not created locally (roles, log groups, alarms...): the logical id stands in for its name.
        return logical_id

    def _get_att(self, attributes: Attributes, logical_id: str, attribute: str) -> Any:
        if self._resource_type(logical_id) == "AWS::ApiGatewayV2::Api" and attribute == "ApiEndpoint":
            return self.api_url
        if logical_id in self._function_names and attribute == "Arn":
            return function_arn(self._function_names[logical_id])
        if self._resource_type(logical_id) == "AWS::IAM::Role" and attribute == "Arn":
            # Not created locally, and never checked: an ARN of the right shape for APIs that want one.
            return f"arn:aws:iam::{tpl.ACCOUNT_ID}:role/{tpl.STACK_NAME}-{logical_id}"
        try:
            return attributes(logical_id, attribute)
        except tpl.Unresolvable as exc:
            log.warning("%s; using a placeholder", exc)
            return f"local:{logical_id}.{attribute}"

    def _resource_type(self, logical_id: str) -> str | None:
        assert self.template is not None
        return self.template.transformed["Resources"].get(logical_id, {}).get("Type")

    # ------------------------------------------------------------------ what callers use

    @property
    def api_url(self) -> str:
        assert self._gateway is not None, "start() the stack first"
        return self._gateway.url

    @property
    def _ws_stage(self) -> str:
        assert self.template is not None
        return next(iter(self.template.ws_apis.values())).stage

    @property
    def ws_url(self) -> str | None:
        """The WebSocket API's URL (None when the template has none)."""
        return None if self._ws is None else f"{self._ws.url}/{self._ws_stage}"

    @property
    def model_url(self) -> str:
        assert self.model is not None, "start() the stack first"
        return self.model.url

    @property
    def tim_api_base(self) -> str:
        assert self.tim is not None, "start() the stack first"
        return self.tim.url

    @property
    def aws_endpoint(self) -> str:
        return self._aws.endpoint

    @property
    def sdkappid(self) -> int:
        return self.config.sdkappid

    @property
    def secret_key(self) -> str:
        return self.config.secret_key

    @property
    def callback_token(self) -> str:
        return self.config.callback_token

    def usersig(self, identifier: str, expire: int = 86400) -> str:
        """A UserSig of the local app's key, as a chat user's app server would make it."""
        return gen_usersig(self.sdkappid, self.secret_key, identifier, expire)

    def boto3_client(self, service: str) -> Any:
        return self._aws.client(service)

    def kill_busy_worker(self, logical_id: str) -> int | None:
        """SIGKILLs a worker of the function that is running an invocation; its pid, or None if none is busy."""
        return self.functions[logical_id].kill_busy_worker()

    def state(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "aws_endpoint": self.aws_endpoint,
            "resources": dict(self.resources),
            "sdkappid": self.sdkappid,
            "secret_key": self.secret_key,
            "callback_token": self.callback_token,
            "policy_file": str(self.config.policy_file),
            "tim_api_base": self.tim_api_base,
            "model_url": self.model_url,
            "ws_url": self.ws_url,
            "tim_admin_identifier": self.config.admin_identifier,
        }


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)
