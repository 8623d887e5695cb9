"""The threaded HTTP server the local gateway and the Tencent IM emulator share."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalHTTPServer(ThreadingHTTPServer):
    """Keeps track of its open connections so that stopping it ends idle keep-alive ones too."""

    daemon_threads = False  # so server_close() waits for connection threads

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


class LocalHTTPHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, answers in one write, quiet unless debugging."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in one write, without Nagle: otherwise every keep-alive exchange
    # waits out the peer's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    wbufsize = -1  # buffered: flushed once the answer is complete
    timeout = 60  # idle keep-alive connections are closed after this
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger("local").debug("%s - %s", self.address_string(), format % args)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
