"""Loopback peers for faults a test must meet on a real socket.

:func:`dropping_peer` is the fault "the connection dropped after the request was sent": the
shared classification table (:mod:`munivideo.transport.classify`) calls it ambiguous, since
the peer may have acted on the request, and every adapter must report it so.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def dropping_peer() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server on 127.0.0.1 that reads each request whole (line, headers and a
    ``Content-Length`` body), records it, then closes the connection without answering.

    :returns: (as a context manager) the server's root URL (``http://127.0.0.1:<port>``) and
        the list of request lines it received, so a test counts what reached the peer.
    """
    seen: list[str] = []

    class Drop(BaseHTTPRequestHandler):
        def _drop(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen.append(self.requestline)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _drop

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drop)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
