"""requests sessions with pooling, deadlines and size caps on every call, and the auth schemes.

Every call of a :func:`build_session` session has a connect and a per-read timeout, a wall-clock
budget (``Timeouts.total_seconds``, capped by any enclosing
:func:`munivideo.transport.deadline.within` scope) and a response size cap
(``Timeouts.max_response_bytes``). Bodies are read in full inside the call, so the deadline
covers the body too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from munivideo.errors import ConfigurationError, ContractViolationError, TransientError
from munivideo.transport.deadline import (
    DeadlineExceededError,
    ResponseTooLargeError,
    current_watchdog,
    effective,
    watch,
)

_CHUNK = 64 * 1024


class Timeouts(BaseModel):
    """Time and size bounds of every outbound call (settings table ``timeouts``).

    ``connect_seconds`` and ``read_seconds`` bound each connect and each socket read;
    ``total_seconds`` bounds the whole call, body included, in wall-clock time (a peer that
    trickles one byte per second is cut off); ``max_response_bytes`` caps the body.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect_seconds: float = Field(default=5.0, gt=0, le=120)
    read_seconds: float = Field(default=30.0, gt=0, le=600)
    total_seconds: float = Field(default=60.0, gt=0, le=3600)
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=1024**3)

    @property
    def pair(self) -> tuple[float, float]:
        """``(connect_seconds, read_seconds)``: the ``timeout`` tuple ``requests`` takes
        (each read, not the whole body; :attr:`total_seconds` bounds that)."""
        return (self.connect_seconds, self.read_seconds)

    @classmethod
    def of(cls, timeout_seconds: float, total_seconds: float, max_response_bytes: int) -> Timeouts:
        """Bounds for an adapter with one ``timeout_seconds`` setting (connect capped at 5 s)."""
        return cls(
            connect_seconds=min(5.0, timeout_seconds),
            read_seconds=timeout_seconds,
            total_seconds=total_seconds,
            max_response_bytes=max_response_bytes,
        )

    def bounded_pair(self) -> tuple[float, float]:
        """:attr:`pair` capped by the time left for the whole call (see :func:`effective`)."""
        left = effective(self.total_seconds)
        return (min(self.connect_seconds, left), min(self.read_seconds, left))


class AuthSettings(BaseModel):
    """How to authenticate. Secrets are :class:`SecretStr` and never printed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme: Literal["none", "basic", "bearer", "oauth2", "api_key", "wsse"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token_url: str | None = None
    scope: str | None = None
    header: str = "X-API-Key"
    api_key: SecretStr | None = None
    #: WS-Security: send the password as a digest (SHA-1 of nonce + created + password).
    wsse_digest: bool = False

    @model_validator(mode="after")
    def _complete(self) -> AuthSettings:
        needs: dict[str, tuple[str, ...]] = {
            "basic": ("username", "password"),
            "wsse": ("username", "password"),
            "bearer": ("token",),
            "oauth2": ("client_id", "client_secret", "token_url"),
            "api_key": ("api_key",),
        }
        missing = [name for name in needs.get(self.scheme, ()) if getattr(self, name) is None]
        if missing:
            raise ValueError(f"auth scheme {self.scheme!r} needs {', '.join(missing)}")
        return self


class _Watched:
    """Mixin for urllib3 connections: registers the socket with the call's watchdog, so a
    deadline can cut it off (on connect, and on each request over a pooled connection)."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        dog = current_watchdog()
        if dog is not None:
            dog.register(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        dog = current_watchdog()
        if dog is not None and self.sock is not None:
            dog.register(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)


def read_capped(response: requests.Response, limit: int, *, what: str) -> bytes:
    """Read a streamed response's body, refusing more than ``limit`` bytes.

    A ``Content-Length`` over the limit is refused before reading; a body without one is cut
    off as soon as it passes the limit.

    :param what: the call (``"GET https://erp/..."``) for the error message.
    :raises munivideo.transport.deadline.ResponseTooLargeError: over ``limit`` (field
        ``max_response_bytes``); the connection is closed.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise ResponseTooLargeError(
            f"{what}: answer of {int(declared)} bytes is over the {limit}-byte cap",
            field="max_response_bytes",
        )
    body = bytearray()
    for chunk in response.iter_content(_CHUNK):
        body += chunk
        if len(body) > limit:
            response.close()
            raise ResponseTooLargeError(
                f"{what}: answer is over the {limit}-byte cap", field="max_response_bytes"
            )
    return bytes(body)


class TimeoutSession(requests.Session):
    """A session that never sends a request without timeouts, a deadline and a size cap.

    The body is read inside the call (``stream=True`` is not honoured), so the whole exchange
    fits in ``timeouts.total_seconds`` (or the enclosing deadline scope, if earlier); past it the
    call raises :class:`~munivideo.transport.deadline.DeadlineExceededError`. A body over
    ``timeouts.max_response_bytes`` raises
    :class:`~munivideo.transport.deadline.ResponseTooLargeError`.
    """

    def __init__(self, timeouts: Timeouts) -> None:
        super().__init__()
        self.timeouts = timeouts
        self.default_timeout = timeouts.pair

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        """:meth:`requests.Session.request` with the bounds of the class: the ``timeout``
        (default :attr:`Timeouts.pair`) is capped by the time left, and the body is read in
        full, capped, before the response is returned (its connection back in the pool).

        :raises munivideo.transport.deadline.DeadlineExceededError: the whole call outlasted
            ``total_seconds`` or the enclosing :func:`munivideo.transport.deadline.within`.
        :raises munivideo.transport.deadline.ResponseTooLargeError: the body is over
            ``max_response_bytes``.
        :raises requests.RequestException: connection, timeout and protocol errors, as
            ``requests`` raises them (classified by :mod:`munivideo.transport.classify`).
        """
        budget = effective(self.timeouts.total_seconds)
        what = f"{method!s} {_origin(url)}"
        with watch(budget, what=what):
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = self.default_timeout
            kwargs["timeout"] = _capped(kwargs["timeout"], budget)
            kwargs["stream"] = True
            response: requests.Response = super().request(method, url, *args, **kwargs)
            # requests' own body cache: set, the body is never read from the socket again.
            response._content = read_capped(response, self.timeouts.max_response_bytes, what=what)
            setattr(response, "_content_consumed", True)  # noqa: B010 - private, untyped
            response.close()
            return response


def _capped(timeout: Any, budget: float) -> Any:
    if isinstance(timeout, tuple):
        return tuple(min(float(t), budget) if t is not None else budget for t in timeout)
    return min(float(timeout), budget)


def _origin(url: str | bytes) -> str:
    text = url.decode("utf-8", "replace") if isinstance(url, bytes) else url
    return text.split("?", 1)[0]


def build_session(
    timeouts: Timeouts,
    *,
    pool_size: int = 10,
    auth: AuthBase | None = None,
    headers: Mapping[str, str] | None = None,
) -> TimeoutSession:
    """A pooled session. urllib3's own retries are off: the one policy is ours."""
    session = TimeoutSession(timeouts)
    adapter = _WatchedAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.auth = auth
    session.headers.update(headers or {})
    return session


class BearerAuth(AuthBase):
    """Sends ``Authorization: Bearer <token>`` (RFC 6750, section 2.1) with a fixed token;
    ``repr`` hides it."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"


class ApiKeyAuth(AuthBase):
    """Sends the key in the header the ERP names (``header``, e.g. ``X-Api-Key``); ``repr``
    shows the header, never the key."""

    def __init__(self, header: str, key: SecretStr) -> None:
        self._header = header
        self._key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[self._header] = self._key.get_secret_value()
        return r

    def __repr__(self) -> str:
        return f"ApiKeyAuth({self._header!r}, <redacted>)"


def _token_answer(answer: requests.Response) -> tuple[str, float]:
    """The (access token, lifetime in seconds) of a 200 from a token endpoint (RFC 6749 §5.1:
    a JSON object with ``access_token``; ``expires_in`` optional, 300 s when absent).

    :raises ContractViolationError: naming ``access_token`` or ``expires_in``; the body itself
        is never quoted (it may carry a token).
    """
    try:
        body = answer.json()
    except ValueError:
        raise ContractViolationError(
            "token endpoint answered 200 without a JSON body", field="access_token"
        ) from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ContractViolationError(
            "token endpoint answered 200 without an access_token", field="access_token"
        )
    lifetime = body.get("expires_in", 300)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        raise ContractViolationError(
            "token endpoint answered an expires_in that is not a positive number",
            field="expires_in",
        )
    return token, float(lifetime)


class OAuth2ClientCredentials(AuthBase):
    """OAuth 2.0 client credentials: fetch a token, refresh it before expiry and on one 401.

    The grant of RFC 6749 section 4.4: ``POST token_url`` with ``grant_type=client_credentials``
    (and ``scope``), the client authenticated with HTTP Basic (section 2.3.1). The token is
    cached until :attr:`EARLY_SECONDS` before its ``expires_in`` (300 s when the server does
    not say). A 401 on a protected call refreshes the token and re-sends that request once.
    Thread-safe: one fetch at a time.

    :param timeouts: bounds of the token request (default :class:`Timeouts`).
    :param clock: monotonic seconds, for tests.
    """

    #: Refresh this long before the announced expiry, so a token never dies in flight.
    EARLY_SECONDS = 30.0

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        scope: str | None = None,
        timeouts: Timeouts | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._scope = scope
        self._timeouts = timeouts or Timeouts()
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials({self._token_url!r}, {self._client_id!r}, <redacted>)"

    def _fetch(self) -> None:
        data = {"grant_type": "client_credentials"}
        if self._scope:
            data["scope"] = self._scope
        try:
            with build_session(self._timeouts, pool_size=1) as session:
                answer = session.post(
                    self._token_url,
                    data=data,
                    auth=(self._client_id, self._secret.get_secret_value()),
                )
        except DeadlineExceededError:
            raise
        except (requests.RequestException, ResponseTooLargeError) as exc:
            # Not sent anywhere yet: the protected call itself never left, so it is transient.
            raise TransientError(
                f"token endpoint unreachable ({type(exc).__name__})", field="auth.token_url"
            ) from None
        if answer.status_code >= 500 or answer.status_code == 429:
            raise TransientError(
                f"token endpoint failed (HTTP {answer.status_code})", field="auth.token_url"
            )
        if answer.status_code != 200:
            raise ConfigurationError(
                f"token endpoint refused the client credentials (HTTP {answer.status_code})",
                field="auth.client_secret",
            )
        self._token, lifetime = _token_answer(answer)
        self._expires_at = self._clock() + lifetime
        self.fetches += 1

    def current_token(self, *, force: bool = False) -> str:
        """The cached access token, fetched first when there is none, it is about to expire,
        or ``force`` is set (after a 401).

        :raises munivideo.errors.TransientError: the token endpoint is unreachable, answered
            429 or 5xx (field ``auth.token_url``).
        :raises munivideo.errors.ConfigurationError: the endpoint refused the credentials
            (any other non-200; field ``auth.client_secret``).
        :raises munivideo.errors.ContractViolationError: a 200 whose body is not a JSON object
            with a non-empty string ``access_token`` (field ``access_token``) and, if given, a
            positive number ``expires_in`` (field ``expires_in``); RFC 6749 §5.1.
        :raises munivideo.transport.deadline.DeadlineExceededError: the enclosing deadline
            ran out.
        """
        with self._lock:
            stale = self._clock() >= self._expires_at - self.EARLY_SECONDS
            if force or self._token is None or stale:
                self._fetch()
            assert self._token is not None
            return self._token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.current_token()}"
        r.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return r

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, "_mv_retried", False):
            return response
        # The token was revoked or expired early: refresh once and re-send the same request.
        token = self.current_token(force=True)
        response.content  # noqa: B018 - drain so the connection returns to the pool
        response.close()
        again = response.request.copy()
        again.headers["Authorization"] = f"Bearer {token}"
        again._mv_retried = True  # type: ignore[attr-defined]
        connection = response.connection
        retried: requests.Response = connection.send(again, **kwargs)
        retried.history.append(response)
        retried.request = again
        return retried


def auth_for(settings: AuthSettings, timeouts: Timeouts) -> AuthBase | None:
    """The requests auth object for a scheme (``wsse`` is applied by zeep, not here)."""
    if settings.scheme == "basic":
        assert settings.username is not None and settings.password is not None
        return HTTPBasicAuth(settings.username, settings.password.get_secret_value())
    if settings.scheme == "bearer":
        assert settings.token is not None
        return BearerAuth(settings.token)
    if settings.scheme == "api_key":
        assert settings.api_key is not None
        return ApiKeyAuth(settings.header, settings.api_key)
    if settings.scheme == "oauth2":
        assert settings.client_id and settings.client_secret and settings.token_url
        return OAuth2ClientCredentials(
            settings.token_url,
            settings.client_id,
            settings.client_secret,
            scope=settings.scope,
            timeouts=timeouts,
        )
    return None
