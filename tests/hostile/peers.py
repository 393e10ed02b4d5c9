"""Real loopback peers for hostile-input tests: a scripted HTTP server, a server that answers
one byte per second, and a REST ERP serving whatever pages a test (or hypothesis) hands it.

Each peer counts what it did (requests per route, effects such as recorded room links), so a
test's oracle is what the peer saw, not what our code says it did.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], bytes]
Route = Callable[["Request"], Answer]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        super().server_bind()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass
class Peer:
    """A running loopback server; ``url`` is its root, ``seen`` every request it got."""

    server: ThreadingHTTPServer
    seen: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for r in self.seen if r.method == method and r.path.startswith(path_prefix))


@contextmanager
def serve(route: Route, *, trickle_seconds: float = 0.0) -> Iterator[Peer]:
    """Serve ``route`` on 127.0.0.1; with ``trickle_seconds`` > 0 every answer (status line,
    headers and body) is written one byte at a time, that many seconds apart."""
    holder: dict[str, Peer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k: v for k, v in self.headers.items()},
                body,
            )
            holder["peer"].seen.append(request)
            status, headers, payload = route(request)
            head = f"HTTP/1.1 {status} X\r\n"
            headers = {"Content-Length": str(len(payload)), **headers}
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            data = head.encode("latin-1") + payload
            try:
                if trickle_seconds > 0:
                    for i in range(len(data)):
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(trickle_seconds)
                else:
                    self.wfile.write(data)
            except OSError:
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    server = _Server(("127.0.0.1", 0), Handler)
    holder["peer"] = Peer(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield holder["peer"]
    finally:
        server.shutdown()
        server.server_close()


def json_answer(doc: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(doc).encode()


@dataclass
class HostileErp:
    """A REST ERP (reference contract paths) serving ``pages`` in order: page ``i`` answers the
    cursor token ``str(i)`` (the first page answers no cursor) with ``proximoCursor = str(i+1)``
    and ``haMais`` while pages remain. A page may also be a raw document (any JSON value) when
    a test wants to break the page shape itself.

    Effects are counted: ``room_links[booking_id]`` is how many times the ERP was told a room.
    """

    pages: list[Any]
    room_links: Counter[str] = field(default_factory=Counter)
    list_calls: int = 0

    @staticmethod
    def page(items: list[Any], index: int, total: int) -> dict[str, Any]:
        return {"itens": items, "proximoCursor": str(index + 1), "haMais": index + 1 < total}

    def route(self, request: Request) -> Answer:
        path = request.path
        if request.method == "GET" and path == "/api/v1/agendamentos":
            self.list_calls += 1
            token = request.query.get("cursor", ["0"])[0]
            index = int(token) if token.isdigit() else len(self.pages)
            if index >= len(self.pages):
                return json_answer({"itens": [], "proximoCursor": token, "haMais": False})
            page = self.pages[index]
            if isinstance(page, list):
                return json_answer(self.page(page, index, len(self.pages)))
            return json_answer(page)
        if request.method == "PUT" and path.endswith("/sala"):
            self.room_links[path.split("/")[-2]] += 1
            return 204, {}, b""
        return json_answer({"title": "not found"}, 404)


def webhook_receiver(engine: Any) -> Route:
    """A receiver route that hands each POST to ``ingest_webhook`` and answers as the console's
    receiver does (200 accepted, 400 unreadable, 401 unauthenticated, 503 not configured).
    A raw exception becomes a 500, which the tests count as a failure."""
    from munivideo.engine import ingest_webhook
    from munivideo.errors import ContractViolationError, MunivideoError, RejectedError

    def route(request: Request) -> Answer:
        try:
            accepted = ingest_webhook(engine, request.headers, request.body)
        except ContractViolationError as exc:
            return json_answer({"error": exc.message}, 400)
        except RejectedError as exc:
            return json_answer({"error": exc.message}, 401)
        except MunivideoError as exc:
            return json_answer({"error": exc.message}, 503)
        except Exception as exc:  # noqa: BLE001 - the oracle: a raw exception is a 500
            return json_answer({"error": f"raw {type(exc).__name__}: {exc}"}, 500)
        return json_answer({"accepted": accepted})

    return route
