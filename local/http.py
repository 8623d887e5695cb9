"""The threaded HTTP server the local gateway and the Tencent IM emulator share: binding, serving on a
thread, stopping, reading a request's body and writing an answer. Each server adds only its dispatch."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

MAX_BODY = 10 * 1024 * 1024  # API Gateway's HTTP API payload limit; the emulator takes no more
JSON_HEADERS = (("content-type", "application/json"),)
_MAX_CHUNK_LINE = 1024


def listen_error(host: str, port: int, exc: OSError) -> OSError:
    """The error to raise when ``host:port`` cannot be bound (``from exc``)."""
    return OSError(f"cannot listen on {host}:{port}: {exc.strerror}")


class LocalHTTPServer(ThreadingHTTPServer):
    """Binds ``host:port`` when created (0 picks a free port; ``url`` says which); serves on its own thread
    once started. Keeps track of its open connections so that stopping it ends idle keep-alive ones too."""

    daemon_threads = False  # so server_close() waits for connection threads

    def __init__(
        self, host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str, poll_interval: float = 0.5
    ) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        try:
            super().__init__((host, port), handler)
        except OSError as exc:
            raise listen_error(host, port, exc) from exc
        # shutdown() waits for the serve loop to look up, at most poll_interval.
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
        )
        bound_host, bound_port = self.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.shutdown()
        self.close_connections()
        self.server_close()  # joins the connection threads
        if self._thread.is_alive():
            self._thread.join()

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


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LocalHTTPHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, answers in one write, quiet unless debugging."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in one write, without Nagle: otherwise every keep-alive exchange
    # waits out the peer's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    wbufsize = -1  # buffered: flushed once the answer is complete
    timeout = 60  # idle keep-alive connections are closed after this
    sys_version = ""
    # The field of this server's JSON error bodies: {"message": ...} is API Gateway's.
    error_field = "message"

    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger("local").debug("%s - %s", self.address_string(), format % args)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def target(self) -> tuple[str, str]:
        """The request's path, percent-decoded, and its raw query string."""
        raw_path, _, query = self.path.partition("?")
        return unquote(raw_path), query

    def read_body(self) -> bytes | None:
        """The request's body, sent with a Content-Length or chunked. None when it is refused (over MAX_BODY,
        or malformed): the refusal has been answered and the connection is to be closed, as what is left of
        the body cannot be told from the next request."""
        try:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                return self._read_chunked()
            length = int(self.headers.get("content-length") or 0)
            if length < 0:
                raise ValueError(length)
            if length > MAX_BODY:
                raise _Refused(413, "Request Entity Too Large")
            return self.rfile.read(length)
        except ValueError:
            refused = _Refused(400, "Bad Request")
        except _Refused as exc:
            refused = exc
        self.close_connection = True
        self.respond_error(refused.status, refused.message)
        return None

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(_MAX_CHUNK_LINE).split(b";")[0].strip() or b"0", 16)
            if size < 0:
                raise ValueError(size)
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise _Refused(413, "Request Entity Too Large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after the chunk
        while self.rfile.readline(_MAX_CHUNK_LINE) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

    def respond(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        """Writes the whole answer and flushes it: once this returns the client has it, so work that must
        follow the answer (the emulator's after-send callbacks) may start."""
        self.send_response_only(status)
        self.send_header("date", formatdate(usegmt=True))
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def respond_error(self, status: int, message: str) -> None:
        body = json.dumps({self.error_field: message}, separators=(",", ":"), ensure_ascii=False).encode()
        self.respond(status, JSON_HEADERS, body)
