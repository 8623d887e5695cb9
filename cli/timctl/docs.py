"""`docs`: the admin API's Swagger UI on this machine, its calls signed with the user's AWS credentials.

A deployed stack's /admin/* routes take IAM auth only, so a browser cannot call them, nor read the
OpenAPI document. This serves the UI on 127.0.0.1 from the API's own /admin/openapi.json (fetched
signed), with the document's server set to this proxy, and forwards the UI's calls to the API
signed with SigV4, as every timctl call is.

Any page the browser opens could send requests to a port on 127.0.0.1, and this one signs what it
forwards: it answers only under a random path that it prints, and only requests whose Host is its
own address (a DNS-rebound name is refused).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from timctl.client import ADMIN_PREFIX, AdminClient, CliError

OPENAPI_ROUTE = f"{ADMIN_PREFIX}/openapi.json"
# What the UI's requests carry that the API reads; anything else (cookies, the browser's own
# headers) stays here. The answer's headers that the UI shows or needs.
FORWARDED_REQUEST_HEADERS = ("Accept", "Content-Type", "Idempotency-Key")
FORWARDED_ANSWER_HEADERS = ("Content-Type", "Retry-After")
MAX_BODY = 10 * 1024 * 1024  # an HTTP API's payload limit


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    docs = commands.add_parser(
        "docs",
        parents=[common],
        help="serve the admin API's Swagger UI locally, its calls signed with your AWS credentials",
        description="Serves the admin API's Swagger UI on 127.0.0.1 from the API's own OpenAPI document and "
        "forwards the UI's calls ('Try it out') to the API, signed with SigV4 like every timctl call. Prints "
        "the URL to open; Ctrl-C stops it.",
    )
    docs.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default: a free one)")
    docs.add_argument("--open", action="store_true", help="open the page in the web browser")
    docs.set_defaults(func=serve_docs)


def serve_docs(args: argparse.Namespace, client: AdminClient) -> int:
    server = DocsServer(client, args.port)
    server.spec()  # fails now, with the reason, if the API or the credentials are wrong
    server.start()
    try:
        print(f"Swagger UI of {client.api}{ADMIN_PREFIX}: {server.url}   (Ctrl-C stops)", flush=True)
        if args.open:
            webbrowser.open(server.url)
        threading.Event().wait()
    except KeyboardInterrupt:
        print(file=sys.stderr)
    finally:
        server.stop()
    return 0


class DocsServer:
    """The UI at ``url``, the document at ``url + "openapi.json"``, the API's routes below ``url``."""

    def __init__(self, client: AdminClient, port: int = 0) -> None:
        self.client = client
        self._lock = threading.Lock()  # one requests.Session for every connection thread
        self._prefix = "/" + secrets.token_urlsafe(16)
        try:
            self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        except OSError as exc:
            raise CliError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
        self.host = f"127.0.0.1:{self._httpd.server_address[1]}"
        self.url = f"http://{self.host}{self._prefix}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="timctl-docs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def spec(self) -> dict[str, Any]:
        """The API's OpenAPI document, with this proxy as its only server."""
        with self._lock:
            document = self.client.get(OPENAPI_ROUTE)
        if not isinstance(document, dict) or "paths" not in document:
            raise CliError(f"{self.client.api}{OPENAPI_ROUTE} is not an OpenAPI document: is --api right?", 3)
        return {**document, "servers": [{"url": self.url.rstrip("/")}]}

    def page(self) -> str:
        from aws_lambda_powertools.event_handler.openapi import swagger_ui

        # Powertools' own page and its bundled copy of Swagger UI: nothing is loaded from elsewhere.
        assets = Path(swagger_ui.__file__).parent
        js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
        css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
        spec = json.dumps(self.spec()).replace("</", "<\\/")  # as powertools does: no </script> in the JSON
        return swagger_ui.generate_swagger_html(spec, js, css, "", None)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.headers.get("Host") != self.host:
            return _answer(request, 403, "text/plain", b"wrong Host: open the URL timctl printed\n")
        target = urlsplit(request.path)
        if not target.path.startswith(self._prefix + "/"):
            return _answer(request, 404, "text/plain", b"not here: open the URL timctl printed\n")
        route = target.path[len(self._prefix) :]
        try:
            # The page names itself with ?format=json as the document's URL, as powertools' does.
            if request.command == "GET" and route == "/" and target.query != "format=json":
                return _answer(request, 200, "text/html; charset=utf-8", self.page().encode())
            if request.command == "GET" and route in ("/", "/openapi.json"):
                return _answer(request, 200, "application/json", json.dumps(self.spec()).encode())
            if route.startswith(ADMIN_PREFIX + "/"):
                return self._forward(request, route + (f"?{target.query}" if target.query else ""))
        except CliError as exc:
            return _answer(request, 502, "application/json", json.dumps({"message": str(exc)}).encode())
        _answer(request, 404, "application/json", json.dumps({"message": f"no route {route}"}).encode())

    def _forward(self, request: BaseHTTPRequestHandler, target: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return _answer(request, 413, "application/json", b'{"message": "request body too large"}')
        data = request.rfile.read(length) if length else None
        headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers}
        with self._lock:
            answer = self.client.forward(request.command, target, data, headers)
        kept = {name: answer.headers[name] for name in FORWARDED_ANSWER_HEADERS if name in answer.headers}
        _answer(request, answer.status_code, kept.pop("Content-Type", ""), answer.content, kept)


def _handler(server: DocsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            server.handle(self)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            # One line per call on stderr, as `timctl -v` shows its requests; not the default's timestamps.
            if server.client.verbose:
                sys.stderr.write(f"docs: {format % args}\n")

    return Handler


def _answer(
    request: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
) -> None:
    request.send_response(status)
    if content_type:
        request.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(body)))
    request.send_header("Cache-Control", "no-store")
    request.end_headers()
    if request.command != "HEAD":
        request.wfile.write(body)
