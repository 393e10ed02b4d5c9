"""Per-tenant configuration: one TOML file per tenant, validated by pydantic.

Secrets never sit in the file: a value written as ``{ env = "NAME" }`` is read from the
environment when the file is loaded and held as :class:`pydantic.SecretStr`, so it never prints.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from munivideo.errors import ConfigurationError
from munivideo.models import Department, Locale, Service, Tenant

S = TypeVar("S", bound=BaseModel)

_SECRET_HINTS = ("secret", "password", "token", "api_key", "apikey", "private_key")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErpSource(_Section):
    """One ERP-side system: a registered adapter and its settings table."""

    adapter: str = Field(min_length=1, description="registered ERP adapter name, e.g. 'rest'")
    settings: dict[str, Any] = Field(default_factory=dict)


class ErpConfig(_Section):
    """``[erp]``: one adapter for everything, or ``[erp.bookings]`` (where bookings are read)
    and ``[erp.protocols]`` (where protocols are written back) naming two systems; a section
    that is left out falls back to ``adapter`` + ``settings``."""

    adapter: str | None = Field(
        default=None, min_length=1, description="registered ERP adapter name, e.g. 'rest'"
    )
    settings: dict[str, Any] = Field(default_factory=dict)
    bookings: ErpSource | None = None
    protocols: ErpSource | None = None

    @model_validator(mode="after")
    def _complete(self) -> ErpConfig:
        if self.adapter is None and (self.bookings is None or self.protocols is None):
            raise ValueError("set adapter, or both [erp.bookings] and [erp.protocols]")
        return self

    def sources(self) -> tuple[ErpSource, ErpSource]:
        """(where bookings come from, where protocols go), each an adapter + settings."""
        default = ErpSource(adapter=self.adapter, settings=self.settings) if self.adapter else None
        bookings, protocols = self.bookings or default, self.protocols or default
        assert bookings is not None and protocols is not None  # _complete
        return bookings, protocols


class VideoConfig(_Section):
    """``[video]``: the video provider that hosts the rooms, by its registered name
    (``munivideo plugins`` lists them), and its settings table, validated by the provider's
    own factory when the engine is built."""

    provider: str = Field(min_length=1, description="registered video provider, e.g. 'jitsi'")
    settings: dict[str, Any] = Field(default_factory=dict)


class NotifierConfig(_Section):
    """One ``[[notifiers]]`` entry: a registered notifier and its settings table. Each message
    goes to every configured notifier that delivers its channel (once per notifier); with no
    ``[[notifiers]]`` the built-in ``file`` notifier takes all (see
    :mod:`munivideo.file_notifier`)."""

    name: str = Field(min_length=1, description="registered notifier, e.g. 'smtp' or 'file'")
    settings: dict[str, Any] = Field(default_factory=dict)


class StoreConfig(_Section):
    """``[store]``: where munivideo keeps its state (see :func:`munivideo.store.open_store`).

    ``sqlite:///PATH`` (relative paths resolve next to the tenant file; ``?synchronous=normal``
    trades power-loss durability for speed) or ``postgresql://user@host:port/db`` (the
    ``postgres`` extra; the password comes from ``PGPASSWORD`` or ``~/.pgpass``, never the
    file). Several tenants may share one store.
    """

    url: str = Field(
        default="sqlite:///munivideo.db",
        description="sqlite:///PATH or postgresql://user@host:port/db",
    )


class AttendanceConfig(_Section):
    """``[attendance]``: ``min_overlap_minutes`` is how long (minutes, default 3) citizen and
    servant must be in the room together for the attendance to count as ``attended``; a
    shorter overlap is a ``technical_failure`` (rules in :mod:`munivideo.attendance`)."""

    min_overlap_minutes: float = Field(default=3.0, ge=0)


class WritebackConfig(_Section):
    """``[writeback]``: how outbox rows are delivered (see docs/operations.md)."""

    max_attempts: int = Field(default=8, ge=1, le=100)
    #: How long a worker holds a row without renewing; renewed before every ERP call and
    #: refused when shorter than the worst-case time of one ERP call.
    lease_seconds: float = Field(default=300, gt=0)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=900.0, gt=0)
    #: A peer's ``Retry-After`` longer than this is cut to it when a row is routed.
    max_retry_after_seconds: float = Field(default=900.0, ge=0)
    #: How long after a step was sent a probe's "not found" is trusted (commits that land after
    #: our timeout); default: twice the worst-case ERP call time.
    settle_seconds: float | None = Field(default=None, ge=0)
    #: Worst-case time of one ERP call, for adapters whose settings do not tell it (adapters
    #: built on munivideo.transport: derived from their ``timeouts`` and ``retry``).
    erp_call_seconds: float | None = Field(default=None, gt=0)


class SyncConfig(_Section):
    """``[sync]``: bounds of one sync run."""

    #: Most ERP pages one run reads; past it the run stops (the cursor is kept) and the next
    #: run goes on. Guards against an ERP whose pages never end.
    max_pages: int = Field(default=10_000, ge=1, le=1_000_000)


class WorkerConfig(_Section):
    """How ``munivideo worker`` serves this tenant (see docs/deployment.md)."""

    concurrency: int = Field(
        default=1, ge=1, le=32, description="rows of this tenant delivered in parallel"
    )
    batch: int = Field(default=10, ge=1, le=500, description="rows claimed per round trip")
    max_job_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a write-back job yields after this long, so other cities get their turn",
    )
    sync_every_seconds: int = Field(
        default=300,
        ge=0,
        description="periodic sync: under 60 must divide 60, else a whole number of minutes "
        "dividing 60; 0 turns it off",
    )

    @field_validator("sync_every_seconds")
    @classmethod
    def _cron_friendly(cls, value: int) -> int:
        if value == 0:
            return value
        if value < 60 and 60 % value == 0:
            return value
        if value % 60 == 0 and 60 % (value // 60) == 0:
            return value
        raise ValueError("use 0, a divisor of 60 seconds or a divisor of 60 minutes")


class ShortLinksConfig(_Section):
    """``[invitations.short_links]``: SMS carry ``<base_url>/<token>`` instead of the long join
    link; the token is signed with ``secret`` and resolved by
    :func:`munivideo.engine.shortlinks.resolve` (served by :func:`~munivideo.engine.shortlinks.
    redirect_app`), which mints a fresh join link inside the room window only."""

    base_url: str = Field(
        pattern=r"^https?://[^\s?#]+$", description="public address of the redirect"
    )
    secret: SecretStr


class InvitationsConfig(_Section):
    """``[invitations]``: SMS budget, short links and limits for tenant templates."""

    max_sms_segments: int = Field(default=3, ge=1, le=10)
    #: Budget used when no short links are configured (a JWT link needs several segments).
    long_sms_segments: int = Field(default=12, ge=1, le=20)
    short_links: ShortLinksConfig | None = None
    #: Wall-clock time one tenant template may take to render.
    template_seconds: float = Field(default=1.0, gt=0, le=30)
    #: Characters one tenant template may produce.
    template_max_chars: int = Field(default=100_000, ge=1_000, le=10_000_000)


class RetentionConfig(_Section):
    """``[retention]``: how long personal data is kept (LGPD), see ``munivideo retention``."""

    #: Days after a row's last change (a binding, a delivered outbox row, a quarantine row)
    #: before ``munivideo retention purge`` erases its personal data.
    personal_data_days: int = Field(default=365, ge=1, le=36500)


class TenantConfig(_Section):
    """Everything munivideo needs to serve one tenant."""

    tenant: Tenant
    erp: ErpConfig
    video: VideoConfig
    notifiers: tuple[NotifierConfig, ...] = (NotifierConfig(name="file"),)
    store: StoreConfig = StoreConfig()
    attendance: AttendanceConfig = AttendanceConfig()
    writeback: WritebackConfig = WritebackConfig()
    sync: SyncConfig = SyncConfig()
    retention: RetentionConfig = RetentionConfig()
    worker: WorkerConfig = WorkerConfig()
    services: tuple[Service, ...] = ()
    departments: tuple[Department, ...] = ()
    locale: Locale = Locale.PT_BR
    templates_dir: Path | None = None
    invitations: InvitationsConfig = InvitationsConfig()

    @field_validator("services")
    @classmethod
    def _unique_services(cls, value: tuple[Service, ...]) -> tuple[Service, ...]:
        codes = [s.code for s in value]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"service codes repeated: {', '.join(dupes)}")
        return value

    def service(self, code: str) -> Service | None:
        """The ``[[services]]`` entry with ``code``, or ``None``. When services are
        configured, the sync quarantines a booking whose service is not among them (field
        ``service_code``)."""
        return next((s for s in self.services if s.code == code), None)

    def redacted(self) -> dict[str, Any]:
        """The configuration as plain data with every secret shown as ``**********``."""
        tree: dict[str, Any] = _redact_tree(self.model_dump(mode="python"))
        return tree


def _redact_tree(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, Mapping):
        return {k: _redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def resolve_secrets(value: Any, path: str, env: Mapping[str, str]) -> Any:
    """Replace every ``{ env = "NAME" }`` in ``value`` by ``SecretStr(env[NAME])``.

    The rule every munivideo file follows (tenant files, live-ERP files): a secret is never
    written in the file, a plain string under a secret-looking key is refused, a missing variable
    is an error naming the key. ``path`` is the dotted key of ``value`` (``""`` at the top).

    :raises munivideo.errors.ConfigurationError: a variable is not set in ``env``, or a plain
        string sits under a secret-looking key (``*password*``, ``*token*``, ``*secret*``,
        ``api_key``, ...; ``*_url`` keys excepted); the error names the dotted key.
    """
    if isinstance(value, Mapping):
        if set(value) == {"env"}:
            name = value["env"]
            if name not in env:
                raise ConfigurationError(
                    f"environment variable {name} is not set", field=path or None
                )
            return SecretStr(env[name])
        return {k: resolve_secrets(v, f"{path}.{k}" if path else k, env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secrets(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    key = path.rsplit(".", 1)[-1].lower()
    # An address is not a secret: ``token_url`` names where tokens come from.
    if isinstance(value, str) and not key.endswith("_url") and any(h in key for h in _SECRET_HINTS):
        raise ConfigurationError(
            'secrets must not be written in the file; use { env = "VARIABLE" }', field=path
        )
    return value


def validation_error(
    exc: ValidationError, *, source: str, section: str = "", record_id: str | None = None
) -> ConfigurationError:
    """One :class:`ConfigurationError` for a pydantic error: ``field`` is the first offending
    key (prefixed by ``section``), the message lists every problem."""
    errors = exc.errors()
    first = ".".join(str(p) for p in errors[0]["loc"])
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in errors
    )
    where = ".".join(part for part in (section, first) if part)
    return ConfigurationError(f"{source}: {problems}", record_id=record_id, field=where or None)


def validate_file_data(
    model: type[S], data: Mapping[str, Any], *, source: str, env: Mapping[str, str] | None = None
) -> S:
    """Resolve ``{ env = ... }`` secrets in ``data`` and validate it as ``model``."""
    resolved = resolve_secrets(dict(data), "", os.environ if env is None else env)
    try:
        return model.model_validate(resolved)
    except ValidationError as exc:
        raise validation_error(exc, source=source) from None


def parse_config(
    data: Mapping[str, Any], *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> TenantConfig:
    """Validate a configuration mapping (as read from TOML)."""
    return validate_file_data(TenantConfig, data, source=source, env=env)


def read_toml(path: Path, *, what: str = "configuration file") -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is a :class:`ConfigurationError`."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{what} {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> TenantConfig:
    """Read and validate one tenant's TOML file; relative paths resolve next to the file."""
    path = Path(path)
    data = read_toml(path)
    _resolve_files(data.get("erp"), path.parent)
    config = parse_config(data, source=str(path), env=env)
    if config.templates_dir is not None and not config.templates_dir.is_absolute():
        config = config.model_copy(update={"templates_dir": path.parent / config.templates_dir})
    return config


FILE_SETTINGS = ("mapping", "wsdl")
"""Keys of ERP settings tables that name files: relative ones resolve next to the tenant file."""


def _resolve_files(erp: Any, base: Path) -> None:
    if not isinstance(erp, dict):
        return
    tables = [erp.get("settings")]
    tables += [(erp.get(s) or {}).get("settings") for s in ("bookings", "protocols")]
    for table in tables:
        if not isinstance(table, dict):
            continue
        for key in FILE_SETTINGS:
            value = table.get(key)
            if isinstance(value, str) and not Path(value).is_absolute():
                table[key] = str(base / value)


def parse_settings(
    model: type[S], settings: Mapping[str, Any], *, tenant: Tenant, section: str, adapter: str
) -> S:
    """Validate an adapter's settings table; what every adapter factory calls first.

    :param model: the adapter's pydantic settings model.
    :param settings: the table from the tenant file (secrets already ``SecretStr``).
    :param tenant: the tenant, named in the error as the record.
    :param section: where the table sits in the file: ``erp.settings``, ``video.settings``...
    :param adapter: the adapter's registered name, for the message.
    :raises ConfigurationError: naming the first offending key (``erp.settings.base_url``) and
        listing every problem.
    """
    try:
        return model.model_validate(dict(settings))
    except ValidationError as exc:
        raise validation_error(
            exc, source=f"{adapter} settings", section=section, record_id=tenant.id
        ) from None
