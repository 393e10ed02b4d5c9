"""Fault-injection outcomes shared by both front ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from munivideo.sandbox.faults import Rule


class DropConnection(Exception):
    """Raised by a handler to close the socket without answering."""


def truncated(response: Response) -> Response:
    """The ``malformed`` fault: the real answer cut in half, still 200 with a matching length."""
    body = response.get_data()
    cut = Response(body[: max(1, len(body) // 2)], status=200)
    cut.headers["Content-Type"] = response.headers.get("Content-Type", "application/octet-stream")
    return cut


def after_commit(rule: Rule | None, response: Response) -> Response:
    """The real answer, or what a fault that fires after the commit makes of it."""
    if rule is None:
        return response
    if rule.action == "drop_after_commit":
        raise DropConnection
    if rule.action == "error_after_commit":
        return bad_gateway(rule.status)
    if rule.action == "malformed":
        return truncated(response)
    return response


def bad_gateway(status: int) -> Response:
    """The ``error`` fault: what a proxy in front of an ERP answers (not a contract body)."""
    html = f"<html><body><h1>{status}</h1><p>upstream error</p></body></html>"
    return Response(html, status=status, content_type="text/html; charset=utf-8")
