"""The video providers' attendance webhooks, mounted in the console application.

``POST /webhooks/{tenant}/{provider}`` hands the request's headers and body to the tenant's
video provider through :meth:`munivideo.api.Munivideo.ingest_webhook` (the same ingestion the
Python API offers): the provider checks its shared secret and parses join/leave events, which
wait in the store for the servant's outcome form. No session and no CSRF token here: the caller
is the video server, authenticated by the provider's own secret. Answers:

======  =============================================================
200     ``{"accepted": N}``: N new events kept (repeats are not new)
400     the body is not a payload the provider understands (quarantined)
401     the shared secret is missing or wrong
404     no such tenant, or the tenant uses another provider
413     the body is larger than the webhook cap
======  =============================================================
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from munivideo.errors import ContractViolationError, MunivideoError, RejectedError


async def receive(request: Request) -> Response:
    """One webhook call from a tenant's video server."""
    console = request.app.state.console
    mv = console.tenant(str(request.path_params["tenant"]))
    provider = str(request.path_params["provider"])
    if mv is None or mv.engine.video.name != provider:
        return JSONResponse({"error": "unknown tenant or provider"}, status_code=404)
    body = await request.body()
    headers = {k: v for k, v in request.headers.items()}
    try:
        accepted = await run_in_threadpool(mv.ingest_webhook, headers, body)
    except ContractViolationError as exc:
        return JSONResponse({"error": exc.message, "field": exc.field}, status_code=400)
    except RejectedError as exc:
        return JSONResponse({"error": exc.message, "field": exc.field}, status_code=401)
    except MunivideoError as exc:
        return JSONResponse({"error": exc.message}, status_code=503)
    return JSONResponse({"accepted": accepted})
