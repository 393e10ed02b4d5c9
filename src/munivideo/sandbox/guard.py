"""The sandbox as a network neighbour: who may talk to it, and from where.

The sandbox speaks with documented credentials and its inspection API has none, so a web page a
developer happens to visit must not be able to use it. Three rules, checked before any handler:

* **Host** (DNS rebinding): the ``Host`` header must name a loopback address (``127.0.0.0/8``,
  ``::1``, ``localhost``), the address the server is bound to, the host of its public URL or a
  host allowed explicitly (``allowed_hosts``; ``*`` allows any). Otherwise 403.
* **Origin** (cross-site requests): a request that changes something (any method but
  ``GET``/``HEAD``/``OPTIONS``) carrying an ``Origin`` whose host is not allowed, or
  ``Sec-Fetch-Site: cross-site``, is refused with 403. Programs (requests, zeep, curl) send
  neither header.
* **Media type** (form posts): inspection writes (``POST``/``PUT``/``PATCH`` under
  ``/_sandbox/``) must be ``Content-Type: application/json``, which an HTML form cannot send;
  otherwise 415.

Binding to a non-loopback address is refused unless asked for (:func:`check_bind`).
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from munivideo.errors import ConfigurationError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_WRITES = frozenset({"POST", "PUT", "PATCH"})


def is_loopback(host: str) -> bool:
    """``host`` (a name or an IP literal, brackets allowed) is this machine's loopback."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8080`` -> ``::1``), lower case."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def allowed_hosts(bound_host: str, public_url: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Host names the server answers for, besides loopback ones."""
    names = {h.strip().strip("[]").lower() for h in extra if h.strip()}
    public = urlsplit(public_url).hostname
    if public:
        names.add(public.lower())
    bound = bound_host.strip("[]").lower()
    if bound not in ("", "0.0.0.0", "::"):  # noqa: S104 - compared, not bound
        names.add(bound)
    return frozenset(names)


def check_bind(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback listen address unless ``allow_remote``.

    :raises ConfigurationError: naming ``host``.
    """
    if not allow_remote and not is_loopback(host):
        raise ConfigurationError(
            f"the sandbox listens on loopback only; {host!r} would expose it (with its published "
            "credentials and its unauthenticated inspection API) to the network: pass "
            "--allow-remote (allow_remote=True) if that is really wanted",
            field="host",
        )


def _allowed(name: str, allowed: frozenset[str]) -> bool:
    return is_loopback(name) or name in allowed or "*" in allowed


def _refuse(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status=status, content_type="application/json")


def screen(request: Request, allowed: frozenset[str]) -> Response | None:
    """The refusal for ``request``, or None when it may go on."""
    host = request.headers.get("Host", "")
    if not _allowed(host_name(host), allowed):
        return _refuse(403, f"host {host!r} is not served here (DNS rebinding protection)")
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    if origin is not None and not _allowed((urlsplit(origin).hostname or "").lower(), allowed):
        return _refuse(403, f"cross-site request from {origin!r} refused")
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return _refuse(403, "cross-site request refused")
    inspection_write = request.path.startswith("/_sandbox/") and request.method in JSON_WRITES
    if inspection_write and request.mimetype != "application/json":
        return _refuse(415, "inspection writes must be application/json")
    return None
