"""Test ERPs that are shaped unlike the reference contracts, on real loopback servers.

Each one keeps its data in the sandbox's store (so the acceptance suite inspects bookings and
protocols the way it does for the sandbox, in the reference shape, and the sandbox's fault
grammar works unchanged) but speaks its own wire format: its own paths, names, codes, formats,
paging, errors and auth. Only the front end differs, as between two real ERPs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from munivideo.errors import MunivideoError
from munivideo.sandbox.app import SandboxApp
from munivideo.sandbox.context import Call, Context
from munivideo.sandbox.responses import DropConnection, bad_gateway, truncated
from munivideo.sandbox.server import Sandbox, build_server

Render = Callable[[int, str, str], Response]
"""``render(http_status, fault_code, message)``: the ERP's own error answer."""


class _FrontEnd(SandboxApp):
    def __init__(self, ctx: Context, handle: Callable[[Context, Request], Response]) -> None:
        super().__init__(ctx)
        self._handle = handle

    def route(self, request: Request) -> Response:
        return self._handle(self.ctx, request)


class ErpPeer(Sandbox):
    """A :class:`~munivideo.sandbox.server.Sandbox` whose wire format is ``handle``'s."""

    def __init__(
        self,
        handle: Callable[[Context, Request], Response],
        credentials: tuple[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(dialect="both", **kwargs)
        self._server.server_close()
        self._server = build_server(_FrontEnd(self.ctx, handle), "127.0.0.1", 0)
        self.credentials = credentials


def run(
    ctx: Context,
    operation: str,
    render: Render,
    work: Callable[[Call], Response],
    *,
    declared: Callable[[MunivideoError], Response],
) -> Response:
    """One call with the sandbox's fault plan around it (same grammar, same counters)."""
    call = Call(ctx, operation, ctx.decide(operation))
    ctx.sleep(call.decision.delay)
    rule = call.decision.action
    if rule is not None:
        if rule.action == "drop":
            raise DropConnection
        if rule.action == "error":
            return bad_gateway(rule.status)
        if rule.action == "unavailable":
            response = render(503, "INDISPONIVEL", "tente mais tarde")
            response.headers["Retry-After"] = str(int(rule.seconds))
            return response
        if rule.action == "ratelimit":
            response = render(429, "LIMITE_EXCEDIDO", "muitas chamadas")
            response.headers["Retry-After"] = str(int(rule.seconds))
            return response
        if rule.action == "fault":
            return render(500, rule.code, f"falha injetada {rule.code}")
    try:
        response = work(call)
    except MunivideoError as exc:
        response = declared(exc)
    if rule is not None and rule.action == "drop_after_commit":
        raise DropConnection
    if rule is not None and rule.action == "malformed":
        return truncated(response)
    return response
