"""munivideo: video attendance for municipal ERPs.

The public API is re-exported here; private modules start with ``_``. The engine's names
(:class:`Munivideo` and its result types) load on first use, so ``import munivideo`` stays light
for code that only needs the models.
"""

from typing import TYPE_CHECKING, Any

from munivideo.__about__ import __version__
from munivideo.config import TenantConfig, load_config, parse_config
from munivideo.errors import (
    AmbiguousError,
    ConfigurationError,
    ContractViolationError,
    InvalidRecordError,
    LifecycleError,
    MunivideoError,
    NotFoundError,
    PluginError,
    Recovery,
    RejectedError,
    TransientError,
    VetoedError,
)
from munivideo.hookspecs import hookimpl
from munivideo.models import (
    AccessLevel,
    Applicant,
    Attendance,
    AttendanceEvent,
    Booking,
    BookingPage,
    BookingStatus,
    Channel,
    Citizen,
    Cursor,
    DeliveryReceipt,
    Department,
    EventKind,
    ForwardedDemand,
    Invitation,
    InvitationMethod,
    JoinLink,
    Locale,
    OutboundMessage,
    Outcome,
    OutcomeForm,
    Participant,
    ProtocolEntry,
    ProtocolReceipt,
    RejectedRecord,
    Role,
    Room,
    Servant,
    Service,
    Tenant,
    VerifiedDocument,
)
from munivideo.plugins import Plugins, load_plugins
from munivideo.ports import ErpAdapter, ErpCapabilities, Notifier, VideoProvider
from munivideo.values import Cnpj, Cpf, Email, Phone

__all__ = [
    "AccessLevel",
    "AmbiguousError",
    "Applicant",
    "Attendance",
    "AttendanceEvent",
    "AuditEntry",
    "Booking",
    "BookingPage",
    "BookingStatus",
    "Channel",
    "Citizen",
    "Cnpj",
    "ConfigurationError",
    "ContractViolationError",
    "Cpf",
    "Cursor",
    "DeliveryReceipt",
    "Department",
    "Email",
    "ErpAdapter",
    "ErpCapabilities",
    "EventKind",
    "ForwardedDemand",
    "InvalidRecordError",
    "Invitation",
    "InvitationMethod",
    "JoinLink",
    "LifecycleError",
    "Locale",
    "Munivideo",
    "MunivideoError",
    "NotFoundError",
    "Notifier",
    "OutboundMessage",
    "OutboxItem",
    "OutboxState",
    "Outcome",
    "OutcomeForm",
    "Participant",
    "Phone",
    "PluginError",
    "Plugins",
    "ProtocolEntry",
    "ProtocolReceipt",
    "QuarantineItem",
    "RecordResult",
    "Recovery",
    "RejectedError",
    "RejectedRecord",
    "ReplayResult",
    "Role",
    "Room",
    "Servant",
    "Service",
    "SyncResult",
    "Tenant",
    "TenantConfig",
    "TenantStatus",
    "TransientError",
    "VerifiedDocument",
    "VetoedError",
    "VideoProvider",
    "WritebackResult",
    "__version__",
    "hookimpl",
    "load_config",
    "load_plugins",
    "parse_config",
]

_ENGINE_NAMES = frozenset(
    {
        "AuditEntry",
        "Munivideo",
        "OutboxItem",
        "OutboxState",
        "QuarantineItem",
        "RecordResult",
        "ReplayResult",
        "SyncResult",
        "TenantStatus",
        "WritebackResult",
    }
)

if TYPE_CHECKING:
    from munivideo.api import (
        AuditEntry,
        Munivideo,
        OutboxItem,
        OutboxState,
        QuarantineItem,
        RecordResult,
        ReplayResult,
        SyncResult,
        TenantStatus,
        WritebackResult,
    )


def __getattr__(name: str) -> Any:
    if name in _ENGINE_NAMES:
        from munivideo import api

        return getattr(api, name)
    raise AttributeError(f"module 'munivideo' has no attribute {name!r}")
