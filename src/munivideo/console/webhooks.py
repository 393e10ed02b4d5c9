"""The video providers' attendance webhooks, mounted in the console application.

``POST /webhooks/{tenant}/{provider}`` hands the request's headers and body to the tenant's
video provider through :meth:`munivideo.api.Munivideo.ingest_webhook` (the same ingestion the
Python API offers): the provider checks its shared secret and parses join/leave events, which
wait in the store for the servant's outcome form. No session and no CSRF token here: the caller
is the video server, authenticated by the provider's own secret. Answers:

======  =============================================================
200     ``{"accepted": N}``: N new events kept (repeats are not new)
400     an authenticated body the provider cannot read (quarantined)
401     the shared secret is missing or wrong: nothing is kept
404     no such tenant, or the tenant uses another provider
413     the body is larger than the webhook cap
503     the tenant's provider has no webhook secret configured (fails
        closed: every call is refused until one is set)
======  =============================================================
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from munivideo.errors import (
    ConfigurationError,
    ContractViolationError,
    MunivideoError,
    RejectedError,
    UnauthenticatedError,
)


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
    except UnauthenticatedError:
        return JSONResponse({"error": "not authenticated"}, status_code=401)
    except ConfigurationError:
        return JSONResponse({"error": "webhook not configured"}, status_code=503)
    except (ContractViolationError, RejectedError) as exc:
        return JSONResponse({"error": exc.message, "field": exc.field}, status_code=400)
    except MunivideoError as exc:
        return JSONResponse({"error": exc.message}, status_code=503)
    return JSONResponse({"accepted": accepted})
