"""Short join links for SMS, served by the console: ``GET /j/{tenant}/{token}``.

A tenant with ``[invitations.short_links]`` sends ``<base_url>/<token>`` in its SMS (set
``base_url`` to ``https://<console>/j/<tenant>``); this route resolves the signed token with
:func:`munivideo.engine.shortlinks.resolve`, which mints a fresh join link inside the room window
only. No session: the citizen holds just the link. Answers: 302 to the join link, 410 outside
the room window or for a closed room, 404 for an unknown tenant or token (a forged one included).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from munivideo.console.web import Console
from munivideo.engine import shortlinks
from munivideo.errors import LifecycleError, MunivideoError, NotFoundError

_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


async def join(request: Request) -> Response:
    """Redirect a citizen's (or servant's) short link to a join link minted now."""
    console: Console = request.app.state.console
    mv = console.tenant(str(request.path_params["tenant"]))
    failure: type[MunivideoError] = NotFoundError
    if mv is not None:
        try:
            target = await run_in_threadpool(
                shortlinks.resolve, mv.engine, str(request.path_params["token"])
            )
        except LifecycleError:
            failure = LifecycleError
        except MunivideoError:
            failure = NotFoundError
        else:
            return RedirectResponse(target, status_code=302, headers=_HEADERS)
    status, text = shortlinks.page_for(failure)
    return HTMLResponse(
        f"<!DOCTYPE html><meta charset=utf-8><p>{text}</p>", status_code=status, headers=_HEADERS
    )
