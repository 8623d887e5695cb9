"""The template's HttpApi routes served locally with API Gateway's payload format 2.0.

Routes with IAM authorization (AWS_IAM) cannot be verified locally: they are admitted from this machine
(loopback) only, signed or not. Under /_local/ the gateway also serves the local stack's own controls,
to loopback callers only, for tests that drive the stack from another process:

    GET  /_local/functions                     each function's workers: {"functions": {id: {...}}}
    POST /_local/functions/{LogicalId}/kill    SIGKILLs one busy worker: {"killed": pid}, 409 if none is busy
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl

from local.functions import LocalFunction
from local.http import JSON_HEADERS, LocalHTTPHandler, LocalHTTPServer
from local.template import ACCOUNT_ID, REGION, LambdaAuthorizer, Route

log = logging.getLogger("local")

API_ID = "local"
_TEXT_TYPES = re.compile(r"^(text/.*|application/(json|xml|javascript|.*\+json|.*\+xml))$")
_UNAUTHORIZED = (401, b'{"message":"Unauthorized"}')
_FORBIDDEN = (403, b'{"message":"Forbidden"}')
_INTERNAL_ERROR = (500, b'{"message":"Internal Server Error"}')
_NOT_FOUND = (404, b'{"message":"Not Found"}')
CONTROL_PREFIX = "/_local/"
# Hop-by-hop headers describe this connection, not the message; API Gateway sets its own.
_NOT_FORWARDED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "date"})


class _CompiledRoute:
    def __init__(self, route: Route, function: LocalFunction, authorizer: RouteAuthorizer | None = None) -> None:
        self.route = route
        self.function = function
        self.authorizer = authorizer
        pattern, literal, greedy = "", 0, False
        for segment in route.path.strip("/").split("/") if route.path != "$default" else []:
            if m := re.fullmatch(r"\{(\w+)\+\}", segment):
                pattern += f"/(?P<{m.group(1)}>.+)"
                greedy = True
            elif m := re.fullmatch(r"\{(\w+)\}", segment):
                pattern += f"/(?P<{m.group(1)}>[^/]+)"
            else:
                pattern += "/" + re.escape(segment)
                literal += 1
        self.regex = re.compile(".*" if route.path == "$default" else (pattern or "/") + "$")
        # API Gateway picks the most specific route: literal path beats parameters beats greedy,
        # an explicit method beats ANY, $default comes last.
        self.rank = (route.path == "$default", greedy, -literal, route.method == "ANY")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.route.method not in ("ANY", method):
            return None
        m = self.regex.match(path)
        return None if m is None else m.groupdict()


# $context variables an identity source may name, read from the route event's requestContext.
_CONTEXT_VARIABLES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "accountId": lambda c: c["accountId"],
    "apiId": lambda c: c["apiId"],
    "domainName": lambda c: c["domainName"],
    "domainPrefix": lambda c: c["domainPrefix"],
    "httpMethod": lambda c: c["http"]["method"],
    "identity.sourceIp": lambda c: c["http"]["sourceIp"],
    "identity.userAgent": lambda c: c["http"]["userAgent"],
    "path": lambda c: c["http"]["path"],
    "protocol": lambda c: c["http"]["protocol"],
    "requestId": lambda c: c["requestId"],
    "requestTime": lambda c: c["time"],
    "requestTimeEpoch": lambda c: c["timeEpoch"],
    "routeKey": lambda c: c["routeKey"],
    "stage": lambda c: c["stage"],
}


def _identity_value(source: str, event: dict[str, Any]) -> str | None:
    """The value of an identity source ($request.header.X, ...) in a route event; None when missing."""
    kind, _, name = source.removeprefix("$").partition(".")
    value: Any = None
    if kind == "request":
        where, _, name = name.partition(".")
        if where == "header":
            name = name.lower()
            value = "; ".join(event.get("cookies") or []) if name == "cookie" else event["headers"].get(name)
        elif where == "querystring":
            value = (event.get("queryStringParameters") or {}).get(name)
    elif kind == "context":
        value = _CONTEXT_VARIABLES[name](event["requestContext"])
    elif kind == "stageVariables":
        value = (event.get("stageVariables") or {}).get(name)
    return None if value is None else str(value)


class _MalformedResponse(ValueError):
    pass


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _strings(value: Any, what: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise _MalformedResponse(f"policy statement {what} must be a string or a list of strings")
    return tuple(values)


class _Decision:
    """An authorizer's answer: a simple response, or an IAM policy evaluated against each route ARN."""

    def __init__(self, response: Any, simple: bool) -> None:
        if not isinstance(response, dict):
            raise _MalformedResponse(f"the response must be a JSON object, not {type(response).__name__}")
        self.context = response.get("context")
        if self.context is not None and not isinstance(self.context, dict):
            raise _MalformedResponse("context must be a JSON object")
        self.authorized: bool | None = None
        self.statements: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
        if simple:
            self.authorized = response.get("isAuthorized")
            if not isinstance(self.authorized, bool):
                raise _MalformedResponse("isAuthorized must be true or false")
            return
        policy = response.get("policyDocument")
        statements = policy.get("Statement") if isinstance(policy, dict) else None
        statements = [statements] if isinstance(statements, dict) else statements
        if not isinstance(statements, list) or not all(isinstance(st, dict) for st in statements):
            raise _MalformedResponse("policyDocument.Statement must be a list of policy statements")
        for statement in statements:
            if statement.get("Effect") not in ("Allow", "Deny"):
                raise _MalformedResponse("policy statement Effect must be Allow or Deny")
            actions = _strings(statement.get("Action"), "Action")
            resources = _strings(statement.get("Resource"), "Resource")
            self.statements.append((statement["Effect"], actions, resources))

    def allows(self, route_arn: str) -> bool:
        if self.authorized is not None:
            return self.authorized
        effects = {
            effect
            for effect, actions, resources in self.statements
            if any(_wildcard(a, "execute-api:Invoke", ignore_case=True) for a in actions)
            and any(_wildcard(r, route_arn) for r in resources)
        }
        return effects == {"Allow"}  # an explicit Deny wins; no Allow is a Deny


class RouteAuthorizer(Protocol):
    def authorize(self, event: dict[str, Any]) -> tuple[int, bytes] | None:
        """None lets the request through, with what the authorizer says about the caller added to ``event``'s
        requestContext; otherwise the status and body to answer with."""


class _IamAuthorizer:
    """AWS_IAM routes: the signature cannot be checked locally, so callers on this machine (loopback) get in,
    signed or not, all as the local dummy user; others are refused."""

    def authorize(self, event: dict[str, Any]) -> tuple[int, bytes] | None:
        context = event["requestContext"]
        if not is_loopback(context["http"]["sourceIp"]):
            return _FORBIDDEN
        context["authorizer"] = {
            "iam": {
                "accessKey": "testing",
                "accountId": ACCOUNT_ID,
                "callerId": "LOCALCALLER",
                "principalOrgId": None,
                "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/local",
                "userId": "LOCALCALLER",
                "cognitoIdentity": None,
            }
        }
        return None


class _Authorizer:
    """Runs one Lambda authorizer for the routes that use it, caching its answers as API Gateway does:
    per identity source values, for the authorizer's TTL, allows and denies alike (not failures)."""

    clock: Callable[[], float] = staticmethod(time.monotonic)
    _MAX_CACHED = 10_000

    def __init__(self, spec: LambdaAuthorizer, function: LocalFunction) -> None:
        for source in spec.identity_sources:
            if source.startswith("$context.") and source.removeprefix("$context.") not in _CONTEXT_VARIABLES:
                raise ValueError(f"authorizer {spec.name}: {source} is not available in the local API")
        self.spec = spec
        self.function = function
        self._cache: dict[tuple[str, ...], tuple[float, _Decision]] = {}
        self._lock = threading.Lock()

    def authorize(self, event: dict[str, Any]) -> tuple[int, bytes] | None:
        identity = [_identity_value(source, event) for source in self.spec.identity_sources]
        if not all(identity):  # missing or empty: refused without invoking the authorizer
            return _UNAUTHORIZED
        context = event["requestContext"]
        route_arn = (
            f"arn:aws:execute-api:{REGION}:{context['accountId']}:{context['apiId']}/{context['stage']}/"
            f"{context['http']['method']}{event['rawPath']}"
        )
        key = tuple(identity)
        decision = self._cached(key)
        if decision is None:
            try:
                decision = _Decision(self._invoke(event, list(key), route_arn), self.spec.simple_responses)
            except _MalformedResponse as exc:
                log.error("authorizer %s returned a malformed response: %s", self.spec.name, exc)
                return _INTERNAL_ERROR
            except Exception:
                log.error(
                    "authorizer %s (%s) failed on %s:\n%s",
                    self.spec.name,
                    self.function.spec.logical_id,
                    event["routeKey"],
                    traceback.format_exc(),
                )
                return _INTERNAL_ERROR
            self._store(key, decision)
        if not decision.allows(route_arn):
            log.info("authorizer %s denied %s", self.spec.name, route_arn)
            return _FORBIDDEN
        context["authorizer"] = {"lambda": decision.context}
        return None

    def _invoke(self, event: dict[str, Any], identity: list[str], route_arn: str) -> Any:
        auth_event: dict[str, Any] = {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": route_arn,
            "identitySource": identity,
            "routeKey": event["routeKey"],
            "rawPath": event["rawPath"],
            "rawQueryString": event["rawQueryString"],
        }
        for name in ("cookies", "headers", "queryStringParameters", "requestContext", "pathParameters"):
            if name in event:
                auth_event[name] = event[name]
        return self.function.invoke(auth_event)

    def _cached(self, key: tuple[str, ...]) -> _Decision | None:
        if not self.spec.ttl:
            return None
        with self._lock:
            expires, decision = self._cache.get(key, (0.0, None))
            return decision if expires > self.clock() else None

    def _store(self, key: tuple[str, ...], decision: _Decision) -> None:
        if not self.spec.ttl:
            return
        now = self.clock()
        with self._lock:
            if len(self._cache) >= self._MAX_CACHED:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[key] = (now + self.spec.ttl, decision)


_IAM = _IamAuthorizer()


class Gateway:
    """Binds its port when created; serves the routes given to ``set_routes`` once started."""

    def __init__(self, port: int = 3000, host: str = "127.0.0.1") -> None:
        self._routes: list[_CompiledRoute] = []
        self.functions: dict[str, LocalFunction] = {}
        self._server = _Server(host, port, _Handler, name="local-gateway")
        self._server.gateway = self
        self.url = self._server.url

    def set_routes(self, routes: list[tuple[Route, LocalFunction]], functions: Mapping[str, LocalFunction]) -> None:
        """``functions`` (by logical id) must hold the Lambda authorizers' functions the routes use; they are
        the functions /_local/ controls."""
        self.functions = dict(functions)
        authorizers: dict[LambdaAuthorizer, _Authorizer] = {}
        compiled = []
        for route, function in routes:
            spec = route.lambda_authorizer
            authorizer: RouteAuthorizer | None = None
            if spec is not None:
                if spec not in authorizers:
                    if spec.function_id not in self.functions:
                        raise ValueError(f"{route.route_key}: authorizer function {spec.function_id} is not loaded")
                    authorizers[spec] = _Authorizer(spec, self.functions[spec.function_id])
                authorizer = authorizers[spec]
            elif route.authorizer == "AWS_IAM":
                authorizer = _IAM
            compiled.append(_CompiledRoute(route, function, authorizer))
        self._routes = sorted(compiled, key=lambda c: c.rank)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def find(self, method: str, path: str) -> tuple[_CompiledRoute, dict[str, str]] | None:
        for compiled in self._routes:
            params = compiled.match(method, path)
            if params is not None:
                return compiled, params
        return None


class _Server(LocalHTTPServer):
    gateway: Gateway


class _Handler(LocalHTTPHandler):
    server: _Server
    server_version = "local-apigw"
    request_id = ""

    def _dispatch(self) -> None:
        self.request_id = base64.b32encode(uuid.uuid4().bytes)[:16].decode()
        body = self.read_body()
        if body is None:
            return
        # HTTP APIs hand the path over decoded, rawPath included.
        path, query = self.target()
        if path.startswith(CONTROL_PREFIX):
            self._answer(self._control(path))
            return
        found = self.server.gateway.find(self.command, path)
        if found is None:
            self._answer(_NOT_FOUND)
            return
        compiled, path_params = found
        event = self._event(compiled.route, path, query, path_params, body)
        if compiled.authorizer is not None:
            refused = compiled.authorizer.authorize(event)
            if refused is not None:
                self._answer(refused)
                return
        try:
            status, headers, payload = _response(compiled.function.invoke(event))
        except Exception:
            log.error(
                "%s failed on %s:\n%s",
                compiled.function.spec.logical_id,
                compiled.route.route_key,
                traceback.format_exc(),
            )
            self._answer(_INTERNAL_ERROR)
            return
        self.respond(status, headers, payload)

    def _control(self, path: str) -> tuple[int, bytes]:
        if not is_loopback(self.client_address[0]):
            return _NOT_FOUND
        functions = self.server.gateway.functions
        if self.command == "GET" and path == CONTROL_PREFIX + "functions":
            status, answer = 200, {"functions": {lid: function.status() for lid, function in functions.items()}}
        elif (
            self.command == "POST"
            and (match := re.fullmatch(re.escape(CONTROL_PREFIX) + r"functions/([^/]+)/kill", path))
            and match.group(1) in functions
        ):
            pid = functions[match.group(1)].kill_busy_worker()
            if pid is None:
                status, answer = 409, {"message": f"{match.group(1)} has no busy worker"}
            else:
                status, answer = 200, {"killed": pid}
        else:
            return _NOT_FOUND
        return status, json.dumps(answer).encode()

    def _answer(self, answer: tuple[int, bytes]) -> None:
        self.respond(answer[0], JSON_HEADERS, answer[1])

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY...) is routed too: with no route for it, API Gateway's
        # 404 JSON, not http.server's HTML 501.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _event(self, route: Route, path: str, query: str, path_params: dict[str, str], body: bytes) -> dict[str, Any]:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in self.headers.items():
            name = name.lower()
            if name == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
            elif name in headers:
                headers[name] += "," + value
            else:
                headers[name] = value
        now = time.time()
        headers.update(
            {
                "x-forwarded-for": self.client_address[0],
                "x-forwarded-port": str(self.server.server_address[1]),
                "x-forwarded-proto": "http",
                "x-amzn-trace-id": f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}",
            }
        )
        query_params: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            query_params[name] = f"{query_params[name]},{value}" if name in query_params else value
        context: dict[str, Any] = {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": headers.get("host", "localhost").split(".")[0],
            "http": {
                "method": self.command,
                "path": path,
                "protocol": self.request_version,
                "sourceIp": self.client_address[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": self.request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query_params:
            event["queryStringParameters"] = query_params
        if path_params:
            event["pathParameters"] = path_params
        if body:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            text = None
            if _TEXT_TYPES.match(content_type):
                with contextlib.suppress(UnicodeDecodeError):
                    text = body.decode("utf-8")
            event["body"] = text if text is not None else base64.b64encode(body).decode()
            event["isBase64Encoded"] = text is None
        return event

    def respond(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        forwarded = [(name, value) for name, value in headers if name.lower() not in _NOT_FORWARDED]
        super().respond(status, [*forwarded, ("apigw-requestid", self.request_id)], body)
        log.info(
            '%s "%s %s" %d %d', self.client_address[0], self.command, self.path.partition("?")[0], status, len(body)
        )


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _response(result: Any) -> tuple[int, Sequence[tuple[str, str]], bytes]:
    """Maps a handler result to an HTTP response the way payload format 2.0 does."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Anything without a statusCode is taken as the JSON body of a 200.
        return 200, JSON_HEADERS, json.dumps(result).encode()
    status, body = result["statusCode"], result.get("body")
    # API Gateway answers 500 to a malformed response; failing here keeps such bugs visible locally.
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"malformed Lambda proxy response: statusCode {status!r}")
    if body is not None and not isinstance(body, str):
        raise ValueError(f"malformed Lambda proxy response: body must be a string, not {type(body).__name__}")
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("set-cookie", str(c)) for c in result.get("cookies") or []]
    if body is None:
        return status, headers, b""
    return status, headers, base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
