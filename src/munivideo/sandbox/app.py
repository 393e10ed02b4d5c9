"""The sandbox ERP as one WSGI application: SOAP, REST and the inspection API."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from munivideo.sandbox import fhir, guard, inspection, rest, soap
from munivideo.sandbox.context import Context
from munivideo.sandbox.responses import DropConnection

DIALECTS = ("soap", "rest", "both")


class SandboxApp:
    """The WSGI application (PEP 3333) behind :class:`~munivideo.sandbox.server.Sandbox`.

    Every request is screened by :func:`munivideo.sandbox.guard.screen` (Host, Origin, media
    type), then routed by path prefix: ``/_sandbox/`` to the inspection API, ``/soap`` to the SOAP
    front end (when the dialect includes SOAP), ``/api/`` and ``/oauth/token`` to the REST front
    end (when it includes REST), ``/fhir`` to the FHIR endpoint; anything else is a plain 404.
    A ``drop``/``drop_after_commit`` fault raised by a handler shuts the socket down and ends the
    request without any answer.

    :param ctx: the shared store, fault plan, behaviour and loaded contracts.
    :param default_seed: the seed ``POST /_sandbox/reset`` reloads when its body names none.
    """

    def __init__(self, ctx: Context, *, default_seed: str = "tax-office") -> None:
        self.ctx = ctx
        self.default_seed = default_seed

    def route(self, request: Request) -> Response:
        """The answer to one request (without the dropped-connection handling of ``__call__``).

        :param request: the parsed WSGI request.
        :returns: a 403/415 from the guard, a front end's answer, or 404 ``text/plain`` for a
            path no enabled front end serves (SOAP paths on a REST-only sandbox, and so on).
        :raises DropConnection: a ``drop`` or ``drop_after_commit`` fault fired.
        """
        refused = guard.screen(request, self.ctx.allowed_hosts)
        if refused is not None:
            return refused
        path = request.path
        if path.startswith("/_sandbox/"):
            return inspection.handle(self.ctx, request, self.default_seed)
        if self.ctx.soap and path.startswith("/soap"):
            static = soap.serve_static(request, self.ctx.public_url, self.ctx.pack_version)
            if static is not None:
                return static
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if name in soap.SERVICES:
                return soap.handle(self.ctx, request, name)
        if self.ctx.rest and rest.is_rest_path(path):
            return rest.handle(self.ctx, request)
        if fhir.is_fhir_path(path):
            return fhir.handle(self.ctx, request)
        return Response("not found", status=404, content_type="text/plain")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.route(request)
        except DropConnection:
            sock = environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            # werkzeug treats a ConnectionError from the app as a dropped connection: no answer.
            raise ConnectionAbortedError("sandbox fault: connection dropped") from None
        result: Iterable[bytes] = response(environ, start_response)
        return result
