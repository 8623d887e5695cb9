"""template.yaml as the local stack sees it.

Everything local is derived from the template so it cannot drift from what `sam deploy` creates:
the data resources (created in moto by its CloudFormation), the functions with their
environment, HttpApi routes, SQS event sources and EventBridge rules.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cfn_yaml import load_template

log = logging.getLogger("local")

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
STACK_NAME = "timkit-local"
# Concurrent invocations of a function with neither an SQS MaximumConcurrency nor reserved concurrency.
DEFAULT_CONCURRENCY = 4

# Created through moto's CloudFormation. KMS keys are there because topics and queues reference them.
STACK_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::S3::Bucket",
        "AWS::SSM::Parameter",
        "AWS::SNS::Topic",
        "AWS::KMS::Key",
    }
)
# moto's CloudFormation has no model for these: the local stack creates them through the API.
SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a type name
SCHEDULE_GROUP_TYPE = "AWS::Scheduler::ScheduleGroup"
EVENT_BUS_TYPE = "AWS::Events::EventBus"  # moto's has no physical id in its CloudFormation
DATA_TYPES = STACK_TYPES | {SECRET_TYPE, SCHEDULE_GROUP_TYPE, EVENT_BUS_TYPE}

PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE = object()  # AWS::NoValue: the enclosing key or list item disappears
# Parameters the local stack sets rather than taking their defaults: what `make run` demonstrates.
LOCAL_PARAMETERS = {"EventBusExample": "true"}
EVENT_RULE_TYPE = "AWS::Events::Rule"


class Unresolvable(LookupError):
    pass


@dataclass(frozen=True)
class LambdaAuthorizer:
    """An HttpApi Lambda (REQUEST) authorizer, as API Gateway runs it."""

    api: str  # logical id of its HttpApi
    name: str
    function_id: str  # logical id of the authorizer function
    identity_sources: tuple[str, ...]  # e.g. $request.header.Authorization, in order
    ttl: int  # seconds results are cached (ReauthorizeEvery); 0: no caching
    payload_version: str  # "1.0" or "2.0"
    simple_responses: bool  # EnableSimpleResponses: {"isAuthorized": ...} instead of an IAM policy


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # as declared, e.g. /tim/callback or /mergers/{key}
    authorizer: str | None = None  # name; AWS_IAM for IAM auth
    lambda_authorizer: LambdaAuthorizer | None = None  # when the authorizer is a Lambda one

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsSource:
    queue_id: str  # logical id of the queue
    batch_size: int
    report_failures: bool  # FunctionResponseTypes contains ReportBatchItemFailures
    maximum_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency

    @property
    def pollers(self) -> int:
        """Concurrent batches Lambda works on: MaximumConcurrency, else one locally."""
        return self.maximum_concurrency or 1


@dataclass(frozen=True)
class EventRule:
    """An AWS::Events::Rule with an EventPattern (from the template, or from a function's
    EventBridgeRule event), unresolved: bus and targets as the template writes them."""

    logical_id: str
    bus: Any  # EventBusName (absent: the account's default bus)
    pattern: Any  # EventPattern
    targets: tuple[dict[str, Any], ...]  # {"Id", "Arn", ...}
    enabled: bool = True


@dataclass(frozen=True)
class WsRoute:
    """A route of a WebSocket API (AWS::ApiGatewayV2::Route) with a Lambda proxy integration."""

    route_key: str  # $connect, $disconnect, $default or a key of the route selection expression
    function_id: str  # logical id of the integration's function
    two_way: bool  # a route response passes the function's answer back to the client


@dataclass(frozen=True)
class WsApi:
    """An AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET, its stage and its routes."""

    logical_id: str
    stage: str
    routes: dict[str, WsRoute]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, Any]  # unresolved: intrinsics as in the template
    function_name: Any  # FunctionName property (unresolved) or None
    timeout: int
    memory: int
    logging_config: dict[str, Any]
    routes: tuple[Route, ...] = ()
    sqs_sources: tuple[SqsSource, ...] = ()
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions

    @property
    def concurrency(self) -> int:
        """How many invocations of the function run at once locally, each in its own worker process."""
        scaled = None
        if any(source.maximum_concurrency for source in self.sqs_sources):
            # Every poller of every SQS source gets a worker of its own.
            scaled = sum(source.pollers for source in self.sqs_sources)
        if self.reserved_concurrency is None:
            return scaled or DEFAULT_CONCURRENCY
        # Reserved concurrency caps everything, as in AWS. 0 throttles every invocation there; locally the
        # function still runs, one at a time.
        reserved = max(1, self.reserved_concurrency)
        return min(scaled, reserved) if scaled else reserved


class Intrinsics:
    """Evaluates CloudFormation intrinsic functions against known values.

    ``ref`` and ``get_att`` supply resource values; parameters and pseudo parameters are built in.
    """

    def __init__(
        self,
        parameters: Mapping[str, Any],
        conditions: Mapping[str, Any],
        ref: Callable[[str], Any] | None = None,
        get_att: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.parameters = parameters
        self._conditions_src = conditions
        self._conditions: dict[str, bool] = {}
        self._ref = ref
        self._get_att = get_att

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self._conditions_src:
                raise Unresolvable(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(self._conditions_src[name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in PSEUDO:
            return PSEUDO[name]
        if self._ref is None:
            raise Unresolvable(f"Ref {name}")
        return self._ref(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if self._get_att is None:
            raise Unresolvable(f"Fn::GetAtt {logical_id}.{attribute}")
        return self._get_att(logical_id, attribute)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(i) for i in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            fn = _FUNCTIONS.get(key)
            if fn is not None:
                return fn(self, arg)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def _get_att_arg(arg: Any) -> tuple[str, str]:
    return tuple(arg.split(".", 1)) if isinstance(arg, str) else (arg[0], arg[1])  # type: ignore[return-value]


_FUNCTIONS: dict[str, Callable[[Intrinsics, Any], Any]] = {
    "Ref": lambda i, a: i.ref(a),
    "Fn::GetAtt": lambda i, a: i.get_att(*_get_att_arg(i.resolve(a))),
    "Fn::Sub": lambda i, a: i._sub(a),
    "Fn::Join": lambda i, a: str(a[0]).join(str(v) for v in i.resolve(a[1])),
    "Fn::Select": lambda i, a: i.resolve(a[1])[int(i.resolve(a[0]))],
    "Fn::Split": lambda i, a: str(i.resolve(a[1])).split(a[0]),
    "Fn::If": lambda i, a: i.resolve(a[1] if i.condition(a[0]) else a[2]),
    "Fn::Equals": lambda i, a: str(i.resolve(a[0])) == str(i.resolve(a[1])),
    "Fn::Not": lambda i, a: not i.resolve(a[0]),
    "Fn::And": lambda i, a: all(i.resolve(c) for c in a),
    "Fn::Or": lambda i, a: any(i.resolve(c) for c in a),
    "Condition": lambda i, a: i.condition(a),
}


def references(node: Any) -> set[str]:
    """Logical ids (and parameters) a template fragment refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        if len(node) == 1 and "Ref" in node and isinstance(node["Ref"], str):
            found.add(node["Ref"])
        elif len(node) == 1 and "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            found.add(target.split(".", 1)[0] if isinstance(target, str) else target[0])
        elif len(node) == 1 and "Fn::Sub" in node:
            arg = node["Fn::Sub"]
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            names = {m.split(".", 1)[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
            found |= (names - set(variables)) | references(variables)
        else:
            for value in node.values():
                found |= references(value)
    return found


# The SAM transform runs in the tools venv (`make tools`), where SAM CLI's samtranslator lives with the
# pydantic it pins; the app's venv keeps the layer's. Its answers are cached by what they depend on.
SAM_TRANSLATE = Path(__file__).resolve().parent / "sam_translate.py"
SAM_CACHE = REPO_ROOT / ".cache" / "sam-translate"
SAM_CACHE_KEEP = 32  # answers kept (templates the tests make have their own)
SAM_TIMEOUT_S = 300
TOOLS_PYTHON_ENV = "TIMKIT_TOOLS_PYTHON"


def tools_python() -> Path:
    """The tools venv's Python: $TIMKIT_TOOLS_PYTHON, else .tools/bin/python, else the one beside `sam` on PATH."""
    candidates = [os.environ.get(TOOLS_PYTHON_ENV), REPO_ROOT / ".tools" / "bin" / "python"]
    sam = shutil.which("sam")
    if sam:
        candidates.append(Path(sam).parent / "python")
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise RuntimeError(
        "the local stack transforms template.yaml with the SAM translator of the tools venv: "
        f"run `make tools` (or set {TOOLS_PYTHON_ENV} to a Python with aws-sam-translator)"
    )


def _translator_version(python: Path) -> str:
    """samtranslator's version in ``python``'s venv, from its installed metadata (no process started)."""
    found = sorted(python.parent.parent.glob("lib/python*/site-packages/aws_sam_translator-*.dist-info"))
    return found[-1].name if found else f"unknown ({python.resolve()})"


def _sam_transform(template: dict[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    sam = copy.deepcopy(template)
    # samtranslator insists on S3 locations for code; the local stack runs the code from the repo.
    for logical_id, resource in sam.get("Resources", {}).items():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://local-artifacts/{logical_id}.zip"
    globals_fn = sam.get("Globals", {}).get("Function", {})
    if isinstance(globals_fn.get("CodeUri"), str):
        globals_fn["CodeUri"] = "s3://local-artifacts/global.zip"
    # In the template's order (resources are created in it locally); YAML dates (an unquoted
    # 2012-10-17) as CloudFormation reads them: strings.
    request = json.dumps({"template": sam, "parameters": dict(parameters)}, default=str)
    python = tools_python()
    key = hashlib.sha256(
        "\0".join([request, SAM_TRANSLATE.read_text(encoding="utf-8"), _translator_version(python)]).encode()
    ).hexdigest()
    cached = SAM_CACHE / f"{key}.json"
    try:
        transformed: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        cached.touch()  # recently used: kept
        return transformed
    except (OSError, ValueError):
        pass
    # -I: neither local/ (whose http.py would hide the standard library's) nor the app's PYTHONPATH on sys.path.
    done = subprocess.run(  # noqa: S603 - our script, run by the tools venv's Python
        [str(python), "-I", str(SAM_TRANSLATE)],
        input=request,
        capture_output=True,
        text=True,
        timeout=SAM_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise ValueError(f"the SAM transform failed ({python} {SAM_TRANSLATE.name}):\n{done.stderr.strip()}")
    transformed = json.loads(done.stdout)
    _cache(cached, done.stdout)
    return transformed


def _cache(path: Path, text: str) -> None:
    # Written whole, then renamed: a test process reading it meanwhile never sees half of it.
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as tmp:
        tmp.write(text)
    Path(tmp.name).replace(path)
    answers = sorted(path.parent.glob("*.json"), key=_mtime, reverse=True)
    for stale in answers[SAM_CACHE_KEEP:]:
        stale.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # pruned by another process meanwhile
        return 0.0


@dataclass
class Template:
    path: Path
    original: dict[str, Any]
    transformed: dict[str, Any]
    parameters: dict[str, Any]  # the defaults
    conditions: dict[str, bool]
    data_resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # transformed, condition true
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    rules: dict[str, EventRule] = field(default_factory=dict)  # condition true, with an EventPattern
    ws_apis: dict[str, WsApi] = field(default_factory=dict)  # WebSocket APIs, condition true

    def intrinsics(
        self,
        ref: Callable[[str], Any] | None = None,
        get_att: Callable[[str, str], Any] | None = None,
    ) -> Intrinsics:
        return Intrinsics(self.parameters, self.transformed.get("Conditions", {}), ref, get_att)

    @property
    def routes(self) -> list[tuple[Route, FunctionSpec]]:
        return [(route, fn) for fn in self.functions.values() for route in fn.routes]


def load(path: Path | str = TEMPLATE_PATH) -> Template:
    path = Path(path).resolve()
    original = load_template(path)
    # Locally every parameter takes its default (local differences go into the functions' environment),
    # but for LOCAL_PARAMETERS.
    parameters = {
        name: _parameter_value(decl, LOCAL_PARAMETERS.get(name, decl.get("Default")), name)
        for name, decl in (original.get("Parameters") or {}).items()
    }
    transformed = _sam_transform(original, parameters)
    evaluator = Intrinsics(parameters, transformed.get("Conditions", {}))
    conditions = {name: evaluator.condition(name) for name in transformed.get("Conditions", {})}

    def active(resource: dict[str, Any]) -> bool:
        return "Condition" not in resource or conditions[resource["Condition"]]

    resources = transformed.get("Resources", {})
    template = Template(path, original, transformed, parameters, conditions)
    template.data_resources = {lid: res for lid, res in resources.items() if res["Type"] in DATA_TYPES and active(res)}
    functions = {
        lid: res
        for lid, res in (original.get("Resources") or {}).items()
        if res.get("Type") == "AWS::Serverless::Function" and active(res)
    }
    apis = _HttpApis(original, resources, evaluator, set(functions))
    for lid, res in functions.items():
        template.functions[lid] = _function_spec(lid, res, original, resources, path.parent, apis, evaluator)
    for lid, res in resources.items():
        props = res.get("Properties") or {}
        # Scheduled rules (ScheduleExpression alone) are not events of a bus.
        if res["Type"] == EVENT_RULE_TYPE and active(res) and "EventPattern" in props:
            template.rules[lid] = EventRule(
                logical_id=lid,
                bus=props.get("EventBusName"),
                pattern=props["EventPattern"],
                targets=tuple(props.get("Targets") or ()),
                enabled=str(evaluator.resolve(props.get("State", "ENABLED"))) == "ENABLED",
            )
    template.ws_apis = _ws_apis(resources, active, set(template.functions))
    return template


def _sub_text(node: Any) -> str | None:
    """The text of an Fn::Sub (short or long form), or a plain string; None for anything else."""
    if isinstance(node, str):
        return node
    arg = node.get("Fn::Sub") if isinstance(node, dict) else None
    return arg if isinstance(arg, str) else arg[0] if isinstance(arg, list) and arg else None


def _ws_apis(
    resources: dict[str, Any], active: Callable[[dict[str, Any]], bool], function_ids: set[str]
) -> dict[str, WsApi]:
    """The template's WebSocket APIs with their routes to functions of the template (Target
    ``integrations/${Integration}``, an AWS_PROXY integration whose IntegrationUri names ``${Function.Arn}``)."""
    apis: dict[str, WsApi] = {}

    def of(kind: str, api: str) -> dict[str, dict[str, Any]]:
        return {
            lid: res.get("Properties") or {}
            for lid, res in resources.items()
            if res["Type"] == kind and active(res) and (res.get("Properties") or {}).get("ApiId") == {"Ref": api}
        }

    for api, res in resources.items():
        if res["Type"] != "AWS::ApiGatewayV2::Api" or not active(res):
            continue
        if (res.get("Properties") or {}).get("ProtocolType") != "WEBSOCKET":
            continue
        answered = {(p.get("RouteId") or {}).get("Ref") for p in of("AWS::ApiGatewayV2::RouteResponse", api).values()}
        stages = [p.get("StageName") for p in of("AWS::ApiGatewayV2::Stage", api).values()]
        routes: dict[str, WsRoute] = {}
        for lid, props in of("AWS::ApiGatewayV2::Route", api).items():
            target = re.fullmatch(r"integrations/\$\{(\w+)\}", _sub_text(props.get("Target")) or "")
            integration = (resources.get(target.group(1)) or {}).get("Properties") or {} if target else {}
            function = re.search(r"\$\{(\w+)\.Arn\}", _sub_text(integration.get("IntegrationUri")) or "")
            proxy = integration.get("IntegrationType") == "AWS_PROXY"
            if not proxy or not function or function.group(1) not in function_ids:
                log.warning("%s: WebSocket route %s is not a Lambda proxy to a function of the template", api, lid)
                continue
            routes[props["RouteKey"]] = WsRoute(
                route_key=props["RouteKey"],
                function_id=function.group(1),
                two_way="RouteResponseSelectionExpression" in props and lid in answered,
            )
        apis[api] = WsApi(api, str(stages[0]) if stages and isinstance(stages[0], str) else "$default", routes)
    return apis


def _parameter_value(decl: dict[str, Any], value: Any, name: str) -> Any:
    if value is None:
        raise ValueError(f"template parameter {name} needs a Default for the local stack")
    if decl.get("Type") == "CommaDelimitedList" and isinstance(value, str):
        return [v.strip() for v in value.split(",")]
    return value if isinstance(value, list) else str(value)  # Ref to a Number parameter gives a string


def _function_spec(
    logical_id: str,
    sam_resource: dict[str, Any],
    original: dict[str, Any],
    transformed: dict[str, Any],
    base_dir: Path,
    apis: _HttpApis,
    evaluator: Intrinsics,
) -> FunctionSpec:
    # Code location and events from the SAM resource; handler, environment, timeout and memory from
    # the Lambda function samtranslator produced, so Globals are merged exactly as in a deployment.
    props = sam_resource.get("Properties") or {}
    globals_fn = (original.get("Globals") or {}).get("Function") or {}
    code_uri = props.get("CodeUri", globals_fn.get("CodeUri"))
    if not isinstance(code_uri, str):
        raise ValueError(f"{logical_id}: the local stack needs CodeUri to be a local folder")
    fn = transformed[logical_id]["Properties"]
    routes, sources = [], []
    for event_name, event in (props.get("Events") or {}).items():
        ev_props = event.get("Properties") or {}
        if event.get("Type") == "HttpApi":
            api_ref = ev_props.get("ApiId", {"Ref": "ServerlessHttpApi"})
            api_id = api_ref.get("Ref") if isinstance(api_ref, dict) else api_ref
            method = str(ev_props.get("Method", "ANY")).upper()
            path = ev_props.get("Path", "$default")
            authorizer = apis.authorizer_name(api_id, method, path, (ev_props.get("Auth") or {}).get("Authorizer"))
            routes.append(
                Route(
                    method=method,
                    path=path,
                    authorizer=authorizer,
                    lambda_authorizer=apis.lambda_authorizer(api_id, authorizer, f"{method} {path}"),
                )
            )
        elif event.get("Type") == "SQS":
            queue = ev_props["Queue"]
            queue_id = _get_att_arg(queue["Fn::GetAtt"])[0] if isinstance(queue, dict) else queue
            # The event source mapping samtranslator made of the event (named <function><event>).
            mapping = (transformed.get(logical_id + event_name) or {}).get("Properties") or {}
            scaling = evaluator.resolve(mapping.get("ScalingConfig") or {})
            sources.append(
                SqsSource(
                    queue_id=queue_id,
                    batch_size=int(evaluator.resolve(ev_props.get("BatchSize", 10))),
                    report_failures="ReportBatchItemFailures" in (ev_props.get("FunctionResponseTypes") or []),
                    maximum_concurrency=int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
                )
            )
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=(base_dir / code_uri).resolve(),
        handler=fn["Handler"],
        environment=dict((fn.get("Environment") or {}).get("Variables") or {}),
        function_name=fn.get("FunctionName"),
        timeout=int(fn.get("Timeout", 3)),
        memory=int(fn.get("MemorySize", 128)),
        logging_config=dict(fn.get("LoggingConfig") or {}),
        routes=tuple(routes),
        sqs_sources=tuple(sources),
        reserved_concurrency=(
            int(evaluator.resolve(fn["ReservedConcurrentExecutions"])) if "ReservedConcurrentExecutions" in fn else None
        ),
    )


_ANY_METHOD = "x-amazon-apigateway-any-method"
_AUTHORIZER = "x-amazon-apigateway-authorizer"
IDENTITY_PREFIXES = ("$request.header.", "$request.querystring.", "$context.", "$stageVariables.")
DEFAULT_AUTHORIZER_TTL = 300  # API Gateway's, when ReauthorizeEvery is not given


class _HttpApis:
    """Route authorizers as samtranslator writes them into each HttpApi's OpenAPI body: Globals
    merged, DefaultAuthorizer applied, Identity flattened into identity sources, as deployed."""

    def __init__(
        self,
        original: dict[str, Any],
        transformed: dict[str, Any],
        evaluator: Intrinsics,
        function_ids: set[str],
    ) -> None:
        self._transformed = transformed
        self._evaluator = evaluator
        self._function_ids = function_ids
        self._defaults = _default_authorizers(original)

    def _body(self, api: str) -> dict[str, Any]:
        resource = self._transformed.get(api) or {}
        body = (resource.get("Properties") or {}).get("Body")
        return body if resource.get("Type") == "AWS::ApiGatewayV2::Api" and isinstance(body, dict) else {}

    def authorizer_name(self, api: str, method: str, path: str, declared: str | None) -> str | None:
        paths = self._body(api).get("paths") or {}
        operation = (paths.get(path) or {}).get(_ANY_METHOD if method == "ANY" else method.lower())
        if isinstance(operation, dict):
            names = [name for requirement in operation.get("security") or [] for name in requirement]
            name = names[0] if names else None
        else:  # no inline body (DefinitionUri): from the event and the API's DefaultAuthorizer
            name = declared if declared is not None else self._defaults.get(api)
        return None if name in (None, "NONE") else name

    def lambda_authorizer(self, api: str, name: str | None, route_key: str) -> LambdaAuthorizer | None:
        if name in (None, "AWS_IAM"):
            return None
        where = f"{route_key} on {api}: authorizer {name}"
        scheme = ((self._body(api).get("components") or {}).get("securitySchemes") or {}).get(name)
        if not isinstance(scheme, dict):
            raise ValueError(f"{where} is not declared in the HttpApi's Auth.Authorizers")
        config = scheme.get(_AUTHORIZER) or {}
        kind = str(config.get("type", "")).lower()
        if kind == "jwt":
            raise ValueError(f"{where}: JWT authorizers are not emulated by the local stack")
        if kind != "request":
            raise ValueError(f"{where}: unsupported authorizer type {kind or scheme.get('type')!r}")
        try:
            settings = self._evaluator.resolve({k: v for k, v in config.items() if k != "authorizerUri"})
        except Unresolvable as exc:
            raise ValueError(f"{where}: cannot resolve its settings locally ({exc})") from exc
        version = str(settings.get("authorizerPayloadFormatVersion"))
        if version != "2.0":
            raise ValueError(
                f"{where}: payload format {version} Lambda authorizers are not emulated locally (only 2.0)"
            )
        sources = settings.get("identitySource") or []
        if isinstance(sources, str):
            sources = [s.strip() for s in sources.split(",") if s.strip()]
        for source in sources:
            if not str(source).startswith(IDENTITY_PREFIXES):
                raise ValueError(f"{where}: unsupported identity source {source!r}")
            if str(source).startswith("$stageVariables."):
                log.warning("%s: the local API has no stage variables, so %s is always missing (401)", where, source)
        ttl = int(settings.get("authorizerResultTtlInSeconds", DEFAULT_AUTHORIZER_TTL))
        if ttl and not sources:
            log.warning("%s: no identity sources to cache results by; locally every request invokes it", where)
        simple = settings.get("enableSimpleResponses", False)
        return LambdaAuthorizer(
            api=api,
            name=name,
            function_id=self._function_id(where, config.get("authorizerUri")),
            identity_sources=tuple(str(s) for s in sources),
            ttl=ttl if sources else 0,
            payload_version=version,
            simple_responses=simple is True or str(simple).lower() == "true",
        )

    def _function_id(self, where: str, uri: Any) -> str:
        # samtranslator: {"Fn::Sub": ["arn:...:functions/${__FunctionArn__}/invocations", {"__FunctionArn__": ...}]}
        sub = uri.get("Fn::Sub") if isinstance(uri, dict) else None
        target = None
        if isinstance(sub, list) and len(sub) == 2 and isinstance(sub[1], dict):
            target = sub[1].get("__FunctionArn__")
        logical_id = None
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            logical_id, attribute = _get_att_arg(target["Fn::GetAtt"])
            logical_id = logical_id if attribute == "Arn" else None
        elif isinstance(target, dict) and isinstance(target.get("Ref"), str):
            # An alias or a version (AutoPublishAlias): its function.
            resource = self._transformed.get(target["Ref"]) or {}
            function = (resource.get("Properties") or {}).get("FunctionName")
            if resource.get("Type") in ("AWS::Lambda::Alias", "AWS::Lambda::Version") and isinstance(function, dict):
                logical_id = function.get("Ref")
        if logical_id is None or logical_id not in self._function_ids:
            raise ValueError(
                f"{where}: the local stack runs only authorizers whose FunctionArn is !GetAtt <Function>.Arn "
                "of an AWS::Serverless::Function in this template (whose condition holds)"
            )
        return logical_id


def _default_authorizers(original: dict[str, Any]) -> dict[str, str]:
    found = {}
    globals_api = ((original.get("Globals") or {}).get("HttpApi") or {}).get("Auth") or {}
    for lid, res in (original.get("Resources") or {}).items():
        if res.get("Type") == "AWS::Serverless::HttpApi":
            auth = (res.get("Properties") or {}).get("Auth") or globals_api
            if auth.get("DefaultAuthorizer"):
                found[lid] = auth["DefaultAuthorizer"]
    return found
