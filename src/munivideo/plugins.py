"""The plugin manager: loads plugins, collects registrations, runs event hooks with types.

Built-in features are plugins too (:data:`DEFAULT_PLUGINS`). Third-party plugins come from the
``munivideo`` entry-point group, loaded one by one: a plugin that fails to import or to register
is recorded in :attr:`Plugins.failures` and skipped, unless strict mode is on, where it raises.

Environment:

* ``MUNIVIDEO_LOAD_PLUGINS``: comma-separated allow-list of entry-point names (empty: none).
* ``MUNIVIDEO_STRICT_PLUGINS=1``: any plugin failure raises :class:`PluginError` (for CI).
* ``MUNIVIDEO_TRACE_PLUGINS=1``: log every hook call at INFO on logger ``munivideo.plugins``.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Generic, TypeVar

import pluggy
from pydantic import BaseModel

from munivideo import hookspecs
from munivideo.errors import MunivideoError, PluginError, VetoedError
from munivideo.models import (
    Attendance,
    Booking,
    Invitation,
    ProtocolEntry,
    ProtocolReceipt,
    Room,
    Tenant,
)
from munivideo.ports import ErpAdapterFactory, NotifierFactory, VideoProviderFactory

log = logging.getLogger("munivideo.plugins")

ENTRY_POINT_GROUP = "munivideo"
DEFAULT_PLUGINS: tuple[str, ...] = ("munivideo.file_notifier",)
"""Built-in plugins, registered before any third-party one."""

F = TypeVar("F")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Registration(Generic[F]):
    """One adapter factory and the plugin that supplied it."""

    name: str
    factory: F
    plugin: str


@dataclass(frozen=True)
class PluginInfo:
    """A plugin that loaded, as ``munivideo plugins`` lists it: its name (entry-point or module
    name), its distribution's version, ``source`` (``builtin``, ``entrypoint`` or ``explicit``)
    and the hooks it implements."""

    name: str
    version: str
    source: str  #: "builtin", "entrypoint" or "explicit"
    hooks: tuple[str, ...]


@dataclass(frozen=True)
class PluginFailure:
    """A plugin failure that was isolated: which plugin, at which ``stage`` (``load``,
    ``register_*`` or an event hook's name) and the error as ``Type: message``."""

    name: str
    stage: str  #: "load", "register" or an event hook name
    error: str


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Plugins:
    """A loaded plugin set, with one typed method per event hook.

    Build it with :func:`load_plugins`; the engine keeps one per process and passes it around.
    """

    pm: pluggy.PluginManager
    strict: bool = False
    trace: bool = False
    infos: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    erp_adapters: dict[str, Registration[ErpAdapterFactory]] = field(default_factory=dict)
    video_providers: dict[str, Registration[VideoProviderFactory]] = field(default_factory=dict)
    notifiers: dict[str, Registration[NotifierFactory]] = field(default_factory=dict)

    # -- loading ------------------------------------------------------------------------------

    def add(self, plugin: ModuleType | object, *, name: str, source: str, version: str) -> None:
        """Register one plugin and collect what it registers; failures are isolated."""
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # a malformed hookimpl must not take the host down
            self._fail(name, "load", exc)
            return
        hooks = tuple(sorted(h.name for h in (self.pm.get_hookcallers(plugin) or [])))
        self.infos.append(PluginInfo(name=name, version=version, source=source, hooks=hooks))
        self._collect(plugin, name)

    def _collect(self, plugin: object, plugin_name: str) -> None:
        kinds: tuple[tuple[str, dict[str, Registration[Any]]], ...] = (
            ("register_erp_adapters", self.erp_adapters),
            ("register_video_providers", self.video_providers),
            ("register_notifiers", self.notifiers),
        )
        for hook_name, table in kinds:
            impl = getattr(plugin, hook_name, None)
            if impl is None or not self.pm.parse_hookimpl_opts(plugin, hook_name):
                continue

            def register(name: str, factory: Any, _table: dict[str, Any] = table) -> None:
                if not isinstance(name, str) or not name:
                    raise PluginError(f"plugin {plugin_name} registered an adapter without a name")
                if not callable(factory):
                    raise PluginError(f"plugin {plugin_name} registered {name!r} as a non-callable")
                if name in _table:
                    raise PluginError(
                        f"plugin {plugin_name} registered {name!r}, "
                        f"already registered by {_table[name].plugin}"
                    )
                _table[name] = Registration(name=name, factory=factory, plugin=plugin_name)

            try:
                impl(register=register)
            except Exception as exc:
                self._fail(plugin_name, hook_name, exc)

    def _fail(self, name: str, stage: str, exc: BaseException) -> None:
        failure = PluginFailure(name=name, stage=stage, error=f"{type(exc).__name__}: {exc}")
        if self.strict:
            raise PluginError(f"plugin {name} failed at {stage}: {failure.error}") from exc
        log.warning("plugin %s failed at %s and was skipped: %s", name, stage, failure.error)
        self.failures.append(failure)

    # -- adapters -----------------------------------------------------------------------------

    def erp_adapter(self, name: str) -> ErpAdapterFactory:
        """The factory registered as ERP adapter ``name`` (``[erp] adapter``).

        :raises munivideo.errors.PluginError: no such adapter is installed; the message lists
            the installed ones (field ``erp.adapter``).
        """
        return _lookup(self.erp_adapters, name, "ERP adapter", "erp.adapter")

    def video_provider(self, name: str) -> VideoProviderFactory:
        """The factory registered as video provider ``name`` (``[video] provider``).

        :raises munivideo.errors.PluginError: no such provider is installed (field
            ``video.provider``).
        """
        return _lookup(self.video_providers, name, "video provider", "video.provider")

    def notifier(self, name: str) -> NotifierFactory:
        """The factory registered as notifier ``name`` (``[[notifiers]] name``).

        :raises munivideo.errors.PluginError: no such notifier is installed (field
            ``notifiers.name``).
        """
        return _lookup(self.notifiers, name, "notifier", "notifiers.name")

    # -- event hooks: each plugin may return an enriched copy, which the next one receives -----

    def _chain(self, hook_name: str, key: str, value: M, **kwargs: Any) -> M:
        caller = getattr(self.pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # pluggy's call order: last registered first
            if self.trace:
                log.info("hook %s -> %s", hook_name, impl.plugin_name)
            try:
                result = impl.function(**{key: value, **kwargs})
            except VetoedError:
                raise
            except Exception as exc:
                record_id = getattr(value, "booking_id", None) or getattr(value, "id", None)
                if self.strict:
                    raise PluginError(
                        f"plugin {impl.plugin_name} crashed in {hook_name}: {exc}",
                        record_id=record_id,
                    ) from exc
                self._fail(impl.plugin_name, hook_name, exc)
                continue
            if result is None:
                continue
            if not isinstance(result, type(value)):
                error = PluginError(
                    f"plugin {impl.plugin_name} returned {type(result).__name__} from "
                    f"{hook_name}, expected {type(value).__name__} or None",
                    record_id=getattr(value, "id", None),
                )
                if self.strict:
                    raise error
                self._fail(impl.plugin_name, hook_name, error)
                continue
            value = result
        return value

    def booking_received(self, tenant: Tenant, booking: Booking) -> Booking:
        """Run the ``booking_received`` hooks: a booking read from the ERP, before it is bound
        and a room is made.

        Each plugin implementing the hook receives the value the previous one returned (last
        registered first, pluggy's order) and may return an enriched copy of the same type,
        or ``None`` to leave it unchanged. A plugin that crashes or returns another type is
        recorded in :attr:`failures` and skipped (:class:`munivideo.errors.PluginError` in
        strict mode).

        :returns: the booking as the last plugin left it.
        :raises munivideo.errors.VetoedError: a plugin refused the booking (it is quarantined).
        """
        return self._chain("booking_received", "booking", booking, tenant=tenant)

    def room_created(self, tenant: Tenant, booking: Booking, room: Room) -> Room:
        """Run the ``room_created`` hooks: a room was provisioned (or moved by a reschedule).

        Each plugin implementing the hook receives the value the previous one returned (last
        registered first, pluggy's order) and may return an enriched copy of the same type,
        or ``None`` to leave it unchanged. A plugin that crashes or returns another type is
        recorded in :attr:`failures` and skipped (:class:`munivideo.errors.PluginError` in
        strict mode).

        :returns: the room as the last plugin left it (what is stored on the binding).
        :raises munivideo.errors.VetoedError: a plugin refused it.
        """
        return self._chain("room_created", "room", room, tenant=tenant, booking=booking)

    def invitation_rendered(
        self, tenant: Tenant, booking: Booking, invitation: Invitation
    ) -> Invitation:
        """Run the ``invitation_rendered`` hooks: an invitation was rendered, before any of
        its messages is sent.

        Each plugin implementing the hook receives the value the previous one returned (last
        registered first, pluggy's order) and may return an enriched copy of the same type,
        or ``None`` to leave it unchanged. A plugin that crashes or returns another type is
        recorded in :attr:`failures` and skipped (:class:`munivideo.errors.PluginError` in
        strict mode).

        :returns: the invitation as the last plugin left it (what is sent).
        :raises munivideo.errors.VetoedError: a plugin refused it.
        """
        return self._chain(
            "invitation_rendered", "invitation", invitation, tenant=tenant, booking=booking
        )

    def protocol_entry_prepared(
        self, tenant: Tenant, attendance: Attendance, entry: ProtocolEntry
    ) -> ProtocolEntry:
        """Run the ``protocol_entry_prepared`` hooks: an entry was built from an attendance,
        before it is put in the outbox.

        Each plugin implementing the hook receives the value the previous one returned (last
        registered first, pluggy's order) and may return an enriched copy of the same type,
        or ``None`` to leave it unchanged. A plugin that crashes or returns another type is
        recorded in :attr:`failures` and skipped (:class:`munivideo.errors.PluginError` in
        strict mode).

        :returns: the entry as the last plugin left it (what the outbox keeps and the ERP
            gets).
        :raises munivideo.errors.VetoedError: a plugin refused it (the attendance is
            quarantined).
        """
        return self._chain(
            "protocol_entry_prepared", "entry", entry, tenant=tenant, attendance=attendance
        )

    def outcome_written(
        self, tenant: Tenant, entry: ProtocolEntry, receipt: ProtocolReceipt
    ) -> None:
        """Run the ``outcome_written`` hooks: ``entry`` is in the ERP as ``receipt``. Called
        once per entry, after the write is durable; return values are ignored.

        :raises munivideo.errors.PluginError: a plugin crashed and strict mode is on
            (otherwise the crash is recorded in :attr:`failures` and the others still run).
        """
        # Notification only: the entry is already durable in the ERP, so a crash here is logged
        # (or raised in strict mode) but cannot undo or repeat the write.
        for impl in reversed(self.pm.hook.outcome_written.get_hookimpls()):
            if self.trace:
                log.info("hook outcome_written -> %s", impl.plugin_name)
            try:
                impl.function(tenant=tenant, entry=entry, receipt=receipt)
            except Exception as exc:
                self._fail(impl.plugin_name, "outcome_written", exc)


def _lookup(table: Mapping[str, Registration[F]], name: str, kind: str, field_name: str) -> F:
    try:
        return table[name].factory
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        raise PluginError(
            f"no {kind} named {name!r} is installed (installed: {known}); see `munivideo plugins`",
            field=field_name,
        ) from None


def _allow_list(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def load_plugins(
    *,
    strict: bool | None = None,
    allow: Iterable[str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
    entry_points: bool = True,
    trace: bool | None = None,
) -> Plugins:
    """Build a plugin set: built-ins, then entry points (filtered by ``allow``), then ``extra``.

    :param strict: raise on any plugin failure (default: ``MUNIVIDEO_STRICT_PLUGINS``).
    :param allow: entry-point names to load (default: ``MUNIVIDEO_LOAD_PLUGINS``, else all).
    :param extra: ``(name, plugin)`` pairs registered last, e.g. a test's local plugin.
    :param entry_points: set False to load built-ins and ``extra`` only.
    :param trace: log every hook call (default: ``MUNIVIDEO_TRACE_PLUGINS``).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(
        pm=pm,
        strict=_env_flag("MUNIVIDEO_STRICT_PLUGINS") if strict is None else strict,
        trace=_env_flag("MUNIVIDEO_TRACE_PLUGINS") if trace is None else trace,
    )
    from munivideo.__about__ import __version__

    for module_name in DEFAULT_PLUGINS:
        plugins.add(
            importlib.import_module(module_name),
            name=module_name,
            source="builtin",
            version=__version__,
        )

    allowed = (
        set(allow) if allow is not None else _allow_list(os.environ.get("MUNIVIDEO_LOAD_PLUGINS"))
    )
    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if allowed is not None and ep.name not in allowed:
                continue
            version = ep.dist.version if ep.dist is not None else "unknown"
            try:
                plugin = ep.load()
            except Exception as exc:
                plugins._fail(ep.name, "load", exc)
                continue
            plugins.add(plugin, name=ep.name, source="entrypoint", version=version)
    for name, plugin in extra:
        plugins.add(plugin, name=name, source="explicit", version="local")
    return plugins


__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "MunivideoError",
    "PluginFailure",
    "PluginInfo",
    "Plugins",
    "Registration",
    "load_plugins",
]
