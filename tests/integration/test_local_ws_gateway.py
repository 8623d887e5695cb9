"""The local stack's WebSocket gateway (local/ws_gateway.py) with stand-in functions and a real
WebSocket client: the route events API Gateway sends, $connect deciding the handshake, two-way
answers, API Gateway's limits, and the management API as boto3 calls it."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from local import template
from local.template import WsApi, WsRoute
from local.ws_gateway import USERSIG_PATH, WebSocketGateway
from tests.waiting import wait_for


class Function:
    """Stands in for a LocalFunction: keeps every event, answers what ``answer`` makes of it."""

    def __init__(self, answer: Callable[[dict[str, Any]], Any]) -> None:
        self.spec = SimpleNamespace(logical_id="Fn")
        self.events: list[dict[str, Any]] = []
        self._answer = answer
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            self.events.append(event)
        return self._answer(event)

    def routed(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["requestContext"]["routeKey"] == key]


def answer(event: dict[str, Any]) -> Any:
    context = event["requestContext"]
    if context["routeKey"] == "$connect":
        token = (event.get("queryStringParameters") or {}).get("token")
        return {"statusCode": 200} if token == "good" else {"statusCode": 401, "body": "bad token"}
    if context["routeKey"] == "$default":
        if event["body"] == "boom":
            raise RuntimeError("the handler failed")
        return {"statusCode": 200, "body": json.dumps({"echo": event["body"], "b64": event["isBase64Encoded"]})}
    return {"statusCode": 200}


@pytest.fixture
def gateway() -> Iterator[tuple[WebSocketGateway, Function]]:
    function = Function(answer)
    ws = WebSocketGateway(idle_timeout_s=3600, max_connection_s=3600, signer=lambda user: f"sig-of-{user}")
    routes = {key: WsRoute(key, "Fn", two_way=key == "$default") for key in ("$connect", "$disconnect", "$default")}
    ws.set_routes(WsApi("WsApi", "live", routes), {"Fn": function})
    ws.start()
    yield ws, function
    ws.stop()


def url(ws: WebSocketGateway, token: str = "good") -> str:  # noqa: S107 - the stand-in's accepted token
    return f"{ws.url}/live?token={token}"


def management(ws: WebSocketGateway) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{ws.management_url}/live",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_connect_decides_the_handshake_before_any_message(gateway: tuple[WebSocketGateway, Function]) -> None:
    ws, function = gateway
    with pytest.raises(InvalidStatus) as refused, connect(url(ws, "bad")):
        pass
    assert refused.value.response.status_code == 401
    assert b"bad token" in refused.value.response.body
    assert function.routed("$disconnect") == []  # never connected
    with connect(url(ws)) as client:
        client.send("hello")
        assert json.loads(client.recv(timeout=10)) == {"echo": "hello", "b64": False}
    connected = function.routed("$connect")[-1]
    assert connected["queryStringParameters"] == {"token": "good"}
    assert connected["requestContext"]["eventType"] == "CONNECT"
    assert connected["requestContext"]["stage"] == "live"
    message = function.routed("$default")[0]["requestContext"]
    assert message["connectionId"] == connected["requestContext"]["connectionId"]
    assert message["eventType"] == "MESSAGE"
    gone = wait_for(lambda: function.routed("$disconnect"), "$disconnect")[0]["requestContext"]
    assert (gone["connectionId"], gone["disconnectStatusCode"]) == (message["connectionId"], 1000)


def test_binary_messages_are_base64_and_a_failing_function_answers_an_error(
    gateway: tuple[WebSocketGateway, Function],
) -> None:
    ws, _ = gateway
    with connect(url(ws)) as client:
        client.send(b"\x00\xff")
        assert json.loads(client.recv(timeout=10)) == {"echo": base64.b64encode(b"\x00\xff").decode(), "b64": True}
        client.send("boom")
        assert json.loads(client.recv(timeout=10))["message"] == "Internal server error"
        client.send("still open")
        assert json.loads(client.recv(timeout=10))["echo"] == "still open"


def test_one_way_routes_answer_nothing(gateway: tuple[WebSocketGateway, Function]) -> None:
    ws, function = gateway
    routes = {key: WsRoute(key, "Fn", two_way=False) for key in ("$connect", "$disconnect", "$default")}
    ws.set_routes(WsApi("WsApi", "live", routes), {"Fn": function})
    with connect(url(ws)) as client:
        client.send("one")
        wait_for(lambda: function.routed("$default"), "the message handled")
        with pytest.raises(TimeoutError):
            client.recv(timeout=0.5)


def test_the_management_api_posts_describes_and_closes(gateway: tuple[WebSocketGateway, Function]) -> None:
    ws, function = gateway
    api = management(ws)
    with connect(url(ws)) as client:
        connection_id = function.routed("$connect")[-1]["requestContext"]["connectionId"]
        api.post_to_connection(ConnectionId=connection_id, Data=b'{"type": "single"}')
        assert client.recv(timeout=10) == '{"type": "single"}'
        assert api.get_connection(ConnectionId=connection_id)["Identity"]["SourceIp"] == "127.0.0.1"
        api.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=10)
    wait_for(lambda: function.routed("$disconnect"), "$disconnect")
    with pytest.raises(api.exceptions.GoneException):
        api.post_to_connection(ConnectionId=connection_id, Data=b"x")
    with pytest.raises(api.exceptions.GoneException):
        api.post_to_connection(ConnectionId="never/was+one=", Data=b"x")


def test_api_gateways_size_limits_close_the_connection(gateway: tuple[WebSocketGateway, Function]) -> None:
    ws, _ = gateway
    with connect(url(ws), max_size=None) as client:
        client.send("x" * (128 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.parametrize("limit", ["idle", "duration"])
def test_idle_and_long_connections_are_closed(limit: str) -> None:
    function = Function(answer)
    short = (
        {"idle_timeout_s": 0.5, "max_connection_s": 3600}
        if limit == "idle"
        else {"idle_timeout_s": 3600, "max_connection_s": 1}
    )
    ws = WebSocketGateway(**short)
    routes = {key: WsRoute(key, "Fn", two_way=True) for key in ("$connect", "$disconnect", "$default")}
    ws.set_routes(WsApi("WsApi", "live", routes), {"Fn": function})
    ws.start()
    try:
        with connect(url(ws), ping_interval=None) as client:
            if limit == "duration":
                # Busy all along: the 2-hour limit (here 1 s) closes it all the same.
                for _ in range(40):
                    try:
                        client.send("busy")
                        client.recv(timeout=0.1)
                    except ConnectionClosed:
                        break
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    client.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        gone = wait_for(lambda: function.routed("$disconnect"), "$disconnect")[0]
        assert gone["requestContext"]["disconnectStatusCode"] == 1001
    finally:
        ws.stop()


def test_usersigs_for_local_clients(gateway: tuple[WebSocketGateway, Function]) -> None:
    ws, _ = gateway
    http = ws.url.replace("ws://", "http://")
    assert requests.get(http + USERSIG_PATH, params={"identifier": "alice"}, timeout=10).text == "sig-of-alice"
    assert requests.get(http + USERSIG_PATH, timeout=10).status_code == 400


def test_the_template_declares_what_the_local_gateway_serves() -> None:
    api = template.load().ws_apis["WsApi"]
    assert api.stage == "live"
    assert api.routes == {
        "$connect": WsRoute("$connect", "WsApiFunction", two_way=False),
        "$disconnect": WsRoute("$disconnect", "WsApiFunction", two_way=False),
        "$default": WsRoute("$default", "WsApiFunction", two_way=True),
    }
