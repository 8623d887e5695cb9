"""The template's WebSocket API served locally, as API Gateway runs it, with its management API.

* ``$connect`` runs during the opening handshake: a 2xx from its function admits the connection,
  anything else refuses the handshake with that status (the function's body as the reason).
* Each message the client sends goes to ``$default`` (the only routing done locally: the route
  selection expression is not evaluated) with the message as the event's body (base64 for a
  binary one); a two-way route's answer (a route response) is sent back to the client.
* ``$disconnect`` runs after the connection closed, whoever closed it.
* API Gateway's limits: messages up to 128 KB in frames up to 32 KB (else closed with 1009),
  an idle connection closed after 10 minutes, any connection after 2 hours (both closed with
  1001 "Going Away"; both shorter in tests). Idle means no message either way (pings do not count).
* The management API (``WS_MANAGEMENT_ENDPOINT`` of the functions) listens on a port of its own:
  ``POST /@connections/{id}`` sends its body to the connection, ``GET`` describes it, ``DELETE``
  closes it; a connection that is not open is 410 ``GoneException``, as boto3 reads it.
* For local clients (``python -m local.ws_chat``), on the WebSocket port, to loopback callers only:
  ``GET /_local/usersig?identifier=alice`` answers a UserSig of the local app's key for that user.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from local.functions import LocalFunction
from local.gateway import is_loopback
from local.http import JSON_HEADERS, LocalHTTPHandler, LocalHTTPServer
from local.template import ACCOUNT_ID, WsApi

log = logging.getLogger("local")

API_ID = "localws"
# API Gateway's WebSocket quotas (docs/protocol.md §14).
MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024
IDLE_TIMEOUT_S = 10 * 60
MAX_CONNECTION_S = 2 * 3600
GOING_AWAY = 1001
USERSIG_PATH = "/_local/usersig"
# {endpoint}/@connections/{id}, the endpoint with its stage as deployed.
_CONNECTIONS_PATH = re.compile(r"^(?:/[^/@]+)?/@connections/([^/]+)$")


@dataclass
class _Connection:
    id: str
    socket: ServerConnection
    source_ip: str
    user_agent: str
    connected_at: float = field(default_factory=time.time)
    last_active_at: float = field(default_factory=time.time)


class WebSocketGateway:
    """Binds its ports when created; serves ``api``'s routes with ``functions`` once started."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_connection_s: float = MAX_CONNECTION_S,
        signer: Callable[[str], str] | None = None,
    ) -> None:
        self._host = host
        self._signer = signer
        self._idle_timeout_s = idle_timeout_s
        self._max_connection_s = max_connection_s
        self._api: WsApi | None = None
        self._functions: Mapping[str, LocalFunction] = {}
        self._connections: dict[str, _Connection] = {}
        # The connection id given during the handshake, for the handler that runs after it.
        self._admitted: dict[ServerConnection, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-ws-gateway", daemon=True)
        self._thread.start()
        self._server: Server = asyncio.run_coroutine_threadsafe(self._serve(port), self._loop).result()
        bound_port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://{host}:{bound_port}"
        self._management = _ManagementServer(host, self)
        self.management_url = self._management.url

    async def _serve(self, port: int) -> Server:
        return await serve(
            self._handle,
            self._host,
            port,
            process_request=self._connect,
            max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
            compression=None,
            server_header=None,
            # API Gateway answers pings; it sends none of its own.
            ping_interval=None,
        )

    def set_routes(self, api: WsApi, functions: Mapping[str, LocalFunction]) -> None:
        self._api = api
        self._functions = functions

    @property
    def stage(self) -> str:
        return self._api.stage if self._api is not None else "$default"

    def start(self) -> None:
        self._management.start()

    def stop(self) -> None:
        self._management.stop()

        async def close() -> None:
            self._server.close()
            await self._server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ routes

    def _function(self, route_key: str) -> tuple[LocalFunction, bool] | None:
        route = self._api.routes.get(route_key) if self._api is not None else None
        if route is None:
            return None
        return self._functions[route.function_id], route.two_way

    def _context(self, connection: _Connection, route_key: str, event_type: str) -> dict[str, Any]:
        now = time.time()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": int(connection.connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            "requestId": uuid.uuid4().hex[:16],
            "domainName": self.url.removeprefix("ws://"),
            "connectionId": connection.id,
            "apiId": API_ID,
            "accountId": ACCOUNT_ID,
        }

    async def _invoke(self, route_key: str, event: dict[str, Any]) -> Any:
        found = self._function(route_key)
        if found is None:
            return None
        try:
            return await asyncio.to_thread(found[0].invoke, event)
        except Exception:
            log.exception("%s failed on the WebSocket route %s", found[0].spec.logical_id, route_key)
            raise

    def _usersig(self, socket: ServerConnection, request: Request) -> Response:
        identifier = dict(parse_qsl(urlsplit(request.path).query)).get("identifier", "")
        if self._signer is None or not is_loopback(str(socket.remote_address[0])):
            return socket.respond(404, "Not Found\n")
        if not identifier:
            return socket.respond(400, "give ?identifier=<user>\n")
        return socket.respond(200, self._signer(identifier))

    async def _connect(self, socket: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path == USERSIG_PATH:
            return self._usersig(socket, request)
        if self._api is None:
            return socket.respond(503, "the local stack is starting\n")
        connection = _Connection(
            id=base64.b64encode(secrets.token_bytes(10)).decode(),
            socket=socket,
            source_ip=str(socket.remote_address[0]),
            user_agent=request.headers.get("User-Agent", ""),
        )
        # Payload format 1.0: the last value of a repeated parameter, and every value in the multi-value map.
        params: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in parse_qsl(urlsplit(request.path).query, keep_blank_values=True):
            params[name] = value
            multi.setdefault(name, []).append(value)
        event: dict[str, Any] = {
            "headers": dict(request.headers.raw_items()),
            "multiValueHeaders": {k: request.headers.get_all(k) for k in request.headers},
            "requestContext": self._context(connection, "$connect", "CONNECT"),
            "isBase64Encoded": False,
        }
        if params:
            event["queryStringParameters"] = params
            event["multiValueQueryStringParameters"] = multi
        try:
            result = await self._invoke("$connect", event)
        except Exception:
            return socket.respond(500, "Internal server error\n")
        status = result.get("statusCode", 200) if isinstance(result, dict) else 200
        if not isinstance(status, int) or not 200 <= status < 300:
            body = result.get("body") if isinstance(result, dict) else None
            return socket.respond(status if isinstance(status, int) else 500, f"{body or 'Forbidden'}\n")
        self._connections[connection.id] = connection
        self._admitted[socket] = connection.id
        return None

    async def _handle(self, socket: ServerConnection) -> None:
        connection = self._connections[self._admitted.pop(socket)]
        watchdog = asyncio.create_task(self._watch(connection))
        tasks: set[asyncio.Task[None]] = set()
        try:
            async for message in socket:
                connection.last_active_at = time.time()
                # API Gateway invokes for each message as it comes, not one after the other.
                task = asyncio.create_task(self._message(connection, message))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            self._connections.pop(connection.id, None)
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            event = {
                "headers": {},
                "requestContext": {
                    **self._context(connection, "$disconnect", "DISCONNECT"),
                    "disconnectStatusCode": socket.close_code if socket.close_code is not None else 1006,
                    "disconnectReason": socket.close_reason or "",
                },
                "isBase64Encoded": False,
            }
            with contextlib.suppress(Exception):
                await self._invoke("$disconnect", event)

    async def _message(self, connection: _Connection, message: str | bytes) -> None:
        binary = isinstance(message, bytes)
        event = {
            "requestContext": {
                **self._context(connection, "$default", "MESSAGE"),
                "messageId": uuid.uuid4().hex[:16],
            },
            "body": base64.b64encode(message).decode() if binary else message,
            "isBase64Encoded": binary,
        }
        found = self._function("$default")
        reply: str | None
        if found is None:
            reply = json.dumps({"message": "Forbidden", "connectionId": connection.id})
        else:
            try:
                result = await self._invoke("$default", event)
            except Exception:
                reply = json.dumps({"message": "Internal server error", "connectionId": connection.id})
            else:
                reply = result.get("body") if found[1] and isinstance(result, dict) else None
        if reply is not None:
            with contextlib.suppress(ConnectionClosed):
                await connection.socket.send(reply)
                connection.last_active_at = time.time()

    async def _watch(self, connection: _Connection) -> None:
        while True:
            now = time.time()
            idle_until = connection.last_active_at + self._idle_timeout_s
            end = connection.connected_at + self._max_connection_s
            if now >= min(idle_until, end):
                await connection.socket.close(GOING_AWAY, "Going away")
                return
            await asyncio.sleep(min(idle_until, end) - now)

    # ------------------------------------------------------------------ management API

    def post(self, connection_id: str, data: bytes) -> bool:
        """Sends ``data`` (text when it is UTF-8) to the connection; False when it is not open."""
        connection = self._connections.get(connection_id)
        if connection is None:
            return False
        try:
            text = data.decode()
        except UnicodeDecodeError:
            message: str | bytes = data
        else:
            message = text

        async def send() -> bool:
            try:
                await connection.socket.send(message)
            except ConnectionClosed:
                return False
            connection.last_active_at = time.time()
            return True

        return asyncio.run_coroutine_threadsafe(send(), self._loop).result(timeout=30)

    def describe(self, connection_id: str) -> dict[str, Any] | None:
        connection = self._connections.get(connection_id)
        if connection is None:
            return None
        iso = "%Y-%m-%dT%H:%M:%S.000Z"
        # The wire names (boto3 shows them capitalised).
        return {
            "connectedAt": time.strftime(iso, time.gmtime(connection.connected_at)),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            "lastActiveAt": time.strftime(iso, time.gmtime(connection.last_active_at)),
        }

    def close(self, connection_id: str) -> bool:
        connection = self._connections.get(connection_id)
        if connection is None:
            return False
        asyncio.run_coroutine_threadsafe(connection.socket.close(GOING_AWAY, "Going away"), self._loop)
        return True

    @property
    def open_connections(self) -> int:
        return len(self._connections)


class _ManagementServer(LocalHTTPServer):
    def __init__(self, host: str, gateway: WebSocketGateway) -> None:
        super().__init__(host, 0, _ManagementHandler, name="local-ws-management")
        self.gateway = gateway


_GONE = (410, [*JSON_HEADERS, ("x-amzn-errortype", "GoneException")], b'{"message":null}')


class _ManagementHandler(LocalHTTPHandler):
    server: _ManagementServer

    def _dispatch(self) -> None:
        body = self.read_body()
        if body is None:
            return
        # Matched before decoding: a connection id may hold "/" (boto3 sends it as %2F).
        match = _CONNECTIONS_PATH.match(self.path.partition("?")[0])
        gateway = self.server.gateway
        if match is None or self.command not in ("POST", "GET", "DELETE"):
            self.respond(404, JSON_HEADERS, b'{"message":"Not Found"}')
            return
        connection_id = unquote(match.group(1))
        if self.command == "POST":
            if len(body) > MAX_MESSAGE_BYTES:
                self.respond(413, [*JSON_HEADERS, ("x-amzn-errortype", "PayloadTooLargeException")], b"{}")
                return
            answer = (200, JSON_HEADERS, b"") if gateway.post(connection_id, body) else _GONE
        elif self.command == "GET":
            found = gateway.describe(connection_id)
            answer = _GONE if found is None else (200, JSON_HEADERS, json.dumps(found).encode())
        else:
            answer = (204, JSON_HEADERS, b"") if gateway.close(connection_id) else _GONE
        self.respond(*answer)

    do_GET = do_POST = do_DELETE = _dispatch
