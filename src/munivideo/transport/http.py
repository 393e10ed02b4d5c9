"""requests sessions with pooling, a default timeout on every call, and the auth schemes."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth

from munivideo.errors import ConfigurationError, TransientError


class Timeouts(BaseModel):
    """Connect and read timeouts in seconds; every outbound call uses them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect_seconds: float = Field(default=5.0, gt=0, le=120)
    read_seconds: float = Field(default=30.0, gt=0, le=600)

    @property
    def pair(self) -> tuple[float, float]:
        return (self.connect_seconds, self.read_seconds)


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


class TimeoutSession(requests.Session):
    """A session that never sends a request without a timeout."""

    def __init__(self, timeouts: Timeouts) -> None:
        super().__init__()
        self.default_timeout = timeouts.pair

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


def build_session(
    timeouts: Timeouts,
    *,
    pool_size: int = 10,
    auth: AuthBase | None = None,
    headers: Mapping[str, str] | None = None,
) -> TimeoutSession:
    """A pooled session. urllib3's own retries are off: the one policy is ours."""
    session = TimeoutSession(timeouts)
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.auth = auth
    session.headers.update(headers or {})
    return session


class BearerAuth(AuthBase):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"


class ApiKeyAuth(AuthBase):
    def __init__(self, header: str, key: SecretStr) -> None:
        self._header = header
        self._key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[self._header] = self._key.get_secret_value()
        return r

    def __repr__(self) -> str:
        return f"ApiKeyAuth({self._header!r}, <redacted>)"


class OAuth2ClientCredentials(AuthBase):
    """OAuth 2.0 client credentials: fetch a token, refresh it before expiry and on one 401."""

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
            answer = requests.post(
                self._token_url,
                data=data,
                auth=(self._client_id, self._secret.get_secret_value()),
                timeout=self._timeouts.pair,
            )
        except requests.RequestException as exc:
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
        body = answer.json()
        self._token = str(body["access_token"])
        self._expires_at = self._clock() + float(body.get("expires_in", 300))
        self.fetches += 1

    def current_token(self, *, force: bool = False) -> str:
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
