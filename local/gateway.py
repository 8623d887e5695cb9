"""The template's HttpApi routes served locally with API Gateway's payload format 2.0."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import socket
import threading
import time
import traceback
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.functions import LocalFunction
from local.template import ACCOUNT_ID, Route

log = logging.getLogger("local")

API_ID = "local"
MAX_BODY = 10 * 1024 * 1024  # HTTP API payload limit
_TEXT_TYPES = re.compile(r"^(text/.*|application/(json|xml|javascript|.*\+json|.*\+xml))$")
_JSON = [("content-type", "application/json")]
# Hop-by-hop headers describe this connection, not the message; API Gateway sets its own.
_NOT_FORWARDED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "date"})


class _CompiledRoute:
    def __init__(self, route: Route, function: LocalFunction) -> None:
        self.route = route
        self.function = function
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


class Gateway:
    """Binds its port when created; serves ``routes`` once started."""

    def __init__(self, port: int = 3000, host: str = "127.0.0.1") -> None:
        self._routes: list[_CompiledRoute] = []
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        self._server.gateway = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-gateway", daemon=True)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    @property
    def routes(self) -> list[tuple[Route, LocalFunction]]:
        return [(c.route, c.function) for c in self._routes]

    @routes.setter
    def routes(self, routes: list[tuple[Route, LocalFunction]]) -> None:
        self._routes = sorted((_CompiledRoute(r, f) for r, f in routes), key=lambda c: c.rank)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()  # joins the connection threads
        if self._thread.is_alive():
            self._thread.join()

    def find(self, method: str, path: str) -> tuple[_CompiledRoute, dict[str, str]] | None:
        for compiled in self._routes:
            params = compiled.match(method, path)
            if params is not None:
                return compiled, params
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() waits for connection threads
    gateway: Gateway

    def __init__(self, *args: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        # Idle keep-alive connections would otherwise keep their threads waiting for a request.
        with self._open_lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Tencent's callback client uses
    # Headers and body in one write: separate small writes meet Nagle + delayed ACK (~40 ms a call).
    disable_nagle_algorithm = True
    wbufsize = -1
    timeout = 60  # idle keep-alive connections are closed after this
    server: _Server
    server_version = "local-apigw"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _dispatch(self) -> None:
        request_id = base64.b32encode(uuid.uuid4().bytes)[:16].decode()
        body = self._read_body()
        if body is None:
            return
        raw_path, _, query = self.path.partition("?")
        # HTTP APIs hand the path over decoded, rawPath included.
        path = unquote(raw_path)
        found = self.server.gateway.find(self.command, path)
        if found is None:
            self._send(404, _JSON, b'{"message":"Not Found"}', request_id)
            return
        compiled, path_params = found
        event = self._event(compiled.route, path, query, path_params, body, request_id)
        try:
            result = compiled.function.invoke(event)
            status, headers, payload = _response(result)
        except Exception:
            log.error(
                "%s failed on %s:\n%s",
                compiled.function.spec.logical_id,
                compiled.route.route_key,
                traceback.format_exc(),
            )
            status, headers, payload = 500, _JSON, b'{"message":"Internal Server Error"}'
        self._send(status, headers, payload, request_id)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes | None:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            body = b"".join(chunks)
        else:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                self._send(413, _JSON, b'{"message":"Request Entity Too Large"}', "")
                return None
            body = self.rfile.read(length)
        return body

    def _event(
        self, route: Route, path: str, query: str, path_params: dict[str, str], body: bytes, request_id: str
    ) -> dict[str, Any]:
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
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        if route.authorizer == "AWS_IAM":
            # Not verified locally: every caller is the local dummy user.
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

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, request_id: str) -> None:
        self.send_response_only(status)
        self.send_header("date", formatdate(usegmt=True))
        for name, value in headers:
            if name.lower() not in _NOT_FORWARDED:
                self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        if request_id:
            self.send_header("apigw-requestid", request_id)
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log.info(
            '%s "%s %s" %d %d', self.client_address[0], self.command, self.path.partition("?")[0], status, len(body)
        )


def _response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Maps a handler result to an HTTP response the way payload format 2.0 does."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Anything without a statusCode is taken as the JSON body of a 200.
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
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
