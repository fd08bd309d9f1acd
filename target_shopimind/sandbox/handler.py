"""HTTP on loopback: the threading server and the request handler, which only do socket I/O.

What to answer comes from the `App` (the sandbox) the server carries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import sys
import time
import typing as t
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from target_shopimind.compat import override
from target_shopimind.resources import MAX_BODY_BYTES
from target_shopimind.sandbox.replies import Reply, bad_request, error


@dataclasses.dataclass(frozen=True)
class Request:
    """One /v1 request as read off the socket."""

    method: str
    path: str
    query: dict[str, list[str]]
    api_key: str | None  # the `spm-api-key` header
    raw: bytes  # the body


class App(t.Protocol):
    """What the handler asks of the sandbox."""

    def connection_opened(self, connection: socket.socket) -> None:
        """Remember an open socket."""

    def connection_closed(self, connection: socket.socket) -> None:
        """Forget a socket."""

    def in_flight(self) -> contextlib.AbstractContextManager[None]:
        """Count a /v1 request as in flight."""

    def answer_v1(self, request: Request, entry: dict[str, t.Any]) -> Reply:
        """Answer one /v1 request, filling its log entry."""

    def record(self, entry: dict) -> None:
        """Log a finished /v1 request."""

    def control(self, method: str, path: str, raw: bytes) -> Reply:
        """Answer a /_sandbox endpoint."""

    def pause(self, seconds: float) -> bool:
        """Sleep unless the server stops meanwhile; False when it did."""


class Server(ThreadingHTTPServer):
    """A threading server that carries its `App`."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    app: App

    @override
    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        """Keep quiet when a client hangs up (timeouts, drops): that is a normal event here."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class IPv6Server(Server):
    """The same on an IPv6 loopback address."""

    address_family = socket.AF_INET6


class _BodyTooLargeError(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    """Reads a request, asks the app, writes (or drops, or drips) the answer."""

    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms on Linux) and every answer gets that much slower.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "shopimind-sandbox"
    timeout = 300  # an idle keep-alive connection frees its thread eventually

    @property
    def app(self) -> App:
        """The sandbox this server answers for."""
        return t.cast("Server", self.server).app

    @override
    def setup(self) -> None:
        """Tell the app about the new connection (so `stop` can cut it)."""
        super().setup()
        self.app.connection_opened(self.connection)

    @override
    def finish(self) -> None:
        """Tell the app the connection is done, whatever happened."""
        try:
            super().finish()
        finally:
            self.app.connection_closed(self.connection)

    @override
    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
        """Silence the default access log; `verbose` writes a richer line per /v1 request."""

    def do_GET(self) -> None:
        """Dispatch a GET (the standard library calls `do_<method>`)."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Dispatch a POST (the standard library calls `do_<method>`)."""
        self._dispatch("POST")

    def do_PUT(self) -> None:
        """Dispatch a PUT (the standard library calls `do_<method>`)."""
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        """Dispatch a PATCH (the standard library calls `do_<method>`)."""
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        """Dispatch a DELETE (the standard library calls `do_<method>`)."""
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        if path == "/v1" or path.startswith("/v1/"):
            self._v1(method, path, urllib.parse.parse_qs(split.query))
            return
        raw, refusal = self._body()
        if refusal is None and path.startswith("/_sandbox/"):
            refusal = self.app.control(method, path, raw)
        self._send(refusal or error(404, f"Cannot {method} {path}"))

    def _v1(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        app = self.app
        entry: dict[str, t.Any] = {
            "method": method,
            "path": path,
            "resource": None,
            "status": 0,
            "items": 0,
            "keys": [],
            "conflict_keys": [],
            "fault": None,
            "started": time.time(),
            "ended": None,
        }
        with app.in_flight():
            raw, reply = self._body()
            if reply is None:
                request = Request(method, path, query, self.headers.get("spm-api-key"), raw)
                reply = app.answer_v1(request, entry)
            entry["status"] = 0 if reply.drop else reply.status
            entry["ended"] = time.time()  # before answering: the client cannot see the answer earlier
            app.record(entry)
            if reply.drop:
                self._drop()
            else:
                self._send(reply)

    def _body(self) -> tuple[bytes, Reply | None]:
        """Read the body, or the answer that refuses it (413, bad framing)."""
        try:
            return self._read_body(), None
        except _BodyTooLargeError:
            return b"", error(413, "Request body exceeds 25 MiB")
        except ValueError:
            self.close_connection = True
            return b"", bad_request("Malformed request body framing")

    def _read_body(self) -> bytes:
        """Read the body; a too large one is drained so the client can still read the 413."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._drain(length)
            raise _BodyTooLargeError
        return self.rfile.read(length) if length > 0 else b""

    def _drain(self, length: int) -> None:
        if length > 4 * MAX_BODY_BYTES:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            length = int(line or b"0", 16)
            if length == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(parts)
            size += length
            if size > MAX_BODY_BYTES:
                self.close_connection = True
                raise _BodyTooLargeError
            parts.append(self.rfile.read(length))
            self.rfile.readline(8)

    def _send(self, reply: Reply) -> None:
        html = isinstance(reply.body, str)
        payload = json.dumps(reply.body, ensure_ascii=False).encode() if reply.body is not None else b""
        payload = reply.body.encode() if html else payload
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/html" if html else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.drip <= 0:
            self.wfile.write(payload)
            return
        self.wfile.flush()
        for i in range(len(payload)):
            if not self.app.pause(reply.drip):
                return
            self.wfile.write(payload[i : i + 1])
            self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
